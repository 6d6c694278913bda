"""Soft time-frequency masks for the dsp target kinds, each in [0, 1].

Masks are float32 arrays broadcastable to (frames, bins): a full (frames, bins)
mask, or (1, bins) for a fixed frequency region. ``power`` is the spectrogram's
power summed over channels, (frames, bins) float32, so one mask serves every
channel and the stereo image is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samaudio_daw.separation.dsp.smoothing import moving_mean
from samaudio_daw.separation.dsp.stft import StftSettings


@dataclass(frozen=True)
class MaskSettings:
    """Parameters of the masks; all of them change the output (they go in ``settings()``)."""

    harmonic_span_s: float = 0.2  # time smoothing that keeps sustained sounds
    percussive_span_hz: float = 500.0  # frequency smoothing that keeps broadband hits
    hpss_power: float = 2.0  # Wiener exponent of the percussive/sustained split
    # A kick's body is a short low sine sweep: narrow in frequency, so its own spans.
    kick_span_s: float = 0.5
    kick_span_hz: float = 60.0
    kick_below_hz: float = 150.0
    cymbals_above_hz: float = 5000.0
    sub_below_hz: float = 80.0
    bass_below_hz: float = 250.0
    highs_above_hz: float = 5000.0
    crossover_order: int = 4  # each band edge falls 24 dB per octave (in power)
    centre_span_s: float = 0.05  # time smoothing of the inter-channel similarity
    centre_threshold: float = 0.3  # similarity below this is all sides
    centre_full: float = 0.9  # similarity above this is all centre


def percussive_mask(
    power: np.ndarray,
    settings: StftSettings,
    sample_rate: int,
    sustain_span_s: float,
    hit_span_hz: float,
    exponent: float,
) -> np.ndarray:
    """Share of each cell that is percussive (short, broadband) rather than sustained.

    Harmonic-percussive separation with moving means of the magnitude: a sustained
    partial is smooth along time (over ``sustain_span_s``), a hit is smooth along
    frequency (over ``hit_span_hz``); the mask is ``P^p / (P^p + H^p)`` with p =
    ``exponent``. (frames, bins) float32.
    """
    magnitude = np.sqrt(power)
    sustained = moving_mean(magnitude, settings.frames_for(sustain_span_s, sample_rate), 0)
    hits = moving_mean(magnitude, settings.bins_for(hit_span_hz, sample_rate), 1)
    _raise_to(sustained, exponent)
    _raise_to(hits, exponent)
    total = np.add(sustained, hits, out=sustained)
    np.maximum(total, np.finfo(np.float32).tiny, out=total)
    return np.divide(hits, total, out=hits)


def _raise_to(values: np.ndarray, exponent: float) -> None:
    """``values **= exponent`` on a fresh array the caller owns (squaring is the fast case)."""
    if exponent == 2.0:
        np.multiply(values, values, out=values)
    else:
        np.power(values, exponent, out=values)


def lowpass_curve(
    settings: StftSettings, sample_rate: int, cutoff_hz: float, order: int
) -> np.ndarray:
    """Butterworth-shaped lowpass weight per bin, 0.5 at ``cutoff_hz``: (1, bins) float32."""
    ratio = settings.bin_frequencies_hz(sample_rate).astype(np.float64) / cutoff_hz
    return (1.0 / (1.0 + ratio ** (2 * order))).astype(np.float32)[np.newaxis, :]


def band_mask(
    settings: StftSettings,
    sample_rate: int,
    above_hz: float | None,
    below_hz: float | None,
    order: int,
) -> np.ndarray:
    """Weight per bin of the region between ``above_hz`` and ``below_hz`` (None: open).

    Adjacent regions sharing an edge sum to exactly 1. Shape (1, bins), float32.
    """
    weight = np.ones((1, settings.bins), dtype=np.float32)
    if below_hz is not None:
        weight = lowpass_curve(settings, sample_rate, below_hz, order)
    if above_hz is not None:
        weight = weight - lowpass_curve(settings, sample_rate, above_hz, order)
    return np.clip(weight, 0.0, 1.0)


def centre_mask(
    spec: np.ndarray, settings: StftSettings, sample_rate: int, masks: MaskSettings
) -> np.ndarray:
    """Share of each cell that sits in the centre of a stereo (2, frames, bins) spectrogram.

    The similarity ``2 Re(L R*) / (|L|^2 + |R|^2)`` is 1 for a sound panned to the
    centre (same in both channels), 0 for one panned hard to a side or for
    uncorrelated ambience, negative for out-of-phase sound. It is smoothed over
    ``centre_span_s`` and mapped linearly from ``centre_threshold`` (mask 0) to
    ``centre_full`` (mask 1). (frames, bins) float32.
    """
    left, right = spec[0], spec[1]
    cross = left.real * right.real + left.imag * right.imag
    level = np.abs(left) ** 2 + np.abs(right) ** 2
    width = settings.frames_for(masks.centre_span_s, sample_rate)
    cross = moving_mean(cross, width, 0)
    level = moving_mean(level, width, 0)
    np.maximum(level, np.finfo(np.float32).tiny, out=level)
    similarity = 2.0 * cross / level
    span = masks.centre_full - masks.centre_threshold
    return np.clip((similarity - masks.centre_threshold) / span, 0.0, 1.0).astype(np.float32)
