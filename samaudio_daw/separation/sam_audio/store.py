"""The SAM-Audio models on this machine: pull from the hub, list, verify, locate, remove.

Models live in the Hugging Face hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
``~/.cache/huggingface/hub``), so a copy pulled here, one pulled with ``hf download`` and
one carried over to an offline machine are all found the same way. Only the files the
backend reads are fetched: config.json, checkpoint.pt, the T5 encoder config.json names,
and the licence and model card that must travel with the weights. With ``with_rankers``
also the rankers config.json names that this build runs (rankers.py): a CLAP checkpoint
and roberta-base's tokenizer files; the judge's folder (its hub model at revision
``sam_audio``: config.json, checkpoint.pt, tokenizer and licence files); and the span
predictor it names (``facebook/NAME`` at revision perception_models, as perception_models
fetches it).

The source is always the one the user named (a folder, a hub id on ``HF_ENDPOINT``, or a
URL whose host is the endpoint); nothing falls back to another source. Each hub failure
becomes one ModelNotFoundError line that says what to do.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from samaudio_daw.separation.sam_audio.download import fetch_blob
from samaudio_daw.separation.sam_audio.errors import ACCESS_HELP, ModelNotFoundError
from samaudio_daw.separation.sam_audio.rankers import (
    JUDGE_FILES,
    JUDGE_TOKENIZER_FILES,
    SPAN_PREDICTOR_EXTRA,
    SPAN_PREDICTOR_FILES,
    SPAN_PREDICTOR_ORG,
    SPAN_PREDICTOR_REVISION,
    TOKENIZER_EXTRA,
    TOKENIZER_FILES,
    TOKENIZER_REPO,
    RankerSpec,
    named_rankers,
    raw_config,
)

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
DEFAULT_ENDPOINT = "https://huggingface.co"
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|README)[^/]*$", re.IGNORECASE)
"""Top-level files that carry the licence terms: kept next to the weights."""
T5_FILES = re.compile(
    r"^(config\.json|model\.safetensors|pytorch_model\.bin|tokenizer\.json|spiece\.model"
    r"|tokenizer_config\.json|special_tokens_map\.json)$"
)
"""What transformers needs to build the T5 encoder and its tokenizer (no TF/Flax weights)."""
SPACE_MARGIN_BYTES = 64 * 2**20
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


@dataclass(frozen=True)
class HubModel:
    """A model on the hub: ``repo_id`` at ``revision`` (None = the default branch)."""

    repo_id: str
    revision: str | None = None
    endpoint: str | None = None
    """Where it comes from when the user named a URL; None = ``HF_ENDPOINT`` or the hub."""

    @property
    def page(self) -> str:
        """The repository's web page, where access is requested."""
        return f"{self.endpoint or hub_endpoint()}/{self.repo_id}"


@dataclass(frozen=True)
class InstalledModel:
    """One model found in the hub cache."""

    repo_id: str
    revision: str
    path: Path
    size_bytes: int
    refs: tuple[str, ...]


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT


def hub_cache_dir() -> Path:
    """The hub cache, read from the environment at call time (tests and users may change it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def parse_source(text: str, revision: str | None = None) -> Path | HubModel:
    """A local folder (or checkpoint.pt), or a hub model from an id, ``hf://`` or a web URL.

    URLs: ``https://huggingface.co/ORG/NAME``, ``.../tree/REV``, ``.../resolve/REV/...``;
    the URL's host becomes the endpoint, so the files come from where the user said.
    """
    path = Path(text).expanduser()
    if path.exists():
        return path.parent if path.is_file() and path.name == CHECKPOINT_FILE else path
    if text.startswith("hf://"):
        text = text.removeprefix("hf://").removeprefix("models/")
        return _hub_model(text, revision, None)
    if text.startswith(("http://", "https://")):
        url = urlsplit(text)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) < 2:
            raise ModelNotFoundError(f"{text}: a model URL looks like https://HOST/ORG/NAME")
        repo_id = "/".join(parts[:2])
        url_revision = parts[3] if len(parts) > 3 and parts[2] in ("tree", "resolve") else None
        endpoint = f"{url.scheme}://{url.netloc}".rstrip("/")
        return _hub_model(repo_id, revision or url_revision, endpoint)
    if _HUB_ID.match(text) and not text.startswith((".", "/", "~")):
        return _hub_model(text, revision, None)
    raise ModelNotFoundError(
        f"no SAM-Audio model folder at {path}, and {text!r} is not a hub id (ORG/NAME) or URL. "
        f"{ACCESS_HELP}"
    )


def _hub_model(repo_id: str, revision: str | None, endpoint: str | None) -> HubModel:
    if not _HUB_ID.match(repo_id):
        raise ModelNotFoundError(f"{repo_id!r} is not a hub model id (ORG/NAME)")
    same = endpoint is None or endpoint == hub_endpoint()
    return HubModel(repo_id, revision, None if same else endpoint)


def _repo_folder(repo_id: str) -> Path:
    return hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def installed_path(model: HubModel) -> Path | None:
    """The cached snapshot of ``model`` holding config.json and checkpoint.pt; no network."""
    return _cached_snapshot(model, (CONFIG_FILE, CHECKPOINT_FILE))


def _cached_snapshot(model: HubModel, needed: Sequence[str]) -> Path | None:
    folder = _repo_folder(model.repo_id)
    revision = model.revision or "main"
    ref = folder / "refs" / revision
    commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else revision
    snapshot = folder / "snapshots" / commit
    if snapshot.is_dir() and all((snapshot / name).is_file() for name in needed):
        return snapshot
    return None


def cached_file(repo_id: str, name: str, revision: str | None = None) -> Path | None:
    """``name`` of the hub model ``repo_id`` in the cache, or None; no network."""
    snapshot = _cached_snapshot(HubModel(repo_id, revision), (name,))
    return None if snapshot is None else snapshot / name


def ranker_checkpoint(spec: RankerSpec, model_dir: Path) -> Path | None:
    """The spec's checkpoint on this machine (model folder, disk or hub cache); no network."""
    if spec.kind == "judge":
        folder = judge_folder(spec, model_dir)
        return None if folder is None else folder / CHECKPOINT_FILE
    if spec.file is not None:
        path = Path(spec.file).expanduser()
        path = path if path.is_absolute() else model_dir / path
        return path if path.is_file() else None
    if spec.hub_repo and spec.hub_file:
        return cached_file(spec.hub_repo, spec.hub_file)
    return None


def _local_judge(spec: RankerSpec, model_dir: Path) -> Path | None:
    """The folder ``checkpoint_or_model_id`` names on disk (absolute, or relative to the
    model's folder), or None when it names none (then it is a hub id)."""
    path = Path(spec.hub_repo or "").expanduser()
    path = path if path.is_absolute() else model_dir / path
    return path if spec.hub_repo and path.is_dir() else None


def judge_folder(spec: RankerSpec, model_dir: Path) -> Path | None:
    """The judge's folder holding config.json and checkpoint.pt: a folder on disk as is,
    else the cached snapshot of the hub model at the spec's revision (``sam_audio``), or
    None; no network."""
    local = _local_judge(spec, model_dir)
    if local is not None:
        return local if all((local / n).is_file() for n in JUDGE_FILES) else None
    if not _HUB_ID.match(spec.hub_repo or ""):
        return None
    return _cached_snapshot(HubModel(str(spec.hub_repo), spec.revision), JUDGE_FILES)


def tokenizer_folder() -> Path | None:
    """The cached snapshot holding roberta-base's tokenizer files (``FacebookAI/roberta-base``,
    or ``roberta-base`` as LAION-CLAP's own code fetches it), or None; no network."""
    for repo_id in (TOKENIZER_REPO, TOKENIZER_REPO.split("/")[-1]):
        snapshot = _cached_snapshot(HubModel(repo_id), TOKENIZER_FILES)
        if snapshot is not None:
            return snapshot
    return None


def span_predictor_model(name: str) -> HubModel:
    """The hub model perception_models fetches for a span predictor ``name``."""
    return HubModel(f"{SPAN_PREDICTOR_ORG}/{name}", SPAN_PREDICTOR_REVISION)


def span_predictor_folder(name: str) -> Path | None:
    """The folder holding the span predictor config.json names (``name`` itself when it is
    a folder, else the cached ``facebook/NAME`` at perception_models), or None; no network."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if not _HUB_ID.match(name):
        return None
    return _cached_snapshot(span_predictor_model(name), SPAN_PREDICTOR_FILES)


def span_predictor_line(raw: Mapping[str, Any]) -> str | None:
    """One line about the config's span predictor (here, and run with --predict-spans, or
    absent), or None when it names none; reads no weights."""
    name = raw.get("span_predictor")
    if not name:
        return None
    folder = span_predictor_folder(str(name))
    if folder is None:
        return (
            f"span predictor {name!r} (named in config.json): absent (fetch it with "
            "`samaudio-daw model pull --with-rankers`); spans come from regions and the time "
            "selection"
        )
    return (
        f"span predictor {name!r} (named in config.json): at {folder}, finds '+' spans for "
        "prompts without regions or a time selection with --predict-spans"
    )


def resolve(source: str | Path, revision: str | None = None, *, progress: bool = True) -> Path:
    """The folder to load: a local folder as is; a hub model from the cache, else pulled
    (with a progress bar when stderr is a terminal)."""
    where = parse_source(str(source), revision)
    if isinstance(where, Path):
        return where
    return installed_path(where) or pull(where, progress=progress and sys.stderr.isatty())


def pull(
    source: str | HubModel,
    revision: str | None = None,
    *,
    with_rankers: bool = False,
    progress: bool = True,
    on_file: Callable[[str, int], None] | None = None,
) -> Path:
    """Download the files the backend needs into the hub cache; the snapshot folder.

    Interrupted downloads resume where they stopped, in this run and in the next one
    (download.py keeps the partial weights). ``on_file(name, size_bytes)`` is called before each file is fetched.
    """
    model = source if isinstance(source, HubModel) else parse_source(source, revision)
    if isinstance(model, Path):
        raise ModelNotFoundError(f"{model} is a local folder already; nothing to pull")
    hub = _hub()
    token = hub.get_token()
    endpoint = model.endpoint or hub_endpoint()
    info = _call(model, token, lambda: _listing(hub, model, endpoint))
    files = _wanted_files(info)
    if CHECKPOINT_FILE not in files or CONFIG_FILE not in files:
        raise ModelNotFoundError(
            f"{model.repo_id} on {endpoint} has no {CONFIG_FILE} and {CHECKPOINT_FILE}: it is not "
            "a SAM-Audio model in the official layout (e.g. facebook/sam-audio-small)"
        )
    config_path = _fetch(hub, model, endpoint, token, CONFIG_FILE, files, progress, on_file)
    if with_rankers:
        files |= _ranker_files(model, config_path.parent, info, progress, on_file)
    t5 = _text_encoder_name(config_path)
    t5_files = [
        n for n in info if t5 and n.startswith(f"{t5}/") and T5_FILES.match(n[len(t5) + 1 :])
    ]
    outside = t5 and not t5_files and not (config_path.parent / t5).is_dir()
    _check_space({n: files[n] for n in files if n != CONFIG_FILE} | {n: info[n] for n in t5_files})
    for name in [n for n in files if n != CONFIG_FILE] + t5_files:
        _fetch(hub, model, endpoint, token, name, info, progress, on_file)
    if outside:
        # The released configs name "t5-base": a hub model of its own, fetched the same way.
        t5_model = HubModel(t5, None, model.endpoint)
        if _cached_snapshot(t5_model, (CONFIG_FILE,)) is None:
            pull_text_encoder(t5_model, progress=progress, on_file=on_file)
    return config_path.parent


def pull_text_encoder(
    model: HubModel, *, progress: bool = True, on_file: Callable[[str, int], None] | None = None
) -> Path:
    """The T5 encoder repository: only its PyTorch weights, config and tokenizer files."""

    def choose(info: dict[str, int], where: str) -> dict[str, int]:
        files = {n: s for n, s in info.items() if T5_FILES.match(n)}
        if "model.safetensors" in files:
            files.pop("pytorch_model.bin", None)
        if not files:
            raise ModelNotFoundError(f"{where} holds no T5 encoder files")
        return files

    return _pull_listed(model, choose, progress, on_file)[0].parent


def text_encoder_folder(name: str) -> Path:
    """The T5 encoder repository ``name`` (e.g. ``t5-base``): cached, else pulled."""
    model = parse_source(name)
    if isinstance(model, Path):
        return model
    return _cached_snapshot(model, (CONFIG_FILE,)) or pull_text_encoder(model)


def _wanted_files(info: dict[str, int]) -> dict[str, int]:
    wanted = {CONFIG_FILE, CHECKPOINT_FILE}
    return {name: size for name, size in info.items() if name in wanted or LICENCE_FILE.match(name)}


def _ranker_files(
    model: HubModel,
    folder: Path,
    info: dict[str, int],
    progress: bool,
    on_file: Callable[[str, int], None] | None,
) -> dict[str, int]:
    """The ranker checkpoints config.json names that this build runs: those in the model's
    repository (returned, fetched with the rest), and those on a hub model of their own
    (the official CLAP default, ``lukewys/laion_clap``; the judge), and roberta-base's
    tokenizer files, fetched here."""
    found: dict[str, int] = {}
    specs = [spec for spec in named_rankers(raw_config(folder)) if spec.runnable]
    for spec in specs:
        if spec.kind == "judge":
            if _local_judge(spec, folder) is None and judge_folder(spec, folder) is None:
                judge = _hub_model(str(spec.hub_repo), spec.revision, model.endpoint)
                _pull_judge(judge, progress, on_file)
        elif spec.file is not None:
            if spec.file not in info:
                raise ModelNotFoundError(
                    f"{model.repo_id}: config.json names the {spec.field} checkpoint "
                    f"{spec.file!r}, which the repository does not hold"
                )
            found[spec.file] = info[spec.file]
        elif spec.hub_repo and spec.hub_file:
            other = HubModel(spec.hub_repo, None, model.endpoint)
            if cached_file(other.repo_id, spec.hub_file) is None:
                _pull_one(other, spec.hub_file, progress, on_file)
    if any(spec.kind == "clap" for spec in specs) and tokenizer_folder() is None:
        _pull_tokenizer(HubModel(TOKENIZER_REPO, None, model.endpoint), progress, on_file)
    name = raw_config(folder).get("span_predictor")
    if name and span_predictor_folder(str(name)) is None:
        hub = span_predictor_model(str(name))
        _pull_span_predictor(HubModel(hub.repo_id, hub.revision, model.endpoint), progress, on_file)
    return found


def _pull_required(
    model: HubModel,
    needed: Sequence[str],
    optional: Sequence[str],
    not_this: str,
    progress: bool,
    on_file: Callable[[str, int], None] | None,
    licence: bool = True,
) -> None:
    """Fetch ``needed`` (a listing without one of them is refused in one line: "REPO ...
    has no FILE: ``not_this``"), the ``optional`` files the repository holds and, with
    ``licence``, its licence files."""

    def choose(info: dict[str, int], where: str) -> dict[str, int]:
        absent = [name for name in needed if name not in info]
        if absent:
            raise ModelNotFoundError(f"{where} has no {', '.join(absent)}: {not_this}")
        wanted = (*needed, *optional)
        return {
            n: size
            for n, size in info.items()
            if n in wanted or (licence and LICENCE_FILE.match(n))
        }

    _pull_listed(model, choose, progress, on_file)


def _pull_span_predictor(
    model: HubModel, progress: bool, on_file: Callable[[str, int], None] | None
) -> None:
    """PE-A-Frame's config, weights, tokenizer files and licence (spans.py reads them)."""
    not_this = "not a PE-A-Frame span predictor in perception_models' layout"
    _pull_required(model, SPAN_PREDICTOR_FILES, SPAN_PREDICTOR_EXTRA, not_this, progress, on_file)


def _pull_tokenizer(
    model: HubModel, progress: bool, on_file: Callable[[str, int], None] | None
) -> None:
    """roberta-base's vocabulary and merges (and its small config files), not its weights."""
    not_this = "not roberta-base's tokenizer, which the CLAP text ranker needs"
    _pull_required(
        model, TOKENIZER_FILES, TOKENIZER_EXTRA, not_this, progress, on_file, licence=False
    )


def _pull_judge(
    model: HubModel, progress: bool, on_file: Callable[[str, int], None] | None
) -> None:
    """The judge's config.json, checkpoint.pt, tokenizer and licence files."""
    not_this = "not the SAM-Audio judge in the official layout (facebook/sam-audio-judge)"
    needed = (*JUDGE_FILES, JUDGE_TOKENIZER_FILES[0])
    _pull_required(model, needed, JUDGE_TOKENIZER_FILES, not_this, progress, on_file)


def _pull_one(
    model: HubModel, name: str, progress: bool, on_file: Callable[[str, int], None] | None
) -> Path:
    def choose(info: dict[str, int], where: str) -> dict[str, int]:
        if name not in info:
            raise ModelNotFoundError(f"{where} has no {name}")
        return {name: info[name]}

    return _pull_listed(model, choose, progress, on_file)[0]


def _pull_listed(
    model: HubModel,
    choose: Callable[[dict[str, int], str], dict[str, int]],
    progress: bool,
    on_file: Callable[[str, int], None] | None,
) -> list[Path]:
    """Fetch the files ``choose`` picks from the repository's listing (it gets the listing
    and "REPO on ENDPOINT [at revision REV]" for its errors), after checking they fit on
    the disk."""
    hub = _hub()
    token = hub.get_token()
    endpoint = model.endpoint or hub_endpoint()
    info = _call(model, token, lambda: _listing(hub, model, endpoint))
    at = f" at revision {model.revision}" if model.revision else ""
    files = choose(info, f"{model.repo_id} on {endpoint}{at}")
    _check_space(files)
    return [_fetch(hub, model, endpoint, token, n, files, progress, on_file) for n in files]


def _text_encoder_name(config_path: Path) -> str:
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        name = raw["text_encoder"]["name"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelNotFoundError(
            f"{config_path} is not a SAM-Audio config.json (no text_encoder.name: {error})"
        ) from error
    return str(name).strip("/")


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as error:
        raise ModelNotFoundError(
            "fetching a model from the hub needs huggingface_hub: pip install 'samaudio-daw[hub]'"
            " (or download the folder elsewhere and pass --model DIR)"
        ) from error
    return huggingface_hub


def _listing(hub: Any, model: HubModel, endpoint: str) -> dict[str, int]:
    """Every file of the repository at the revision, with its size in bytes (0 = unknown)."""
    info = hub.HfApi(endpoint=endpoint).model_info(
        model.repo_id, revision=model.revision, files_metadata=True
    )
    return {s.rfilename: int(s.size or 0) for s in (info.siblings or [])}


def _fetch(
    hub: Any,
    model: HubModel,
    endpoint: str,
    token: str | None,
    name: str,
    sizes: dict[str, int],
    progress: bool,
    on_file: Callable[[str, int], None] | None,
) -> Path:
    if on_file is not None:
        on_file(name, sizes.get(name, 0))

    # A plain tqdm draws whatever HF_HUB_DISABLE_PROGRESS_BARS says: the caller decides.
    bar: Any = _Silent
    if progress:
        import tqdm

        bar = tqdm.tqdm

    def download() -> str:
        # The weights first go through our resumable download (download.py); the hub
        # client then finds the blob and only links it into the snapshot.
        url = hub.hf_hub_url(model.repo_id, name, revision=model.revision, endpoint=endpoint)
        fetch_blob(hub, url, token, _repo_folder(model.repo_id) / "blobs", bar, name)
        return str(
            hub.hf_hub_download(
                model.repo_id,
                name,
                revision=model.revision,
                cache_dir=str(hub_cache_dir()),
                endpoint=endpoint,
                tqdm_class=bar,
            )
        )

    return Path(_call(model, token, download))


class _Silent:
    """A tqdm stand-in that draws nothing, for callers that asked for no progress bar."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.n = 0

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        return None


def _check_space(files: dict[str, int]) -> None:
    cache = hub_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    need = sum(files.values())
    free = shutil.disk_usage(cache).free
    if need and need + SPACE_MARGIN_BYTES > free:
        raise ModelNotFoundError(_disk_full(cache, need, free))


def _disk_full(cache: Path, need: int | None = None, free: int | None = None) -> str:
    figures = f" ({_size(need)} needed, {_size(free)} free)" if need and free is not None else ""
    return (
        f"disk full: not enough space in {cache} for the model{figures}; free some space "
        "or set HF_HUB_CACHE to a folder on a bigger disk, then pull again"
    )


def _call(model: HubModel, token: str | None, action: Callable[[], Any]) -> Any:
    """``action()``, with each hub failure turned into one line that says what to do."""
    hub = _hub()
    errors = hub.errors
    page = model.page
    name = model.repo_id
    try:
        return action()
    except errors.GatedRepoError as error:
        said = str(getattr(error, "server_message", "") or "").lower()
        if not token:
            raise ModelNotFoundError(
                f"{name} is gated and no Hugging Face token was found: request access on {page}, "
                "then run `hf auth login` or set HF_TOKEN"
            ) from None
        if "rejected" in said or "denied" in said:
            raise ModelNotFoundError(
                f"access to {name} was denied to this Hugging Face account (the authors rejected "
                f"the request); see {page}"
            ) from None
        raise ModelNotFoundError(
            f"access to {name} has not been granted to this Hugging Face account yet: request it "
            f"(or wait for the review) on {page}"
        ) from None
    except errors.RevisionNotFoundError:
        raise ModelNotFoundError(
            f"{name} has no revision {model.revision!r}; see the branches and tags on {page}"
        ) from None
    except errors.EntryNotFoundError as error:
        raise ModelNotFoundError(f"{name} lacks a file the backend needs ({error})") from None
    except errors.RepositoryNotFoundError:
        hint = "" if token else " (if it is private, log in with `hf auth login`)"
        raise ModelNotFoundError(
            f"{name} is not a model on {model.endpoint or hub_endpoint()}{hint}; check the id "
            "(e.g. facebook/sam-audio-small)"
        ) from None
    except errors.OfflineModeIsEnabled:
        raise ModelNotFoundError(_offline(model, "HF_HUB_OFFLINE is set")) from None
    except errors.LocalEntryNotFoundError as error:
        raise ModelNotFoundError(_offline(model, str(error).splitlines()[0])) from None
    except errors.HfHubHTTPError as error:
        first = str(error).splitlines()[0]
        if "Invalid credentials" in str(error):
            raise ModelNotFoundError(
                f"the Hugging Face token was refused: log in again (`hf auth login`) or fix "
                f"HF_TOKEN, then pull {name}"
            ) from None
        raise ModelNotFoundError(f"the hub refused {name}: {first}") from None
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise ModelNotFoundError(_disk_full(hub_cache_dir())) from None
        if _is_connection_error(error):
            raise ModelNotFoundError(_offline(model, str(error))) from None
        raise ModelNotFoundError(f"could not store {name} in {hub_cache_dir()}: {error}") from None
    except Exception as error:
        if _is_connection_error(error):
            raise ModelNotFoundError(_offline(model, str(error))) from None
        raise


def _is_connection_error(error: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(error)}
    return bool(names & {"ConnectError", "ConnectTimeout", "ReadTimeout", "ConnectionError",
                         "RemoteProtocolError", "ReadError", "ConnectionRefusedError"})  # fmt: skip


def _chain(error: BaseException | None) -> Iterable[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _offline(model: HubModel, why: str) -> str:
    return (
        f"offline: cannot reach {model.endpoint or hub_endpoint()} to fetch {model.repo_id} "
        f"({why}) and it is not in {hub_cache_dir()}; request access on {model.page} if you "
        "have not, pull it where there is internet (`samaudio-daw model pull`), copy the "
        "folder here and pass --model DIR"
    )


def installed() -> list[InstalledModel]:
    """Every cached snapshot that holds a SAM-Audio config.json and checkpoint.pt."""
    found: list[InstalledModel] = []
    for repo in sorted(hub_cache_dir().glob("models--*")):
        refs: dict[str, list[str]] = {}
        for ref in sorted((repo / "refs").glob("*")) if (repo / "refs").is_dir() else []:
            refs.setdefault(ref.read_text(encoding="utf-8").strip(), []).append(ref.name)
        for snapshot in sorted((repo / "snapshots").glob("*")):
            if _is_model(snapshot):
                repo_id = repo.name.removeprefix("models--").replace("--", "/")
                found.append(
                    InstalledModel(
                        repo_id,
                        snapshot.name,
                        snapshot,
                        _folder_bytes(snapshot),
                        tuple(refs.get(snapshot.name, [])),
                    )
                )
    return found


def _is_model(snapshot: Path) -> bool:
    """A SAM-Audio model's snapshot: config.json and checkpoint.pt, and not the judge's
    (which has both too; its config has a ``finetune_transformer``)."""
    if not (snapshot / CONFIG_FILE).is_file() or not (snapshot / CHECKPOINT_FILE).is_file():
        return False
    return "finetune_transformer" not in raw_config(snapshot)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def local_path(source: str, revision: str | None = None) -> Path:
    """Where the model's files are on this machine; ModelNotFoundError if not installed."""
    where = parse_source(source, revision)
    if isinstance(where, Path):
        return where
    path = installed_path(where)
    if path is None:
        raise ModelNotFoundError(
            f"{where.repo_id} is not installed in {hub_cache_dir()}: run "
            f"`samaudio-daw model pull {where.repo_id}`"
        )
    return path


def remove(source: str) -> Path:
    """Delete a pulled model (its whole cache folder); the folder removed.

    Only hub-cache folders are removed: a folder the user named is never deleted.
    """
    where = parse_source(source)
    if isinstance(where, Path):
        raise ModelNotFoundError(
            f"{where} is a folder of yours, not a pulled model; samaudio-daw only removes what "
            "`model pull` downloaded"
        )
    folder = _repo_folder(where.repo_id)
    if not folder.is_dir():
        raise ModelNotFoundError(f"{where.repo_id} is not installed in {hub_cache_dir()}")
    shutil.rmtree(folder)
    return folder


def _size(n_bytes: int) -> str:
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.1f} GiB"
    if n_bytes >= 2**20:
        return f"{n_bytes / 2**20:.1f} MiB"
    return f"{n_bytes / 2**10:.1f} KiB"


format_size = _size
