"""The report's figures for one stem group, computed from streaming reads.

Every file is read in blocks, the original and its stems in lockstep, so an hour of
audio never sits in memory at once: per signal a peak, an energy, an integrated
loudness, a min/max waveform envelope per picture column and a mean-power
spectrogram per picture column on log-spaced frequency rows; per group the null
test, the original minus the sum of its stems.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samaudio_daw.report.loudness import LoudnessMeter
from samaudio_daw.report.sources import AudioSection, FileSection

LOWEST_HZ = 20.0


@dataclass(frozen=True)
class AnalysisSettings:
    """How finely the pictures resolve: columns across, frequency rows, read block size."""

    columns: int = 900
    rows: int = 240
    block_frames: int = 1 << 16

    def __post_init__(self) -> None:
        for name in ("columns", "rows", "block_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class SignalFigures:
    """What one signal holds. Arrays: ``envelope_min``/``envelope_max`` (columns,) over
    all channels; ``spectrogram_power`` (rows, columns) float32, mean power per column
    where a full-scale sine reads 1.0; ``frequencies_hz`` (rows,) each row's centre."""

    peak: float
    energy: float  # sum of squares over every channel and frame
    loudness_lufs: float
    envelope_min: np.ndarray
    envelope_max: np.ndarray
    spectrogram_power: np.ndarray
    frequencies_hz: np.ndarray

    @property
    def peak_dbfs(self) -> float:
        return 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf


@dataclass(frozen=True)
class NullFigures:
    """The original minus the sum of the stems: its largest sample, RMS and depth."""

    max_abs: float
    rms: float
    depth_db: float  # energy of the difference relative to the original's, in dB

    @property
    def max_abs_dbfs(self) -> float:
        return 20.0 * math.log10(self.max_abs) if self.max_abs > 0 else -math.inf

    @property
    def rms_dbfs(self) -> float:
        return 20.0 * math.log10(self.rms) if self.rms > 0 else -math.inf


@dataclass(frozen=True)
class GroupFigures:
    """The original's figures, each stem's (manifest order), and the null test.

    ``null`` is None when it cannot be measured; ``null_note`` then says why.
    """

    original: SignalFigures
    stems: tuple[SignalFigures, ...]
    null: NullFigures | None
    null_note: str
    sample_rate: int
    frames: int

    def energy_share(self, stem: SignalFigures) -> float | None:
        """The stem's energy as a fraction of the original's (None if the original is silent)."""
        if self.original.energy <= 0.0:
            return None
        return stem.energy / self.original.energy


def stft_frames(sample_rate: int) -> int:
    """FFT size: about 85 ms, a power of two (4096 at 44.1 and 48 kHz)."""
    return int(2 ** round(math.log2(0.0853 * sample_rate)))


class _Envelope:
    """Min and max over all channels per picture column (never more columns than frames)."""

    def __init__(self, total_frames: int, columns: int) -> None:
        self.total_frames, self.columns = total_frames, columns
        self.low = np.full(columns, np.inf, dtype=np.float32)
        self.high = np.full(columns, -np.inf, dtype=np.float32)

    def add(self, start_frame: int, block: np.ndarray) -> None:
        frames = block.shape[1]
        column = (np.arange(start_frame, start_frame + frames) * self.columns) // self.total_frames
        starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
        which = column[starts]
        low = np.minimum.reduceat(block.min(axis=0), starts)
        high = np.maximum.reduceat(block.max(axis=0), starts)
        self.low[which] = np.minimum(self.low[which], low)
        self.high[which] = np.maximum(self.high[which], high)


class _Spectrogram:
    """Mean STFT power per picture column, Hann window, averaged over the channels.

    Power, not a mix of the channels: content in one channel only, or out of phase
    between them (a "sides" stem), shows as it is instead of cancelling.

    Frames are centred every ``hop`` frames from frame 0 (silence before the start
    and after the end); each goes to the column its centre falls in. The hop is at
    most the column width, so every column gets at least one frame.
    """

    def __init__(self, sample_rate: int, channels: int, total_frames: int, columns: int) -> None:
        self.size = stft_frames(sample_rate)
        self.total_frames, self.columns = total_frames, columns
        self.hop = max(1, min(self.size // 4, total_frames // columns))
        self.window = np.hanning(self.size + 1)[:-1]
        self.scale = (2.0 / self.window.sum()) ** 2  # a full-scale sine peaks at 1.0
        self.power = np.zeros((columns, self.size // 2 + 1))
        self.count = np.zeros(columns)
        self._buffer = np.zeros((channels, self.size // 2))  # the silence before frame 0
        self._buffer_start = -(self.size // 2)
        self._next = 0  # the next STFT frame to compute

    def add(self, block: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, block.astype(np.float64)], axis=1)
        self._run(final=False)

    def finish(self) -> None:
        self._buffer = np.concatenate(
            [self._buffer, np.zeros((self._buffer.shape[0], self.size))], axis=1
        )
        self._run(final=True)

    def _run(self, final: bool) -> None:
        end = self._buffer_start + self._buffer.shape[1]
        last = (end - self.size // 2) // self.hop  # frames whose window ends by `end`
        if final:
            last = min(last, (self.total_frames - 1) // self.hop)
        for first in range(self._next, last + 1, 128):  # batches bound the memory
            frames = np.arange(first, min(first + 128, last + 1))
            offsets = frames * self.hop - self.size // 2 - self._buffer_start
            view = np.lib.stride_tricks.sliding_window_view(self._buffer, self.size, axis=1)
            spectra = np.fft.rfft(view[:, offsets] * self.window, axis=-1)  # (ch, frames, bins)
            power = np.mean(np.abs(spectra) ** 2, axis=0) * self.scale
            column = np.minimum(
                frames * self.hop * self.columns // self.total_frames, self.columns - 1
            )
            starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
            self.power[column[starts]] += np.add.reduceat(power, starts, axis=0)
            self.count[column[starts]] += np.diff(np.r_[starts, column.shape[0]])
        self._next = max(self._next, last + 1)
        keep_from = self._next * self.hop - self.size // 2 - self._buffer_start
        self._buffer = self._buffer[:, max(keep_from, 0) :]
        self._buffer_start += max(keep_from, 0)

    def log_rows(self, sample_rate: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """((rows, columns) float32 power, (rows,) centre Hz) on log-spaced rows.

        A row covering several FFT bins takes the loudest, so narrow lines (hum)
        stay visible; a row narrower than a bin is interpolated.
        """
        mean = self.power / np.maximum(self.count, 1.0)[:, None]  # (columns, bins)
        top = sample_rate / 2.0
        edges = np.geomspace(min(LOWEST_HZ, top / 2), top, rows + 1)
        centres = np.sqrt(edges[:-1] * edges[1:])
        bin_hz = sample_rate / self.size
        out = np.empty((rows, self.columns), dtype=np.float32)
        for row in range(rows):
            low = math.ceil(edges[row] / bin_hz)
            high = min(math.ceil(edges[row + 1] / bin_hz), mean.shape[1])
            if high > low:
                out[row] = mean[:, low:high].max(axis=1)
            else:
                position = min(centres[row] / bin_hz, mean.shape[1] - 1.0)
                below = int(position)
                above = min(below + 1, mean.shape[1] - 1)
                weight = position - below
                out[row] = (1 - weight) * mean[:, below] + weight * mean[:, above]
        return out, centres


class SignalAnalyser:
    """Takes one signal's blocks in order; ``figures()`` when all are in."""

    def __init__(
        self, section: AudioSection, total_frames: int, settings: AnalysisSettings
    ) -> None:
        self.sample_rate = section.sample_rate
        self.columns = max(1, min(settings.columns, total_frames))
        self.rows = settings.rows
        self.peak = 0.0
        self.energy = 0.0
        self.meter = LoudnessMeter(section.sample_rate, section.channels)
        self.envelope = _Envelope(total_frames, self.columns)
        self.spectrogram = _Spectrogram(
            section.sample_rate, section.channels, total_frames, self.columns
        )

    def add(self, start_frame: int, block: np.ndarray) -> None:
        """The next ``block``, (channels, frames) float32, starting at ``start_frame``."""
        if block.shape[1] == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(block))))
        wide = block.astype(np.float64)
        self.energy += float(np.sum(wide * wide))
        self.meter.add(block)
        self.envelope.add(start_frame, block)
        self.spectrogram.add(block)

    def figures(self) -> SignalFigures:
        self.spectrogram.finish()
        power, centres = self.spectrogram.log_rows(self.sample_rate, self.rows)
        return SignalFigures(
            self.peak,
            self.energy,
            self.meter.integrated_lufs(),
            self.envelope.low,
            self.envelope.high,
            power,
            centres,
        )


class _NullTest:
    """Accumulates the original minus the sum of the stems, block by block."""

    def __init__(self) -> None:
        self.max_abs = 0.0
        self.sum_squares = 0.0
        self.samples = 0

    def add(self, original: np.ndarray, stems: Sequence[np.ndarray]) -> None:
        difference = original.astype(np.float64) - np.sum(stems, axis=0, dtype=np.float64)
        if difference.size:
            self.max_abs = max(self.max_abs, float(np.max(np.abs(difference))))
        self.sum_squares += float(np.sum(difference * difference))
        self.samples += difference.size

    def figures(self, original_energy: float) -> NullFigures:
        rms = math.sqrt(self.sum_squares / self.samples) if self.samples else 0.0
        if self.sum_squares == 0.0:
            depth = -math.inf
        elif original_energy == 0.0:
            depth = math.inf
        else:
            depth = 10.0 * math.log10(self.sum_squares / original_energy)
        return NullFigures(self.max_abs, rms, depth)


def _null_problem(original: AudioSection, stems: Sequence[AudioSection]) -> str | None:
    """Why the stems cannot be nulled against the original, or None if they can."""
    if not stems:
        return "there are no stems"
    for stem in stems:
        if stem.sample_rate != original.sample_rate or stem.channels != original.channels:
            return "the stems' sample rate or channel count differs from the original's"
        if stem.frames != original.frames:
            return "the stems' length differs from the original's"
    return None


def analyse_group(
    original: AudioSection,
    stem_paths: Sequence[Path],
    null_test: bool,
    settings: AnalysisSettings | None = None,
) -> GroupFigures:
    """Figures for the original and the stem files at ``stem_paths``, read in lockstep.

    ``null_test`` False (an original made from the stems) leaves the null unmeasured.
    """
    settings = settings or AnalysisSettings()
    with ExitStack() as opened:
        stems = []
        for path in stem_paths:
            stems.append(FileSection(path))
            opened.callback(stems[-1].close)
        return _analyse(original, stems, null_test, settings)


def _analyse(
    original: AudioSection,
    stems: Sequence[AudioSection],
    null_test: bool,
    settings: AnalysisSettings,
) -> GroupFigures:
    total = max([original.frames, *(stem.frames for stem in stems)])
    analysers = [SignalAnalyser(s, total, settings) for s in (original, *stems)]
    problem = (
        _null_problem(original, stems) if null_test else "the original was made from the stems"
    )
    null = _NullTest() if problem is None else None
    for start in range(0, total, settings.block_frames):
        frames = min(settings.block_frames, total - start)
        blocks = [section.read(start, frames) for section in (original, *stems)]
        for analyser, block in zip(analysers, blocks, strict=True):
            analyser.add(start, block)
        if null is not None:
            null.add(blocks[0], blocks[1:])
    figures = [analyser.figures() for analyser in analysers]
    return GroupFigures(
        original=figures[0],
        stems=tuple(figures[1:]),
        null=null.figures(figures[0].energy) if null is not None else None,
        null_note=problem or "",
        sample_rate=original.sample_rate,
        frames=total,
    )
