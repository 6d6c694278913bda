"""Which stems in a result manifest belong together, and the original each group came from.

A group is what one separation produced: the stems of one input file (``separate``),
of one project item (``render``) or of one track timeline (``render --mode track``).
Its original is found the most honest way available: the input file itself, the item
or timeline re-rendered from the project, or, when neither exists any more, the sum
of the stems (which makes a null test meaningless, and the page says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import numpy as np

from samaudio_daw.audio.io import AudioFileError, AudioReader, audio_info
from samaudio_daw.errors import UserError
from samaudio_daw.jobs.manifest import ManifestError
from samaudio_daw.jobs.results import PresenceRecord, Result, StemRecord, load_result
from samaudio_daw.report.errors import ReportError

StemKind = Literal["target", "residual"]
RunMode = Literal["file", "item", "track"]
OriginalKind = Literal["input file", "project item", "project track", "sum of stems"]


@dataclass(frozen=True)
class Stem:
    """One stem file of a group, as the result manifest lists it."""

    name: str
    kind: StemKind
    prompt: str | None
    path: Path
    file: str  # as written in the manifest, relative to it
    reused: bool = False
    presence: tuple[PresenceRecord, ...] = ()
    """Per chunk, how present the prompt is (targets of backends that score it)."""

    def __post_init__(self) -> None:
        if self.kind not in ("target", "residual"):
            raise ValueError(f"stem kind must be 'target' or 'residual', got {self.kind!r}")


@dataclass(frozen=True)
class StemGroup:
    """The stems separated from one input, with where that input sits.

    ``sample_rate`` and ``frames`` are the stems' (all stems of a group share them).
    """

    input: str
    mode: RunMode
    stems: tuple[Stem, ...]
    sample_rate: int
    frames: int
    channels: int
    preset: str | None = None
    project: Path | None = None
    track: str | None = None
    track_guid: str | None = None
    item_guid: str | None = None
    position_s: float = 0.0
    pre_chain: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.stems:
            raise ValueError(f"{self.input}: a stem group needs at least one stem")
        if self.sample_rate <= 0 or self.frames <= 0 or self.channels <= 0:
            raise ValueError(f"{self.input}: sample_rate, frames and channels must be positive")

    @property
    def track_key(self) -> tuple[str, str]:
        """What the page groups by: the project track, or the input file."""
        if self.track_guid is not None or self.track is not None:
            return (str(self.project), self.track_guid or self.track or "")
        return ("file", self.input)

    @property
    def track_title(self) -> str:
        return self.track if self.track is not None else Path(self.input).name

    @property
    def length_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def has_residual(self) -> bool:
        return any(stem.kind == "residual" for stem in self.stems)

    @property
    def title(self) -> str:
        """The group in a producer's words: the item and where it sits, or the file."""
        if self.mode == "item":
            return f"item at {self.position_s:.3f} s, {self.length_s:.3f} s long"
        if self.mode == "track":
            return f"track timeline from {self.position_s:.3f} s, {self.length_s:.3f} s long"
        return f"whole file, {self.length_s:.3f} s, {self.sample_rate} Hz, {self.channels} ch"


def read_result_manifest(path: Path) -> Result:
    """The result manifest at ``path``, checked against its schema; ReportError if unusable."""
    try:
        return load_result(path)
    except ManifestError as error:
        raise ReportError(str(error)) from None


def _group_key(stem: StemRecord) -> tuple[str, ...]:
    if stem.item_guid or stem.track_guid:
        return ("project", str(stem.project), str(stem.track_guid), str(stem.item_guid))
    return ("file", stem.input, str(stem.project))


def stem_groups(result: Result, result_dir: Path) -> list[StemGroup]:
    """The result's stems grouped by what they were separated from, in manifest order."""
    by_key: dict[tuple[str, ...], list[StemRecord]] = {}
    for stem in result.stems:
        by_key.setdefault(_group_key(stem), []).append(stem)
    return [_group(stems, result_dir) for stems in by_key.values()]


def _group(records: Sequence[StemRecord], result_dir: Path) -> StemGroup:
    first = records[0]
    stems = tuple(
        Stem(r.name, r.kind, r.prompt, result_dir / r.file, r.file, r.reused, r.presence)
        for r in records
    )
    info = _stem_info(stems[0].path)
    return StemGroup(
        input=first.input,
        mode=first.mode or ("item" if first.item_guid else "file"),
        stems=stems,
        sample_rate=info.sample_rate,
        frames=info.frames,
        channels=info.channels,
        preset=first.preset,
        project=Path(first.project) if first.project else None,
        track=first.track,
        track_guid=first.track_guid,
        item_guid=first.item_guid,
        position_s=first.position_s,
        pre_chain=first.pre_chain,
    )


def _stem_info(path: Path) -> Any:
    try:
        return audio_info(path)
    except AudioFileError as error:
        raise ReportError(
            f"{error}; the result lists this stem: rerun the separation to write it again"
        ) from None


# --------------------------------------------------------------------------- originals


class AudioSection(Protocol):
    """Audio read in sections as (channels, frames) float32, silence outside it."""

    sample_rate: int
    channels: int
    frames: int

    def read(self, start_frame: int, frames: int) -> np.ndarray: ...

    def close(self) -> None: ...


class FileSection:
    """An audio file read in sections (streamed, never whole)."""

    def __init__(self, path: Path) -> None:
        self._reader = AudioReader(path)
        self.sample_rate = self._reader.info.sample_rate
        self.channels = self._reader.info.channels
        self.frames = self._reader.info.frames

    def read(self, start_frame: int, frames: int) -> np.ndarray:
        return self._reader.read(start_frame, frames)

    def close(self) -> None:
        self._reader.close()


class ArraySection:
    """A (channels, frames) array already in memory, read in sections."""

    def __init__(self, audio: np.ndarray, sample_rate: int) -> None:
        self._audio = audio
        self.sample_rate = sample_rate
        self.channels, self.frames = audio.shape

    def read(self, start_frame: int, frames: int) -> np.ndarray:
        out = np.zeros((self.channels, max(frames, 0)), dtype=np.float32)
        begin, end = max(start_frame, 0), min(start_frame + frames, self.frames)
        if end > begin:
            out[:, begin - start_frame : end - start_frame] = self._audio[:, begin:end]
        return out

    def close(self) -> None:
        """Nothing to close."""


class SumSection:
    """The sum of several files of one shape, read in sections."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._parts = [FileSection(path) for path in paths]
        self.sample_rate = self._parts[0].sample_rate
        self.channels = self._parts[0].channels
        self.frames = max(part.frames for part in self._parts)

    def read(self, start_frame: int, frames: int) -> np.ndarray:
        return sum(  # type: ignore[return-value]
            (p.read(start_frame, frames) for p in self._parts),
            np.zeros((self.channels, max(frames, 0)), dtype=np.float32),
        )

    def close(self) -> None:
        for part in self._parts:
            part.close()


@dataclass(frozen=True)
class Original:
    """The audio a group's stems are measured against, and how it was obtained.

    ``note`` says so in a sentence for the page; ``null_test`` is False when the
    original was made from the stems themselves.
    """

    kind: OriginalKind
    note: str
    opener: Callable[[], AudioSection] = field(compare=False, repr=False)

    @property
    def null_test(self) -> bool:
        return self.kind != "sum of stems"

    def open(self) -> OpenOriginal:
        """A context manager giving the original as an :class:`AudioSection`."""
        return OpenOriginal(self.opener())


class OpenOriginal:
    """Closes the section it holds on leaving the ``with`` block."""

    def __init__(self, section: AudioSection) -> None:
        self.section = section

    def __enter__(self) -> AudioSection:
        return self.section

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.section.close()


def find_original(group: StemGroup, result_dir: Path) -> Original:
    """The most faithful original for ``group`` that can still be had; see the module doc."""
    problems: list[str] = []
    if group.mode in ("item", "track"):
        found = _rendered_original(group, result_dir, problems)
        if found is not None:
            return found
    else:
        found = _input_file_original(group, result_dir, problems)
        if found is not None:
            return found
    why = "; ".join(problems) or "the input is gone"
    paths = [stem.path for stem in group.stems]
    what = "the stems" if group.has_residual else "the target stems (no residual was kept)"
    return Original(
        "sum of stems",
        f"Original shown: the sum of {what}, because {why}. No null test is possible.",
        partial(SumSection, paths),
    )


def input_candidates(group: StemGroup, result_dir: Path) -> list[Path]:
    """Where a relative input may be: the current folder, the result's, and its parent."""
    path = Path(group.input)
    if path.is_absolute():
        return [path]
    return [path, result_dir / path, result_dir.parent / path]


def _input_file_original(
    group: StemGroup, result_dir: Path, problems: list[str]
) -> Original | None:
    for path in input_candidates(group, result_dir):
        if not path.is_file():
            continue
        try:
            info = audio_info(path)
        except AudioFileError as error:
            problems.append(str(error))
            continue
        shape = (info.sample_rate, info.channels, info.frames)
        if shape != (group.sample_rate, group.channels, group.frames):
            problems.append(
                f"{path} no longer matches the stems ({info.frames} frames, "
                f"{info.channels} ch, {info.sample_rate} Hz)"
            )
            continue
        return Original(
            "input file", f"Original: the input file {path}.", partial(FileSection, path)
        )
    if not problems:
        problems.append(f"the input file {group.input} is not there any more")
    return None


def project_candidates(project: Path, result_dir: Path) -> list[Path]:
    """Where a project named relative to the run's folder may be: as given, or beside
    the stems folder (the default layout, ``<project folder>/<name>-stems/``)."""
    if project.is_absolute():
        return [project]
    return [project, result_dir.parent / project.name, result_dir / project.name]


def _rendered_original(group: StemGroup, result_dir: Path, problems: list[str]) -> Original | None:
    """The item's source section, or the track's timeline, rendered again from the project."""
    from samaudio_daw.project.model import read_project

    if group.project is None:
        problems.append("the result does not name the project")
        return None
    found = [path for path in project_candidates(group.project, result_dir) if path.is_file()]
    if not found:
        problems.append(f"the project {group.project} is not there any more")
        return None
    try:
        project = read_project(found[0])
        audio, what = _render_from_project(group, project)
    except (UserError, OSError, LookupError) as error:
        problems.append(f"the project could not be rendered again ({error})")
        return None
    if project.sample_rate != group.sample_rate or audio.shape != (group.channels, group.frames):
        problems.append(
            f"{group.project} renders this section differently now ({audio.shape[0]} ch, "
            f"{audio.shape[1]} frames at {project.sample_rate} Hz); was the project changed?"
        )
        return None
    kind: OriginalKind = "project item" if group.mode == "item" else "project track"
    note = f"Original: {what}, rendered again from {found[0]} as the separator heard it."
    return Original(kind, note, partial(ArraySection, audio, group.sample_rate))


def _render_from_project(group: StemGroup, project: Any) -> tuple[np.ndarray, str]:
    from samaudio_daw.project.timeline import approximations, render_item_source, render_track

    tracks = [t for t in project.tracks if t.guid == group.track_guid] or [
        t for t in project.tracks if t.name == group.track
    ]
    if not tracks:
        raise LookupError(f"no track {group.track!r} in {project.path}")
    track = tracks[0]
    if group.mode == "track":
        end_s = group.position_s + group.length_s
        audio = render_track(track, project, group.position_s, end_s)
        what = f"the timeline of track {track.name!r}"
        notes = sorted({note for item in track.items for note in approximations(item)})
        if notes:  # REAPER's stretching and FX are not rendered here: the null is approximate
            what += f" (approximate: it has {'; '.join(notes)})"
        return _fit(audio, group.frames), what
    items = [item for item in track.items if item.guid == group.item_guid]
    if not items:
        raise LookupError(f"no item {group.item_guid} on track {track.name!r}")
    item = items[0]
    what = f"item {item.index + 1} of track {track.name!r} (its source, before fades and volume)"
    return render_item_source(item, project.sample_rate), what


def _fit(audio: np.ndarray, frames: int) -> np.ndarray:
    """Cut or pad (channels, n) with silence to ``frames`` frames (rounding of the span)."""
    if audio.shape[1] >= frames:
        return audio[:, :frames]
    return np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
