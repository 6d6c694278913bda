"""AAF and OpenTimelineIO timelines (post-production: Pro Tools, Logic, Nuendo, Resolve)
read and written through ``opentimelineio`` and its AAF adapter (the ``[otio]`` extra).

Reading gives the same typed view as a DAWproject session (tracks of clips in seconds,
:mod:`samaudio_daw.project.dawproject`), so both render the same way: audio tracks
only, each clip at its place on the track (gaps count) with its source offset; a clip
whose media is not a file found on disk is listed with a reason. Writing adds, after
each processed track, one audio track per stem (OTIO has no folder tracks) whose clips
sit at the original clips' times, and disables the original track.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from samaudio_daw.errors import UserError
from samaudio_daw.project.dawproject import AudioFile, Clip, DawProject, Track

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
        raise TimelineError(f"{path}: not a readable timeline ({first})") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise TimelineError(f"{path}: holds {type(timeline).__name__}, not one timeline")
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


def write_stem_timelines(
    source: Path,
    stems: Mapping[int, Mapping[str, Sequence[tuple[Clip, Path]]]],
    targets: Sequence[Path],
    mute_original: bool = True,
) -> list[Path]:
    """Write the timeline of ``source`` with stem tracks to each of ``targets`` (.otio,
    .aaf): ``stems`` is {audio track number: {stem track name: [(original clip, stem
    file)]}}, each stem file holding what its clip plays."""
    otio = _otio()
    timeline = _read_timeline(source)
    originals = audio_tracks(timeline)
    for number in sorted(stems, reverse=True):  # insert from the end: positions hold
        track = originals[number]
        position = list(timeline.tracks).index(track)
        for offset, (name, placed) in enumerate(stems[number].items(), start=1):
            timeline.tracks.insert(position + offset, _stem_track(otio, name, placed))
        if mute_original:
            track.enabled = False
    written = []
    for target in targets:
        written.append(_write(otio, timeline, target))
    return written


def _stem_track(otio: Any, name: str, placed: Sequence[tuple[Clip, Path]]) -> Any:
    rate = 48000
    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
    at = 0.0
    for clip, file in sorted(placed, key=lambda pair: pair[0].time_s):
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
                name=f"{name} - {clip.name}" if clip.name else name,
                media_reference=reference,
                source_range=whole,
            )
        )
        at = clip.time_s + clip.duration_s
    return track


def _write(otio: Any, timeline: Any, target: Path) -> Path:
    """Write through a temporary name beside ``target`` (the adapters write by path)."""
    from samaudio_daw.files import commit_temp, create_temp, remove_own_temp

    fd, temp = create_temp(target)
    os.close(fd)
    options = {"use_empty_mob_ids": True} if target.suffix.lower() == ".aaf" else {}
    try:
        os.unlink(temp)  # the AAF writer creates its file itself
        otio.adapters.write_to_file(timeline, str(temp), adapter_name=_adapter(target), **options)
    except Exception as error:
        remove_own_temp(temp)
        raise TimelineError(f"{target}: cannot write the timeline ({error})") from None
    return commit_temp(temp, target)


def _adapter(target: Path) -> str:
    return "AAF" if target.suffix.lower() == ".aaf" else "otio_json"
