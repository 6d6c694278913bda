"""The one runner every entrance uses: a Job in, stem files and a result manifest out.

The CLI, the OSC server, the REAPER scripts (through ``samaudio-daw run``) and the
render command all build a ``Job`` and call ``run_job``. It checks everything it can
before writing anything, skips items whose stems are up to date, separates the rest
(with the executor its caller chose: here, worker processes or Ray), and rewrites
``result.json`` after every finished item so that an interrupted run resumes where it
stopped. The output folder is locked while the run writes it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from samaudio_daw import __version__
from samaudio_daw.audio.io import audio_info
from samaudio_daw.errors import OutputError
from samaudio_daw.files import check_target
from samaudio_daw.jobs.executor import Executor
from samaudio_daw.jobs.manifest import RESULT_FILE_NAME, Job
from samaudio_daw.jobs.outdir import hold_output_dir
from samaudio_daw.jobs.results import (
    PresenceRecord,
    Result,
    StemRecord,
    read_result,
    write_result,
)
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.serial import SerialExecutor
from samaudio_daw.jobs.stems import SeparatedItem, remove_stem_leftovers
from samaudio_daw.jobs.work import ItemWork, plan_item, resolve_preset
from samaudio_daw.presets import PresetLibrary
from samaudio_daw.separation.backends import create_backend
from samaudio_daw.separation.base import ChunkScore, Separator


def _check_no_overwrite(works: Sequence[ItemWork]) -> None:
    inputs = {work.item.audio.resolve() for work in works}
    seen: set[Path] = set()
    for work in works:
        for plan in work.plans:
            target = plan.path.resolve()
            if target in inputs:
                raise OutputError(
                    f"{plan.path}: this stem would overwrite an input; choose another -o"
                )
            if target in seen:
                raise OutputError(
                    f"{plan.path}: two items would write the same stem file; "
                    "give the inputs different names"
                )
            seen.add(target)


def _input_label(work: ItemWork) -> str:
    return work.item.source_label or str(work.item.audio)


def _another_input(earlier: str, work: ItemWork) -> bool:
    """Whether ``earlier`` (a result manifest's input) is surely not this item's input:
    another existing file. A label or path we cannot check gives the benefit of the doubt."""
    if earlier == _input_label(work):
        return False
    try:
        return Path(earlier).is_file() and not Path(earlier).samefile(work.item.audio)
    except OSError:
        return False


def _check_not_anothers(works: Sequence[ItemWork], previous: Result | None) -> None:
    """Refuse to replace a stem file that the folder's result manifest says came from
    another input (two inputs of one name, one folder): never a silent overwrite."""
    if previous is None:
        return
    made_from = {stem.file: stem.input for stem in previous.stems}
    for work in works:
        for plan in work.plans:
            earlier = made_from.get(plan.path.name)
            if earlier is not None and plan.path.exists() and _another_input(earlier, work):
                raise OutputError(
                    f"{plan.path}: holds a stem of {earlier}, not of {_input_label(work)}; "
                    "give the inputs different names or choose another output folder"
                )


def _track_label(work: ItemWork) -> str:
    """The track a stem came from, for its name: the track, else the input file's name."""
    return work.item.track or Path(work.item.name).stem


def _presence_by_prompt(scores: Sequence[ChunkScore]) -> dict[int, tuple[PresenceRecord, ...]]:
    found: dict[int, list[PresenceRecord]] = {}
    for c in sorted(scores, key=lambda c: (c.prompt, c.start_s)):
        found.setdefault(c.prompt, []).append(
            PresenceRecord(c.start_s, c.end_s, c.score, c.silenced)
        )
    return {prompt: tuple(chunks) for prompt, chunks in found.items()}


def _stem_records(
    work: ItemWork, frames: int, reused: bool, presence: Sequence[tuple[PresenceRecord, ...]]
) -> list[StemRecord]:
    """``presence``: per plan, its chunks' presence scores."""
    info = audio_info(work.item.audio)
    item = work.item
    return [
        StemRecord(
            input=_input_label(work),
            name=plan.name,
            kind=plan.kind,
            prompt=plan.prompt,
            file=plan.path.name,
            preset=work.preset.name,
            sample_rate=info.sample_rate,
            channels=info.channels,
            frames=frames,
            bit_depth=work.source.bit_depth or info.bit_depth,
            cache_key=work.key,
            track=item.track,
            track_guid=item.track_guid,
            item_guid=item.item_guid,
            position_s=item.position_s,
            length_s=frames / info.sample_rate,
            mode=item.mode,
            reused=reused,
            project=str(item.project) if item.project else None,
            pre_chain=tuple(spec.kind for spec in work.preset.pre_chain),
            color=work.preset.color_of(plan.name),
            stems_as=work.preset.stems_as,  # type: ignore[arg-type]
            track_name=work.preset.track_name_of(plan.name, _track_label(work)),
            presence=chunks,
        )
        for plan, chunks in zip(work.plans, presence, strict=True)
    ]


def _new_records(work: ItemWork, separated: SeparatedItem) -> list[StemRecord]:
    """Records of freshly written stems: the n-th target plan has prompt n's scores."""
    by_prompt = _presence_by_prompt(separated.scores)
    targets = [plan for plan in work.plans if plan.kind == "target"]
    presence = [
        by_prompt.get(targets.index(plan), ()) if plan.kind == "target" else ()
        for plan in work.plans
    ]
    return _stem_records(work, separated.frames, False, presence)


def _previous_records(work: ItemWork, previous: Result | None) -> list[StemRecord] | None:
    """``work``'s stems as the last run recorded them, when it wrote them all with the same
    cache key and they are still there (marked reused); None when the item must be
    separated again."""
    if previous is None:
        return None
    by_file = {stem.file: stem for stem in previous.stems}
    found = [by_file.get(plan.path.name) for plan in work.plans]
    if any(s is None or s.cache_key != work.key or s.frames is None for s in found):
        return None
    if not all(plan.path.is_file() for plan in work.plans):
        return None
    frames = found[0].frames if found[0] is not None else None
    if frames is None:
        return None
    presence = [s.presence if s is not None else () for s in found]
    return _stem_records(work, frames, True, presence)


class _ResultBook:
    """The result manifest as items finish, rewritten after each one.

    Writing it as we go is what lets a run killed half way resume: the next run
    finds the finished items' cache keys here and skips them.
    """

    def __init__(
        self, path: Path, works: Sequence[ItemWork], header: Result, previous: Result | None
    ) -> None:
        self._path = path
        self._works = works
        self._header = header
        self._started = time.monotonic()
        self._records: dict[int, list[StemRecord]] = {}
        for index, work in enumerate(works):
            records = _previous_records(work, previous)
            if records is not None:
                self._records[index] = records

    def todo(self) -> list[int]:
        """Indexes of the items that still need separating."""
        return [i for i in range(len(self._works)) if i not in self._records]

    def item_done(self, index: int, separated: SeparatedItem) -> None:
        self._records[index] = _new_records(self._works[index], separated)
        self.write()

    def write(self) -> Result:
        stems = tuple(r for i in sorted(self._records) for r in self._records[i])
        seconds = sum(
            (records[0].frames or 0) / (records[0].sample_rate or 1)
            for records in self._records.values()
        )
        result = dataclasses.replace(
            self._header,
            stems=stems,
            elapsed_s=round(time.monotonic() - self._started, 3),
            audio_s=round(seconds, 3),
        )
        write_result(self._path, result)
        return result


def run_job(
    job: Job,
    library: PresetLibrary,
    control: RunControl | None = None,
    executor: Executor | None = None,
    separator: Separator | None = None,
    extra: dict[str, Any] | None = None,
    wait: bool = True,
) -> Result:
    """Run ``job``; returns the result it wrote to ``output_dir/result.json``.

    Raises the user-facing errors (audio, preset, prompt, output) before any stem is
    written, and JobCancelled when ``control`` says stop (nothing half-written stays).
    ``executor`` separates the items (default: here, one after another); ``separator``
    is a backend already loaded (default: made from the job). ``extra`` fields are added
    to the manifest (the render command's project fields). Another run holding the
    output folder is waited for, or with ``wait=False`` an OutputError naming it.
    """
    control = control or RunControl()
    with control.running(job.output_dir / RESULT_FILE_NAME) as ending:
        document, separated = _run(
            job, library, control, executor or SerialExecutor(), separator, extra, wait
        )
        ending["message"] = f"{len(job.items)} item(s), {separated} separated"
    return document


def _run(
    job: Job,
    library: PresetLibrary,
    control: RunControl,
    executor: Executor,
    separator: Separator | None,
    extra: dict[str, Any] | None,
    wait: bool,
) -> tuple[Result, int]:
    for item in job.items:  # cheap checks first: loading a backend can take seconds
        resolve_preset(item, library, job.keep_residual)
        audio_info(item.audio)
    separator = separator or create_backend(job.backend, job.backend_options)
    # Everything that can be checked is checked before the output folder is touched.
    works = [plan_item(job, item, library, separator) for item in job.items]
    _check_no_overwrite(works)
    with hold_output_dir(job.output_dir, [item.audio for item in job.items], wait=wait):
        return _run_works(job, works, separator, control, executor, extra)


def _run_works(
    job: Job,
    works: Sequence[ItemWork],
    separator: Separator,
    control: RunControl,
    executor: Executor,
    extra: dict[str, Any] | None,
) -> tuple[Result, int]:
    """Separate what is not up to date, under the output folder's lock."""
    result_path = job.output_dir / RESULT_FILE_NAME
    for target in [result_path, *(plan.path for work in works for plan in work.plans)]:
        check_target(target)  # a link, FIFO or folder at a name we write: refuse up front
    header = Result.with_fields(
        (),
        **{
            "tool": f"samaudio-daw {__version__}",
            "backend": separator.name,
            "backend_settings": separator.settings(),
            "project": str(job.project) if job.project else None,
            **(extra or {}),
        },
    )
    previous = read_result(result_path)
    _check_not_anothers(works, previous)
    book = _ResultBook(result_path, works, header, previous)
    todo = book.todo()
    for index in todo:  # what a killed run left for these very stems
        remove_stem_leftovers(works[index].plans)

    def item_done(position: int, separated: SeparatedItem) -> None:
        book.item_done(todo[position], separated)

    if todo:
        executor.run([works[i] for i in todo], job, separator, control, item_done)
    return book.write(), len(todo)
