"""`samaudio-daw separate --backend sam-audio` end to end, with the tiny reference checkpoint."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / ".." / "shared" / "sam_audio_reference"
RATE_HZ = 44100


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference fixtures not found at {REFERENCE}")
def test_separate_stereo_44k_file_gives_stems_that_null(tmp_path: Path) -> None:
    t = np.arange(round(2.5 * RATE_HZ)) / RATE_HZ
    rng = np.random.default_rng(0)
    audio = np.stack([0.4 * np.sin(2 * np.pi * 330 * t), 0.3 * np.sin(2 * np.pi * 500 * t)])
    audio = (audio + 0.05 * rng.standard_normal(audio.shape)).astype(np.float32)
    source = tmp_path / "mix.wav"
    sf.write(source, audio.T, RATE_HZ, subtype="FLOAT")
    out = tmp_path / "stems"
    command = [
        sys.executable, "-m", "samaudio_daw", "separate", str(source),
        "--backend", "sam-audio", "--model", "../shared/sam_audio_reference",
        "--prompt", "sine tone", "--prompt", "hiss",
        "--steps", "2", "--chunk", "1", "--seed", "1", "-o", str(out),
    ]  # fmt: skip
    # One thread: the tiny model is faster that way on a busy 2-core runner.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["version"] == 1
    kinds = [stem["kind"] for stem in result["stems"]]
    assert kinds.count("target") == 2 and kinds.count("residual") == 1
    # Per target, the presence score of every 1 s chunk, in file time: they overlap and
    # cover the file.
    for stem in result["stems"]:
        chunks = stem.get("presence", [])
        if stem["kind"] == "residual":
            assert chunks == []
            continue
        assert chunks[0]["start_s"] == 0.0 and chunks[-1]["end_s"] >= 2.5
        assert all(abs(c["end_s"] - c["start_s"] - 1.0) < 0.05 for c in chunks)
        assert all(a["start_s"] < b["start_s"] < a["end_s"] for a, b in itertools.pairwise(chunks))
        assert all(0 <= c["score"] <= 1 for c in chunks)
        assert not any(c["silenced"] for c in chunks)
    total = np.zeros_like(audio, dtype=np.float64)
    for stem in result["stems"]:
        data, rate = sf.read(out / stem["file"], dtype="float32", always_2d=True)
        assert rate == RATE_HZ and data.T.shape == audio.shape
        total += data.T
    assert np.abs(total - audio).max() < 1e-5


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference fixtures not found at {REFERENCE}")
def test_presence_threshold_and_candidates_from_the_command_line(tmp_path: Path) -> None:
    t = np.arange(2 * RATE_HZ) / RATE_HZ
    audio = (0.4 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32)
    source = tmp_path / "mix.wav"
    sf.write(source, audio.T, RATE_HZ, subtype="FLOAT")
    out = tmp_path / "stems"
    command = [
        sys.executable, "-m", "samaudio_daw", "separate", str(source),
        "--backend", "sam-audio", "--model", "../shared/sam_audio_reference",
        "--prompt", "owl", "--steps", "2", "--chunk", "1", "--candidates", "2",
        "--presence-threshold", "1", "--compile", "off", "-o", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'owl' not found (presence below the threshold)" in done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["backend_settings"]["candidates"] == 2
    assert result["backend_settings"]["presence_threshold"] == 1.0
    [target] = [s for s in result["stems"] if s["kind"] == "target"]
    data, _ = sf.read(out / target["file"], dtype="float32")
    assert np.abs(data).max() == 0.0
    assert target["presence"] and all(c["silenced"] and c["score"] < 1 for c in target["presence"])


def test_compile_flag_reaches_the_backend_and_bad_values_are_refused(tmp_path: Path) -> None:
    """--compile on|off becomes the backend option compile=...; auto (the default) adds
    nothing, so the settings of runs without the flag are unchanged. Compiling itself is
    not run here (minutes on a CPU): tests/separation/test_sam_audio_compiled.py traces it."""
    from samaudio_daw.cli.options import backend_options
    from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator

    for mode in ("on", "off"):
        options = backend_options({"model": "some/model", "compile_mode": mode})
        assert ("compile", mode) in options.extra
        assert SamAudioSeparator(options).compile_mode == mode
    assert backend_options({"model": "some/model", "compile_mode": "auto"}).extra == ()
    command = [
        sys.executable, "-m", "samaudio_daw", "separate", str(tmp_path / "none.wav"),
        "--backend", "sam-audio", "--prompt", "x", "--compile", "sometimes", "-o", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--compile" in done.stderr and "'sometimes'" in done.stderr
