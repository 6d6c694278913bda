"""AAF and OpenTimelineIO timelines (post-production: Pro Tools, Logic, Nuendo, Resolve)
read and written through ``opentimelineio`` and its AAF adapter (the ``[otio]`` extra).

Reading gives the same typed view as a DAWproject session (tracks of clips in seconds,
:mod:`samaudio_daw.project.dawproject`), so both render the same way: audio tracks
only, each clip at its place on the track (gaps count) with its source offset; a clip
whose media is not a file found on disk is listed with a reason. Writing adds, after
each processed track, one audio track per stem (OTIO has no folder tracks) whose clips
sit at the original clips' times, named and coloured as in the other sessions
(:mod:`samaudio_daw.project.stem_tracks`; the colour in the track's ``color`` and in
its metadata), and disables the original track.

The AAF adapter keeps less than OpenTimelineIO holds, so two things are done around
it. Writing: it writes each track's name into its mob slot but not track or clip
enable, so the written AAF is opened again (pyaaf2, the adapter's own library) and
each disabled clip, and every clip of a disabled track, becomes a muted clip the way
Media Composer marks one (a Selector playing Filler, the clip as its alternate),
which the adapter's reader reads back as a disabled clip. Reading: the adapter's
reader flattens each mob slot into the sequence it holds and loses the slot's name
(the track comes back as "Sequence"), so the names are taken from the AAF's
top-level mob slots, in order, when they are as many as the audio tracks read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from samaudio_daw.errors import UserError
from samaudio_daw.project.dawproject import AudioFile, Clip, DawProject, Track
from samaudio_daw.project.sniff import describe_file
from samaudio_daw.project.stem_tracks import stem_clip_name

TIMELINE_SUFFIXES = frozenset((".otio", ".aaf"))


class TimelineError(UserError):
    """An AAF or .otio file that cannot be read or written (or the extra is missing)."""


def _otio() -> Any:
    try:
        import opentimelineio
    except ImportError:
        raise TimelineError(
            "AAF and .otio need OpenTimelineIO: pip install 'samaudio-daw[otio]'"
        ) from None
    return opentimelineio


def _read_timeline(path: Path) -> Any:
    otio = _otio()
    if not path.is_file():
        raise TimelineError(f"{path}: no such file (or not a regular file)")
    try:
        timeline = otio.adapters.read_from_file(str(path))
    except Exception as error:  # the adapters raise many kinds; all mean "cannot read"
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not first.isprintable() or "\\x" in first or "b'" in first or len(first) > 200:
            first = type(error).__name__  # never raw bytes in the one line
        kind = "an AAF" if path.suffix.lower() == ".aaf" else "an OpenTimelineIO"
        raise TimelineError(
            f"{path}: not {kind} timeline; it looks like {describe_file(path)} ({first})"
        ) from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise TimelineError(f"{path}: holds {type(timeline).__name__}, not one timeline")
    tracks = audio_tracks(timeline)
    for track, name in zip(tracks, _aaf_track_names(path, len(tracks)) or (), strict=False):
        track.name = name
    return timeline


def _file_of(reference: Any, folder: Path) -> tuple[Path | None, str]:
    """The file a media reference names and whether it is there (reason if not)."""
    url = getattr(reference, "target_url", None)
    if not url:
        return None, "clip without a media file"
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        return None, f"media {url!r} is not a local file"
    written = Path(unquote(parsed.path) if parsed.scheme else url)
    path = written if written.is_absolute() else folder / written
    if not path.is_file():
        return None, f"missing media: {url!r} not found at {path}"
    return path, ""


def audio_tracks(timeline: Any) -> list[Any]:
    return list(timeline.audio_tracks())


def read_timeline(path: Path | str) -> DawProject:
    """The audio tracks and clips of an AAF or .otio file; nothing is written."""
    path = Path(path)
    otio = _otio()
    timeline = _read_timeline(path)
    tracks = []
    for number, track in enumerate(audio_tracks(timeline)):
        clips: list[Clip] = []
        for item in track:
            if not isinstance(item, otio.schema.Clip):
                continue  # gaps and transitions only move what follows
            placed = item.range_in_parent()
            source = item.trimmed_range()
            file, reason = _file_of(item.media_reference, path.parent)
            audio = None
            if file is not None:
                audio = AudioFile(str(file), True, 0, 0, 0.0, path=file)
            clips.append(
                Clip(
                    index=len(clips),
                    name=item.name or "",
                    time_s=placed.start_time.to_seconds(),
                    duration_s=placed.duration.to_seconds(),
                    play_start_s=source.start_time.to_seconds(),
                    mute=not item.enabled,
                    audio=audio,
                    skip_reason=reason or None,
                )
            )
        name = track.name or f"Audio {number + 1}"
        tracks.append(
            Track(number, str(number), name, ("audio",), mute=not track.enabled, clips=tuple(clips))
        )
    return DawProject(path, 120.0, (4, 4), tuple(tracks), "OpenTimelineIO")


def _aaf_track_names(path: Path, count: int) -> list[str] | None:
    """The names of the sound mob slots of an AAF's top-level composition, in order, when
    they are ``count`` (the audio tracks read) and all named; None otherwise."""
    if path.suffix.lower() != ".aaf":
        return None
    import aaf2  # the AAF adapter's own library, installed with it

    try:
        with aaf2.open(str(path), "r") as aaf:
            mobs = list(aaf.content.toplevel())
            if len(mobs) != 1:
                return None
            names = [slot.name for slot in mobs[0].slots if slot.media_kind == "Sound"]
    except Exception:  # the adapter read it; a name it cannot give is no error
        return None
    return names if len(names) == count and all(names) else None


@dataclass(frozen=True)
class StemTrack:
    """A stem's track in a written timeline: named and coloured as in every session
    format, playing each stem file where its original clip plays."""

    name: str  # the track's name
    stem: str  # the stem's name (its clips are named after it)
    color: str | None  # "#RRGGBB"
    placed: tuple[tuple[Clip, Path], ...]  # (original clip, stem file)


def write_stem_timelines(
    source: Path,
    stems: Mapping[int, Sequence[StemTrack]],
    targets: Sequence[Path],
    mute_original: bool = True,
) -> list[Path]:
    """Write the timeline of ``source`` with stem tracks to each of ``targets`` (.otio,
    .aaf): ``stems`` is {audio track number: its stem tracks}, each stem file holding
    what its clip plays."""
    otio = _otio()
    timeline = _read_timeline(source)
    _absolute_media(timeline, source.parent)
    originals = audio_tracks(timeline)
    for number in sorted(stems, reverse=True):  # insert from the end: positions hold
        track = originals[number]
        position = list(timeline.tracks).index(track)
        for offset, stem in enumerate(stems[number], start=1):
            timeline.tracks.insert(position + offset, _stem_track(otio, stem))
        if mute_original:
            track.enabled = False
    written = []
    for target in targets:
        written.append(_write(otio, timeline, target))
    return written


def _absolute_media(timeline: Any, folder: Path) -> None:
    """Point each relative media reference at its file as an absolute ``file://`` URL,
    so it resolves from wherever the stems timeline is written (AAF has no relative
    locators)."""
    for clip in timeline.find_clips():
        url = getattr(clip.media_reference, "target_url", None)
        if url and not urlparse(url).scheme and not Path(unquote(url)).is_absolute():
            clip.media_reference.target_url = (folder / unquote(url)).resolve().as_uri()


def _stem_track(otio: Any, stem: StemTrack) -> Any:
    rate = 48000
    track = otio.schema.Track(name=stem.name, kind=otio.schema.TrackKind.Audio)
    track.metadata["samaudio_daw"] = {"stem": stem.stem, "color": stem.color}
    if stem.color:
        track.color = otio.core.Color.from_hex(stem.color)
    at = 0.0
    for clip, file in sorted(stem.placed, key=lambda pair: pair[0].time_s):
        if clip.time_s > at:
            gap = otio.opentime.RationalTime(round((clip.time_s - at) * rate), rate)
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=gap)))
        length = otio.opentime.RationalTime(round(clip.duration_s * rate), rate)
        whole = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), length)
        reference = otio.schema.ExternalReference(
            target_url=file.resolve().as_uri(), available_range=whole
        )
        track.append(
            otio.schema.Clip(
                name=stem_clip_name(stem.stem, clip.name),
                media_reference=reference,
                source_range=whole,
            )
        )
        at = clip.time_s + clip.duration_s
    return track


def _mark_disabled_clips(otio: Any, timeline: Any, path: Path) -> None:
    """Make each disabled clip of the AAF at ``path`` (and every clip of a disabled
    track) a muted clip: a Selector playing Filler with the clip as its alternate."""
    import aaf2

    written = [track for track in timeline.tracks if len(track)]  # the adapter skips empties
    if all(track.enabled and all(getattr(c, "enabled", True) for c in track) for track in written):
        return
    with aaf2.open(str(path), "rw") as aaf:
        (mob,) = list(aaf.content.toplevel())
        for track, slot in zip(written, mob.slots, strict=False):
            sequence = slot.segment
            if isinstance(sequence, aaf2.components.OperationGroup):  # audio: a pan group
                sequence = sequence["InputSegments"].value[0]
            components = sequence.components
            for index, child in enumerate(track):
                if index >= len(components):
                    break  # not one component per child: leave the rest as written
                component = components[index]
                if track.enabled and getattr(child, "enabled", True):
                    continue
                if not isinstance(child, otio.schema.Clip):
                    continue
                if not isinstance(component, aaf2.components.SourceClip):
                    continue
                selector = aaf.create.Selector()
                selector.media_kind = component.media_kind
                selector["Length"].value = component.length
                components.pop(index)
                selector["Selected"].value = aaf.create.Filler(
                    component.media_kind, component.length
                )
                selector["Alternates"].value = [component]
                components.insert(index, selector)


def _write(otio: Any, timeline: Any, target: Path) -> Path:
    """Write through a temporary name beside ``target`` (the adapters write by path)."""
    from samaudio_daw.files import commit_temp, create_temp, remove_own_temp

    fd, temp = create_temp(target)
    os.close(fd)
    aaf = _adapter(target) == "AAF"
    options = {"use_empty_mob_ids": True} if aaf else {}
    try:
        os.unlink(temp)  # the AAF writer creates its file itself
        otio.adapters.write_to_file(timeline, str(temp), adapter_name=_adapter(target), **options)
        if aaf:
            _mark_disabled_clips(otio, timeline, temp)
    except Exception as error:
        remove_own_temp(temp)
        raise TimelineError(f"{target}: cannot write the timeline ({error})") from None
    return commit_temp(temp, target)


def _adapter(target: Path) -> str:
    return "AAF" if target.suffix.lower() == ".aaf" else "otio_json"
