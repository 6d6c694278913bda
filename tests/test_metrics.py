"""SDR, SDR improvement and null depth on small known signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samaudio_daw.metrics import null_db, sdr_db, sdr_improvement_db


def _tone(frames: int = 1000) -> np.ndarray:
    return np.sin(np.linspace(0.0, 40.0, frames, dtype=np.float32))[np.newaxis, :]


def test_sdr_of_known_error_level() -> None:
    reference = _tone()
    estimate = reference * np.float32(0.9)  # error is 0.1 * reference: 20 dB below
    assert sdr_db(reference, estimate) == pytest.approx(20.0, abs=1e-3)


def test_sdr_of_identical_signals_is_infinite() -> None:
    assert sdr_db(_tone(), _tone()) == math.inf


def test_sdr_sums_over_all_channels() -> None:
    reference = np.stack([_tone()[0], 2.0 * _tone()[0]])
    estimate = reference.copy()
    estimate[1] = 0.0  # error energy 4, signal energy 5 (in units of one tone)
    assert sdr_db(reference, estimate) == pytest.approx(10 * math.log10(5 / 4), abs=1e-6)


def test_sdr_improvement_is_difference_of_sdrs() -> None:
    reference = _tone()
    mixture = reference + np.float32(0.5) * np.cos(np.linspace(0, 300, 1000, dtype=np.float32))
    estimate = reference + np.float32(0.05) * np.cos(np.linspace(0, 300, 1000, dtype=np.float32))
    expected = sdr_db(reference, estimate) - sdr_db(reference, mixture)
    assert sdr_improvement_db(reference, estimate, mixture) == pytest.approx(expected)
    assert expected == pytest.approx(20.0, abs=1e-3)


def test_null_is_level_of_difference_relative_to_first() -> None:
    a = _tone()
    assert null_db(a, a * np.float32(0.999)) == pytest.approx(-60.0, abs=1e-3)
    assert null_db(a, a) == -math.inf


def test_shape_mismatch_is_an_error_naming_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 1000\).*\(1, 999\)"):
        sdr_db(_tone(1000), _tone(999))


def test_silent_reference_is_an_error() -> None:
    silent = np.zeros((1, 10), np.float32)
    with pytest.raises(ValueError, match="silent"):
        sdr_db(silent, silent)
    with pytest.raises(ValueError, match="silent"):
        null_db(silent, silent)


def test_inputs_are_not_changed() -> None:
    reference, estimate = _tone(), _tone() * np.float32(0.5)
    before = (reference.copy(), estimate.copy())
    sdr_db(reference, estimate)
    null_db(reference, estimate)
    np.testing.assert_array_equal(reference, before[0])
    np.testing.assert_array_equal(estimate, before[1])
