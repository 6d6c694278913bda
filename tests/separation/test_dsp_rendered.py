"""The dsp backend's drums on a song rendered with FluidSynth and the FluidR3 GM soundfont.

The song is benchmarks/quality_material.py's (MIDI written from a seed, each part
rendered on its own, so every stem is known), seed 21: not one the benchmark
reports or the backend was tuned on. Needs the Debian packages fluidsynth and
fluid-soundfont-gm (.ci/run installs them). The figures in the comments are what
the backend gave before and after telling held notes from hits by a median and
following the snare's body into the hats' band.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from samaudio_daw.metrics import sdr_improvement_db
from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.dsp import DspSeparator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import quality_material  # noqa: E402

RATE = quality_material.SAMPLE_RATE
KIT = ("kick", "snare", "hats", "toms")


@pytest.fixture(scope="module")
def stems() -> dict[str, np.ndarray]:
    return quality_material.make_song(21, 6.0).stems


def separate(audio: np.ndarray, *texts: str) -> list[np.ndarray]:
    return DspSeparator().separate(audio, RATE, [Prompt(text) for text in texts])


def test_drums_out_of_a_full_band(stems: dict[str, np.ndarray]) -> None:
    drums = sum(stems[name] for name in KIT)
    band = drums + stems["bass"] + stems["keys"] + stems["lead"]
    (target,) = separate(band, "the drums")
    assert sdr_improvement_db(drums, target, band) >= 10.3  # was 9.3, now 11.2


def test_drums_out_of_drums_and_bass(stems: dict[str, np.ndarray]) -> None:
    drums = sum(stems[name] for name in KIT)
    mixture = drums + stems["bass"]
    (target,) = separate(mixture, "the drums")
    assert sdr_improvement_db(drums, target, mixture) >= 8.5  # was 7.1, now 9.6


def test_the_snare_out_of_the_kit_beats_its_band(stems: dict[str, np.ndarray]) -> None:
    kit = sum(stems[name] for name in KIT)
    snare = separate(kit, "the snare", "the kick", "the hi-hats", "the toms")[0]
    band_pass = butter(4, (150.0, 5000.0), "bandpass", fs=RATE, output="sos")
    band = sosfiltfilt(band_pass, kit, axis=1)
    gained = sdr_improvement_db(stems["snare"], snare, kit)
    # As its band alone the snare gained what a band-pass does (8.0 dB); now 10.8.
    assert gained >= sdr_improvement_db(stems["snare"], band, kit) + 1.5
