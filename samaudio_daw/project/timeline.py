"""The project's own renderer: item sources and track timelines as REAPER plays them.

All audio is ``(channels, frames)`` float32 at the project sample rate, with
exactly ``round(length_s * sample_rate)`` frames for a length in seconds, and is
made block by block (``*_blocks`` functions), so memory does not grow with the
length of an item or a track; the ``render_*`` functions join the blocks.

What is rendered, and how:
- The **source span** of an item (:func:`source_span`, what item mode separates) is
  the part of its source the active take plays, at the source's own timebase: from
  the take's offset (SOFFS) for item length x play rate, or, with stretch markers,
  from the source position the item start plays to the one its end plays (and every
  marker's source position). A looped item unrolls its source (or section) over
  that span. A SECTION source plays its parent from STARTPOS for LENGTH, reversed if
  asked. Outside the source (and without loop) there is silence.
- A source at another sample rate is resampled (windowed sinc) to the project's.
- Take channel modes 0-4: normal, reverse stereo, mono downmix (mean), left, right.
- **As heard** (:func:`item_blocks`, track mode and the stems' sum): the source
  span played at the take's play rate by resampling, which also moves the pitch;
  with stretch markers each stretch segment plays at its own rate (cubic
  interpolation, through a window that moves along the span). REAPER's time-stretching with preserve pitch, a pitch shift
  without a rate change, take FX and take envelopes are not rendered: there the
  render is an approximation of what REAPER plays (see :func:`approximations`).
- On a track, mono items play on both channels; channels past the second are
  left out. Pans are balance pans at 0 dB in the centre (REAPER's default).
- Fades: REAPER shape numbers 0 linear, 1 fast start ``1-(1-x)^2``, 2 fast end
  ``x^2``, 3 fast start steep ``1-(1-x)^4``, 4 fast end steep ``x^4``, 5 slow
  start/end ``(1-cos(pi x))/2``, 6 slow start/end steep (5 applied twice); other
  numbers play linear. A fade-out is the fade-in curve mirrored in time. The
  curvature field is not applied: these are close to, not equal to, REAPER's curves.
- Not rendered (see :func:`skip_reason`): MIDI and other non-file sources, empty
  items, video without decodable audio, items playing all their takes at once,
  missing media, and files no decoder here can read (WavPack, for one).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard.io as pio
import soundfile as sf

from samaudio_daw.errors import UserError
from samaudio_daw.project.model import Item, Project, Source, Take, Track

FILE_KINDS = ("WAVE", "FLAC", "MP3", "VORBIS", "OPUS", "WAVPACK", "VIDEO")
CHANNEL_MODES = (0, 1, 2, 3, 4)
BLOCK_FRAMES = 65536
MAX_SPAN_S = 24 * 3600.0
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

    Reasons read like "MIDI item", "empty item (no take or source)",
    "missing media: ...", "unsupported codec WAVPACK: ...".
    """
    take = item.active_take
    if take is None or take.source is None:
        return "empty item (no take or source)"
    if item.length_s <= 0:
        return "zero-length item"
    media = take.source.media
    if media.kind == "MIDI":
        return "MIDI item"
    if media.kind == "EMPTY":
        return "empty item (no take or source)"
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
    if take.channel_mode not in CHANNEL_MODES:
        return (
            f"channel mode {take.channel_mode} is not supported (use normal, mono, left or right)"
        )
    span_s = source_span(item).length_s
    if span_s > MAX_SPAN_S:  # a damaged or hostile project: do not fill the disk
        return (
            f"the item plays {span_s / 3600:.1f} hours of its source (length x play rate, "
            f"stretch markers); more than {MAX_SPAN_S / 3600:g} hours is not rendered"
        )
    return None


def _codec_reason(media: Source) -> str | None:
    assert media.path is not None
    try:
        with _open_media(media.path) as opened:
            if opened.frames <= 0 or opened.sample_rate <= 0:
                return f"unsupported codec {media.kind}: {media.path} holds no audio"
    except RenderError:
        if media.kind == "VIDEO":
            return f"video item without audio that can be decoded here: {media.path}"
        return (
            f"unsupported codec {media.kind}: {media.path} cannot be decoded here; "
            "convert it to WAV or FLAC (REAPER: Item > Apply track/take FX, or Batch converter)"
        )
    return None


# --------------------------------------------------------------------------- time maps


def frames_for(duration_s: float, sample_rate: int) -> int:
    """The number of frames a duration spans at ``sample_rate``: round(duration_s * rate)."""
    return max(round(duration_s * sample_rate), 0)


def take_source_s(take: Take, take_time_s: np.ndarray) -> np.ndarray:
    """The source position (seconds, not wrapped by loops) each take time plays.

    Take time is item time x play rate, from the item start. Without stretch
    markers the source runs from the take offset at speed 1; with them it passes
    each marker's source position at its take position, linearly between markers
    (a marker's slope bends the speed: it runs from ``(1 - slope)`` to ``(1 + slope)``
    times the mean), at speed 1 before the first and after the last.
    """
    time_s = np.asarray(take_time_s, dtype=np.float64)
    markers = take.stretch_markers
    if not markers:
        return take.start_offset_s + time_s
    first, last = markers[0], markers[-1]
    out = np.where(
        time_s < first.position_s,
        first.source_s + (time_s - first.position_s),
        last.source_s + (time_s - last.position_s),
    )
    for left, right in zip(markers, markers[1:], strict=False):
        span_s = right.position_s - left.position_s
        if span_s <= 0:
            continue
        inside = (time_s >= left.position_s) & (time_s < right.position_s)
        mean = (right.source_s - left.source_s) / span_s
        start_rate, end_rate = mean * (1 - left.slope), mean * (1 + left.slope)
        u = time_s[inside] - left.position_s
        out[inside] = left.source_s + start_rate * u + (end_rate - start_rate) * u**2 / (2 * span_s)
    return out


@dataclass(frozen=True)
class SourceSpan:
    """The part of its source an item plays, in source seconds (unrolled when looping)."""

    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def source_span(item: Item) -> SourceSpan:
    """What item mode separates: the source from the position the item start plays to
    the one its end plays, widened to every stretch marker's source position (so the
    markers still point inside it)."""
    take = item.active_take
    if take is None:
        return SourceSpan(0.0, 0.0)
    ends = take_source_s(take, np.array([0.0, item.length_s * take.play_rate]))
    sources = [float(ends.min()), float(ends.max())]
    sources += [marker.source_s for marker in take.stretch_markers]
    return SourceSpan(min(sources), max(sources))


def approximations(item: Item) -> list[str]:
    """What REAPER does to the item that the as-heard render only approximates."""
    take = item.active_take
    if take is None:
        return []
    notes = []
    if take.play_rate != 1.0 and take.preserve_pitch:
        notes.append(f"play rate {take.play_rate:g} with preserve pitch (resampled here)")
    if take.pitch_semitones != 0.0:
        notes.append(f"pitch shift {take.pitch_semitones:+g} semitones (not applied here)")
    if take.has_stretch_markers:
        notes.append("stretch markers (followed by resampling here)")
    if take.has_take_fx:
        notes.append("take FX (not applied here)")
    if take.has_active_envelopes:
        notes.append("take envelopes (not applied here)")
    return notes


# --------------------------------------------------------------------------- item source


def item_source_blocks(
    item: Item, project_sample_rate: int, block_frames: int = BLOCK_FRAMES
) -> Iterator[np.ndarray]:
    """The item's :func:`source_span` at the project rate, block by block.

    Yields (source channels, <= block_frames) float32 blocks, together
    ``frames_for(source_span(item).length_s, project_sample_rate)`` frames, the
    take's channel mode applied. RenderError if :func:`skip_reason` names a reason.
    """
    reason = skip_reason(item)
    if reason is not None:
        raise RenderError(f"{_where(item)}: cannot render: {reason}")
    take = item.active_take
    assert take is not None and take.source is not None
    source, span, path = take.source, source_span(item), take.source.media.path
    assert path is not None
    target = frames_for(span.length_s, project_sample_rate)
    with _open_media(path) as media:
        length = _virtual_frames(source, media)

        def read(start: int, frames: int) -> np.ndarray:
            played = _played(source, media, start, frames, length, item.loop)
            return _apply_channel_mode(played, take.channel_mode)

        start = round(span.start_s * media.sample_rate)
        if media.sample_rate == project_sample_rate:
            for done in range(0, max(target, 1), block_frames):
                yield read(start + done, min(block_frames, target - done))
            return
        yield from _resampled(read, start, target, media.sample_rate, project_sample_rate)


def render_item_source(item: Item, project_sample_rate: int) -> np.ndarray:
    """(source channels, frames) float32: the whole :func:`item_source_blocks`."""
    return np.concatenate(list(item_source_blocks(item, project_sample_rate)), axis=1)


def _resampled(
    read: Callable[[int, int], np.ndarray],
    start: int,
    target: int,
    source_rate: int,
    target_rate: int,
) -> Iterator[np.ndarray]:
    """``target`` frames at ``target_rate`` of what ``read`` gives from frame ``start``.

    Reads real neighbours before ``start`` and after the end (a margin) so the
    windowed sinc has context, and aligns the output to the sample.
    """
    margin = _resample_margin(source_rate, target_rate)
    channels = read(start, 0).shape[0]
    resampler = pio.StreamResampler(source_rate, target_rate, channels)
    lead_in, skip = _alignment(resampler.input_latency, source_rate, target_rate)
    drop = skip + margin * target_rate // source_rate
    step = max(BLOCK_FRAMES * source_rate // target_rate, 1)
    position, produced = start - margin, 0
    first = np.zeros((channels, lead_in), dtype=np.float32)
    while produced < target:
        chunk = np.concatenate([first, read(position, step)], axis=1)
        first = first[:, :0]
        position += step
        out = resampler.process(np.ascontiguousarray(chunk, dtype=np.float32))
        if drop:
            cut = min(drop, out.shape[1])
            out, drop = out[:, cut:], drop - cut
        out = out[:, : target - produced]
        produced += out.shape[1]
        if out.shape[1]:
            yield np.ascontiguousarray(out, dtype=np.float32)
    if target == 0:
        yield np.zeros((channels, 0), dtype=np.float32)


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


def item_gain(
    item: Item, sample_rate: int, start_frame: int = 0, frames: int | None = None
) -> np.ndarray:
    """(frames,) float32 gain of the item's fades times item and take volume, for item
    frames ``start_frame`` on (default: the whole item)."""
    total = frames_for(item.length_s, sample_rate)
    count = total - start_frame if frames is None else frames
    time_s = (start_frame + np.arange(count, dtype=np.float64)) / sample_rate
    gain = np.ones(count, dtype=np.float64)
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


def played_blocks(
    item: Item, project_sample_rate: int, block_frames: int = BLOCK_FRAMES
) -> Iterator[np.ndarray]:
    """The item's source span played at the take's rate (and stretch markers), in item
    time: (source channels, <= block_frames) blocks, ``frames_for(item.length_s)``
    frames in all, before fades and volumes."""
    take = item.active_take
    assert take is not None
    frames = frames_for(item.length_s, project_sample_rate)
    if take.has_stretch_markers:
        yield from _stretched(item, project_sample_rate, frames, block_frames)
    elif take.play_rate == 1.0:
        yield from item_source_blocks(item, project_sample_rate, block_frames)
    else:
        yield from _at_rate(item, project_sample_rate, frames, take.play_rate)


def _at_rate(item: Item, rate_hz: int, frames: int, play_rate: float) -> Iterator[np.ndarray]:
    """The source span resampled so it plays ``play_rate`` times as fast."""
    blocks = item_source_blocks(item, rate_hz)
    first = next(blocks)
    resampler = pio.StreamResampler(rate_hz * play_rate, rate_hz, first.shape[0])
    produced = 0
    for chunk in itertools.chain([first], blocks):
        out = resampler.process(np.ascontiguousarray(chunk, dtype=np.float32))
        out = out[:, : frames - produced]
        produced += out.shape[1]
        if out.shape[1]:
            yield out
    tail = resampler.process(None)[:, : frames - produced]
    produced += tail.shape[1]
    yield np.concatenate(
        [tail, np.zeros((first.shape[0], frames - produced), dtype=np.float32)], axis=1
    )


def _stretched(item: Item, rate_hz: int, frames: int, block_frames: int) -> Iterator[np.ndarray]:
    """The source span read through the stretch markers' time map (cubic interpolation),
    through a window that moves along the span as the item plays."""
    take = item.active_take
    assert take is not None
    span = source_span(item)
    span_frames = frames_for(span.length_s, rate_hz)
    window: _Window | None = None
    for done in range(0, max(frames, 1), block_frames):
        count = min(block_frames, frames - done)
        time_s = (done + np.arange(count, dtype=np.float64)) / rate_hz * take.play_rate
        position = (take_source_s(take, time_s) - span.start_s) * rate_hz
        if window is None:
            blocks = item_source_blocks(item, rate_hz, block_frames)
            first = next(blocks)
            window = _Window(itertools.chain([first], blocks), first.shape[0])
        if count == 0:
            yield np.zeros((window.channels, 0), dtype=np.float32)
            continue
        low = int(np.floor(position.min())) - 1
        high = int(np.floor(position.max())) + 2
        out = _cubic(window.frames(low, high), position - low)
        outside = (position < -1e-6) | (position > span_frames - 1 + 1e-6)  # float slack
        out[:, outside] = 0.0
        yield out


class _Window:
    """Frames of a block stream by index, letting go of those before the last asked for."""

    def __init__(self, blocks: Iterator[np.ndarray], channels: int) -> None:
        self.channels = channels
        self._blocks = blocks
        self._start = 0
        self._held = np.zeros((channels, 0), dtype=np.float32)

    def frames(self, first: int, last: int) -> np.ndarray:
        """Frames ``first`` to ``last`` (inclusive); silence outside the stream."""
        if first > self._start:
            cut = min(first - self._start, self._held.shape[1])
            self._held, self._start = self._held[:, cut:], self._start + cut
        parts = [self._held]
        end = self._start + self._held.shape[1]
        while end <= last:
            block = next(self._blocks, None)
            if block is None:
                break
            parts.append(block)
            end += block.shape[1]
        self._held = np.concatenate(parts, axis=1)
        out = np.zeros((self.channels, last - first + 1), dtype=np.float32)
        begin, stop = max(first, self._start), min(last + 1, end)
        if stop > begin:
            out[:, begin - first : stop - first] = self._held[
                :, begin - self._start : stop - self._start
            ]
        return out


def _cubic(audio: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of (channels, n) ``audio`` at fractional frames
    (each position needs one frame before it and two after it inside ``audio``)."""
    whole = np.floor(position).astype(np.int64)
    frac = (position - whole).astype(np.float32)
    last = audio.shape[1] - 1
    a, b, c, d = (audio[:, np.clip(whole + k, 0, last)] for k in (-1, 0, 1, 2))
    cubic = frac * (3 * (b - c) + d - a)
    out = b + 0.5 * frac * (c - a + frac * (2 * a - 5 * b + 4 * c - d + cubic))
    return out.astype(np.float32)


def item_blocks(
    item: Item, project_sample_rate: int, block_frames: int = BLOCK_FRAMES
) -> Iterator[np.ndarray]:
    """(2, <= block_frames) float32 blocks: the item as heard on its track (rate, stretch
    markers, fades, volumes, take pan), ``frames_for(item.length_s)`` frames in all."""
    take = item.active_take
    pan = 0.0 if take is None else take.pan
    done = 0
    for block in played_blocks(item, project_sample_rate, block_frames):
        gain = item_gain(item, project_sample_rate, done, block.shape[1])
        done += block.shape[1]
        yield balance(to_stereo(block) * gain[None, :], pan)


def render_item(item: Item, project_sample_rate: int) -> np.ndarray:
    """(2, frames) float32: the whole :func:`item_blocks`."""
    return np.concatenate(list(item_blocks(item, project_sample_rate)), axis=1)


def skipped_items(track: Track) -> list[tuple[Item, str]]:
    """Each item on ``track`` that cannot be rendered, with the reason."""
    found = []
    for item in track.items:
        reason = skip_reason(item)
        if reason is not None:
            found.append((item, reason))
    return found


class _Frames:
    """Exactly ``n`` frames at a time from a block iterator (silence once it ends)."""

    def __init__(self, blocks: Iterator[np.ndarray], channels: int) -> None:
        self._blocks = blocks
        self._held = np.zeros((channels, 0), dtype=np.float32)

    def take(self, frames: int) -> np.ndarray:
        parts, have = [self._held], self._held.shape[1]
        while have < frames:
            block = next(self._blocks, None)
            if block is None:
                parts.append(np.zeros((self._held.shape[0], frames - have), np.float32))
                break
            parts.append(block)
            have += block.shape[1]
        joined = np.concatenate(parts, axis=1)
        self._held = joined[:, frames:]
        return joined[:, :frames]


def track_blocks(
    track: Track,
    project: Project,
    start_s: float,
    end_s: float,
    *,
    with_fader: bool = False,
    skip_unrenderable: bool = True,
    block_frames: int = BLOCK_FRAMES,
) -> Iterator[np.ndarray]:
    """(2, <= block_frames) float32 blocks of :func:`render_track`, in time order.

    Each item is rendered when the blocks reach it and let go when they pass its end.
    """
    if not end_s >= start_s:
        raise ValueError(f"render range ends ({end_s} s) before it starts ({start_s} s)")
    rate = project.sample_rate
    total = frames_for(end_s - start_s, rate)
    pending = sorted(_audible(track, start_s, end_s, skip_unrenderable), key=lambda i: i.position_s)
    playing: list[tuple[int, int, _Frames]] = []  # (first frame, end frame, reader)
    for done in range(0, max(total, 1), block_frames):
        count = min(block_frames, total - done)
        out = np.zeros((2, count), dtype=np.float32)
        while pending and round((pending[0].position_s - start_s) * rate) < done + count:
            item = pending.pop(0)
            first = round((item.position_s - start_s) * rate)
            reader = _Frames(item_blocks(item, rate), 2)
            if first < done:
                reader.take(done - first)  # the part before the range
            playing.append((max(first, done), first + frames_for(item.length_s, rate), reader))
        for first, end, reader in playing:
            begin, stop = max(first, done), min(end, done + count)
            if stop > begin:
                out[:, begin - done : stop - done] += reader.take(stop - begin)
        playing = [entry for entry in playing if entry[1] > done + count]
        if with_fader:
            out = balance(out * np.float32(track.volume), track.pan)
        yield out


def _audible(track: Track, start_s: float, end_s: float, skip_unrenderable: bool) -> list[Item]:
    items = []
    for item in track.items:
        if item.mute or item.end_s <= start_s or item.position_s >= end_s:
            continue
        reason = skip_reason(item)
        if reason is not None:
            if skip_unrenderable:
                continue
            raise RenderError(f"{_where(item)} ({track.name!r}): cannot render: {reason}")
        items.append(item)
    return items


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
    blocks = track_blocks(
        track,
        project,
        start_s,
        end_s,
        with_fader=with_fader,
        skip_unrenderable=skip_unrenderable,
    )
    return np.concatenate(list(blocks), axis=1)


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
