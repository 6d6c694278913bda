"""`model pull` through the real huggingface_hub client against the local hub server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from samaudio_daw.separation.sam_audio import store
from samaudio_daw.separation.sam_audio.clap import load_tokenizer
from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError

MODEL_ID = "facebook/sam-audio-small"


def test_pull_fetches_only_what_the_backend_needs_with_the_licence(local_hub, hub_env) -> None:
    path = store.pull(MODEL_ID, progress=False)
    files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    assert files == ["LICENSE", "README.md", "checkpoint.pt", "config.json"]
    repo = local_hub.repos[MODEL_ID]
    assert (path / "checkpoint.pt").read_bytes() == repo.files["checkpoint.pt"]
    assert (path / "LICENSE").read_bytes() == repo.files["LICENSE"]
    t5 = store.hub_cache_dir() / "models--tiny_t5" / "snapshots" / local_hub.repos["tiny_t5"].sha
    assert sorted(p.name for p in t5.iterdir()) == sorted(
        n for n in local_hub.repos["tiny_t5"].files if n != "tf_model.h5"
    )
    fetched = {
        p.split("/resolve/")[1] for m, p, _ in local_hub.log if m == "GET" and "/resolve/" in p
    }
    assert not any("vision_tower" in f or "ranker" in f or "tf_model" in f for f in fetched)
    assert _fetched(local_hub, "FacebookAI/roberta-base") == set()  # only with rankers
    assert store.local_path(MODEL_ID) == path


def test_a_web_url_and_a_revision_name_the_same_model(local_hub, hub_env) -> None:
    sha = local_hub.repos[MODEL_ID].sha
    path = store.pull(f"{local_hub.url}/{MODEL_ID}/tree/{sha}", progress=False)
    assert path.name == sha and (path / "checkpoint.pt").is_file()
    assert store.local_path(MODEL_ID, revision=sha) == path


def _pull_error(model: str = MODEL_ID, revision: str | None = None) -> str:
    with pytest.raises(ModelNotFoundError) as caught:
        store.pull(model, revision, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_gated_without_a_token_says_to_log_in(local_hub, hub_env, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    message = _pull_error()
    assert "no Hugging Face token" in message and "hf auth login" in message
    assert f"{local_hub.url}/{MODEL_ID}" in message


def test_access_pending_names_the_page_to_request_it(local_hub, hub_env, monkeypatch) -> None:
    local_hub.tokens["hf_waiting"] = "pending"
    monkeypatch.setenv("HF_TOKEN", "hf_waiting")
    message = _pull_error()
    assert "not been granted" in message and f"{local_hub.url}/{MODEL_ID}" in message


def test_access_rejected_says_denied(local_hub, hub_env, monkeypatch) -> None:
    local_hub.tokens["hf_refused"] = "rejected"
    monkeypatch.setenv("HF_TOKEN", "hf_refused")
    assert "denied" in _pull_error()


def test_a_bad_token_is_named(local_hub, hub_env, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_typo")
    assert "token was refused" in _pull_error()


def test_unknown_model_and_revision_are_404s_with_one_line(local_hub, hub_env) -> None:
    assert "is not a model on" in _pull_error("facebook/sam-audio-tiny")
    assert "has no revision 'v9'" in _pull_error(revision="v9")


def test_offline_is_one_line_and_no_other_source_is_tried(local_hub, hub_env, monkeypatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    message = _pull_error()
    assert message.startswith("offline:") and closed in message
    assert local_hub.log == []


def test_a_dropped_connection_resumes_where_it_stopped(local_hub, hub_env, monkeypatch) -> None:
    # The client reads 10 MB pieces; smaller ones make this 2.6 MB file behave like a big one.
    monkeypatch.setattr("huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE", 2**16)
    local_hub.drop_after["checkpoint.pt"] = 1_000_000
    path = store.pull(MODEL_ID, progress=False)
    data = local_hub.repos[MODEL_ID].files["checkpoint.pt"]
    assert (
        hashlib.sha256((path / "checkpoint.pt").read_bytes()).digest()
        == hashlib.sha256(data).digest()
    )
    ranges = local_hub.gets("checkpoint.pt")
    assert ranges[0] == "" and ranges[-1].startswith("bytes=")
    assert 0 < int(ranges[-1].removeprefix("bytes=").rstrip("-")) <= 1_000_000


def test_a_pull_that_failed_resumes_in_the_next_run(local_hub, hub_env) -> None:
    data = local_hub.repos[MODEL_ID].files["checkpoint.pt"]
    local_hub.cut_at["checkpoint.pt"] = 1_000_000  # every connection of run 1 stops there
    message = _pull_error()
    assert message.startswith("offline:")
    kept = list(Path(hub_env["HF_HUB_CACHE"]).rglob("*.part"))
    assert [p.stat().st_size for p in kept] == [1_000_000]
    assert store.installed() == []
    del local_hub.cut_at["checkpoint.pt"]
    before = len(local_hub.gets("checkpoint.pt"))
    path = store.pull(MODEL_ID, progress=False)
    assert local_hub.gets("checkpoint.pt")[before:] == ["bytes=1000000-"]
    assert (
        hashlib.sha256((path / "checkpoint.pt").read_bytes()).digest()
        == hashlib.sha256(data).digest()
    )
    assert list(Path(hub_env["HF_HUB_CACHE"]).rglob("*.part")) == []


def test_a_partial_file_that_does_not_match_the_hub_is_removed(local_hub, hub_env) -> None:
    local_hub.cut_at["checkpoint.pt"] = 1_000_000
    _pull_error()
    # The file changed on the hub under the same name is a new ETag; a corrupt partial
    # (here: other bytes of the right length) fails the SHA-256 check and is not kept.
    (part,) = Path(hub_env["HF_HUB_CACHE"]).rglob("*.part")
    part.write_bytes(b"\0" * 1_000_000)
    del local_hub.cut_at["checkpoint.pt"]
    message = _pull_error()
    assert "does not match the hub's metadata" in message and "pull again" in message
    assert not part.exists()
    path = store.pull(MODEL_ID, progress=False)
    assert (path / "checkpoint.pt").read_bytes() == local_hub.repos[MODEL_ID].files["checkpoint.pt"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs: room for the tiny model's metadata, not always for its checkpoint."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_too_small_is_refused_before_downloading(
    local_hub, hub_env, small_disk, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(small_disk / "cache"))
    monkeypatch.setattr(store, "SPACE_MARGIN_BYTES", 2 * 2**20)
    message = _pull_error()
    assert message.startswith("disk full:") and str(small_disk / "cache") in message
    assert local_hub.gets("checkpoint.pt") == []


def test_a_disk_that_fills_during_the_download_is_one_line_and_leaves_no_partial_file(
    local_hub, hub_env, small_disk, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(small_disk / "cache"))
    monkeypatch.setattr(store, "SPACE_MARGIN_BYTES", 0)
    filler = small_disk / "other_program.bin"
    filled: list[str] = []

    def fill_disk(name: str) -> None:  # another program takes the space, once
        if name == "checkpoint.pt" and not filled:
            filled.append(name)
            filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 1_000_000))

    local_hub.before_get = fill_disk
    message = _pull_error()
    assert message.startswith("disk full:")
    assert list((small_disk / "cache").rglob("*.incomplete")) == []
    assert store.installed() == []
    filler.unlink()  # the user frees space; the next pull completes
    path = store.pull(MODEL_ID, progress=False)
    assert (path / "checkpoint.pt").read_bytes() == local_hub.repos[MODEL_ID].files["checkpoint.pt"]


def _name_rankers(local_hub, **fields: object) -> None:
    """The served config.json names rankers (as the official configs do)."""
    repo = local_hub.repos[MODEL_ID]
    config = json.loads(repo.files["config.json"]) | fields
    repo.files["config.json"] = json.dumps(config).encode()


def _fetched(local_hub, repo_id: str) -> set[str]:
    prefix = f"/{repo_id}/resolve/"
    return {
        p.removeprefix(prefix).split("/", 1)[1]
        for m, p, _ in local_hub.log
        if m == "GET" and p.startswith(prefix)
    }


def test_with_rankers_fetches_exactly_the_ranker_files_the_config_names(local_hub, hub_env) -> None:
    local_hub.repos[MODEL_ID].files["text_ranker/clap_tiny.pt"] = os.urandom(3000)
    _name_rankers(
        local_hub,
        text_ranker={"kind": "clap", "checkpoint": "text_ranker/clap_tiny.pt"},
        visual_ranker={"kind": "imagebind", "checkpoint": None},
        span_predictor="pe-a-frame-large",
    )
    plain = store.pull(MODEL_ID, progress=False)
    assert not (plain / "text_ranker").exists()
    path = store.pull(MODEL_ID, with_rankers=True, progress=False)
    files = _fetched(local_hub, MODEL_ID)
    assert {f for f in files if "ranker" in f or "vision" in f} == {"text_ranker/clap_tiny.pt"}
    data = local_hub.repos[MODEL_ID].files["text_ranker/clap_tiny.pt"]
    assert (path / "text_ranker" / "clap_tiny.pt").read_bytes() == data
    # The CLAP text branch's tokenizer: roberta-base's small files, never its weights.
    tokenizer = {"vocab.json", "merges.txt", "config.json"}
    assert _fetched(local_hub, "FacebookAI/roberta-base") == tokenizer
    folder = store.tokenizer_folder()
    assert folder is not None and {p.name for p in folder.iterdir()} == tokenizer
    assert load_tokenizer(folder)("a sine tone")["input_ids"][0] == 0  # <s>, RoBERTa's
    store.pull(MODEL_ID, with_rankers=True, progress=False)  # cached: not fetched again
    assert len(local_hub.gets("vocab.json")) == 1
    assert len(_fetched(local_hub, "facebook/pe-a-frame-large")) == 7  # the span predictor's
    assert (
        len([p for m, p, _ in local_hub.log if m == "GET" and "pe-a-frame" in p]) == 8
    )  # + listing


def test_with_rankers_fetches_the_span_predictor_at_revision_perception_models(
    local_hub, hub_env
) -> None:
    _name_rankers(local_hub, span_predictor="pe-a-frame-large")
    store.pull(MODEL_ID, progress=False)
    assert store.span_predictor_folder("pe-a-frame-large") is None
    store.pull(MODEL_ID, with_rankers=True, progress=False)
    served = local_hub.repos["facebook/pe-a-frame-large"].files
    wanted = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "LICENSE", "README.md"}  # fmt: skip
    gets = {p for m, p, _ in local_hub.log if m == "GET" and "pe-a-frame-large/resolve" in p}
    prefix = "/facebook/pe-a-frame-large/resolve/"
    assert gets == {f"{prefix}perception_models/{name}" for name in wanted}
    folder = store.span_predictor_folder("pe-a-frame-large")
    assert folder is not None and {p.name for p in folder.iterdir()} == wanted
    assert all((folder / name).read_bytes() == served[name] for name in wanted)
    assert (folder.parent.parent / "refs" / "perception_models").is_file()
    # A name that is a folder on this machine is used as it is, and not fetched.
    assert store.span_predictor_folder(str(folder)) == folder


def test_a_span_predictor_repository_without_its_weights_is_one_line(local_hub, hub_env) -> None:
    del local_hub.repos["facebook/pe-a-frame-large"].files["model.safetensors"]
    _name_rankers(local_hub, span_predictor="pe-a-frame-large")
    with pytest.raises(ModelNotFoundError, match="has no model.safetensors: not a PE-A-Frame"):
        store.pull(MODEL_ID, with_rankers=True, progress=False)


def test_a_span_predictor_the_hub_does_not_have_is_one_line(local_hub, hub_env) -> None:
    _name_rankers(local_hub, span_predictor="pe-a-frame-huge")
    with pytest.raises(ModelNotFoundError, match="facebook/pe-a-frame-huge is not a model"):
        store.pull(MODEL_ID, with_rankers=True, progress=False)


def test_a_tokenizer_repository_without_the_bpe_files_is_one_line(local_hub, hub_env) -> None:
    del local_hub.repos["FacebookAI/roberta-base"].files["merges.txt"]
    _name_rankers(local_hub, text_ranker={"kind": "clap", "checkpoint": None})
    clap = {"630k-best.pt": os.urandom(500)}
    local_hub.repos["lukewys/laion_clap"] = type(local_hub.repos[MODEL_ID])(clap, "c" * 40)
    with pytest.raises(ModelNotFoundError, match="has no merges.txt: not roberta-base's"):
        store.pull(MODEL_ID, with_rankers=True, progress=False)


def test_with_rankers_fetches_the_official_clap_default_from_its_own_repository(
    local_hub, hub_env
) -> None:
    clap = {"630k-best.pt": os.urandom(5000), "630k-audioset-best.pt": os.urandom(100)}
    local_hub.repos["lukewys/laion_clap"] = type(local_hub.repos[MODEL_ID])(clap, "c" * 40)
    _name_rankers(local_hub, text_ranker={"kind": "clap", "checkpoint": None})
    store.pull(MODEL_ID, with_rankers=True, progress=False)
    assert _fetched(local_hub, "lukewys/laion_clap") == {"630k-best.pt"}
    cached = store.cached_file("lukewys/laion_clap", "630k-best.pt")
    assert cached is not None and cached.read_bytes() == clap["630k-best.pt"]


def test_a_ranker_file_the_repository_lacks_is_one_line(local_hub, hub_env) -> None:
    _name_rankers(local_hub, text_ranker={"kind": "clap", "checkpoint": "text_ranker/x.pt"})
    with pytest.raises(ModelNotFoundError, match="'text_ranker/x.pt', which the repository"):
        store.pull(MODEL_ID, with_rankers=True, progress=False)


JUDGE = "facebook/sam-audio-judge"
JUDGE_FILES = {
    "config.json": json.dumps(
        {"audio_codec": {}, "transformer": {}, "finetune_transformer": {}, "text_model": {}}
    ).encode(),  # fmt: skip
    "checkpoint.pt": os.urandom(4000),
    "tokenizer.json": b'{"model": {}}',
    "tokenizer_config.json": b'{"tokenizer_class": "PreTrainedTokenizerFast"}',
    "special_tokens_map.json": b"{}",
    "LICENSE": b"SAM License (test copy)\n",
    "README.md": b"# judge\n",
    # What the judge does not need:
    "model.safetensors": os.urandom(1000),
    ".gitattributes": b"*.pt filter=lfs\n",
}
JUDGE_WANTED = {n for n in JUDGE_FILES if n not in ("model.safetensors", ".gitattributes")}


def _serve_judge(local_hub, **without: bool) -> None:
    """The judge's repository, whose files are on the branch sam_audio only (as the official
    judge is loaded at that revision)."""
    files = {n: d for n, d in JUDGE_FILES.items() if not without.get(n.replace(".", "_"))}
    repo = type(local_hub.repos[MODEL_ID])(files, "9" * 40, branches=("sam_audio",))
    local_hub.repos[JUDGE] = repo
    clap = {"630k-best.pt": os.urandom(500)}
    local_hub.repos["lukewys/laion_clap"] = type(local_hub.repos[MODEL_ID])(clap, "c" * 40)
    _name_rankers(
        local_hub,
        text_ranker={"kind": "ensemble", "rankers": {
            "clap": [{"kind": "clap", "checkpoint": None}, 1.0],
            "judge": [{"kind": "judge", "checkpoint_or_model_id": JUDGE}, 2.0],
        }},
    )  # fmt: skip


def test_with_rankers_fetches_the_judge_at_revision_sam_audio(local_hub, hub_env, tmp_path) -> None:
    from samaudio_daw.doctor import run_doctor
    from samaudio_daw.separation.sam_audio.rankers import named_rankers, raw_config

    _serve_judge(local_hub)
    path = store.pull(MODEL_ID, progress=False)
    assert _fetched(local_hub, JUDGE) == set()  # only with rankers
    path = store.pull(MODEL_ID, with_rankers=True, progress=False)
    assert _fetched(local_hub, JUDGE) == JUDGE_WANTED
    revisions = {
        p.split("/resolve/")[1].split("/")[0]
        for m, p, _ in local_hub.log
        if m == "GET" and p.startswith(f"/{JUDGE}/")
    }
    assert revisions == {"sam_audio"}
    judge = next(s for s in named_rankers(raw_config(path)) if s.kind == "judge")
    folder = store.judge_folder(judge, path)
    assert folder is not None and folder.parent.name == "snapshots"
    assert (folder / "checkpoint.pt").read_bytes() == JUDGE_FILES["checkpoint.pt"]
    assert store.ranker_checkpoint(judge, path) == folder / "checkpoint.pt"
    # `model list` shows the SAM-Audio model, not the judge beside it; pulled once.
    assert [m.repo_id for m in store.installed()] == [MODEL_ID]
    before = len(local_hub.log)
    store.pull(MODEL_ID, with_rankers=True, progress=False)
    assert not [p for _, p, _ in local_hub.log[before:] if p.startswith(f"/{JUDGE}/")]
    detail = {c.name: c for c in run_doctor(str(path), measure=False, reaper_path=tmp_path).checks}[
        "rankers"
    ].detail
    assert f"text_ranker (judge: {JUDGE}): at {folder}, ranks --candidates with weight 2" in detail
    assert "text_ranker (clap: lukewys/laion_clap/630k-best.pt): checkpoint at" in detail
    assert "falls back to presence" not in detail
    store.remove(JUDGE)
    detail = {c.name: c for c in run_doctor(str(path), measure=False, reaper_path=tmp_path).checks}[
        "rankers"
    ].detail
    assert f"text_ranker (judge: {JUDGE}): config.json and checkpoint.pt absent" in detail


def test_a_judge_repository_without_its_weights_is_one_line(local_hub, hub_env) -> None:
    _serve_judge(local_hub, checkpoint_pt=True)
    with pytest.raises(ModelNotFoundError) as caught:
        store.pull(MODEL_ID, with_rankers=True, progress=False)
    assert str(caught.value) == (
        f"{JUDGE} on {local_hub.url} at revision sam_audio has no checkpoint.pt: not the "
        "SAM-Audio judge in the official layout (facebook/sam-audio-judge)"
    )


def test_a_judge_without_the_sam_audio_revision_is_one_line(local_hub, hub_env) -> None:
    _serve_judge(local_hub)
    local_hub.repos[JUDGE].branches = ("main",)
    with pytest.raises(ModelNotFoundError, match=f"{JUDGE} has no revision 'sam_audio'"):
        store.pull(MODEL_ID, with_rankers=True, progress=False)


def test_a_gated_judge_without_a_token_says_to_log_in(local_hub, hub_env, monkeypatch) -> None:
    _serve_judge(local_hub)
    local_hub.repos[MODEL_ID].gated = False
    local_hub.repos[JUDGE].gated = True
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ModelNotFoundError, match=f"{JUDGE} is gated and no Hugging Face token"):
        store.pull(MODEL_ID, with_rankers=True, progress=False)


def test_a_judge_in_a_local_folder_is_used_as_is(local_hub, hub_env, tmp_path) -> None:
    folder = tmp_path / "my judge"
    folder.mkdir()
    for name in ("config.json", "checkpoint.pt", "tokenizer.json"):
        (folder / name).write_bytes(JUDGE_FILES[name])
    _serve_judge(local_hub)
    _name_rankers(local_hub, text_ranker={"kind": "judge", "checkpoint_or_model_id": str(folder)})
    path = store.pull(MODEL_ID, with_rankers=True, progress=False)
    assert _fetched(local_hub, JUDGE) == set()
    [judge] = named_rankers_of(path)
    assert store.judge_folder(judge, path) == folder


def named_rankers_of(path: Path) -> list:
    from samaudio_daw.separation.sam_audio.rankers import named_rankers, raw_config

    return named_rankers(raw_config(path))


def test_the_token_saved_by_hub_login_is_used(local_hub, hub_env, tmp_path) -> None:
    env = {k: v for k, v in hub_env.items() if k != "HF_TOKEN"}
    home = Path(env["HF_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text("hf_granted")  # what `hf auth login` writes
    code = f"from samaudio_daw.separation.sam_audio import store; print(store.pull({MODEL_ID!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (Path(done.stdout.strip()) / "checkpoint.pt").is_file()
