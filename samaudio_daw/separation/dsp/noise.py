"""Stationary noise: its level per frequency learned from the audio, and a noise mask.

The noise floor at each moment is the minimum, over a sliding window of
``floor_window_s`` around it, of the power smoothed over ``smoothing_s``, times a
bias factor (the minimum of a noisy estimate sits below its mean). Speech, music
or hits rarely fill every frame of a few seconds in every band, so the minimum
finds the noise between them. The window is local, so the floor follows slow
changes and a file cut into blocks (with enough context) gets the same floor as
the whole file. Digital silence is ignored: it says nothing about the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samaudio_daw.separation.dsp.smoothing import moving_mean, moving_min_over_frames
from samaudio_daw.separation.dsp.stft import StftSettings

# Power below this (about -200 dB re full scale per cell) counts as digital silence.
_SILENCE_POWER = 1e-20


@dataclass(frozen=True)
class NoiseSettings:
    """Parameters of the noise estimate and mask; all change the output."""

    # Long enough that a held chord or pad note is not mistaken for the floor.
    floor_window_s: float = 5.0
    smoothing_s: float = 0.1
    smoothing_hz: float = 70.0
    floor_bias: float = 1.8  # mean / minimum of smoothed noise power (measured, white noise)
    oversubtraction: float = 1.0  # noise mask = oversubtraction * floor / local power
    local_span_s: float = 0.035
    local_span_hz: float = 50.0
    # Tonal cells (a partial standing above its neighbours across ``tonal_span_hz``)
    # are kept: noise is flat across frequency, notes are peaks. A cell this many
    # times above its neighbourhood's mean power is fully protected.
    tonal_span_hz: float = 300.0
    tonal_ratio: float = 4.0
    # Pauses: frames whose whole spectrum is within ``pause_ratio`` of the floor hold
    # nothing but noise and are removed fully (up to twice that, gradually).
    pause_ratio: float = 2.0
    pause_band_hz: tuple[float, float] = (100.0, 8000.0)
    # Hiss (tape, preamp) is white or tilted up: below ``hiss_above_hz`` its floor may
    # rise by at most ``hiss_slope`` decades of power per decade of frequency over its
    # level above, so the bass and chords under a hissy song are not taken for hiss.
    hiss_above_hz: float = 2000.0
    hiss_slope: float = 0.5


def noise_floor(
    power: np.ndarray, settings: StftSettings, sample_rate: int, noise: NoiseSettings
) -> np.ndarray:
    """Estimated noise power per cell, (frames, bins) float32, from (frames, bins) power."""
    width = settings.frames_for(noise.smoothing_s, sample_rate)
    smoothed = moving_mean(power, width, 0)
    smoothed = moving_mean(smoothed, settings.bins_for(noise.smoothing_hz, sample_rate), 1)
    # Frames that see digital silence (padding, gaps) read low: leave them out.
    silent = (power.sum(axis=1) <= _SILENCE_POWER * power.shape[1]).astype(np.float32)
    reach = width + 2 * (settings.n_fft // settings.hop // 2)
    smoothed[moving_mean(silent[:, np.newaxis], reach, 0)[:, 0] > 0] = np.inf
    floor = moving_min_over_frames(smoothed, settings.frames_for(noise.floor_window_s, sample_rate))
    floor[np.isinf(floor)] = 0.0
    floor *= noise.floor_bias
    return floor


def hiss_cap(
    floor: np.ndarray, settings: StftSettings, sample_rate: int, noise: NoiseSettings
) -> np.ndarray:
    """``floor`` limited to the shape hiss can have: flat, or rising by ``hiss_slope`` below."""
    freqs = settings.bin_frequencies_hz(sample_rate)
    top = min(12000.0, 0.45 * sample_rate)
    above = (freqs >= min(noise.hiss_above_hz, top / 2)) & (freqs < top)
    level = np.median(floor[:, above], axis=1, keepdims=True)
    rise = np.maximum(1.0, noise.hiss_above_hz / np.maximum(freqs, 1.0)) ** noise.hiss_slope
    return np.minimum(floor, level * rise[np.newaxis, :].astype(np.float32))


def noise_mask(
    power: np.ndarray,
    settings: StftSettings,
    sample_rate: int,
    noise: NoiseSettings,
    hiss: bool = False,
) -> np.ndarray:
    """Share of each cell that is stationary noise: a Wiener-style ratio, (frames, bins) float32.

    ``min(1, oversubtraction * floor / local power)``, where local power is smoothed
    a little over time and frequency so the mask does not flicker (musical noise);
    tonal peaks are kept, frames holding nothing but noise go entirely. With ``hiss``
    the floor is limited to the spectral shape of hiss (see ``hiss_cap``).
    """
    floor = noise_floor(power, settings, sample_rate, noise)
    if hiss:
        floor = hiss_cap(floor, settings, sample_rate, noise)
    local = moving_mean(power, settings.frames_for(noise.local_span_s, sample_rate), 0)
    local = moving_mean(local, settings.bins_for(noise.local_span_hz, sample_rate), 1)
    np.maximum(local, np.finfo(np.float32).tiny, out=local)
    # Judged where voices and instruments are (``pause_band_hz``): a few loud rumble bins,
    # whose floor is hard to estimate, must not hide a pause.
    freqs = settings.bin_frequencies_hz(sample_rate)
    band = (freqs >= noise.pause_band_hz[0]) & (freqs < noise.pause_band_hz[1])
    heard = local[:, band].sum(axis=1)
    frame_ratio = heard / np.maximum(floor[:, band].sum(axis=1), np.finfo(np.float32).tiny)
    pause = np.clip(2.0 - frame_ratio / noise.pause_ratio, 0.0, 1.0)[:, np.newaxis]
    floor *= noise.oversubtraction
    np.minimum(floor, local, out=floor)  # the mask is at most 1
    mask = np.divide(floor, local, out=floor)
    tonal = np.clip((power / _sides(power, settings, sample_rate, noise) - 1.0), 0.0, None)
    mask *= 1.0 - np.minimum(tonal / noise.tonal_ratio, 1.0)
    return (mask + (1.0 - mask) * pause).astype(np.float32)


def _sides(
    power: np.ndarray, settings: StftSettings, sample_rate: int, noise: NoiseSettings
) -> np.ndarray:
    """The louder of the mean power just below and just above each cell (half the span each).

    A note stands above both sides; a steep slope (rumble, a low-passed floor) stands
    above one side only and is not a note. Near the spectrum's edges, where one side is
    missing, nothing counts as a note (+inf).
    """
    half = max(1, settings.bins_for(noise.tonal_span_hz, sample_rate) // 2)
    frames, bins = power.shape
    sums = np.zeros((frames, bins + 1), dtype=np.float64)
    np.cumsum(power, axis=1, dtype=np.float64, out=sums[:, 1:])
    out = np.full(power.shape, np.inf, dtype=np.float32)
    inner = slice(half, bins - half)
    index = np.arange(bins)[inner]
    below = (sums[:, index] - sums[:, index - half]) / half
    above = (sums[:, index + half + 1] - sums[:, index + 1]) / half
    out[:, inner] = np.maximum(np.maximum(below, above), np.finfo(np.float32).tiny)
    return out


def context_s(noise: NoiseSettings) -> float:
    """Seconds of audio on each side that the floor at a moment depends on."""
    return noise.floor_window_s / 2 + noise.smoothing_s / 2 + noise.local_span_s
