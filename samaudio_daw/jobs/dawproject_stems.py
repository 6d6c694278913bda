"""The stems of a render as a DAWproject session: beside the ``.rpp`` for exported
files, or the rendered ``.dawproject`` with its stems added.

For exported audio files: a track per file (its clip playing the original file where
its time reference puts it), each processed track followed by its stems group
(:func:`~samaudio_daw.project.dawproject_writer.add_stem_group`), the stems
referenced beside the session.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from samaudio_daw.audio.io import audio_info
from samaudio_daw.jobs.results import StemRecord
from samaudio_daw.project.dawproject import DawProject, read_member_names, read_project_xml
from samaudio_daw.project.dawproject_writer import (
    ClipAudio,
    ClipSpec,
    add_audio_track,
    add_stem_group,
    find_track,
    new_session,
    relocate_references,
    write_dawproject,
)
from samaudio_daw.project.model import Item, Project
from samaudio_daw.project.stem_tracks import stem_clip_name

StemsByItem = Mapping[int, Mapping[str, StemRecord]]  # item index -> stem name -> stem


def _colors(stems: StemsByItem) -> dict[str, str]:
    """{stem track name: colour}, as the result records them for the ``.rpp`` writer."""
    return {
        stem.stem_track_name: stem.color
        for named in stems.values()
        for stem in named.values()
        if stem.color
    }


def _referenced(path: Path, session_folder: Path) -> ClipAudio:
    info = audio_info(path)
    written = os.path.relpath(path.resolve(), session_folder.resolve()).replace(os.sep, "/")
    return ClipAudio(written, True, info.channels, info.sample_rate, info.duration_s)


def _clip(item: Item, audio: ClipAudio, name: str) -> ClipSpec:
    take = item.active_take
    return ClipSpec(
        audio,
        item.position_s,
        item.length_s,
        play_start_s=take.start_offset_s if take else 0.0,
        fade_in_s=item.fade_in.length_s,
        fade_out_s=item.fade_out.length_s,
        enable=not item.mute,
        name=name,
    )


def write_exported_dawproject(
    project: Project,
    stems: Mapping[int, StemsByItem],
    target: Path,
    mute_original: bool = True,
) -> Path:
    """Write ``target``: ``project``'s tracks (exported files) with the stems of each
    processed track ({track index: stems by item}) in a group after it."""
    folder = target.parent
    root = new_session(project.tempo_bpm)
    for track in project.tracks:
        clips = []
        items = {item.index: item for item in track.items}
        for item in track.items:
            take = item.active_take
            media = take.source.media.path if take and take.source else None
            if media is not None:
                clips.append(_clip(item, _referenced(media, folder), track.name))
        node = add_audio_track(root, track.name, clips)
        by_stem: dict[str, list[ClipSpec]] = {}
        for index, named in stems.get(track.index, {}).items():
            for name, stem in named.items():
                item = items[index]
                audio = _referenced(folder / stem.file, folder)
                # The stem file holds the item's source span: it plays from its start.
                take = item.active_take
                clip_name = stem_clip_name(name, take.name if take else None)
                clip = replace(_clip(item, audio, clip_name), play_start_s=0.0)
                by_stem.setdefault(stem.stem_track_name, []).append(clip)
        if by_stem:
            add_stem_group(root, node, by_stem, mute_original, _colors(stems[track.index]))
    return write_dawproject(root, target)


def write_dawproject_stems(
    session: DawProject,
    stems: Mapping[int, StemsByItem],
    clip_of: Mapping[tuple[int, int], int],
    target: Path,
    embed: bool = True,
    mute_original: bool = True,
) -> Path:
    """Write ``target``: the session read from ``session.path`` unchanged but for a stems
    group after each processed track ({track index: stems by item}) and the original
    muted; each stem clip at its clip's time with its duration and fades. Stems are
    embedded under ``stems/`` or referenced beside ``target``."""
    root = read_project_xml(session.path)
    folder = target.parent
    relocate_references(root, session.path.parent, folder)
    embedded: dict[str, Path] = {}
    taken = read_member_names(session.path)
    for track_index, by_item in stems.items():
        track = session.tracks[track_index]
        by_stem: dict[str, list[ClipSpec]] = {}
        for item_index, named in by_item.items():
            clip = track.clips[clip_of[(track_index, item_index)]]
            for name, stem in named.items():
                file = folder / stem.file
                audio = _referenced(file, folder)
                if embed:
                    member = f"stems/{stem.file}"
                    while member in taken:
                        member = f"stems/new-{member[6:]}"
                    taken.add(member)
                    embedded[member] = file
                    audio = replace(audio, path=member, external=False)
                # The stem file holds the clip's played part: it plays from its start.
                by_stem.setdefault(stem.stem_track_name, []).append(
                    ClipSpec(
                        audio,
                        clip.time_s,
                        clip.duration_s,
                        0.0,
                        clip.fade_in_s,
                        clip.fade_out_s,
                        not clip.mute,
                        stem_clip_name(name, clip.name),
                    )
                )
        if by_stem:
            node = find_track(root, track.id)
            add_stem_group(root, node, by_stem, mute_original, _colors(by_item))
    return write_dawproject(root, target, embedded, source=session.path)
