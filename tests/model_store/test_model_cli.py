"""The CLI against the local hub: separating with a hub id pulls the model from there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "facebook/sam-audio-small"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**env, "OMP_NUM_THREADS": "1"}  # the tiny model is fastest on one thread
    command = [sys.executable, "-m", "samaudio_daw", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_separate_with_a_hub_id_fetches_from_the_local_hub(local_hub, hub_env, tmp_path) -> None:
    rate_hz = 48000
    t = np.arange(2 * rate_hz) / rate_hz
    audio = (0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)
    source = tmp_path / "mix.wav"
    sf.write(source, audio.T, rate_hz, subtype="FLOAT")
    out = tmp_path / "stems"
    done = _cli(
        "separate", str(source), "--backend", "sam-audio", "--model", MODEL_ID,
        "--prompt", "sine tone", "--steps", "2", "--chunk", "2", "-o", str(out), env=hub_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stems = json.loads((out / "result.json").read_text())["stems"]
    assert {s["kind"] for s in stems} == {"target", "residual"}
    assert local_hub.gets("checkpoint.pt") == [""]
    assert (Path(hub_env["HF_HUB_CACHE"]) / "models--facebook--sam-audio-small").is_dir()


def test_separate_with_a_gated_hub_id_and_no_token_exits_2_with_one_line(
    local_hub, hub_env, tmp_path
) -> None:
    env = {k: v for k, v in hub_env.items() if k != "HF_TOKEN"}
    source = tmp_path / "mix.wav"
    sf.write(source, np.zeros((4800, 1), np.float32), 48000)
    done = _cli(
        "separate", str(source), "--backend", "sam-audio", "--model", MODEL_ID,
        "--prompt", "x", "-o", str(tmp_path / "out"), env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no Hugging Face token" in done.stderr and "Traceback" not in done.stderr
