"""Rendering REAPER projects: the tracks that ask for it, separated, back as stem tracks.

``plan_project`` reads a project and decides, per track, the preset (from the
track's name) and per item whether it can be rendered here; ``render_projects``
renders each item's source section (or the whole track timeline) to a work file,
runs one job over all of them, and writes ``<project>-stems.rpp`` beside the stems.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from samaudio_daw.audio.io import AudioFileError, BitDepth, StemWriter, audio_info, check_finite
from samaudio_daw.errors import OutputError, UserError
from samaudio_daw.files import check_target
from samaudio_daw.jobs.dawproject_report import inspect_dawproject
from samaudio_daw.jobs.dawproject_stems import write_dawproject_stems, write_exported_dawproject
from samaudio_daw.jobs.executor import Executor
from samaudio_daw.jobs.manifest import RESULT_FILE_NAME, Job, JobItem
from samaudio_daw.jobs.outdir import WorkFolder, hold_output_dir
from samaudio_daw.jobs.results import Result, StemRecord, StemsAs, read_result
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.runner import run_job
from samaudio_daw.jobs.work import check_item
from samaudio_daw.presets import PresetLibrary, TrackChoice, match_track
from samaudio_daw.project.dawproject import DawProject, extract_audio, read_dawproject
from samaudio_daw.project.exported import (
    audio_files,
    dawproject_session,
    exported_session,
    is_audio_name,
    session_path,
)
from samaudio_daw.project.model import Item, Project, Track, read_project
from samaudio_daw.project.otio_session import (
    TIMELINE_SUFFIXES,
    StemTrack,
    read_timeline,
    write_stem_timelines,
)
from samaudio_daw.project.relocate import relocate_media
from samaudio_daw.project.rpp import dump
from samaudio_daw.project.sniff import project_kind
from samaudio_daw.project.stem_tracks import add_stem_takes, add_stem_tracks, add_track_stems
from samaudio_daw.project.timeline import (
    RenderError,
    SourceSpan,
    approximations,
    item_source_blocks,
    skip_reason,
    source_span,
    take_source_s,
    track_blocks,
    track_span,
)
from samaudio_daw.separation.backends import BackendOptions, create_backend
from samaudio_daw.separation.base import PromptNotSupportedError, Separator

RenderMode = Literal["item", "track"]
SessionKind = Literal["rpp", "files", "dawproject", "otio"]  # what a render read: see read_sessions


@dataclass(frozen=True)
class Skipped:
    """Something the render left out, and why (listed by track and item)."""

    project: str
    track: str
    item: str | None
    item_guid: str | None
    reason: str
    missing_file: str | None = None  # the FILE line's path, when the media is missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "track": self.track,
            "item": self.item,
            "item_guid": self.item_guid,
            "reason": self.reason,
            "missing_file": self.missing_file,
        }


@dataclass(frozen=True)
class MissingMedia:
    """One media file a project names but that was not found, and how much uses it."""

    project: str
    file: str
    reason: str
    items: int
    tracks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "file": self.file,
            "reason": self.reason,
            "items": self.items,
            "tracks": self.tracks,
        }

    def describe(self) -> str:
        return describe_missing(self.items, self.tracks, self.reason)


def describe_missing(items: int, tracks: int, reason: str) -> str:
    """One line for a missing file: ``missing media (38 items on 2 tracks): <reason>``."""
    counted = (
        f"{items} item{'s' if items != 1 else ''} on {tracks} track{'s' if tracks != 1 else ''}"
    )
    return f"missing media ({counted}): {reason}"


def _missing_file(item: Item) -> tuple[str, str] | None:
    """(written path, reason) when the item's active take names a file not found."""
    take = item.active_take
    media = take.source.media if take and take.source else None
    if media is None or media.path is not None or media.file is None:
        return None
    return media.file, media.missing_reason or f"media file {media.file!r} not found"


def missing_media(
    project: Project, only: Collection[tuple[int, int]] | None = None
) -> list[MissingMedia]:
    """Each missing media file, once, with how many items and tracks use it, in the
    order first used; ``only`` limits it to these (track index, item index) pairs."""
    uses: dict[str, tuple[str, int, set[int]]] = {}
    for track in project.tracks:
        for item in track.items:
            missing = _missing_file(item)
            if missing is None or (only is not None and (track.index, item.index) not in only):
                continue
            file, reason = missing
            _, count, on_tracks = uses.get(file, (reason, 0, set()))
            uses[file] = (reason, count + 1, on_tracks | {track.index})
    return [
        MissingMedia(project.path.name, file, reason, count, len(on_tracks))
        for file, (reason, count, on_tracks) in uses.items()
    ]


@dataclass(frozen=True)
class TrackPlan:
    """A track that will be separated: its preset choice and the items that can render."""

    track: Track
    choice: TrackChoice
    items: tuple[Item, ...]


@dataclass(frozen=True)
class ProjectPlan:
    """What rendering one project will do."""

    project: Project
    tracks: tuple[TrackPlan, ...]
    skipped: tuple[Skipped, ...]
    output_dir: Path
    choices: tuple[TrackChoice, ...] = field(default=())
    media_dirs: tuple[Path, ...] = ()
    missing_items: frozenset[tuple[int, int]] = frozenset()  # (track, item) skipped as missing
    label: str = ""  # names its stems project; unique among the projects of one folder
    kind: SessionKind = "rpp"
    dawproject: DawProject | None = None  # the session read, when kind is "dawproject"
    clip_of: Mapping[tuple[int, int], int] = field(default_factory=dict)  # item -> clip

    @property
    def exported(self) -> bool:
        """Exported audio files: skipped files are listed, a .dawproject is written too."""
        return self.kind == "files"

    @property
    def missing_media(self) -> list[MissingMedia]:
        """The missing files of the items this render skipped, once each."""
        return missing_media(self.project, self.missing_items) if self.missing_items else []


def default_output_dir(project_path: Path) -> Path:
    """``<project folder>/<project name>-stems/``."""
    return project_path.parent / f"{project_path.stem}-stems"


def _wanted(track: Track, patterns: Sequence[str]) -> bool:
    name = track.name.lower()
    return not patterns or any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def _item_label(item: Item) -> str:
    return f"item {item.index + 1} at {item.position_s:.3f} s"


def plan_project(
    path: Path,
    library: PresetLibrary,
    output_dir: Path | None,
    track_patterns: Sequence[str] = (),
    media_dirs: Sequence[Path] = (),
) -> ProjectPlan:
    """Read ``path`` and decide what to separate; nothing is written."""
    return plan_session(
        read_project(path, media_dirs), library, output_dir, track_patterns, media_dirs
    )


def plan_session(
    project: Project,
    library: PresetLibrary,
    output_dir: Path | None,
    track_patterns: Sequence[str] = (),
    media_dirs: Sequence[Path] = (),
    kind: SessionKind = "rpp",
) -> ProjectPlan:
    """Decide what to separate in ``project``. Tracks whose names ask for nothing are
    left alone; in a session of exported files they are listed as skipped (each
    file was given to be rendered)."""
    plans, skipped, choices = [], [], []
    missing_items: set[tuple[int, int]] = set()
    for track in project.tracks:
        choice = match_track(track.name, library)
        choices.append(choice)
        if not _wanted(track, track_patterns):
            continue
        if choice.kind == "none" and not track_patterns:
            if kind == "files":
                skipped.append(Skipped(project.path.name, track.name, None, None, choice.reason))
            continue
        if choice.preset is None:
            skipped.append(Skipped(project.path.name, track.name, None, None, choice.reason))
            continue
        items = []
        for item in track.items:
            reason = "muted item" if item.mute else skip_reason(item)
            if reason:
                missing = _missing_file(item) if reason.startswith("missing media") else None
                if missing is not None:
                    missing_items.add((track.index, item.index))
                skipped.append(
                    Skipped(
                        project.path.name,
                        track.name,
                        _item_label(item),
                        item.guid or None,
                        reason,
                        missing[0] if missing else None,
                    )
                )
            else:
                items.append(item)
        if items:
            plans.append(TrackPlan(track, choice, tuple(items)))
    out = output_dir or default_output_dir(project.path)
    return ProjectPlan(
        project,
        tuple(plans),
        tuple(skipped),
        out,
        tuple(choices),
        tuple(media_dirs),
        frozenset(missing_items),
        kind=kind,
    )


def check_output_dir(plan: ProjectPlan) -> None:
    """Refuse an output folder that is the project's own folder or one holding its media."""
    out = plan.output_dir.resolve()
    media_dirs = {plan.project.folder.resolve()}
    for track in plan.tracks:
        for item in track.items:
            take = item.active_take
            if take and take.source and take.source.media.path:
                media_dirs.add(take.source.media.path.resolve().parent)
    if out in media_dirs:
        raise OutputError(
            f"{plan.output_dir}: holds the project or its media; stems go to a "
            f"new folder (default: {default_output_dir(plan.project.path)})"
        )


def _slug(text: str) -> str:
    """A file-name part from a track name, without its [preset] tag or {prompt}."""
    plain = re.sub(r"\[[^\]]*\]|\{[^}]*\}", " ", text)
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:40] or "track"


def _spans(project: Project, start_s: float, length_s: float) -> list[tuple[float, float]]:
    """Project regions that overlap ``start_s .. start_s + length_s``, relative to start_s."""
    spans = []
    for region in project.regions:
        begin = max(region.start_s - start_s, 0.0)
        end = min(region.end_s - start_s, length_s)
        if end > begin:
            spans.append((begin, end))
    return spans


def _source_spans(project: Project, item: Item, span: SourceSpan) -> list[tuple[float, float]]:
    """The regions over ``item``, moved to where they fall in its source span (the
    stem file's time): through the play rate and stretch markers."""
    take = item.active_take
    assert take is not None
    moved = []
    for begin, end in _spans(project, item.position_s, item.length_s):
        times = np.array([begin, end]) * take.play_rate
        ends = np.sort(take_source_s(take, times) - span.start_s)
        low, high = max(float(ends[0]), 0.0), min(float(ends[1]), span.length_s)
        if high > low:
            moved.append((low, high))
    return moved


def _source_bit_depth(item: Item) -> BitDepth:
    take = item.active_take
    path = take.source.media.path if take and take.source else None
    return audio_info(path).bit_depth if path else "24"


def _source_label(item: Item | None, track: Track) -> str:
    """What a stem came from, for the result manifest: the media file, or the track."""
    take = item.active_take if item else None
    if take and take.source and take.source.media.path:
        return str(take.source.media.path)
    return f"track {track.name!r} timeline"


def _job_item(
    plan: TrackPlan,
    project: Project,
    name: str,
    audio: Path,
    start_s: float,
    length_s: float,
    mode: RenderMode,
    item: Item | None,
    region_spans: Sequence[tuple[float, float]],
) -> JobItem:
    preset = plan.choice.preset
    assert preset is not None  # only tracks with a chosen preset are planned
    from samaudio_daw.separation.base import TimeSpan

    spans = tuple(TimeSpan(b, e, "+") for b, e in region_spans)
    inline = plan.choice.kind == "inline"
    return JobItem(
        audio=audio,
        name=name,
        preset=None if inline else preset.name,
        prompts=tuple(stem.prompt for stem in preset.stems) if inline else (),
        spans=spans if (preset.use_spans or inline) else (),
        track=plan.track.name,
        track_guid=plan.track.guid or None,
        project=project.path,
        source_label=_source_label(item, plan.track),
        item_guid=item.guid if item else None,
        position_s=start_s,
        length_s=length_s,
        mode=mode,
        bit_depth=_source_bit_depth(item or plan.items[0]),
    )


class _NothingRendered(Exception):
    """An item or track whose section renders to no audio frames at all."""


def _write_blocks(path: Path, blocks: Iterator[np.ndarray], sample_rate: int) -> Path:
    """Write float blocks (channels, frames) to ``path`` as they come; returns the path.

    A NaN or infinite sample (from a broken media file) is an AudioFileError naming the
    time; nothing is left behind.
    """
    first = next(blocks, None)
    if first is None or first.shape[1] == 0:
        raise _NothingRendered()
    with StemWriter(path, sample_rate, first.shape[0], "float") as writer:
        done = 0
        for block in itertools.chain([first], blocks):
            check_finite(block, path, done, sample_rate)
            writer.write(block)
            done += block.shape[1]
        return writer.commit()


_UNUSABLE = (AudioFileError, RenderError, _NothingRendered)


def _unrenderable(error: Exception, media: str) -> str:
    """Why a section cannot be separated, in the producer's words (not the work file's)."""
    if isinstance(error, _NothingRendered):
        return "renders no audio (zero length)"
    if isinstance(error, AudioFileError):
        return f"{media}: {error.problem}"
    return str(error)


def render_sections(
    plan: ProjectPlan,
    mode: RenderMode,
    prefix: str,
    work: WorkFolder,
    skipped: list[Skipped] | None = None,
) -> list[JobItem]:
    """Render what each planned track plays to float WAVs in this run's work folder,
    block by block: item mode each item's source span, track mode the track's timeline.

    With a ``skipped`` list, an item (or track) whose audio cannot be used (NaN samples,
    unreadable media, no audio) is listed there with its reason and left out; without
    one the error is raised.
    """
    project, rate = plan.project, plan.project.sample_rate
    items: list[JobItem] = []

    def skip(track: Track, item: Item | None, error: Exception) -> None:
        if skipped is None or not isinstance(error, _UNUSABLE):
            raise error
        media = _source_label(item, track)
        label = _item_label(item) if item else None
        guid = (item.guid or None) if item else None
        reason = _unrenderable(error, media)
        skipped.append(Skipped(project.path.name, track.name, label, guid, reason))

    for track_plan in plan.tracks:
        track = track_plan.track
        base = f"{prefix}{_slug(track.name)}-t{track.index + 1:02d}"
        if mode == "track":
            start_s, end_s = track_span(track)
            blocks = track_blocks(track, project, start_s, end_s)
            try:
                path = _write_blocks(work.file(f"{base}.wav"), blocks, rate)
            except _UNUSABLE as error:
                skip(track, None, error)
                continue
            regions = _spans(project, start_s, end_s - start_s)
            items.append(
                _job_item(
                    track_plan, project, base, path, start_s, end_s - start_s, mode, None, regions
                )
            )
            continue
        for item in track_plan.items:
            name = f"{base}-i{item.index + 1:02d}"
            try:
                blocks = item_source_blocks(item, rate)
                path = _write_blocks(work.file(f"{name}.wav"), blocks, rate)
            except _UNUSABLE as error:
                skip(track, item, error)
                continue
            span = source_span(item)
            regions = _source_spans(project, item, span)
            items.append(
                _job_item(
                    track_plan,
                    project,
                    name,
                    path,
                    item.position_s,
                    span.length_s,
                    mode,
                    item,
                    regions,
                )
            )
    return items


def render_notes(plan: ProjectPlan, mode: RenderMode, stems_as: StemsAs | None = None) -> list[str]:
    """What the producer should know about how the stems will sum (take FX, stretching)
    and where they go."""
    items = [item for track in plan.tracks for item in track.items]
    notes = []
    as_takes = [
        t.track.name
        for t in plan.tracks
        if (stems_as or (t.choice.preset.stems_as if t.choice.preset else "tracks")) == "takes"
    ]
    if as_takes and mode == "track":
        notes.append(
            f"{plan.project.path.name}: track mode renders the whole track, not its items, "
            f"so the stems of {', '.join(as_takes)} go on new tracks, not takes"
        )
    with_fx = sum(1 for item in items if item.active_take and item.active_take.has_take_fx)
    if with_fx and mode == "item":
        notes.append(
            f"{plan.project.path.name}: {with_fx} item(s) have take FX, copied onto each stem "
            "take; the stems are separated before the FX, so non-linear FX (compressors, "
            "saturation, gates) make the stems' sum differ from the original"
        )
    if mode == "track":
        approximate = sum(1 for item in items if approximations(item))
        if approximate:
            notes.append(
                f"{plan.project.path.name}: {approximate} item(s) use preserve pitch, pitch "
                "shift, stretch markers, take FX or take envelopes, which track mode renders "
                "only approximately (play rate by resampling); item mode keeps them exact"
            )
    return notes


@dataclass(frozen=True)
class RenderSettings:
    """How ``samaudio-daw render`` runs: everything but the projects themselves."""

    output_dir: Path | None = None
    track_patterns: tuple[str, ...] = ()
    backend: str = "dsp"
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    mode: RenderMode = "item"
    mute_original: bool = True
    file_format: Literal["wav", "flac"] = "wav"
    bit_depth: BitDepth | None = None
    executor: Executor | None = None  # None: here, one item after another
    media_dirs: tuple[Path, ...] = ()  # searched for missing media after REAPER's rules
    wait: bool = True  # for another run writing the output folder (False: OutputError)
    stems_as: StemsAs | None = None  # None: each track's preset says (tracks or takes)
    reference_audio: bool = False  # DAWproject stems beside the session, not embedded


@dataclass(frozen=True)
class RenderOutcome:
    """What one output folder got: the result manifest and the stems projects written."""

    output_dir: Path
    result: Result
    stems_projects: tuple[Path, ...]
    skipped: tuple[Skipped, ...]
    plans: tuple[ProjectPlan, ...]


def stems_project_path(plan: ProjectPlan, suffix: str = ".rpp") -> Path:
    return plan.output_dir / f"{plan.label or plan.project.path.stem}-stems{suffix}"


# The session files a render writes, per kind of input.
_SESSION_SUFFIXES: dict[SessionKind, tuple[str, ...]] = {
    "rpp": (".rpp",),
    "files": (".rpp", ".dawproject"),
    "dawproject": (".dawproject",),
    "otio": (".otio", ".aaf"),
}


def stems_session_paths(plan: ProjectPlan) -> tuple[Path, ...]:
    """The session files a render writes for ``plan``: the first is its stems project."""
    return tuple(stems_project_path(plan, suffix) for suffix in _SESSION_SUFFIXES[plan.kind])


def stems_by_item(
    plan: ProjectPlan, track_plan: TrackPlan, result: Result
) -> dict[int, dict[str, StemRecord]]:
    """A track's stems grouped per item (by ``Item.index``), in the order written:
    what every session writer places."""
    stems = result.stems_of_track(plan.project.path, track_plan.track.guid or None)
    by_item: dict[int, dict[str, StemRecord]] = {}
    for item in track_plan.items:
        for stem in stems:
            if stem.item_guid == item.guid:
                by_item.setdefault(item.index, {})[stem.name] = stem
    return by_item


def write_stems_project(
    plan: ProjectPlan,
    result: Result,
    mode: RenderMode,
    mute_original: bool,
    stems_as: StemsAs | None = None,
) -> Path:
    """The original project plus each separated track's stems, as a new file: a stems
    folder after the track, or (``takes``, item mode) takes of its items.

    ``stems_as`` overrides the placement the stems' preset gives. Stem tracks and takes
    get the names and colours the result records. Media paths are rewritten so they
    resolve from the stems folder.
    """
    assert plan.project.tree is not None
    target = stems_project_path(plan)
    tree = relocate_media(plan.project.tree, plan.project.path, target, plan.media_dirs)
    for track_plan in plan.tracks:
        stems = result.stems_of_track(plan.project.path, track_plan.track.guid or None)
        if not stems:
            continue
        files = {s.name: plan.output_dir / s.file for s in stems}
        names = {s.name: s.track_name for s in stems if s.track_name}
        colors = {s.name: s.color for s in stems if s.color}
        if mode == "track":
            start = stems[0].position_s
            tree = add_track_stems(
                tree,
                track_plan.track,
                files,
                start,
                start + (stems[0].length_s or 0.0),
                new_project_path=target,
                mute_original=mute_original,
                names=names,
                colors=colors,
            )
            continue
        by_item = {
            index: {name: plan.output_dir / stem.file for name, stem in named.items()}
            for index, named in stems_by_item(plan, track_plan, result).items()
        }
        if (stems_as or stems[0].stems_as) == "takes":
            tree = add_stem_takes(
                tree, track_plan.track, by_item, new_project_path=target, names=names
            )
        else:
            tree = add_stem_tracks(
                tree,
                track_plan.track,
                by_item,
                new_project_path=target,
                mute_original=mute_original,
                names=names,
                colors=colors,
            )
    dump(tree, target)
    return target


def _separate_sections(
    plans: Sequence[ProjectPlan],
    work: WorkFolder,
    library: PresetLibrary,
    settings: RenderSettings,
    separator: Separator | None,
    control: RunControl | None,
    unusable: list[Skipped],
) -> Result:
    """Render the planned items' audio, separate it as one job; returns its result.

    Items whose audio turns out unusable while rendering are added to ``unusable``.
    """
    output_dir = plans[0].output_dir
    items: list[JobItem] = []
    for plan in plans:
        prefix = f"{_slug(plan.label or plan.project.path.stem)}-" if len(plans) > 1 else ""
        items += render_sections(plan, settings.mode, prefix, work, unusable)
    separator = separator or create_backend(settings.backend, settings.backend_options)
    items = _servable(items, library, separator, unusable)
    skipped = [*(s for plan in plans for s in plan.skipped), *unusable]
    extra: dict[str, Any] = {
        "project": str(plans[0].project.path),
        "sample_rate": plans[0].project.sample_rate,
        "skipped": [s.to_dict() for s in skipped],
        "missing_media": [m.to_dict() for plan in plans for m in plan.missing_media],
        "notes": [
            note for plan in plans for note in render_notes(plan, settings.mode, settings.stems_as)
        ],
        "stems_project": stems_session_paths(plans[0])[0].name,
        "projects": [
            {
                "project": str(p.project.path),
                "stems_project": stems_session_paths(p)[0].name,
                **(
                    {"stems_dawproject": stems_project_path(p, ".dawproject").name}
                    if p.exported
                    else {}
                ),
            }
            for p in plans
        ],
    }
    job = Job(
        items=tuple(items),
        output_dir=output_dir,
        backend=settings.backend,
        backend_options=settings.backend_options,
        file_format=settings.file_format,
        bit_depth=settings.bit_depth,
        project=plans[0].project.path,
        sample_rate=plans[0].project.sample_rate,
    )
    return run_job(job, library, control, settings.executor, separator, extra, settings.wait)


def _servable(
    items: Sequence[JobItem], library: PresetLibrary, separator: Separator, unusable: list[Skipped]
) -> list[JobItem]:
    """The items the backend can serve as they are. One it cannot (dsp's centre vocal on a
    mono track) is listed in ``unusable`` with the reason, so the rest still render."""
    kept = []
    for item in items:
        try:
            check_item(item, library, separator)
        except PromptNotSupportedError as error:
            project = item.project.name if item.project else ""
            track = item.track or item.name
            label = f"item at {item.position_s:.3f} s" if item.mode == "item" else None
            unusable.append(Skipped(project, track, label, item.item_guid, str(error)))
            continue
        kept.append(item)
    return kept


def _render_folder(
    plans: Sequence[ProjectPlan],
    library: PresetLibrary,
    settings: RenderSettings,
    separator: Separator | None,
    control: RunControl | None,
) -> RenderOutcome:
    """Render every project whose stems go to the same output folder, as one job."""
    output_dir = plans[0].output_dir
    for plan in plans:
        check_output_dir(plan)
    with hold_output_dir(output_dir, wait=settings.wait):
        check_stems_projects(plans)
        work = WorkFolder.create(output_dir)
        unusable: list[Skipped] = []
        try:
            result = _separate_sections(
                plans, work, library, settings, separator, control, unusable
            )
        finally:  # rendered sections are only inputs: never leave them behind
            work.remove()
        written = tuple(
            path for plan in plans for path in write_stems_sessions(plan, result, settings)
        )
    skipped = (*(s for plan in plans for s in plan.skipped), *unusable)
    return RenderOutcome(output_dir, result, written, skipped, tuple(plans))


def write_stems_sessions(plan: ProjectPlan, result: Result, settings: RenderSettings) -> list[Path]:
    """The session files of ``plan``'s stems, in the formats :func:`stems_session_paths`
    names for its kind."""
    if plan.kind == "otio":
        return write_timeline_stems(plan, result, settings.mute_original)
    written = []
    if plan.kind in ("rpp", "files"):
        written.append(
            write_stems_project(
                plan, result, settings.mode, settings.mute_original, settings.stems_as
            )
        )
    if plan.kind == "rpp":
        return written
    stems = {
        track_plan.track.index: stems_by_item(plan, track_plan, result)
        for track_plan in plan.tracks
    }
    target = stems_project_path(plan, ".dawproject")
    if plan.dawproject is None:
        written.append(
            write_exported_dawproject(plan.project, stems, target, settings.mute_original)
        )
    else:
        written.append(
            write_dawproject_stems(
                plan.dawproject,
                stems,
                plan.clip_of,
                target,
                embed=not settings.reference_audio,
                mute_original=settings.mute_original,
            )
        )
    return written


def label_projects(plans: Sequence[ProjectPlan]) -> list[ProjectPlan]:
    """Give projects of the same file name distinct stems-project names in one folder.

    The first keeps ``<name>-stems.rpp``; later ones get ``<name>-2-stems.rpp`` and so on.
    """
    used: dict[Path, set[str]] = {}
    labelled = []
    for plan in plans:
        taken = used.setdefault(plan.output_dir.resolve(), set())
        stem = plan.project.path.stem
        label, number = stem, 1
        while label.lower() in taken:
            number += 1
            label = f"{stem}-{number}"
        taken.add(label.lower())
        labelled.append(replace(plan, label=label))
    return labelled


def check_stems_projects(plans: Sequence[ProjectPlan]) -> None:
    """Refuse, before any work, a stems project name that holds another project's file.

    An existing ``<name>-stems.rpp`` is replaced only when the folder's result manifest
    says it was written for this same project.
    """
    output_dir = plans[0].output_dir
    previous = read_result(output_dir / RESULT_FILE_NAME)
    owners = {
        entry.get(key): entry.get("project")
        for entry in (previous.projects if previous else None) or ()
        if isinstance(entry, dict)
        for key in ("stems_project", "stems_dawproject")
    }
    for plan in plans:
        for target in stems_session_paths(plan):
            check_target(target)
            if not target.exists():
                continue
            owner = owners.get(target.name)
            if owner != str(plan.project.path):
                written_for = (
                    f"it was written for {owner}" if owner else "samaudio-daw did not write it"
                )
                raise OutputError(
                    f"{target}: already exists and {written_for}; not replacing it with the "
                    f"stems of {plan.project.path}: choose another output folder (-o)"
                )


@dataclass(frozen=True)
class Session:
    """A project to render as read, whatever its format."""

    project: Project
    kind: SessionKind
    dawproject: DawProject | None = None
    clip_of: Mapping[tuple[int, int], int] = field(default_factory=dict)


def read_sessions(
    paths: Sequence[Path], media_dirs: Sequence[Path], scratch: Path
) -> list[Session]:
    """Each project to render: a folder is a session of exported audio files, the audio
    files given one more, a DAWproject archive one (its embedded audio unpacked into
    ``scratch``), any other path a REAPER project."""
    sessions: list[Session] = []
    loose: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = audio_files(path)
            sessions.append(Session(exported_session(files, session_path([], path)), "files"))
        elif is_audio_name(path):
            loose.append(path)
        elif path.suffix.lower() in TIMELINE_SUFFIXES:
            sessions.append(_timeline_session(path))
        elif _is_dawproject(path):
            sessions.append(_dawproject_session(path, scratch / str(len(sessions))))
        else:
            sessions.append(Session(read_project(path, media_dirs), "rpp"))
    if loose:
        sessions.append(Session(exported_session(loose, session_path(loose, None)), "files"))
    return sessions


def _timeline_session(path: Path) -> Session:
    """An AAF or .otio timeline, read into the DAWproject session's view."""
    timeline = read_timeline(path)
    project, clip_of = dawproject_session(timeline, {}, path)
    return Session(project, "otio", timeline, clip_of)


def _dawproject_session(path: Path, scratch: Path) -> Session:
    """A DAWproject session, its embedded audio unpacked into ``scratch``."""
    session = read_dawproject(path)
    members = [
        clip.audio.member
        for track in session.tracks
        for clip in track.clips
        if clip.audio is not None and clip.audio.member and not clip.skip_reason
    ]
    scratch.mkdir(parents=True)
    embedded = extract_audio(path, members, scratch)
    project, clip_of = dawproject_session(session, embedded, path)
    return Session(project, "dawproject", session, clip_of)


def write_timeline_stems(plan: ProjectPlan, result: Result, mute_original: bool) -> list[Path]:
    """``<name>-stems.otio`` and ``.aaf``: the timeline with a track per stem after each
    processed track, named and coloured as in the other sessions."""
    assert plan.dawproject is not None
    stems: dict[int, dict[str, StemTrack]] = {}
    for track_plan in plan.tracks:
        index = track_plan.track.index
        clips = plan.dawproject.tracks[index].clips
        for item_index, named in stems_by_item(plan, track_plan, result).items():
            clip = clips[plan.clip_of[(index, item_index)]]
            for name, stem in named.items():
                tracks = stems.setdefault(index, {})
                track = tracks.get(name) or StemTrack(stem.stem_track_name, name, stem.color, ())
                placed = (*track.placed, (clip, plan.output_dir / stem.file))
                tracks[name] = replace(track, placed=placed)
    by_track = {index: list(tracks.values()) for index, tracks in stems.items()}
    return write_stem_timelines(
        plan.project.path, by_track, stems_session_paths(plan), mute_original
    )


def _clip_skips(plan: ProjectPlan, patterns: Sequence[str]) -> tuple[Skipped, ...]:
    """The clips that render nothing, and why, on each track of a DAWproject or timeline
    session that asks for separation (a preset, a prompt), even when none of its clips
    can render."""
    if plan.dawproject is None:
        return ()
    rendered = {(track, clip) for (track, _), clip in plan.clip_of.items()}
    planned = {track_plan.track.index for track_plan in plan.tracks}
    skipped = []
    for track in plan.project.tracks:
        choice = plan.choices[track.index]
        if track.index not in planned and (choice.preset is None or not _wanted(track, patterns)):
            continue
        for clip in plan.dawproject.tracks[track.index].clips:
            if (track.index, clip.index) in rendered and clip.skip_reason is None:
                continue
            label = f"clip {clip.name or clip.index + 1!s} at {clip.time_s:.3f} s"
            reason = clip.skip_reason or "renders no audio (zero length)"
            skipped.append(Skipped(plan.project.path.name, track.name, label, None, reason))
    return tuple(skipped)


def render_projects(
    paths: Sequence[Path],
    library: PresetLibrary,
    settings: RenderSettings,
    separator: Separator | None = None,
    control: RunControl | None = None,
) -> list[RenderOutcome]:
    """Render each project; projects sharing an output folder share one job and manifest.

    Every project is read and planned before any audio is rendered, so a bad project
    file stops the batch before anything is written.
    """
    with tempfile.TemporaryDirectory(prefix="samaudio-daw-") as scratch:
        plans = []
        for session in read_sessions(paths, settings.media_dirs, Path(scratch)):
            plan = plan_session(
                session.project,
                library,
                settings.output_dir,
                settings.track_patterns,
                settings.media_dirs,
                session.kind,
            )
            plan = replace(plan, dawproject=session.dawproject, clip_of=session.clip_of)
            plans.append(
                replace(plan, skipped=plan.skipped + _clip_skips(plan, settings.track_patterns))
            )
        if settings.mode == "track" and any(plan.kind != "rpp" for plan in plans):
            raise UserError(
                "--mode track renders REAPER projects only; DAWproject sessions and "
                "exported files render in item mode (each clip or file as it plays)"
            )
        groups: dict[Path, list[ProjectPlan]] = {}
        for plan in label_projects(plans):
            groups.setdefault(plan.output_dir.resolve(), []).append(plan)
        return [
            _render_folder(group, library, settings, separator, control)
            for group in groups.values()
        ]


def _item_report(item: Item) -> dict[str, Any]:
    take = item.active_take
    source = take.source if take else None
    media = source.media if source else None
    return {
        "index": item.index + 1,
        "guid": item.guid,
        "position_s": item.position_s,
        "length_s": item.length_s,
        "source_kind": source.kind if source else None,
        "file": media.file if media else None,
        "found": str(media.path) if media and media.path else None,
        "missing_reason": media.missing_reason if media else None,
        "skip_reason": "muted item" if item.mute else skip_reason(item),
        "play_rate": take.play_rate if take else 1.0,
        "preserve_pitch": take.preserve_pitch if take else True,
        "pitch_semitones": take.pitch_semitones if take else 0.0,
        "stretch_markers": len(take.stretch_markers) if take else 0,
        "take_fx": take.has_take_fx if take else False,
        "loop": item.loop,
    }


def _is_dawproject(path: Path) -> bool:
    """A DAWproject session by its content, or by its name: a damaged ``.dawproject`` file
    then gets the DAWproject reader's error rather than the .rpp reader's."""
    if path.suffix.lower() == ".dawproject" and path.is_file():
        return True
    try:
        return project_kind(path) == "dawproject"
    except OSError:  # the .rpp reader names the file and the reason
        return False


def inspect_project(
    path: Path, library: PresetLibrary, media_dirs: Sequence[Path] = ()
) -> dict[str, Any]:
    """What a render would do with ``path``, as JSON-able data (``samaudio-daw inspect``):
    a REAPER project, a DAWproject session, an AAF or .otio timeline, a folder of
    exported tracks or one exported audio file. Anything else is a UserError naming
    what the file looks like."""
    if path.is_dir() or is_audio_name(path):
        files = audio_files(path) if path.is_dir() else [path]
        where = session_path([], path) if path.is_dir() else session_path(files, None)
        plan = plan_session(exported_session(files, where), library, None, kind="files")
        return {**_inspect_plan(plan), "project": str(path), "format": "files"}
    if path.suffix.lower() in TIMELINE_SUFFIXES:
        report = inspect_dawproject(read_timeline(path), library)
        report["format"] = path.suffix[1:].lower()
        report["writes"] = _would_write(path, "otio")
        return report
    if _is_dawproject(path):
        return {
            **inspect_dawproject(read_dawproject(path), library),
            "writes": _would_write(path, "dawproject"),
        }
    return {
        **_inspect_plan(plan_project(path, library, None, media_dirs=media_dirs)),
        "format": "rpp",
    }


def _would_write(path: Path, kind: SessionKind) -> list[str]:
    """The session files a render of ``path`` writes, by default."""
    out = default_output_dir(path)
    return [str(out / f"{path.stem}-stems{suffix}") for suffix in _SESSION_SUFFIXES[kind]]


def _inspect_plan(plan: ProjectPlan) -> dict[str, Any]:
    project = plan.project
    tracks = []
    for track, choice in zip(project.tracks, plan.choices, strict=True):
        tracks.append(
            {
                "index": track.index + 1,
                "name": track.name,
                "guid": track.guid,
                "folder_depth": track.folder_depth,
                **choice.report(),
                "items": [_item_report(item) for item in track.items],
            }
        )
    return {
        "project": str(project.path),
        "sample_rate": project.sample_rate,
        "tempo_bpm": project.tempo_bpm,
        "regions": len(project.regions),
        "markers": len(project.markers),
        "tracks": tracks,
        "missing_media": [m.to_dict() for m in missing_media(project)],
        "output_dir": str(plan.output_dir),
        "writes": [str(path) for path in stems_session_paths(plan)],
    }
