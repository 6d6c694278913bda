"""The one check every job goes through, whichever entrance it came by.

The CLI (``run``, ``separate``), the OSC server, MIDI reruns and the REAPER scripts
(through ``samaudio-daw run``) all hand their ``Job`` to ``check_job``:

- item names become the start of stem file names, so they must be plain file names;
- numbers (positions, lengths, spans, backend settings) must be finite and in range;
- where the entrance has allowed folders (``serve --root``), every path the job names is
  resolved and must lie inside them;
- a remote sender may set only the backend options in ``REMOTE_BACKEND_OPTIONS``; a model
  path or hub id only when the server allows it (``serve --allow-model``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Protocol

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.job import Job, JobItem
from samaudio_daw.separation.backends import BackendOptions

MAX_ITEM_NAME_CHARS = 200
MAX_PATH_CHARS = 4096
MAX_ITEMS = 100_000
MAX_STEPS = 10_000
MAX_CHUNK_S = 3600.0
MAX_POSITION_S = 1e9  # about 31 years: far beyond any timeline, far inside float precision
REMOTE_BACKEND_OPTIONS = ("steps", "seed", "chunk_s", "output")


class JobRefused(UserError):
    """A job that names something it may not (a path outside the roots, a bad name)."""


class Roots(Protocol):
    """The allowed folders of an entrance (``samaudio_daw.control.paths.Roots``)."""

    def existing_file(self, path_text: str, what: str, max_bytes: int | None = None) -> Path: ...

    def output_folder(self, path_text: str, what: str = "output folder") -> Path: ...

    def confine(self, path_text: str, what: str) -> Path: ...


def check_item_name(name: object, where: str) -> None:
    """Refuse an item name that is not a plain file name (it starts stem file names)."""
    if not isinstance(name, str):
        raise JobRefused(f"{where}: item name must be text, got {type(name).__name__}")
    bad = (
        name.strip() in ("", ".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
        or len(name) > MAX_ITEM_NAME_CHARS
    )
    if bad:
        raise JobRefused(
            f"{where}: item name {name[:80]!r} must be a plain file name (no folders, no '..', "
            f"no leading dot, no control characters, at most {MAX_ITEM_NAME_CHARS} characters)"
        )


def _check_number(value: object, where: str, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JobRefused(f"{where}: must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not low <= value <= high:
        raise JobRefused(f"{where}: {value!r} is not a finite number within {low:g}..{high:g}")


def _check_path(path: Path | None, where: str) -> None:
    if path is not None and ("\x00" in str(path) or len(str(path)) > MAX_PATH_CHARS):
        raise JobRefused(f"{where}: {str(path)[:80]!r} is not a usable path (NUL or too long)")


def check_item(item: JobItem, where: str) -> None:
    """The item's name, path and numbers."""
    check_item_name(item.name, f"{where}.name")
    _check_path(item.audio, f"{where}.audio")
    _check_number(item.position_s, f"{where}.position_s", 0.0, MAX_POSITION_S)
    _check_number(item.length_s, f"{where}.length_s", 0.0, MAX_POSITION_S)
    for number, span in enumerate(item.spans):
        _check_number(span.start_s, f"{where}.spans[{number}] start", 0.0, MAX_POSITION_S)
        _check_number(span.end_s, f"{where}.spans[{number}] end", 0.0, MAX_POSITION_S)


def check_backend_options(options: BackendOptions, where: str) -> None:
    """Backend numbers in range: a bad one must not reach a model as an internal error."""
    _check_number(options.steps, f"{where}.steps", 1, MAX_STEPS)
    _check_number(options.chunk_s, f"{where}.chunk_s", 0.1, MAX_CHUNK_S)
    _check_number(options.seed, f"{where}.seed", -(2**63), 2**63 - 1)


def remote_backend_options(
    asked: BackendOptions,
    server: BackendOptions,
    where: str,
    roots: Roots,
    allow_model: bool,
) -> BackendOptions:
    """The server's options with the fields a remote sender may set taken from ``asked``.

    A field outside the allow-list that differs from the default is refused by name, so
    a sender learns nothing about paths outside the roots from the reply.
    """
    defaults = BackendOptions()
    changes: dict[str, object] = {}
    for spec in dataclasses.fields(BackendOptions):
        value = getattr(asked, spec.name)
        if value == getattr(defaults, spec.name):
            continue
        if spec.name in REMOTE_BACKEND_OPTIONS:
            changes[spec.name] = value
        elif spec.name == "model" and allow_model:
            changes["model"] = _remote_model(str(value), f"{where}.model", roots)
        else:
            hint = " (start serve with --allow-model)" if spec.name == "model" else ""
            raise JobRefused(
                f"{where}.{spec.name}: may not be set by a message; it is the server's "
                f"setting{hint}"
            )
    return dataclasses.replace(server, **changes)  # type: ignore[arg-type]


def _remote_model(text: str, where: str, roots: Roots) -> str:
    """A model folder inside the roots, or a hub id (``owner/name``)."""
    looks_like_path = text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") != 1
    if looks_like_path:
        return str(roots.confine(text, where))
    return text


def check_job(
    job: Job,
    source: str,
    roots: Roots | None = None,
    server_options: BackendOptions | None = None,
    allow_model: bool = False,
) -> Job:
    """``job`` checked, with its paths resolved inside ``roots`` when given.

    ``server_options`` marks a remote entrance: the job's backend options are limited to
    what a remote sender may set, on top of the server's own. The status file is
    dropped for remote jobs (progress travels as messages).
    """
    if not job.items:
        raise JobRefused(f"{source}: items: a job needs at least one item")
    if len(job.items) > MAX_ITEMS:
        raise JobRefused(f"{source}: items: {len(job.items)} items, over the limit of {MAX_ITEMS}")
    for index, item in enumerate(job.items):
        check_item(item, f"{source}: items[{index}]")
    for path, field in (
        (job.output_dir, "output_dir"),
        (job.project, "project"),
        (job.status_file, "status_file"),
    ):
        _check_path(path, f"{source}: {field}")
    if job.backend_options.model is not None:
        _check_path(Path(job.backend_options.model), f"{source}: backend_options.model")
    check_backend_options(job.backend_options, f"{source}: backend_options")
    if roots is None:
        return job
    items = []
    for index, item in enumerate(job.items):
        where = f"{source}: items[{index}].audio"
        items.append(dataclasses.replace(item, audio=roots.existing_file(str(item.audio), where)))
    output_dir = roots.output_folder(str(job.output_dir), f"{source}: output_dir")
    project = roots.confine(str(job.project), f"{source}: project") if job.project else None
    options = job.backend_options
    if server_options is not None:
        options = remote_backend_options(
            options, server_options, f"{source}: backend_options", roots, allow_model
        )
    return dataclasses.replace(
        job,
        items=tuple(items),
        output_dir=output_dir,
        project=project,
        backend_options=options,
        status_file=None,
    )
