"""The job manifest (what to separate) and the schema check both manifests go through.

Job and result manifests are versioned JSON with published schemas in
``samaudio_daw/schemas``; they are the only thing the REAPER scripts, the OSC server,
the CLI and the cluster runner exchange. Loading checks the schema and reports the
field that is wrong. The result manifest's values live in ``results.py``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema

from samaudio_daw.errors import UserError
from samaudio_daw.files import read_regular_bytes, write_bytes_atomically
from samaudio_daw.jobs.job import Job, JobItem
from samaudio_daw.jobs.job_check import check_job
from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import TimeSpan

MANIFEST_VERSION = 1
RESULT_FILE_NAME = "result.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class ManifestError(UserError):
    """A job or result manifest that does not follow its schema; names file and field."""


@cache
def load_schema(kind: Literal["job", "result"]) -> dict[str, Any]:
    """The JSON Schema for ``kind`` (cached: the schema files never change at run time)."""
    text = resources.files("samaudio_daw.schemas").joinpath(f"{kind}.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def validate(document: object, kind: Literal["job", "result"], source: str) -> None:
    """Raise ManifestError naming ``source`` and the first failing field."""
    validator = jsonschema.Draft202012Validator(load_schema(kind))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ManifestError(f"{source}: {kind} manifest field {where}: {_one_line(error.message)}")


def _item_from_json(entry: dict[str, Any], base: Path) -> JobItem:
    audio = base / entry["audio"]
    spans = tuple(TimeSpan(float(s), float(e), sign) for sign, s, e in entry.get("spans", []))
    return JobItem(
        audio=audio,
        name=entry.get("name") or audio.stem,
        preset=entry.get("preset"),
        prompts=tuple(entry.get("prompts") or ()),
        spans=spans,
        track=entry.get("track"),
        track_guid=entry.get("track_guid"),
        item_guid=entry.get("item_guid"),
        position_s=float(entry.get("position_s", 0.0)),
        length_s=entry.get("length_s"),
        mode=entry.get("mode", "file"),
        bit_depth=entry.get("bit_depth"),
    )


def load_job(path: Path) -> Job:
    """Read and check a job manifest; relative paths are taken from its folder."""
    try:
        data = read_regular_bytes(path, MAX_MANIFEST_BYTES, "job manifest", follow_links=True)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such job manifest") from None
    except UserError as error:
        raise ManifestError(str(error)) from None
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise ManifestError(f"{path}: not valid JSON ({_one_line(error)})") from None
    validate(document, "job", str(path))
    base = Path(path).resolve().parent
    try:
        items = tuple(_item_from_json(entry, base) for entry in document["items"])
        options = BackendOptions(**document.get("backend_options", {}))
    except (ValueError, OverflowError) as error:
        raise ManifestError(f"{path}: {_one_line(error)}") from None
    status = document.get("status_file")
    job = Job(
        items=items,
        output_dir=base / document["output_dir"],
        backend=document.get("backend", "dsp"),
        backend_options=options,
        file_format=document.get("format", "wav"),
        bit_depth=document.get("bit_depth"),
        keep_residual=document.get("keep_residual"),
        sample_rate=document.get("sample_rate"),
        project=base / document["project"] if document.get("project") else None,
        status_file=base / status if status else None,
    )
    return check_job(job, str(path))


def _one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def write_json_atomically(path: Path, document: object) -> Path:
    """Write ``document`` as indented JSON, atomically."""
    text = json.dumps(document, indent=2) + "\n"
    return write_bytes_atomically(path, text.encode("utf-8"))
