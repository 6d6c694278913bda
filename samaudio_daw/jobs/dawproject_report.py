"""What a render would do with a DAWproject session (or an AAF / .otio timeline, read
into the same view), in the shape of ``inspect``'s report for ``.rpp`` projects (so
all print and serialise the same way)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from samaudio_daw.presets import PresetLibrary, match_track
from samaudio_daw.project.dawproject import Clip, DawProject

# DAWproject has no project sample rate; clips name theirs. Without any, this is shown.
DEFAULT_SAMPLE_RATE = 48000


def clip_skip_reason(clip: Clip) -> str | None:
    """Why a render leaves ``clip`` out, or None when it can render it."""
    if clip.mute:
        return "muted clip"
    return clip.skip_reason


def _clip_report(clip: Clip) -> dict[str, Any]:
    audio = clip.audio
    found = None
    if audio and audio.path:
        found = str(audio.path)
    elif audio and audio.member:
        found = f"(in archive) {audio.member}"
    return {
        "index": clip.index + 1,
        "guid": "",
        "name": clip.name,
        "position_s": clip.time_s,
        "length_s": clip.duration_s,
        "play_start_s": clip.play_start_s,
        "fade_in_s": clip.fade_in_s,
        "fade_out_s": clip.fade_out_s,
        "source_kind": clip.kind.upper() or "EMPTY",
        "file": audio.file if audio else None,
        "embedded": bool(audio and not audio.external),
        "found": found,
        "missing_reason": audio.missing_reason if audio else None,
        "skip_reason": clip_skip_reason(clip),
        "play_rate": 1.0,
        "preserve_pitch": True,
        "pitch_semitones": 0.0,
        "stretch_markers": 0,
        "take_fx": False,
        "loop": clip.loop_start_s is not None,
    }


def _sample_rate(project: DawProject) -> int:
    rates = Counter(
        clip.audio.sample_rate
        for track in project.tracks
        for clip in track.clips
        if clip.audio and clip.audio.sample_rate > 0
    )
    return rates.most_common(1)[0][0] if rates else DEFAULT_SAMPLE_RATE


def inspect_dawproject(project: DawProject, library: PresetLibrary) -> dict[str, Any]:
    """``samaudio-daw inspect song.dawproject``: tracks, clips, media and presets."""
    path = project.path
    tracks = []
    missing: Counter[str] = Counter()
    missing_tracks: dict[str, set[int]] = {}
    reasons: dict[str, str] = {}
    for track in project.tracks:
        choice = match_track(track.name, library)
        for clip in track.clips:
            audio = clip.audio
            if audio and audio.missing_reason and audio.file:
                missing[audio.file] += 1
                missing_tracks.setdefault(audio.file, set()).add(track.index)
                reasons[audio.file] = audio.missing_reason
        tracks.append(
            {
                "index": track.index + 1,
                "name": track.name,
                "guid": track.id,
                "folder_depth": track.folder_depth,
                "folder": track.is_folder,
                "mute": track.mute,
                **choice.report(),
                "items": [_clip_report(clip) for clip in track.clips],
            }
        )
    return {
        "project": str(project.path),
        "format": "dawproject",
        "application": project.application,
        "sample_rate": _sample_rate(project),
        "tempo_bpm": project.tempo_bpm,
        "tempo_changes": len(project.tempo_points),
        "regions": 0,
        "markers": 0,
        "tracks": tracks,
        "missing_media": [
            {
                "project": project.path.name,
                "file": file,
                "items": count,
                "tracks": len(missing_tracks[file]),
                "reason": reasons[file],
            }
            for file, count in missing.items()
        ],
        "output_dir": str(path.parent / f"{path.stem}-stems"),
    }
