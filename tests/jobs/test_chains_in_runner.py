"""Preset effect chains inside the streaming runner: stems keep their length and place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48000


def _preset(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(body)
    return folder


def _clicks(path: Path, seconds: float = 3.0) -> np.ndarray:
    """Hum with a 1 kHz blip every second, so a shifted stem shows as a moved blip."""
    t = np.arange(int(seconds * RATE)) / RATE
    audio = 0.1 * np.sin(2 * np.pi * 50 * t)
    blip = np.hanning(240) * np.sin(2 * np.pi * 1000 * t[:240])
    for start in range(RATE // 2, t.size - 240, RATE):
        audio[start : start + 240] += 0.8 * blip
    stereo = np.stack([audio, audio]).astype(np.float32)
    sf.write(path, stereo.T, RATE, subtype="FLOAT")
    return stereo


def test_post_chain_gain_and_residual_stays_a_null(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    source = _clicks(tmp_path / "in.wav")
    presets = _preset(
        tmp_path / "presets",
        "loud-hum",
        """
[[stems]]
name = "hum"
prompt = "the mains hum"
[[stems.post_chain]]
plugin = "Gain"
gain_db = 6.0206
""",
    )
    plain = cli("separate", tmp_path / "in.wav", "--preset", "de-hum", "-o", tmp_path / "a")
    loud = cli(
        "separate",
        tmp_path / "in.wav",
        "--preset",
        "loud-hum",
        "--presets",
        presets,
        "-o",
        tmp_path / "b",
    )
    assert plain.returncode == 0 and loud.returncode == 0, loud.stderr
    hum, _ = sf.read(tmp_path / "a" / "in.hum.wav", dtype="float32")
    louder, _ = sf.read(tmp_path / "b" / "in.hum.wav", dtype="float32")
    assert np.allclose(louder, 2 * hum, atol=1e-5)
    rest, _ = sf.read(tmp_path / "b" / "in.rest.wav", dtype="float32")
    # The residual is taken before the post-chain: it still nulls with the unprocessed stem.
    assert np.abs(hum + rest - source.T).max() < 1e-5


def test_pre_chain_with_latency_keeps_length_and_alignment(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    source = _clicks(tmp_path / "in.wav")
    # Resample holds frames back (latency) when streamed; the stems must not move.
    presets = _preset(
        tmp_path / "presets",
        "lofi-hum",
        """
keep_residual = true
[[pre_chain]]
plugin = "Resample"
target_sample_rate = 16000
[[stems]]
name = "hum"
prompt = "the mains hum"
""",
    )
    done = cli(
        "separate",
        tmp_path / "in.wav",
        "--preset",
        "lofi-hum",
        "--presets",
        presets,
        "-o",
        tmp_path / "out",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    mix = sum(sf.read(tmp_path / "out" / s["file"], dtype="float32")[0] for s in result["stems"])
    assert mix.shape == source.T.shape
    for second in range(3):  # each blip's peak within a millisecond of where it was
        window = slice(second * RATE + RATE // 4, second * RATE + 3 * RATE // 4)
        moved = np.argmax(np.abs(mix[window, 0])) - np.argmax(np.abs(source[0, window]))
        assert abs(moved) < RATE // 1000
