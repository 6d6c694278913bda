"""Streaming BS.1770 loudness against pyloudnorm, the standard's coefficients and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samaudio_daw.report.loudness import (
    LoudnessMeter,
    integrated_loudness,
    k_weighting,
    k_weighting_biquads,
)

pyloudnorm = pytest.importorskip("pyloudnorm", reason="pyloudnorm is in the test extra")
signal = pytest.importorskip("scipy.signal", reason="scipy comes with pyloudnorm")


def _music(seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    """Tones and noise with a slow swell, (channels, frames) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t)
    rows = [
        swell * (0.2 * np.sin(2 * np.pi * (220 * (c + 1)) * t) + 0.05 * rng.standard_normal(t.size))
        for c in range(channels)
    ]
    return np.array(rows, dtype=np.float32)


def _pyloudnorm(audio: np.ndarray, rate: int, filter_class: str = "K-weighting") -> float:
    meter = pyloudnorm.Meter(rate, filter_class=filter_class)
    return float(meter.integrated_loudness(audio.T.astype(np.float64)))


def _streamed(audio: np.ndarray, rate: int, block_frames: int) -> float:
    meter = LoudnessMeter(rate, audio.shape[0])
    for start in range(0, audio.shape[1], block_frames):
        meter.add(audio[:, start : start + block_frames])
    return meter.integrated_lufs()


def test_coefficients_at_48k_are_the_standards() -> None:
    # ITU-R BS.1770-4, tables 1 and 2.
    shelf, highpass = k_weighting_biquads(48000)
    np.testing.assert_allclose(
        shelf[0], (1.53512485958697, -2.69169618940638, 1.19839281085285), atol=1e-10
    )
    np.testing.assert_allclose(shelf[1], (-1.69065929318241, 0.73248077421585), atol=1e-10)
    assert highpass[0] == (1.0, -2.0, 1.0)
    np.testing.assert_allclose(highpass[1], (-1.99004745483398, 0.99007225036621), atol=1e-10)


@pytest.mark.parametrize("block_frames", [1, 333, 8192, 20000])
def test_filter_streams_like_a_sample_loop(block_frames: int) -> None:
    rate = 44100
    x = np.random.default_rng(3).standard_normal((2, 3000 if block_frames == 1 else 20000))
    shelf, highpass = k_weighting_biquads(rate)
    sos = np.array([[*shelf[0], 1.0, *shelf[1]], [*highpass[0], 1.0, *highpass[1]]])
    expected = signal.sosfilt(sos, x, axis=1)
    stream = k_weighting(rate).stream(2, chunk_frames=1024)
    got = np.concatenate(
        [stream.process(x[:, i : i + block_frames]) for i in range(0, x.shape[1], block_frames)],
        axis=1,
    )
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize(("rate", "channels"), [(44100, 1), (48000, 2), (96000, 2)])
def test_matches_pyloudnorm(rate: int, channels: int) -> None:
    audio = _music(5.0, rate, channels, seed=channels)
    mine = integrated_loudness(audio, rate)
    # pyloudnorm's default filters are cookbook approximations of K-weighting...
    assert mine == pytest.approx(_pyloudnorm(audio, rate), abs=0.1)
    # ...its "DeMan" filters are the standard's, and then the two agree closely.
    assert mine == pytest.approx(_pyloudnorm(audio, rate, "DeMan"), abs=0.005)


def test_quiet_passages_are_gated_like_pyloudnorm() -> None:
    rate = 48000
    loud = _music(3.0, rate, 2, seed=1)
    quiet = loud * np.float32(10 ** (-30 / 20))  # under the relative gate
    audio = np.concatenate([loud, quiet, np.zeros((2, 2 * rate), np.float32), loud], axis=1)
    mine = integrated_loudness(audio, rate)
    assert mine == pytest.approx(_pyloudnorm(audio, rate), abs=0.1)
    assert mine == pytest.approx(_pyloudnorm(audio, rate, "DeMan"), abs=0.005)
    # The gates matter here: the plain mean over every block reads far quieter.
    meter = LoudnessMeter(rate, 2)
    meter.add(audio)
    blocks = meter.block_loudness_lufs()
    ungated = 10 * np.log10(np.mean(10 ** (blocks / 10)))
    assert mine - ungated > 2.0


@pytest.mark.parametrize("block_frames", [1, 997, 4410, 65536])
def test_block_size_does_not_change_the_result(block_frames: int) -> None:
    rate = 44100
    # One-frame blocks are slow to feed; a shorter signal keeps the test quick.
    audio = _music(0.5 if block_frames == 1 else 4.3, rate, 2, seed=7)
    whole = integrated_loudness(audio, rate)
    assert _streamed(audio, rate, block_frames) == pytest.approx(whole, abs=1e-9)


def test_full_scale_sine_reads_minus_3_lufs() -> None:
    # BS.1770: a 0 dBFS 1 kHz sine in one front channel reads -3.01 LKFS.
    rate = 48000
    t = np.arange(5 * rate) / rate
    sine = np.sin(2 * np.pi * 997.0 * t).astype(np.float32)[None, :]
    assert integrated_loudness(sine, rate) == pytest.approx(-3.01, abs=0.02)


def test_silence_and_too_short_audio_read_minus_infinity() -> None:
    assert integrated_loudness(np.zeros((2, 48000), np.float32), 48000) == -math.inf
    short = _music(0.39, 48000, 1, seed=2)
    assert integrated_loudness(short, 48000) == -math.inf
