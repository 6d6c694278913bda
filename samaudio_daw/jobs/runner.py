"""The one runner every entrance uses: a Job in, stem files and a result manifest out.

The CLI, the OSC server, the REAPER scripts (through ``samaudio-daw run``) and the
render command all build a ``Job`` and call ``run_job``. It checks everything it can
before writing anything, skips items whose stems are up to date, separates the rest
(in worker processes with ``jobs > 1``, or on Ray), and rewrites ``result.json`` after
every finished item so that an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samaudio_daw import __version__
from samaudio_daw.audio.io import audio_info
from samaudio_daw.audio.wav import read_time_reference
from samaudio_daw.errors import OutputError
from samaudio_daw.files import check_target
from samaudio_daw.jobs.cache import audio_digest, cache_key
from samaudio_daw.jobs.manifest import RESULT_FILE_NAME, Job, JobItem, read_result, write_result
from samaudio_daw.jobs.outdir import hold_output_dir, make_output_dir
from samaudio_daw.jobs.progress import JobCancelled, Progress, Silent
from samaudio_daw.jobs.stems import (
    ItemAudio,
    StemPlan,
    plan_stems,
    remove_stem_leftovers,
    separate_item,
)
from samaudio_daw.presets import Preset, PresetLibrary, preset_for_prompts, preset_to_dict
from samaudio_daw.separation.backends import create_backend
from samaudio_daw.separation.base import Prompt, Separator

if TYPE_CHECKING:
    from samaudio_daw.jobs.ray_engine import RayEngine


@dataclass(frozen=True)
class ItemWork:
    """Everything needed to separate one item, decided before any audio is separated."""

    item: JobItem
    preset: Preset
    prompts: tuple[Prompt, ...]
    plans: tuple[StemPlan, ...]
    source: ItemAudio
    key: str

    def separate(
        self, separator: Separator, progress: Callable[[float], None], cancel: Callable[[], bool]
    ) -> int:
        """Write every planned stem of this item; returns the frames in each."""
        return separate_item(
            self.source, self.preset, self.prompts, self.plans, separator, progress, cancel
        )


def resolve_preset(item: JobItem, library: PresetLibrary, keep_residual: bool | None) -> Preset:
    """The item's preset by name, or an ad-hoc one made from its prompts."""
    if item.preset is not None:
        return library.get(item.preset)
    keep = True if keep_residual is None else keep_residual
    return preset_for_prompts(item.prompts, keep_residual=keep)


def _prompts(item: JobItem, preset: Preset) -> tuple[Prompt, ...]:
    # Time spans go to the model only when the preset asks for them (or prompts are ad hoc).
    spans = item.spans if (preset.use_spans or item.preset is None) else ()
    return tuple(Prompt(stem.prompt, spans) for stem in preset.stems)


def prepare_output_dir(output_dir: Path, inputs: Sequence[Path]) -> None:
    """Create the output folder or fail with a line naming it; never an input's place."""
    make_output_dir(output_dir, inputs)


def _time_reference(item: JobItem, sample_rate: int, file_format: str) -> int | None:
    """Where the stems sit on a timeline: the item's position, or the input's own BWF stamp."""
    if item.mode != "file":
        return round(item.position_s * sample_rate)
    return read_time_reference(item.audio) if file_format == "WAV" else None


def _sound_of(preset: Preset) -> dict[str, object]:
    """The parts of a preset that change the stems (not its description or file location)."""
    described = preset_to_dict(preset)
    return {k: v for k, v in described.items() if k not in ("description", "source_path")}


def plan_item(job: Job, item: JobItem, library: PresetLibrary, separator: Separator) -> ItemWork:
    """Check an item's audio, preset and prompts, and decide its stem files and cache key."""
    preset = resolve_preset(item, library, job.keep_residual)
    prompts = _prompts(item, preset)
    separator.check_prompts(prompts)
    info = audio_info(item.audio)
    keep = preset.keep_residual if job.keep_residual is None else job.keep_residual
    plans = plan_stems(item.name, preset, job.output_dir, job.file_format, keep)
    time_reference = _time_reference(item, info.sample_rate, info.format)
    source = ItemAudio(item.audio, job.bit_depth or item.bit_depth, job.file_format, time_reference)
    recipe = {
        "preset": _sound_of(preset),
        "prompts": [[p.text, [[s.sign, s.start_s, s.end_s] for s in p.spans]] for p in prompts],
        "backend": separator.name,
        "settings": separator.settings(),
        "files": [str(plan.path.name) for plan in plans],
        "bit_depth": source.bit_depth,
        "time_reference": time_reference,
    }
    return ItemWork(
        item, preset, prompts, plans, source, cache_key(audio_digest(item.audio), recipe)
    )


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


def _check_not_anothers(works: Sequence[ItemWork], previous: dict[str, Any] | None) -> None:
    """Refuse to replace a stem file that the folder's result manifest says came from
    another input (two inputs of one name, one folder): never a silent overwrite."""
    if previous is None:
        return
    made_from = {entry.get("file"): entry.get("input") for entry in previous.get("stems", [])}
    for work in works:
        for plan in work.plans:
            earlier = made_from.get(plan.path.name)
            if earlier is not None and plan.path.exists() and _another_input(earlier, work):
                raise OutputError(
                    f"{plan.path}: holds a stem of {earlier}, not of {_input_label(work)}; "
                    "give the inputs different names or choose another output folder"
                )


def _stem_entries(work: ItemWork, frames: int, reused: bool) -> list[dict[str, Any]]:
    info = audio_info(work.item.audio)
    entries = []
    for plan in work.plans:
        entries.append(
            {
                "input": _input_label(work),
                "name": plan.name,
                "kind": plan.kind,
                "prompt": plan.prompt,
                "file": plan.path.name,
                "preset": work.preset.name,
                "sample_rate": info.sample_rate,
                "channels": info.channels,
                "frames": frames,
                "bit_depth": work.source.bit_depth or info.bit_depth,
                "cache_key": work.key,
                "track": work.item.track,
                "track_guid": work.item.track_guid,
                "item_guid": work.item.item_guid,
                "position_s": work.item.position_s,
                "length_s": frames / info.sample_rate,
                "mode": work.item.mode,
                "reused": reused,
                "project": str(work.item.project) if work.item.project else None,
                "pre_chain": [spec.kind for spec in work.preset.pre_chain],
            }
        )
    return entries


def _up_to_date(work: ItemWork, previous: dict[str, Any] | None) -> bool:
    """True when the last run wrote every planned file with the same cache key."""
    if previous is None:
        return False
    keys = {(entry["file"], entry.get("cache_key")) for entry in previous["stems"]}
    return all((plan.path.name, work.key) in keys and plan.path.is_file() for plan in work.plans)


def _previous_frames(work: ItemWork, previous: dict[str, Any]) -> int:
    for entry in previous["stems"]:
        if entry["file"] == work.plans[0].path.name:
            return int(entry["frames"])
    raise OutputError(f"{work.plans[0].path}: missing from the previous result manifest")


class _ResultBook:
    """The result manifest as items finish, rewritten after each one.

    Writing it as we go is what lets a run killed half way resume: the next run
    finds the finished items' cache keys here and skips them.
    """

    def __init__(
        self,
        path: Path,
        works: Sequence[ItemWork],
        header: dict[str, Any],
        previous: dict[str, Any] | None,
    ) -> None:
        self._path = path
        self._works = works
        self._header = header
        self._started = time.monotonic()
        self._entries: dict[int, list[dict[str, Any]]] = {}
        for index, work in enumerate(works):
            if _up_to_date(work, previous):
                frames = _previous_frames(work, previous or {})
                self._entries[index] = _stem_entries(work, frames, reused=True)

    def todo(self) -> list[int]:
        """Indexes of the items that still need separating."""
        return [i for i in range(len(self._works)) if i not in self._entries]

    def item_done(self, index: int, frames: int) -> None:
        self._entries[index] = _stem_entries(self._works[index], frames, reused=False)
        self.write()

    def write(self) -> dict[str, Any]:
        stems = [e for i in sorted(self._entries) for e in self._entries[i]]
        seconds = sum(e[0]["frames"] / e[0]["sample_rate"] for e in self._entries.values())
        document = {
            **self._header,
            "elapsed_s": round(time.monotonic() - self._started, 3),
            "audio_s": round(seconds, 3),
            "stems": stems,
        }
        write_result(self._path, document)
        return document


def run_works_serially(
    works: Sequence[ItemWork],
    separator: Separator,
    progress: Progress,
    cancel: Callable[[], bool],
    item_done: Callable[[int, int], None],
) -> None:
    """Separate items one after another, calling ``item_done(index, frames)`` after each."""
    for index, work in enumerate(works):

        def report(fraction: float, index: int = index, work: ItemWork = work) -> None:
            progress.update((index + fraction) / len(works), work.item.name)

        frames = work.separate(separator, report, cancel)
        item_done(index, frames)


def run_job(
    job: Job,
    library: PresetLibrary,
    separator: Separator | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    jobs: int = 1,
    extra: dict[str, Any] | None = None,
    engine: RayEngine | None = None,
    wait: bool = True,
) -> dict[str, Any]:
    """Run ``job``; returns the result manifest it wrote to ``output_dir/result.json``.

    Raises the user-facing errors (audio, preset, prompt, output) before any stem is
    written, and JobCancelled when ``cancel()`` turns true (nothing half-written stays).
    ``extra`` fields are added to the manifest (the render command's project fields).
    ``engine`` separates the items on a Ray cluster instead of here (``jobs`` unused).
    The output folder is locked while the run writes it; another run holding it is
    waited for, or with ``wait=False`` an OutputError naming the holder.
    """
    progress = progress or Silent()
    should_cancel = cancel or (lambda: False)
    for item in job.items:  # cheap checks first: loading a backend can take seconds
        resolve_preset(item, library, job.keep_residual)
        audio_info(item.audio)
    separator = separator or create_backend(job.backend, job.backend_options)
    # Everything that can be checked is checked before the output folder is touched.
    works = [plan_item(job, item, library, separator) for item in job.items]
    _check_no_overwrite(works)
    inputs = [item.audio for item in job.items]
    with hold_output_dir(job.output_dir, inputs, wait=wait):
        return _run_works(job, works, separator, progress, should_cancel, jobs, extra, engine)


def _run_works(
    job: Job,
    works: Sequence[ItemWork],
    separator: Separator,
    progress: Progress,
    should_cancel: Callable[[], bool],
    jobs: int,
    extra: dict[str, Any] | None,
    engine: RayEngine | None,
) -> dict[str, Any]:
    """Separate what is not up to date, under the output folder's lock."""
    result_path = job.output_dir / RESULT_FILE_NAME
    for target in [result_path, *(plan.path for work in works for plan in work.plans)]:
        check_target(target)  # a link, FIFO or folder at a name we write: refuse up front
    header = {
        "version": 1,
        "tool": f"samaudio-daw {__version__}",
        "backend": separator.name,
        "backend_settings": separator.settings(),
        "project": str(job.project) if job.project else None,
        "skipped": [],
        **(extra or {}),
    }
    previous = read_result(result_path)
    _check_not_anothers(works, previous)
    book = _ResultBook(result_path, works, header, previous)
    todo = book.todo()
    todo_works = [works[i] for i in todo]
    for work in todo_works:  # what a killed run left for these very stems
        remove_stem_leftovers(work.plans)

    def item_done(position: int, frames: int) -> None:
        book.item_done(todo[position], frames)

    if engine is not None and todo:
        from samaudio_daw.jobs.ray_engine import run_works_on_ray

        run_works_on_ray(todo_works, job, progress, should_cancel, item_done, engine)
    elif jobs > 1 and len(todo) > 1:
        from samaudio_daw.jobs.parallel import run_works_in_parallel

        run_works_in_parallel(todo_works, job, progress, should_cancel, jobs, item_done)
    else:
        run_works_serially(todo_works, separator, progress, should_cancel, item_done)
    document = book.write()
    progress.finish("done", f"{len(works)} item(s), {len(todo)} separated")
    return document


__all__ = ["JobCancelled", "run_job", "plan_item", "prepare_output_dir", "resolve_preset"]


def cancel_file_for(status_file: Path) -> Path:
    """The file whose existence asks a running job to stop (REAPER's Cancel button makes it)."""
    return status_file.with_name(status_file.name + ".cancel")


def run_job_with_status(
    job: Job,
    library: PresetLibrary,
    status_file: Path | None,
    jobs: int = 1,
    wait: bool = True,
) -> dict[str, Any]:
    """``run_job`` with a terminal bar and, when asked, a status file REAPER polls.

    The status file ends as ``done`` (with the result path), ``failed`` (with the
    one-line error) or ``cancelled``; creating ``<status file>.cancel`` cancels.
    """
    from samaudio_daw.errors import user_error_types
    from samaudio_daw.jobs.progress import FanOut, StatusFile, TerminalBar

    if status_file is None:
        return run_job(job, library, progress=TerminalBar(), jobs=jobs, wait=wait)
    status = StatusFile(status_file)
    cancel_file = cancel_file_for(status_file)
    cancel_file.unlink(missing_ok=True)
    status.update(0.0, "starting")
    try:
        result = run_job(
            job,
            library,
            progress=FanOut([TerminalBar(), status]),
            cancel=cancel_file.exists,
            jobs=jobs,
            wait=wait,
        )
    except JobCancelled:
        status.finish("cancelled", "cancelled; nothing was written")
        raise
    except user_error_types() as error:
        status.finish("failed", str(error))
        raise
    except Exception as error:
        status.finish("failed", f"internal error: {type(error).__name__}: {error}")
        raise
    status.finish("done", "done", result=str(job.output_dir / RESULT_FILE_NAME))
    return result
