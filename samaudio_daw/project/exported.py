"""Exported tracks (a folder of audio files from any DAW) and DAWproject sessions read
as a REAPER project in memory.

Each audio file is a track named by its file name (without the extension), with one
item at the file's BWF time reference (0 without one) spanning the whole file. The
session is a REAPER project built in memory, so a folder renders through the same
plan, job and stems writers as an ``.rpp``.

Only regular files are read: a link, FIFO, socket or device under an audio file's
name is refused with one line, never opened.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from samaudio_daw.audio.io import audio_info
from samaudio_daw.audio.wav import BEXT_FORMATS, read_time_reference
from samaudio_daw.errors import UserError
from samaudio_daw.files import file_kind
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.project.dawproject import Clip, DawProject
from samaudio_daw.project.model import Project, project_from_tree
from samaudio_daw.project.rpp import loads

AUDIO_SUFFIXES = frozenset((".wav", ".wave", ".bwf", ".flac", ".aif", ".aiff", ".w64", ".ogg"))
MAX_FILES = 1000  # more exported tracks than this in one folder is a mistake, not a song


class ExportedTracksError(UserError):
    """A folder or file given as exported tracks that cannot be read as one."""


def is_audio_name(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def _checked(path: Path) -> Path:
    """``path`` when it is a regular file; one line naming what it is otherwise."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ExportedTracksError(f"{path}: no such file") from None
    except OSError as error:
        raise ExportedTracksError(f"{path}: cannot read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ExportedTracksError(
            f"{path}: is {file_kind(info.st_mode)}, not an exported audio file; "
            "give the audio files themselves"
        )
    return path


def audio_files(folder: Path) -> list[Path]:
    """The audio files directly in ``folder``, by name; other files are not tracks."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name.lower())
    except OSError as error:
        raise ExportedTracksError(f"{folder}: cannot list ({error.strerror})") from None
    files = [_checked(Path(entry.path)) for entry in entries if is_audio_name(Path(entry.name))]
    if not files:
        raise ExportedTracksError(
            f"{folder}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) in this folder"
        )
    if len(files) > MAX_FILES:
        raise ExportedTracksError(f"{folder}: {len(files)} audio files; at most {MAX_FILES}")
    return files


def session_path(files: Sequence[Path], folder: Path | None) -> Path:
    """Where the session is said to live, naming its stems folder and projects:
    ``<folder>.rpp`` beside a folder, ``tracks.rpp`` beside loose files."""
    if folder is not None:
        resolved = folder.resolve()
        return resolved.parent / f"{resolved.name or 'tracks'}.rpp"
    return files[0].resolve().parent / "tracks.rpp"


def exported_session(files: Sequence[Path], path: Path) -> Project:
    """A session with a track per file, each at its BWF time reference; ``path`` names it.

    The project's sample rate is the one most files have; a file of another rate
    keeps its place in seconds.
    """
    checked = [_checked(Path(file)) for file in files]
    names = Counter(file.stem.lower() for file in checked)
    twice = sorted(name for name, count in names.items() if count > 1)
    if twice:
        raise ExportedTracksError(
            f"{checked[0].parent}: two files make the track {twice[0]!r}; "
            "give each exported track its own name"
        )
    tracks, rates = [], []
    for file in checked:
        info = audio_info(file)
        reference = read_time_reference(file) if info.format in BEXT_FORMATS else None
        position_s = (reference or 0) / info.sample_rate
        item = ItemSpec(str(file.resolve()), position_s, info.duration_s, name=file.name)
        tracks.append(TrackSpec(file.stem, (item,)))
        rates.append(info.sample_rate)
    rate = Counter(rates).most_common(1)[0][0]
    text = new_project(rate, 120.0, tracks)
    return project_from_tree(loads(text, source=str(path)), path)


def _clip_item(clip: Clip, file: Path) -> ItemSpec:
    """The item playing ``clip``: a looped clip is a looped section of its file (the
    loop), started where the clip starts in it."""
    item = ItemSpec(
        str(file.resolve()),
        clip.time_s,
        clip.duration_s,
        source_offset_s=clip.play_start_s,
        fade_in_s=clip.fade_in_s,
        fade_out_s=clip.fade_out_s,
        mute=clip.mute,
        name=clip.name or None,
    )
    if clip.loop_start_s is None or clip.loop_end_s is None:
        return item
    length_s = clip.loop_end_s - clip.loop_start_s
    return replace(
        item,
        loop=True,
        section_start_s=clip.loop_start_s,
        section_length_s=length_s,
        source_offset_s=(clip.play_start_s - clip.loop_start_s) % length_s,
    )


def dawproject_session(
    session: DawProject, embedded: dict[str, Path], path: Path
) -> tuple[Project, dict[tuple[int, int], int]]:
    """``session`` as a project: a track per DAWproject track (same order, so indices
    match), an item per audio clip that can render (embedded audio from ``embedded``,
    {member: extracted file}). Returns it with {(track, item index): clip index}."""
    tracks, clip_of = [], {}
    for track in session.tracks:
        items: list[ItemSpec] = []
        for clip in track.clips:
            audio = clip.audio
            if clip.skip_reason or audio is None or clip.duration_s <= 0:
                continue
            file = audio.path if audio.path is not None else embedded.get(audio.member or "")
            if file is None:
                continue
            clip_of[(track.index, len(items))] = clip.index
            items.append(_clip_item(clip, file))
        tracks.append(TrackSpec(track.name, tuple(items)))
    rates = Counter(
        clip.audio.sample_rate
        for track in session.tracks
        for clip in track.clips
        if clip.audio is not None and clip.audio.sample_rate > 0
    )
    sample_rate = rates.most_common(1)[0][0] if rates else 48000
    text = new_project(sample_rate, session.tempo_bpm, tracks)
    return project_from_tree(loads(text, source=str(path)), path), clip_of
