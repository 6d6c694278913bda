"""Mains hum and buzz: find the fundamental, then follow each harmonic and resynthesise it.

Hum is a set of steady sinusoids at exact multiples of a mains fundamental (50 or
60 Hz, give or take ``tolerance_hz``). Detection looks at one long spectrum of the
audio for the fundamental whose harmonics stand out most above the spectral floor
and refines it from the harmonic peaks. Every harmonic up to ``highest_hz`` is
then measured in Hann windows of ``window_hops`` hum hops (a narrow band around
the harmonic, so the music under it is barely touched), averaged robustly over
``steady_frames`` frames and kept in proportion to how steady its phase is: hum
holds its phase for seconds, music and noise do not. The hum is resynthesised by
crossfading frame to frame; subtracting it removes the hum far more cleanly than
notching spectrogram bins, which would cut the music in those bins too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samaudio_daw.separation.dsp.smoothing import moving_mean


@dataclass(frozen=True)
class HumSettings:
    """Parameters of hum detection and tracking; all change the output."""

    mains_hz: tuple[float, ...] = (50.0, 60.0)
    # +-0.5 Hz covers mains grids and keeps out G1 (49 Hz), A-flat1 (51.9), B-flat1 (58.3).
    tolerance_hz: float = 0.5
    search_step_hz: float = 0.005
    scored_harmonics: int = 20
    highest_hz: float = 8000.0
    min_prominence_db: float = 15.0  # above the log-mean floor
    floor_span_hz: float = 20.0
    window_hops: int = 4  # analysis window, in hum hops (the hum hop is set by the caller)
    min_coverage: float = 0.25  # windows with less audio than this are not used
    steady_frames: int = 31  # average over this many frames (about 5 s): hum is steady
    outlier_ratio: float = 1.5  # frames louder than this times the median are left out
    coherence: tuple[float, float] = (0.5, 0.8)  # phase agreement: none kept .. all kept
    max_drift_per_frame: float = 0.02  # radians per frame of the fundamental (about 0.02 Hz)


@dataclass(frozen=True)
class Hum:
    """A detected hum: its fundamental and the harmonic numbers present (1 = fundamental)."""

    fundamental_hz: float
    harmonics: tuple[int, ...]


@dataclass(frozen=True)
class _Spectrum:
    prominence_db: np.ndarray  # (bins,) level above the local spectral floor
    level_db: np.ndarray  # (bins,)
    bin_hz: float


def _long_spectrum(mono: np.ndarray, sample_rate: int, hum: HumSettings) -> _Spectrum:
    """Hann-windowed spectrum of the audible part of ``mono`` (silence at the ends trimmed)."""
    audible = np.flatnonzero(_audible(mono))
    if audible.size:
        mono = mono[audible[0] : audible[-1] + 1]
    size = 1 << max(16, int(np.ceil(np.log2(max(mono.size, 2)))))
    window = np.hanning(mono.size + 2)[1:-1]
    top_bin = int(min(hum.highest_hz * 1.05, sample_rate / 2) * size / sample_rate) + 2
    spectrum = np.fft.rfft(mono * window, size)[:top_bin]
    level_db = 10.0 * np.log10(np.abs(spectrum) ** 2 + 1e-30)
    # Real recordings have a noise floor; without one, window leakage looks prominent.
    np.maximum(level_db, level_db.max() - 120.0, out=level_db)
    bin_hz = sample_rate / size
    span = 2 * round(hum.floor_span_hz / bin_hz / 2) + 1
    floor_db = moving_mean(level_db[:, np.newaxis], span, 0)[:, 0]
    return _Spectrum(level_db - floor_db, level_db, bin_hz)


def _peak_prominence(spectrum: _Spectrum, freqs_hz: np.ndarray, reach_bins: int) -> np.ndarray:
    """Highest prominence within ``reach_bins`` of each frequency (-inf beyond the spectrum)."""
    size = spectrum.prominence_db.size
    padded = np.pad(spectrum.prominence_db, reach_bins + 1, constant_values=-np.inf)
    centre = np.clip(np.rint(freqs_hz / spectrum.bin_hz).astype(np.int64), -1, size)
    centre += reach_bins + 1
    best = padded[centre]
    for offset in range(1, reach_bins + 1):
        best = np.maximum(best, np.maximum(padded[centre - offset], padded[centre + offset]))
    return best


def _coarse_fundamental(spectrum: _Spectrum, sample_rate: int, hum: HumSettings) -> float:
    """The candidate fundamental whose first harmonics stand out most.

    Each harmonic standing out by ``min_prominence_db`` counts, at most 30 dB, so one
    loud note cannot outvote a hum.
    """
    grids = [
        np.arange(
            m - hum.tolerance_hz, m + hum.tolerance_hz + hum.search_step_hz / 2, hum.search_step_hz
        )
        for m in hum.mains_hz
    ]
    candidates = np.concatenate(grids)
    harmonics = np.arange(1, hum.scored_harmonics + 1)
    freqs = candidates[:, np.newaxis] * harmonics[np.newaxis, :]
    usable = freqs < min(hum.highest_hz, 0.45 * sample_rate)
    prominence = np.where(usable, _peak_prominence(spectrum, freqs, 1), 0.0)
    # Noise alone rarely stands min_prominence_db above the floor: count only peaks.
    score = np.where(prominence >= hum.min_prominence_db, np.minimum(prominence, 30.0), 0.0)
    score = score.sum(axis=1)
    # Near a strong hum many neighbouring candidates reach the same (capped) score;
    # the true fundamental sits in the middle of that plateau.
    best = np.flatnonzero(score >= score.max() - 0.5)
    family = best[np.abs(candidates[best] - candidates[best[0]]) <= hum.tolerance_hz * 2]
    return float(np.median(candidates[family]))


def _refined_peak(spectrum: _Spectrum, freq_hz: float, reach_hz: float) -> tuple[float, float]:
    """(frequency, prominence dB) of the highest bin within ``reach_hz``, parabola-refined.

    A peak whose refined frequency lies outside the reach is not counted (-inf).
    """
    low = max(1, int(np.ceil((freq_hz - reach_hz) / spectrum.bin_hz)))
    high = min(spectrum.level_db.size - 2, int(np.floor((freq_hz + reach_hz) / spectrum.bin_hz)))
    if high < low:
        return freq_hz, -np.inf
    index = low + int(np.argmax(spectrum.level_db[low : high + 1]))
    before, peak, after = spectrum.level_db[index - 1 : index + 2]
    curvature = before - 2 * peak + after
    shift = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
    refined = (index + shift) * spectrum.bin_hz
    if abs(refined - freq_hz) > reach_hz:
        return refined, -np.inf
    return refined, float(spectrum.prominence_db[index])


def _harmonic_peaks(
    spectrum: _Spectrum, fundamental_hz: float, count: int, reach_hz: float, hum: HumSettings
) -> list[tuple[int, float, float]]:
    """(k, frequency, prominence) of harmonics 1..count that stand out near k * fundamental."""
    found = []
    for k in range(1, count + 1):
        reach = k * reach_hz + 1.5 * spectrum.bin_hz
        freq, prominence = _refined_peak(spectrum, k * fundamental_hz, reach)
        if prominence >= hum.min_prominence_db:
            found.append((k, freq, prominence))
    return found


def _weighted_fundamental(peaks: list[tuple[int, float, float]]) -> float:
    """f0 from harmonic peaks, each weighted by k^2 * its power ratio (its precision)."""
    table = np.array(peaks, dtype=np.float64)  # rows of (k, frequency, prominence)
    k, freq, prominence = table[:, 0], table[:, 1], table[:, 2]
    weight = k**2 * 10.0 ** (np.minimum(prominence, 60.0) / 10.0)
    return float(np.sum(weight * freq / k) / np.sum(weight))


def detect_hum(mono: np.ndarray, sample_rate: int, hum: HumSettings) -> Hum | None:
    """The hum in ``mono`` (samples,) float, or None when no harmonic stands out enough.

    Coarse search on a grid, refinement from the first harmonics, then from all
    harmonics with a prominent peak within 1.5 bins of k * f0. The hum lists every
    harmonic up to ``highest_hz``: which of them are really hum is decided later,
    frame by frame, from how steady each one's phase is.
    """
    spectrum = _long_spectrum(mono.astype(np.float64), sample_rate, hum)
    coarse = _coarse_fundamental(spectrum, sample_rate, hum)
    top = min(hum.highest_hz, 0.45 * sample_rate)
    first = _harmonic_peaks(spectrum, coarse, hum.scored_harmonics, hum.search_step_hz, hum)
    if not first:
        return None
    refined = _weighted_fundamental(first)
    peaks = _harmonic_peaks(spectrum, refined, int(top / refined), 0.0, hum)
    if not peaks:
        return None
    # Every harmonic is tracked; hum_signal keeps those whose phase holds steady.
    fundamental = _weighted_fundamental(peaks)
    return Hum(fundamental, tuple(range(1, int(top / fundamental) + 1)))


def hum_signal(
    audio: np.ndarray, sample_rate: int, found: Hum, hop: int, hum: HumSettings
) -> np.ndarray:
    """The hum in ``audio`` (channels, samples) float32 as a (channels, samples) float32 array.

    Harmonic amplitudes and phases are measured in windows centred every ``hop``
    samples from the first sample, each replaced by a robust average over
    ``steady_frames`` frames around it (hum is steady; a note that happens to sit on
    a harmonic for a while is not), and resynthesised, crossfaded with triangles
    between centres. Digital silence (runs of exact zeros, such as the padding
    around a file) is not audio: windows partly in it are normalised by the part
    that is audio (or left out when that is under ``min_coverage``), so the hum is
    followed right up to the edge, and the hum is zero inside it.
    """
    half = hum.window_hops * hop // 2
    frames = -(-audio.shape[1] // hop) + 1
    harmonics = np.array(found.harmonics, dtype=np.float64)
    omega = 2.0 * np.pi * found.fundamental_hz * harmonics / sample_rate
    window, analysis = _analysis_basis(omega, half)
    synthesis = _synthesis_basis(omega, hop)
    out = np.empty(audio.shape, dtype=np.float32)
    for channel, samples in enumerate(audio):
        phasor, audible = _measure(samples, window, analysis, frames, half, hop, hum)
        drift = np.nan_to_num(_local_drift(phasor, harmonics, omega * hop, hum))
        steady = _steady(phasor, omega * hop + drift[:, None] * harmonics[None, :], hum)
        out[channel] = _overlap_add(steady @ synthesis, hop, audio.shape[1]) * audible
    return out


def _measure(
    samples: np.ndarray,
    window: np.ndarray,
    analysis: np.ndarray,
    frames: int,
    half: int,
    hop: int,
    hum: HumSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """(complex coefficients (frames, K), NaN where unheard; audible (samples,)) of one channel."""
    audible = _audible(samples)
    coverage = _frames(audible, frames, half, hop) @ window
    # (2 K, taps) @ (taps, frames) is several times faster in OpenBLAS than the transpose.
    sums = (analysis @ _frames(samples, frames, half, hop).T).T.astype(np.float64)
    count = sums.shape[1] // 2
    phasor = (sums[:, :count] - 1j * sums[:, count:]) * (2.0 / np.maximum(coverage, 1e-30))[:, None]
    # Windows that hear too little audio give poor estimates: leave them to the neighbours.
    phasor[coverage < hum.min_coverage * window.sum()] = np.nan
    return phasor, audible


def _steady(phasor: np.ndarray, turn: np.ndarray, hum: HumSettings) -> np.ndarray:
    """Robust, phase-coherent (c, s) per frame: (frames, K) complex in, (frames, 2 K) out.

    Each frame's phase is measured from its own centre, so a steady harmonic turns
    by ``turn`` (frames, K) radians per frame. Each frame gets the mean of the frames
    within ``steady_frames``, turned back to its own centre, leaving out frames
    louder than ``outlier_ratio`` times their median (a note on the harmonic, a drum
    hit), and scaled by how well their phases agree (music and noise do not hold a
    phase for seconds). Everything is measured around each frame, so a block and
    the whole file give the same result.
    """
    half = hum.steady_frames // 2
    known = ~np.isnan(phasor)
    phasor = np.where(known, phasor, 0.0)
    size = np.abs(phasor)
    loud = size > hum.outlier_ratio * _moving_median(np.where(known, size, np.nan), 2 * half + 1)
    kept = known & ~loud
    offsets = np.arange(-half, half + 1)
    # neighbours[m, k, i]: frame m + offsets[i], turned back to frame m's centre.
    neighbours = _windows(np.where(kept, phasor, 0.0), half) * np.exp(
        -1j * turn[:, :, None] * offsets[None, None, :]
    )
    counted = np.maximum(_windows(kept.astype(np.float64), half).sum(axis=-1), 1.0)
    mean = neighbours.sum(axis=-1) / counted
    units = neighbours / np.maximum(_windows(size, half), 1e-30)
    low, high = hum.coherence
    gate = np.clip((np.abs(units.sum(axis=-1)) / counted - low) / (high - low), 0.0, 1.0)
    steady = mean * gate
    return np.concatenate([steady.real, -steady.imag], axis=1).astype(np.float32)


def _windows(values: np.ndarray, half: int) -> np.ndarray:
    """(frames, K, 2 half + 1) view of rows m - half .. m + half of (frames, K); zeros outside."""
    padded = np.pad(values, ((half, half), (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)


def _local_drift(
    phasor: np.ndarray, harmonics: np.ndarray, turn_per_frame: np.ndarray, hum: HumSettings
) -> np.ndarray:
    """Extra turn per frame of the fundamental around each frame: (frames,) radians.

    ``phasor`` (frames, K) complex, NaN where unheard; a steady harmonic turns by
    ``turn_per_frame`` (K,). Harmonic k of a fundamental that is off by a little
    turns k times as fast again; the fundamental's extra turn is the weighted median
    over harmonics of each one's extra turn / k (a music partial near a harmonic
    turns at its own rate and is outvoted, or is beyond ``max_drift_per_frame``).
    NaN where nothing is steady enough to tell.
    """
    phasor = np.nan_to_num(phasor)
    pairs = phasor[1:] * np.conj(phasor[:-1]) * np.exp(-1j * turn_per_frame)
    pairs = np.concatenate([pairs, np.zeros_like(pairs[:1])])
    summed = _windows(pairs, hum.steady_frames // 2).sum(axis=-1)  # (frames, K)
    per_fundamental = np.angle(summed) / harmonics
    weight = np.abs(summed) * harmonics
    weight[np.abs(per_fundamental) > hum.max_drift_per_frame] = 0.0
    order = np.argsort(per_fundamental, axis=1)
    values = np.take_along_axis(per_fundamental, order, axis=1)
    cumulative = np.cumsum(np.take_along_axis(weight, order, axis=1), axis=1)
    middle = np.argmax(cumulative >= 0.5 * cumulative[:, -1:], axis=1)
    drift = values[np.arange(values.shape[0]), middle]
    return np.where(cumulative[:, -1] > 0, drift, np.nan)


def _moving_median(values: np.ndarray, width: int) -> np.ndarray:
    """Median over ``width`` (odd) neighbouring rows of (rows, columns), NaN ignored; 0 if none."""
    half = width // 2
    padded = np.pad(values, ((half, half), (0, 0)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0)
    known = ~np.isnan(windows)
    # nanmedian warns on all-NaN windows; those (far outside the audio) become 0.
    filled = np.where(known, windows, np.inf)
    counts = known.sum(axis=-1)
    ordered = np.sort(filled, axis=-1)
    rows, columns = np.indices(counts.shape)
    low = ordered[rows, columns, np.maximum(counts - 1, 0) // 2]
    high = ordered[rows, columns, counts // 2]
    median = np.where(counts > 0, 0.5 * (low + high), 0.0)
    return median


def _frames(samples: np.ndarray, frames: int, half: int, hop: int) -> np.ndarray:
    """(frames, 2 half + 1) float32 windows of ``samples`` centred on 0, hop, 2 hop, ..."""
    padded = np.zeros((frames - 1) * hop + 2 * half + 1, dtype=np.float32)
    padded[half : half + samples.size] = samples
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[::hop]
    return np.ascontiguousarray(view[:frames])


def _overlap_add(segments: np.ndarray, hop: int, samples: int) -> np.ndarray:
    """Sum (frames, 2 hop) segments centred on 0, hop, 2 hop, ...: (samples,) float32."""
    frames = segments.shape[0]
    blocks = np.zeros((frames + 1, hop), dtype=np.float32)  # starts one hop before sample 0
    blocks[:-1] += segments[:, :hop]
    blocks[1:] += segments[:, hop:]
    return blocks.reshape(-1)[hop : hop + samples]


def _audible(samples: np.ndarray, shortest_silence: int = 256) -> np.ndarray:
    """1.0 for audio, 0.0 inside runs of at least ``shortest_silence`` exact zeros; float32."""
    size = samples.size
    if size < shortest_silence:
        return np.ones(size, dtype=np.float32)
    zeros = np.concatenate([[0], np.cumsum(samples == 0)])
    # silent_run[i]: samples[i : i + shortest_silence] are all zero.
    silent_run = zeros[shortest_silence:] - zeros[:-shortest_silence] == shortest_silence
    runs = np.concatenate([[0], np.cumsum(silent_run)])
    index = np.arange(size)
    upper = np.minimum(index + 1, silent_run.size)
    lower = np.clip(index - shortest_silence + 1, 0, silent_run.size)
    return (runs[upper] - runs[lower] == 0).astype(np.float32)


def _analysis_basis(omega: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Hann window (2 half + 1,) and analysis rows (2 K, 2 half + 1), float32.

    Analysis gives sum(w x cos), sum(w x sin) per harmonic for a window centred on 0.
    """
    n = np.arange(-half, half + 1, dtype=np.float64)
    window = 0.5 + 0.5 * np.cos(np.pi * n / (half + 1))
    return window.astype(np.float32), _basis(n, omega, window)


def _basis(n: np.ndarray, omega: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Rows weight * cos(omega n), then weight * sin(omega n): (2 K, len(n)) float32.

    Built in slices of whole phasor steps: the same values as one pass, without
    full-size complex temporaries (a 0.7 s window of 100+ harmonics is ~70 MB each).
    """
    count = omega.size
    rows = np.empty((2 * count, n.size), dtype=np.float32)
    for start in range(0, n.size, _BASIS_SLICE):
        cut = slice(start, start + _BASIS_SLICE)
        phasor = _phasors(n[cut], omega).T * weight[None, cut]
        rows[:count, cut] = phasor.real
        rows[count:, cut] = phasor.imag
    return rows


_BASIS_SLICE = 16 * 256  # a multiple of _phasors' step


def _synthesis_basis(omega: np.ndarray, hop: int) -> np.ndarray:
    """(2 K, 2 hop) float32: rows cos(wn), sin(wn) for n in [-hop, hop), times a triangle.

    (c, s) @ basis is the hum around a centre, crossfading to the neighbouring centres.
    """
    m = np.arange(-hop, hop, dtype=np.float64)
    triangle = 1.0 - np.abs(m) / hop
    return _basis(m, omega, triangle)


def _phasors(n: np.ndarray, omega: np.ndarray, step: int = 256) -> np.ndarray:
    """exp(1j * outer(n, omega)) for evenly spaced integer ``n``, (len(n), K) complex128.

    Built as coarse * fine phasors (n = n0 + step * a + b): two small tables of
    exponentials and one product per entry instead of one exponential per entry.
    """
    count = n.size
    coarse = np.exp(1j * np.outer(n[0] + step * np.arange(-(-count // step)), omega))
    fine = np.exp(1j * np.outer(np.arange(step), omega))
    table = coarse[:, None, :] * fine[None, :, :]
    return table.reshape(-1, omega.size)[:count]
