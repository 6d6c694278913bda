"""The project's own renderer: item sources and track timelines as REAPER plays them.

All audio returned is ``(channels, frames)`` float32 at the project sample rate,
with exactly ``round(length_s * sample_rate)`` frames for a length in seconds.

What is rendered, and how:
- An item plays its active take's source from the take's source offset (SOFFS)
  for the item's length; with loop on, the source (or its section) repeats.
  A SECTION source plays its parent from STARTPOS for LENGTH, reversed if asked.
  Outside the source (and without loop) there is silence.
- A source at another sample rate is resampled (windowed sinc) to the project's.
- Take channel modes 0-4: normal, reverse stereo, mono downmix (mean), left, right.
- On a track, mono items play on both channels; channels past the second are
  left out. Pans are balance pans at 0 dB in the centre (REAPER's default).
- Fades: REAPER shape numbers 0 linear, 1 fast start ``1-(1-x)^2``, 2 fast end
  ``x^2``, 3 fast start steep ``1-(1-x)^4``, 4 fast end steep ``x^4``, 5 slow
  start/end ``(1-cos(pi x))/2``, 6 slow start/end steep (5 applied twice); other
  numbers play linear. A fade-out is the fade-in curve mirrored in time. The
  curvature field is not applied: these are close to, not equal to, REAPER's curves.
- Not rendered (see :func:`skip_reason`): MIDI and other non-file sources,
  play rate or pitch changes, stretch markers, take FX, active take envelopes,
  "play all takes", missing media, and files no decoder here can read (WavPack,
  for one).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard.io as pio
import soundfile as sf

from samaudio_daw.errors import UserError
from samaudio_daw.project.model import Item, Project, Source, Track

FILE_KINDS = ("WAVE", "FLAC", "MP3", "VORBIS", "OPUS", "WAVPACK")
CHANNEL_MODES = (0, 1, 2, 3, 4)
_RESAMPLER_LATENCY_FRAMES = 64
_MAX_MARGIN_FRAMES = 4096


class RenderError(UserError, ValueError):
    """An item or track that cannot be rendered; the message says which and why."""


@dataclass(frozen=True)
class _Media:
    """An open audio file: sample rate, channels, length and a zero-filling reader."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    handle: sf.SoundFile | pio.ReadableAudioFile

    def read(self, start_frame: int, frames: int) -> np.ndarray:
        """(channels, frames) float32 from ``start_frame``; silence outside the file."""
        out = np.zeros((self.channels, max(frames, 0)), dtype=np.float32)
        begin, end = max(start_frame, 0), min(start_frame + frames, self.frames)
        if end <= begin:
            return out
        self.handle.seek(begin)
        if isinstance(self.handle, sf.SoundFile):
            data = self.handle.read(end - begin, dtype="float32", always_2d=True).T
        else:
            data = self.handle.read(end - begin)
        out[:, begin - start_frame : begin - start_frame + data.shape[1]] = data
        return out


@contextmanager
def _open_media(path: Path) -> Iterator[_Media]:
    """Open with soundfile, or pedalboard for what libsndfile cannot decode."""
    media = _open_with_soundfile(path) or _open_with_pedalboard(path)
    try:
        yield media
    finally:
        media.handle.close()


def _open_with_soundfile(path: Path) -> _Media | None:
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return None  # not decodable by libsndfile: pedalboard may still read it
    return _Media(path, int(handle.samplerate), int(handle.channels), int(handle.frames), handle)


def _open_with_pedalboard(path: Path) -> _Media:
    try:
        handle = pio.ReadableAudioFile(str(path))
    except (ValueError, RuntimeError, OSError) as error:
        raise RenderError(f"{path}: cannot decode this audio file ({error})") from None
    frames = int(handle.frames)
    return _Media(path, int(handle.samplerate), int(handle.num_channels), frames, handle)


def _where(item: Item) -> str:
    return f"track {item.track_index + 1}, item {item.index + 1} at {item.position_s:.3f} s"


def skip_reason(item: Item) -> str | None:
    """Why ``item`` cannot be rendered here, or None when it can.

    Reasons read like "MIDI item", "play rate 1.5 is not supported",
    "missing media: ...", "unsupported codec WAVPACK: ...".
    """
    take = item.active_take
    if take is None or take.source is None:
        return "empty item (no take or source)"
    media = take.source.media
    if media.kind == "MIDI":
        return "MIDI item"
    if media.kind not in FILE_KINDS:
        return f"unsupported source type {media.kind} (only audio files can be separated)"
    reason = _take_reason(item)
    if reason is not None:
        return reason
    if media.path is None:
        if media.file is None:
            return f"missing media: {media.missing_reason}"
        return f"missing media: media file {media.file!r} not found"
    return _codec_reason(media)


def _take_reason(item: Item) -> str | None:
    take = item.active_take
    assert take is not None
    if item.play_all_takes and sum(not t.is_empty for t in item.takes) > 1:
        return "the item plays all its takes at once, which is not supported (glue the item)"
    if take.play_rate != 1.0:
        return f"play rate {take.play_rate:g} is not supported (set it to 1.0 or glue the item)"
    if take.pitch_semitones != 0.0:
        return f"pitch shift {take.pitch_semitones:g} semitones is not supported (glue the item)"
    if take.has_stretch_markers:
        return "stretch markers are not supported (glue the item first)"
    if take.has_take_fx:
        return "take FX are not supported (apply them with Item > Apply track/take FX)"
    if take.has_active_envelopes:
        return "take envelopes are not supported (glue the item first)"
    if take.channel_mode not in CHANNEL_MODES:
        return (
            f"channel mode {take.channel_mode} is not supported (use normal, mono, left or right)"
        )
    return None


def _codec_reason(media: Source) -> str | None:
    assert media.path is not None
    try:
        with _open_media(media.path) as opened:
            if opened.frames <= 0 or opened.sample_rate <= 0:
                return f"unsupported codec {media.kind}: {media.path} holds no audio"
    except RenderError:
        return (
            f"unsupported codec {media.kind}: {media.path} cannot be decoded here; "
            "convert it to WAV or FLAC (REAPER: Item > Apply track/take FX, or Batch converter)"
        )
    return None


# --------------------------------------------------------------------------- item source


def frames_for(duration_s: float, sample_rate: int) -> int:
    """The number of frames a duration spans at ``sample_rate``: round(duration_s * rate)."""
    return max(round(duration_s * sample_rate), 0)


def render_item_source(item: Item, project_sample_rate: int) -> np.ndarray:
    """The item's active take as REAPER plays it, before fades and volumes.

    Returns (source channels, round(item.length_s * project_sample_rate)) float32:
    the source (or section) from the take's offset for the item's length, looped
    when the item loops, at the project rate. RenderError if :func:`skip_reason`
    names a reason.
    """
    reason = skip_reason(item)
    if reason is not None:
        raise RenderError(f"{_where(item)}: cannot render: {reason}")
    take = item.active_take
    assert take is not None and take.source is not None and take.source.media.path is not None
    with _open_media(take.source.media.path) as media:
        rate = media.sample_rate
        margin = _resample_margin(rate, project_sample_rate)
        frames = frames_for(item.length_s, rate)
        offset = round(take.start_offset_s * rate)
        length = _virtual_frames(take.source, media)
        played = _played(
            take.source, media, offset - margin, frames + 2 * margin, length, item.loop
        )
    played = _apply_channel_mode(played, take.channel_mode)
    if rate != project_sample_rate:
        played = resample(played, rate, project_sample_rate)
        margin = margin * project_sample_rate // rate
    target = frames_for(item.length_s, project_sample_rate)
    return _fit(played[:, margin:], target)


def _resample_margin(source_rate: int, target_rate: int) -> int:
    """Context frames read around an item so resampling has real neighbours.

    A whole number of source frames that maps to a whole number of target frames.
    """
    if source_rate == target_rate:
        return 0
    step = source_rate // math.gcd(source_rate, target_rate)
    if step > _MAX_MARGIN_FRAMES:
        return 0
    return step * math.ceil(_RESAMPLER_LATENCY_FRAMES / step)


def _virtual_frames(source: Source, media: _Media) -> int:
    """How many frames ``source`` plays (a section's length, or the file's)."""
    if source.parent is None:
        return media.frames
    parent = _virtual_frames(source.parent, media)
    if source.section_length_s is None:
        return max(parent - round(source.section_start_s * media.sample_rate), 0)
    return frames_for(source.section_length_s, media.sample_rate)


def _read_virtual(source: Source, media: _Media, start: int, frames: int) -> np.ndarray:
    """Frames [start, start + frames) of ``source``, through sections; silence outside."""
    if source.parent is None:
        return media.read(start, frames)
    length = _virtual_frames(source, media)
    out = np.zeros((media.channels, max(frames, 0)), dtype=np.float32)
    begin, end = max(start, 0), min(start + frames, length)
    if end <= begin:
        return out
    offset = round(source.section_start_s * media.sample_rate)
    if source.reversed:
        chunk = _read_virtual(source.parent, media, offset + length - end, end - begin)[:, ::-1]
    else:
        chunk = _read_virtual(source.parent, media, offset + begin, end - begin)
    out[:, begin - start : end - start] = chunk
    return out


def _played(
    source: Source, media: _Media, start: int, frames: int, length: int, loop: bool
) -> np.ndarray:
    """``frames`` frames of the source from ``start``, wrapping around when looping."""
    if not loop or length <= 0:
        return _read_virtual(source, media, start, frames)
    if frames >= length:
        whole = _read_virtual(source, media, 0, length)
        return whole[:, (start + np.arange(frames)) % length]
    first_start = start % length
    first = min(length - first_start, frames)
    head = _read_virtual(source, media, first_start, first)
    if first == frames:
        return head
    return np.concatenate([head, _read_virtual(source, media, 0, frames - first)], axis=1)


def _apply_channel_mode(audio: np.ndarray, mode: int) -> np.ndarray:
    """Take channel mode: 0 normal, 1 reverse stereo, 2 mono downmix, 3 left, 4 right."""
    if mode == 1 and audio.shape[0] >= 2:
        return audio[[1, 0, *range(2, audio.shape[0])]]
    if mode == 2:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    if mode == 3:
        return audio[:1]
    if mode == 4:
        return audio[1:2] if audio.shape[0] >= 2 else audio[:1]
    return audio


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """(channels, frames) float32 at ``source_rate`` -> the same at ``target_rate``.

    Windowed sinc (pedalboard), aligned to the sample: output frame j is the input
    at time j / target_rate (silence assumed before the input starts). Its length
    is about ``frames * target_rate / source_rate``.
    """
    resampler = pio.StreamResampler(source_rate, target_rate, audio.shape[0])
    lead_in, skip = _alignment(resampler.input_latency, source_rate, target_rate)
    data = np.zeros((audio.shape[0], lead_in + audio.shape[1]), dtype=np.float32)
    data[:, lead_in:] = audio
    out = np.concatenate([resampler.process(data), resampler.process(None)], axis=1)
    return np.ascontiguousarray(out[:, skip:], dtype=np.float32)


def _alignment(latency_frames: float, source_rate: int, target_rate: int) -> tuple[int, int]:
    """(silent input frames to prepend, output frames to drop) for exact alignment.

    pedalboard drops round(latency * target/source) output frames to make up for
    its latency, which leaves a fraction of a frame of shift. Prepending silence
    so that latency plus lead-in spans a whole number of frames at both rates
    removes it.
    """
    latency = round(latency_frames)
    compensated = round(latency * target_rate / source_rate)
    period = target_rate // math.gcd(source_rate, target_rate)
    needed = max(compensated, math.ceil(latency * target_rate / source_rate))
    whole = period * math.ceil(needed / period)
    lead_in = whole * source_rate // target_rate - latency
    return lead_in, whole - compensated


def _fit(audio: np.ndarray, frames: int) -> np.ndarray:
    """Cut or pad with silence to exactly ``frames`` frames."""
    if audio.shape[1] >= frames:
        return np.ascontiguousarray(audio[:, :frames], dtype=np.float32)
    pad = np.zeros((audio.shape[0], frames - audio.shape[1]), dtype=np.float32)
    return np.concatenate([audio, pad], axis=1)


# --------------------------------------------------------------------------- mixing


def fade_curve(shape: int, progress: np.ndarray) -> np.ndarray:
    """Fade-in gain for ``progress`` 0..1 (clipped) with REAPER fade shape ``shape``."""
    x = np.clip(progress, 0.0, 1.0)
    if shape == 1:
        return 1.0 - (1.0 - x) ** 2
    if shape == 2:
        return x**2
    if shape == 3:
        return 1.0 - (1.0 - x) ** 4
    if shape == 4:
        return x**4
    if shape == 5:
        return (1.0 - np.cos(np.pi * x)) / 2.0
    if shape == 6:
        once = (1.0 - np.cos(np.pi * x)) / 2.0
        return (1.0 - np.cos(np.pi * once)) / 2.0
    return x


def item_gain(item: Item, sample_rate: int) -> np.ndarray:
    """(frames,) float32 gain of the item's fades times item and take volume."""
    frames = frames_for(item.length_s, sample_rate)
    time_s = np.arange(frames, dtype=np.float64) / sample_rate
    gain = np.ones(frames, dtype=np.float64)
    if item.fade_in.length_s > 0:
        gain *= fade_curve(item.fade_in.shape, time_s / item.fade_in.length_s)
    if item.fade_out.length_s > 0:
        remaining_s = item.length_s - time_s
        gain *= fade_curve(item.fade_out.shape, remaining_s / item.fade_out.length_s)
    take = item.active_take
    take_volume = 1.0 if take is None else take.volume
    return (gain * item.volume * take_volume).astype(np.float32)


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """(2, frames): mono doubled to both sides, channels past the second left out."""
    if audio.shape[0] == 1:
        return np.concatenate([audio, audio], axis=0)
    return np.ascontiguousarray(audio[:2])


def balance(audio: np.ndarray, pan: float) -> np.ndarray:
    """Balance-pan a (2, frames) signal: -1 left .. 1 right, unity in the centre."""
    gains = np.array([min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)], dtype=np.float32)
    return audio * gains[:, None]


def render_item(item: Item, project_sample_rate: int) -> np.ndarray:
    """(2, frames) float32: the item as heard on its track (fades, volumes, take pan)."""
    audio = to_stereo(render_item_source(item, project_sample_rate))
    take = item.active_take
    pan = 0.0 if take is None else take.pan
    return balance(audio * item_gain(item, project_sample_rate)[None, :], pan)


def skipped_items(track: Track) -> list[tuple[Item, str]]:
    """Each item on ``track`` that cannot be rendered, with the reason."""
    found = []
    for item in track.items:
        reason = skip_reason(item)
        if reason is not None:
            found.append((item, reason))
    return found


def render_track(
    track: Track,
    project: Project,
    start_s: float,
    end_s: float,
    *,
    with_fader: bool = False,
    skip_unrenderable: bool = True,
) -> np.ndarray:
    """(2, round((end_s - start_s) * project.sample_rate)) float32: the track's items mixed.

    Muted items are silent; the track's own mute is ignored (this renders the
    track as if soloed). ``with_fader`` applies the track's volume and pan.
    Items :func:`skip_reason` rejects are left out (list them with
    :func:`skipped_items`), or raise RenderError when ``skip_unrenderable`` is False.
    """
    if not end_s >= start_s:
        raise ValueError(f"render range ends ({end_s} s) before it starts ({start_s} s)")
    rate = project.sample_rate
    out = np.zeros((2, frames_for(end_s - start_s, rate)), dtype=np.float32)
    for item in track.items:
        if item.mute or item.end_s <= start_s or item.position_s >= end_s:
            continue
        reason = skip_reason(item)
        if reason is not None:
            if skip_unrenderable:
                continue
            raise RenderError(f"{_where(item)} ({track.name!r}): cannot render: {reason}")
        _mix_at(out, render_item(item, rate), round((item.position_s - start_s) * rate))
    if with_fader:
        out = balance(out * np.float32(track.volume), track.pan)
    return out


def _mix_at(out: np.ndarray, audio: np.ndarray, start_frame: int) -> None:
    """Add ``audio`` into ``out`` from ``start_frame``, dropping what falls outside."""
    begin, end = max(start_frame, 0), min(start_frame + audio.shape[1], out.shape[1])
    if end > begin:
        out[:, begin:end] += audio[:, begin - start_frame : end - start_frame]


def render_folder(
    folder: Track,
    project: Project,
    start_s: float,
    end_s: float,
    *,
    with_fader: bool = False,
) -> np.ndarray:
    """(2, frames) float32: what soloing folder track ``folder`` plays.

    Its own items plus every track inside it, each with its fader, muted tracks
    (and everything inside a muted folder) left out. ``with_fader`` applies the
    folder's own volume and pan too.
    """
    out = render_track(folder, project, start_s, end_s)
    muted_below: int | None = None
    for track in project.descendants(folder):
        if muted_below is not None and track.folder_depth > muted_below:
            continue
        muted_below = track.folder_depth if track.mute else None
        if not track.mute:
            out += render_track(track, project, start_s, end_s, with_fader=True)
    if with_fader:
        out = balance(out * np.float32(folder.volume), folder.pan)
    return out


def track_span(track: Track) -> tuple[float, float]:
    """(start_s, end_s) covering all items on ``track``; (0.0, 0.0) with no items."""
    if not track.items:
        return 0.0, 0.0
    return min(i.position_s for i in track.items), max(i.end_s for i in track.items)
