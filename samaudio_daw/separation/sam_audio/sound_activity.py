"""The official ``sound_activity`` ranker: does a candidate sound where the spans say?

SAM-Audio's config may name ``{"kind": "sound_activity", "threshold_mode": "rel_to_max",
"sil_threshold": -40, "metric": "iou"}`` among its text rankers. It needs no weights: each
candidate's non-silent stretches are found as pydub's ``detect_nonsilent`` finds them, and
compared with the item's time spans (its anchors, whatever their sign, as the official code
takes them) by intersection over union, recall or precision. Without spans every candidate
scores 0, so it decides nothing.

Non-silent stretches, as the official code computes them (pydub, at 24 kHz, in whole
milliseconds): a 250 ms window moved in 10 ms steps is silent when its RMS is at or below
the threshold; with ``rel_to_max`` the threshold is ``sil_threshold`` dB under the loudest
250 ms window (100 ms steps). Silent windows that touch or overlap merge into one silence;
what lies between silences is sound. Checked against pydub itself in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from samaudio_daw.separation.sam_audio.resample import resample

RATE = 24_000
"""pydub's rate in the official ranker."""
FULL_SCALE = 32768
WINDOW_MS = 250
STEP_MS = 10
PEAK_STEP_MS = 100
MODES = ("rel_to_max", "abs")
METRICS = ("iou", "recall", "precision")

Span = tuple[float, float]
"""Seconds from the clip's start: (start, end)."""


@dataclass(frozen=True)
class SoundActivity:
    """The ranker's settings as config.json gives them (the official defaults)."""

    threshold_mode: str = "rel_to_max"
    sil_threshold: float = -40.0
    metric: str = "iou"

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SoundActivity:
        """ValueError (one line naming the field) for a mode or metric it does not know."""
        made = cls(
            str(raw.get("threshold_mode", cls.threshold_mode)),
            float(raw.get("sil_threshold", cls.sil_threshold)),
            str(raw.get("metric", cls.metric)),
        )
        if made.threshold_mode not in MODES:
            raise ValueError(f"sound_activity threshold_mode must be one of {MODES}")
        if made.metric not in METRICS:
            raise ValueError(f"sound_activity metric must be one of {METRICS}")
        return made

    def score(
        self, waves: torch.Tensor, spans: Sequence[Sequence[Span]], sample_rate: int = 48_000
    ) -> torch.Tensor:
        """waves: (K, N, samples); spans: N items' spans → (K, N) scores in [0, 1]."""
        k, n, _ = waves.shape
        scores = torch.zeros(k, n)
        for j in range(n):
            for i in range(k):
                sound = nonsilent_spans(waves[i, j], sample_rate, self)
                scores[i, j] = overlap(sound, spans[j])[self.metric]
        return scores.to(waves.device)


def nonsilent_spans(
    wave: torch.Tensor, sample_rate: int, settings: SoundActivity | None = None
) -> list[Span]:
    """(samples,) → the stretches that sound, in seconds rounded to the millisecond."""
    settings = settings or SoundActivity()
    audio = wave.detach().to("cpu", torch.float32)
    if sample_rate != RATE:
        audio = resample(audio, sample_rate, RATE)
    per_ms = RATE // 1000
    length_ms = round(audio.numel() / per_ms)
    # pydub measures 16-bit samples: a whole-number RMS (truncated) against full scale 32768.
    pcm = torch.round(audio * FULL_SCALE).clamp(-FULL_SCALE, FULL_SCALE - 1).double().numpy()
    squares = np.concatenate([[0.0], np.cumsum(pcm**2)])

    def rms(starts: np.ndarray) -> np.ndarray:
        lo = np.minimum(starts * per_ms, audio.numel())
        hi = np.minimum((starts + WINDOW_MS) * per_ms, audio.numel())
        return np.floor(np.sqrt((squares[hi] - squares[lo]) / np.maximum(hi - lo, 1)))

    threshold_db = settings.sil_threshold
    if settings.threshold_mode == "rel_to_max":
        peak_starts = np.arange(0, length_ms - WINDOW_MS + 1, PEAK_STEP_MS)
        peak = float(rms(peak_starts).max()) / FULL_SCALE if peak_starts.size else 0.0
        threshold_db += 20.0 * math.log10(peak) if peak > 0 else -math.inf
    threshold = 10.0 ** (threshold_db / 20.0) * FULL_SCALE
    if length_ms < WINDOW_MS:
        return [(0.0, round(length_ms / 1000, 3))]
    last = length_ms - WINDOW_MS
    starts = np.arange(0, last + 1, STEP_MS)
    if last % STEP_MS:
        starts = np.append(starts, last)
    silent_starts = starts[rms(starts) <= threshold]
    return [
        (round(a / 1000, 3), round(b / 1000, 3))
        for a, b in _between(_silences(silent_starts.tolist()), length_ms)
    ]


def _silences(starts: list[int]) -> list[tuple[int, int]]:
    """Silent window starts (ms) → merged silences [start, end) in ms (pydub's rule)."""
    if not starts:
        return []
    ranges = []
    first = previous = starts[0]
    for start in starts[1:]:
        if start != previous + STEP_MS and start > previous + WINDOW_MS:
            ranges.append((first, previous + WINDOW_MS))
            first = start
        previous = start
    ranges.append((first, previous + WINDOW_MS))
    return ranges


def _between(silences: list[tuple[int, int]], length_ms: int) -> list[tuple[int, int]]:
    """What is not silent, in ms."""
    if not silences:
        return [(0, length_ms)]
    if silences[0] == (0, length_ms):
        return []
    sound, previous_end = [], 0
    for start, end in silences:
        sound.append((previous_end, start))
        previous_end = end
    if previous_end != length_ms:
        sound.append((previous_end, length_ms))
    return [s for s in sound if s != (0, 0)]


def overlap(hypothesis: Sequence[Span], reference: Sequence[Span]) -> dict[str, float]:
    """Intersection over union, recall and precision of two lists of spans (the official
    sums: overlaps are counted pair by pair)."""
    hyp = sum(b - a for a, b in hypothesis)
    ref = sum(b - a for a, b in reference)
    both = sum(max(0.0, min(b, d) - max(a, c)) for a, b in hypothesis for c, d in reference)
    union = hyp + ref - both
    return {
        "iou": both / union if union > 0 else 0.0,
        "recall": both / ref if ref > 0 else 0.0,
        "precision": both / hyp if hyp > 0 else 0.0,
    }
