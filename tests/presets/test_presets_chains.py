"""Pedalboard chains from plugin specs, applied to (channels, frames) float32 arrays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pedalboard
import pytest

from samaudio_daw.jobs.block_chain import BlockChain
from samaudio_daw.presets import (
    PluginSpec,
    PresetError,
    build_chain,
    build_post_chain,
    build_pre_chain,
    builtin_plugin_parameters,
    load_preset,
)

SAMPLE_RATE = 48_000


def apply_chain(chain: pedalboard.Plugin, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A whole array through the runner's BlockChain: one block, then what latency held."""
    block_chain = BlockChain(chain, sample_rate, getattr(audio, "shape", (1,))[0] or 1)
    return np.concatenate([block_chain.process(audio), block_chain.flush()], axis=1)


WritePreset = Callable[..., Path]


def _tone(frequency_hz: float, seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    time_s = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = 0.5 * np.sin(2 * np.pi * frequency_hz * time_s)
    return np.tile(wave, (channels, 1)).astype(np.float32)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def test_gain_of_6_db_doubles_the_amplitude() -> None:
    audio = _tone(440.0)
    chain = build_chain([PluginSpec("Gain", {"gain_db": 6.0})])
    processed = apply_chain(chain, audio, SAMPLE_RATE)
    assert processed.shape == audio.shape and processed.dtype == np.float32
    np.testing.assert_allclose(processed, audio * 10 ** (6 / 20), rtol=1e-4, atol=1e-6)


def test_highpass_removes_dc_and_a_low_tone() -> None:
    audio = _tone(20.0, seconds=2.0) + np.float32(0.3)  # a 20 Hz tone on a DC offset
    chain = build_chain([PluginSpec("HighpassFilter", {"cutoff_frequency_hz": 1000})] * 2)
    processed = apply_chain(chain, audio, SAMPLE_RATE)
    assert processed.shape == audio.shape
    settled = processed[:, SAMPLE_RATE:]  # after the filter's start-up transient
    assert _rms(settled) < 0.01 * _rms(audio)
    assert abs(float(settled.mean())) < 1e-3


def test_input_is_not_changed_and_an_empty_chain_copies() -> None:
    audio = _tone(100.0, seconds=0.1)
    before = audio.copy()
    apply_chain(build_chain([PluginSpec("Gain", {"gain_db": -3})]), audio, SAMPLE_RATE)
    np.testing.assert_array_equal(audio, before)
    copied = apply_chain(build_chain([]), audio, SAMPLE_RATE)
    np.testing.assert_array_equal(copied, audio)
    assert copied is not audio


def test_latency_is_compensated_so_the_output_stays_aligned() -> None:
    internal = getattr(pedalboard, "_internal", None) or pytest.importorskip(
        "pedalboard_native._internal"
    )
    add_latency = getattr(internal, "AddLatency", None)
    if add_latency is None:
        pytest.skip("this pedalboard has no plugin that reports latency")
    audio = np.zeros((2, SAMPLE_RATE // 2), dtype=np.float32)
    audio[:, 10_000] = 1.0
    chain = pedalboard.Pedalboard([add_latency(1_000)])
    processed = apply_chain(chain, audio, SAMPLE_RATE)
    assert processed.shape == audio.shape
    assert np.argmax(np.abs(processed[0])) == 10_000
    assert np.argmax(np.abs(processed[1])) == 10_000


def test_frame_count_is_kept_for_tails_and_resampling() -> None:
    audio = _tone(300.0, seconds=0.25)
    for spec in (
        PluginSpec("Reverb", {"room_size": 0.9}),
        PluginSpec("Delay", {"delay_seconds": 0.2, "mix": 0.5}),
        PluginSpec("Resample", {"target_sample_rate": 8000}),
        PluginSpec("PitchShift", {"semitones": 2}),
    ):
        processed = apply_chain(build_chain([spec]), audio, SAMPLE_RATE)
        assert processed.shape == audio.shape, spec.kind


def test_very_short_audio_keeps_its_channel_layout() -> None:
    audio = np.arange(1, 7, dtype=np.float32).reshape(3, 2)  # 3 channels, 2 frames
    chain = build_chain([PluginSpec("Delay", {"delay_seconds": 0.001, "mix": 1.0})])
    processed = apply_chain(chain, audio, 1000)  # a one-frame delay
    np.testing.assert_array_equal(processed, [[0, 1], [0, 3], [0, 5]])
    empty = np.zeros((2, 0), dtype=np.float32)
    assert apply_chain(chain, empty, 1000).shape == (2, 0)


def test_audio_and_rate_are_checked() -> None:
    chain = build_chain([])
    with pytest.raises(TypeError, match="float32"):
        apply_chain(chain, np.zeros((2, 10)), SAMPLE_RATE)
    with pytest.raises(ValueError, match=r"\(channels, frames\)"):
        apply_chain(chain, np.zeros(10, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(TypeError, match="sample_rate"):
        apply_chain(chain, np.zeros((1, 10), dtype=np.float32), 44100.0)  # type: ignore[arg-type]


def test_enum_and_file_parameters(write_preset: WritePreset, tmp_path: Path) -> None:
    impulse = np.zeros((1, 64), dtype=np.float32)
    impulse[0, 0] = 1.0
    soundfile = pytest.importorskip("soundfile")
    (tmp_path / "user" / "irs").mkdir(parents=True)
    soundfile.write(tmp_path / "user" / "irs" / "dirac.wav", impulse.T, SAMPLE_RATE)
    text = """\
[[pre_chain]]
plugin = "LadderFilter"
mode = "hpf12"
cutoff_hz = 20

[[stems]]
name = "room"
prompt = "the room ambience"

[[stems.post_chain]]
plugin = "Convolution"
impulse_response_filename = "irs/dirac.wav"
"""
    preset = load_preset(write_preset("with-files", text))
    ladder = build_pre_chain(preset)[0]
    assert isinstance(ladder, pedalboard.LadderFilter)
    assert ladder.mode == pedalboard.LadderFilter.Mode.HPF12
    convolution = build_post_chain(preset, "room")
    audio = _tone(440.0, seconds=0.2)
    processed = apply_chain(convolution, audio, SAMPLE_RATE)
    scale = float(np.sum(processed * audio) / np.sum(audio * audio))  # JUCE normalises the IR
    assert scale > 0.01
    np.testing.assert_allclose(processed, scale * audio, atol=1e-3)  # a dirac: no shift
    with pytest.raises(PresetError, match=r"stems: has no stem named 'rom' \(did you mean"):
        build_post_chain(preset, "rom")


def test_plugin_parameters_come_from_pedalboard() -> None:
    names = [parameter.name for parameter in builtin_plugin_parameters("Compressor")]
    assert names == ["threshold_db", "ratio", "attack_ms", "release_ms"]
    with pytest.raises(ValueError, match="not a pedalboard plugin"):
        builtin_plugin_parameters("Pedalboard")
