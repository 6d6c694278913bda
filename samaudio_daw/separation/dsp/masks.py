"""Soft time-frequency masks for the dsp target kinds, each in [0, 1].

Masks are float32 arrays broadcastable to (frames, bins): a full (frames, bins)
mask, or (1, bins) for a fixed frequency region. ``power`` is the spectrogram's
power summed over channels, (frames, bins) float32, so one mask serves every
channel and the stereo image is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samaudio_daw.separation.dsp.smoothing import (
    median_of_9_over_frames,
    moving_mean,
    moving_min_over_frames,
)
from samaudio_daw.separation.dsp.stft import StftSettings


@dataclass(frozen=True)
class MaskSettings:
    """Parameters of the masks; all of them change the output (they go in ``settings()``)."""

    # Percussive/sustained split for drums: a hit is smooth across ``drum_span_hz``, a
    # sustained partial along ``drum_span_s`` (a median there, see ``drum_parts``). Short
    # spans keep the kick's body, which rings for a tenth of a second or two, in the drums.
    drum_span_s: float = 0.28
    drum_span_hz: float = 200.0
    drum_low_span_s: float = 0.37
    drum_low_span_hz: float = 100.0
    drum_low_below_hz: float = 220.0
    # The bass line moves note to note within a beat: shorter spans still.
    bass_span_s: float = 0.15
    bass_span_hz: float = 150.0
    # For sustained parts (keys, pads, the lead) wider spans and a margin: a cell goes
    # to them only where sustained outweighs percussive by the margin, the rest is left
    # to the residual rather than smeared into the stem. A stricter margin cuts the
    # attacks of plucked keys and guitars more than it keeps drums out.
    sustain_span_s: float = 0.3
    sustain_span_hz: float = 400.0
    sustained_margin: float = 1.5
    lead_margin: float = 2.0
    bass_margin: float = 2.0
    # Drum hits are told by a rise of the 1-8 kHz level (a kick's click, a snare, a hat)
    # over its quietest moment in ``hit_baseline_s``: between ``hit_rise_db`` (no hit) and
    # ``hit_full_db`` (a hit). The strict bass share applies only within ``hit_hold_s`` of
    # a hit (a kick's body rings on); away from drums the whole low band is the bass,
    # attacks included.
    hit_band_hz: tuple[float, float] = (1000.0, 8000.0)
    hit_baseline_s: float = 0.5
    hit_rise_db: float = 3.0
    hit_full_db: float = 8.0
    hit_hold_s: float = 0.6
    hpss_power: float = 2.0  # Wiener exponent of the splits
    # Keys and bass share the low end; what tells them apart there is time: a held
    # chord or pad is steady for a bar, a bass line is notes with attacks. Below
    # ``keys_steady_below_hz`` the keys keep only the steady floor of each cell (its
    # quietest level within ``keys_steady_s``); the notes are left to the bass.
    keys_steady_s: float = 0.4
    keys_steady_below_hz: float = 260.0
    # The bass line's band: its second to fourth harmonics are the bass too.
    bass_line_below_hz: float = 320.0
    # A kick's body is a short low sine sweep, narrow in frequency: its own spans.
    kick_span_s: float = 0.5
    kick_span_hz: float = 60.0
    kick_below_hz: float = 150.0
    toms_below_hz: float = 400.0
    toms_margin: float = 256.0  # toms ring in the snare's body band: only clear hits
    cymbals_above_hz: float = 5000.0
    # In a drum bus, the snare's rattle above ``snare_follow_above_hz`` (up to
    # ``snare_below_hz``) shares its band with the hats: it is told by following the
    # snare's body (``snare_body_hz``), scaled by how loud that kit's snare sounds
    # there per unit of body, fitted over ``snare_window_s``.
    snare_body_hz: tuple[float, float] = (150.0, 300.0)
    snare_follow_above_hz: float = 1000.0
    snare_below_hz: float = 10000.0
    snare_window_s: float = 2.0
    sub_below_hz: float = 80.0
    bass_below_hz: float = 250.0
    highs_above_hz: float = 5000.0
    crossover_order: int = 4  # each band edge falls 24 dB per octave (in power)
    centre_span_s: float = 0.05  # time smoothing of the inter-channel similarity
    centre_threshold: float = 0.3  # similarity below this is all sides
    centre_full: float = 0.9  # similarity above this is all centre


# Magnitude added before taking logs (about -114 dB under a full-scale sine at 2048
# points): digital silence stays finite and barely moves a geometric mean of sound.
_LOG_FLOOR = 1e-3


@dataclass(frozen=True)
class HpssParts:
    """Geometric means of the magnitude along time (sustained) and frequency (hits)."""

    sustained: np.ndarray  # (frames, bins) float32
    hits: np.ndarray  # (frames, bins) float32


def hpss_parts(
    power: np.ndarray, settings: StftSettings, sample_rate: int, span_s: float, span_hz: float
) -> HpssParts:
    """Sustained and percussive evidence per cell, from (frames, bins) power.

    Harmonic-percussive separation with geometric means (moving means of the log
    magnitude): like the median filters of classic HPSS, one loud hit barely raises a
    sustained partial's mean and one partial barely raises a hit's, but moving means
    cost a fraction of a median. Along frequency only the bins that exist are
    averaged, so the lowest bins (the kick's body) are not diluted by zeros beyond
    the spectrum's edge; along time, frames beyond the edges count as silence, as
    block-wise processing requires.
    """
    log_magnitude = _log_magnitude(power)
    frames = settings.frames_for(span_s, sample_rate)
    sustained = moving_mean(log_magnitude, frames, 0)
    # Silence beyond the edges in the log domain is log(_LOG_FLOOR), not 0.
    reach = moving_mean(np.ones((log_magnitude.shape[0], 1), np.float32), frames, 0)
    sustained += (1.0 - reach) * np.float32(np.log(_LOG_FLOOR))
    hits = _hits_mean(log_magnitude, settings, sample_rate, span_hz)
    return HpssParts(np.exp(sustained), np.exp(hits))


def drum_parts(
    power: np.ndarray, settings: StftSettings, sample_rate: int, masks: MaskSettings
) -> HpssParts:
    """``hpss_parts`` with a median along time: the evidence the drums are told by.

    A geometric mean along time drops wherever a held note starts or stops within
    the span (the silence beside it weighs as much as the note), so the edges of
    keys, bass and lead notes read as hits and leak into the drums. A median of nine
    frames spread over ``drum_span_s`` follows the note as long as it holds for half
    the span, and still ignores hits shorter than that. Frames beyond the edges count
    as silence, as in ``hpss_parts``. Below ``drum_low_below_hz`` (the bass line's
    fundamentals and the kick's body) both spans are those of ``drum_low_*``: a
    bass note's few bins stand out of a narrower neighbourhood, and a note must
    hold longer to be taken for a hit.
    """
    log_magnitude = _log_magnitude(power)
    evidence = []
    for span_s, span_hz in (
        (masks.drum_span_s, masks.drum_span_hz),
        (masks.drum_low_span_s, masks.drum_low_span_hz),
    ):
        step = max(1, (settings.frames_for(span_s, sample_rate) - 1) // 8)
        sustained = median_of_9_over_frames(log_magnitude, step, float(np.log(_LOG_FLOOR)))
        evidence.append((sustained, _hits_mean(log_magnitude, settings, sample_rate, span_hz)))
    (sustained, hits), (low_sustained, low_hits) = evidence
    low = lowpass_curve(settings, sample_rate, masks.drum_low_below_hz, masks.crossover_order)
    sustained += low * (low_sustained - sustained)
    hits += low * (low_hits - hits)
    return HpssParts(np.exp(sustained), np.exp(hits))


def _log_magnitude(power: np.ndarray) -> np.ndarray:
    log_magnitude = np.sqrt(power)
    log_magnitude += _LOG_FLOOR
    return np.log(log_magnitude, out=log_magnitude)


def _hits_mean(
    log_magnitude: np.ndarray, settings: StftSettings, sample_rate: int, span_hz: float
) -> np.ndarray:
    """Mean log magnitude over ``span_hz`` around each bin, of the bins that exist."""
    width = settings.bins_for(span_hz, sample_rate)
    counted = moving_mean(np.ones((1, log_magnitude.shape[1]), np.float32), width, 1)
    hits = moving_mean(log_magnitude, width, 1)
    hits /= counted
    return hits


def percussive_share(parts: HpssParts, exponent: float) -> np.ndarray:
    """``P^p / (P^p + S^p)``: the share of each cell that is percussive, (frames, bins)."""
    return _wiener(parts.hits, parts.sustained, exponent, 1.0)


def sustained_share(parts: HpssParts, exponent: float, margin: float) -> np.ndarray:
    """``S^p / (S^p + (margin P)^p)``: sustained share, strict when ``margin`` > 1."""
    return _wiener(parts.sustained, parts.hits, exponent, margin)


def _wiener(wanted: np.ndarray, other: np.ndarray, exponent: float, margin: float) -> np.ndarray:
    top = np.power(wanted, exponent, dtype=np.float32)
    bottom = np.power(other * np.float32(margin), exponent, dtype=np.float32)
    bottom += top
    np.maximum(bottom, np.finfo(np.float32).tiny, out=bottom)
    return np.divide(top, bottom, out=top)


def steady_share(
    power: np.ndarray, settings: StftSettings, sample_rate: int, span_s: float
) -> np.ndarray:
    """Share of each cell's magnitude that is its steady floor: (frames, bins) in [0, 1].

    The floor is the cell's quietest power within ``span_s`` (frames beyond the edges
    ignored): a held partial keeps its level and scores near 1, a note that starts
    and stops within the span scores its level over the gaps between notes.
    """
    floor = moving_min_over_frames(power, settings.frames_for(span_s, sample_rate))
    share = np.divide(floor, np.maximum(power, np.finfo(np.float32).tiny), out=floor)
    np.minimum(share, 1.0, out=share)
    return np.sqrt(share, out=share)


def drum_hit_nearby(
    power: np.ndarray, settings: StftSettings, sample_rate: int, masks: MaskSettings
) -> np.ndarray:
    """How surely a drum hit sounds within ``hit_hold_s`` of each frame: (frames, 1) in [0, 1].

    A hit is a rise of the geometric mean level over ``hit_band_hz`` (broadband: one
    instrument's harmonics barely move it, a click or a noise burst does) above its
    quietest moment within ``hit_baseline_s``. Digital silence (and the frames touching
    it) is not a baseline while sound is near, so a track starting from silence does not
    open with a false hit; a sound with only silence around it does rise from silence.
    """
    frequencies = settings.bin_frequencies_hz(sample_rate)
    low_hz, high_hz = masks.hit_band_hz
    chosen = (frequencies >= low_hz) & (frequencies <= high_hz)
    level = np.log(np.sqrt(power[:, chosen]) + _LOG_FLOOR).mean(axis=1, keepdims=True)
    level = level.astype(np.float32)
    silent = (level < np.float32(np.log(_SILENT))).astype(np.float32)
    silent = _moving_max(silent, 2 * (settings.n_fft // settings.hop) + 1) > 0
    baseline = moving_min_over_frames(
        np.where(silent, np.inf, level).astype(np.float32),
        settings.frames_for(masks.hit_baseline_s, sample_rate),
    )
    # With nothing but silence around, a sound rises from silence.
    baseline[np.isinf(baseline)] = np.log(_SILENT)
    rise_db = (level - baseline) * np.float32(20 / np.log(10))
    span_db = masks.hit_full_db - masks.hit_rise_db
    hit = np.clip((rise_db - masks.hit_rise_db) / span_db, 0.0, 1.0)
    hit[level < np.float32(np.log(_SILENT))] = 0.0
    return _moving_max(
        hit.astype(np.float32), settings.frames_for(2 * masks.hit_hold_s, sample_rate)
    )


# Magnitude under which the 1-8 kHz band counts as digital silence (about -94 dBFS).
_SILENT = 1e-2


def _moving_max(values: np.ndarray, width: int) -> np.ndarray:
    return -moving_min_over_frames(-values, width)


def snare_in_kit(
    power: np.ndarray, settings: StftSettings, sample_rate: int, masks: MaskSettings
) -> np.ndarray:
    """Share of each cell that is the snare, in a drum bus: (frames, bins) float32.

    From the kick up to ``snare_follow_above_hz`` the snare is its band. Above, the
    hats sound there too, but only the snare's rattle comes with a burst of the
    snare's body: each bin is expected to hold ``r * body(t)``, with ``r`` fitted by
    least squares over ``snare_window_s`` (the loudest bodies, the snare's hits,
    weigh most), and the share is that expectation over what is there, at most 1.
    """
    frequencies = settings.bin_frequencies_hz(sample_rate)
    low_hz, high_hz = masks.snare_body_hz
    body = power[:, (frequencies >= low_hz) & (frequencies < high_hz)].sum(axis=1, keepdims=True)
    frames = settings.frames_for(masks.snare_window_s, sample_rate)
    fitted = moving_mean(power * body, frames, 0)
    weight = moving_mean(body * body, frames, 0)
    np.maximum(weight, np.finfo(np.float32).tiny, out=weight)
    expected = fitted / weight
    expected *= body
    followed = np.minimum(expected / np.maximum(power, np.finfo(np.float32).tiny), 1.0)
    above = 1.0 - lowpass_curve(settings, sample_rate, masks.snare_follow_above_hz, 4)
    share = (1.0 - above) + above * followed
    order = masks.crossover_order
    return share * band_mask(
        settings, sample_rate, masks.kick_below_hz, masks.snare_below_hz, order
    )


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
    spec: np.ndarray,
    settings: StftSettings,
    sample_rate: int,
    masks: MaskSettings,
    either_phase: bool = False,
) -> np.ndarray:
    """Share of each cell that sits in the centre of a stereo (2, frames, bins) spectrogram.

    The similarity ``2 Re(L R*) / (|L|^2 + |R|^2)`` is 1 for a sound panned to the
    centre (same in both channels), 0 for one panned hard to a side or for
    uncorrelated ambience, negative for out-of-phase sound. It is smoothed over
    ``centre_span_s`` and mapped linearly from ``centre_threshold`` (mask 0) to
    ``centre_full`` (mask 1). With ``either_phase`` the similarity's size is used: a
    sound with its sides in opposite phase (a wide synth lead) counts as one panned
    source too, only uncorrelated ambience does not. (frames, bins) float32.
    """
    left, right = spec[0], spec[1]
    cross = left.real * right.real + left.imag * right.imag
    level = np.abs(left) ** 2 + np.abs(right) ** 2
    width = settings.frames_for(masks.centre_span_s, sample_rate)
    cross = moving_mean(cross, width, 0)
    level = moving_mean(level, width, 0)
    np.maximum(level, np.finfo(np.float32).tiny, out=level)
    similarity = 2.0 * cross / level
    if either_phase:
        np.abs(similarity, out=similarity)
    span = masks.centre_full - masks.centre_threshold
    return np.clip((similarity - masks.centre_threshold) / span, 0.0, 1.0).astype(np.float32)
