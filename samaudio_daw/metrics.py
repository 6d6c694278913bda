"""Separation quality figures: SDR, SDR improvement and null depth, over whole signals.

All take arrays of the same shape, typically (channels, frames) float32 audio, and
sum over every sample (all channels at once). Sums are in float64. Results are in
dB; a perfect estimate gives ``inf`` for SDR and ``-inf`` for the null.

    SDR = 10 * log10( sum(s^2) / sum((s - s_hat)^2) )
    SDR improvement = SDR(estimate) - SDR(mixture)
"""

from __future__ import annotations

import math

import numpy as np


def _check_same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: np.shape(array) for name, array in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"arrays must have the same shape, got {listed}")


def _energy(array: np.ndarray) -> float:
    values = np.asarray(array, dtype=np.float64)
    return float(np.sum(values * values))


def _ratio_db(numerator: float, denominator: float) -> float:
    if denominator == 0.0:
        return math.inf if numerator > 0.0 else math.nan
    if numerator == 0.0:
        return -math.inf
    return 10.0 * math.log10(numerator / denominator)


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-distortion ratio of ``estimate`` against ``reference``, in dB.

    ``10*log10(sum(reference^2) / sum((reference - estimate)^2))`` over the whole
    signal, no scaling or filtering allowed. ``inf`` when the two are identical;
    ValueError when the shapes differ or the reference is silent (SDR undefined).
    """
    _check_same_shape(reference=reference, estimate=estimate)
    signal = _energy(reference)
    if signal == 0.0:
        raise ValueError("the reference is silent, so its SDR is undefined; use a non-silent one")
    error = _energy(np.asarray(reference, np.float64) - np.asarray(estimate, np.float64))
    return _ratio_db(signal, error)


def sdr_improvement_db(reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray) -> float:
    """How much closer ``estimate`` is to ``reference`` than ``mixture`` was, in dB.

    ``sdr_db(reference, estimate) - sdr_db(reference, mixture)``.
    """
    _check_same_shape(reference=reference, estimate=estimate, mixture=mixture)
    return sdr_db(reference, estimate) - sdr_db(reference, mixture)


def null_db(a: np.ndarray, b: np.ndarray) -> float:
    """Level of ``a - b`` relative to ``a``, in dB (more negative is a deeper null).

    ``10*log10(sum((a - b)^2) / sum(a^2))``; ``-inf`` when identical. ValueError when
    the shapes differ or ``a`` is silent (no level to compare against).
    """
    _check_same_shape(a=a, b=b)
    level = _energy(a)
    if level == 0.0:
        raise ValueError("the first signal is silent, so a null relative to it is undefined")
    difference = _energy(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return _ratio_db(difference, level)
