"""The CLI against the local hub: separating with a hub id pulls the model from there."""

from __future__ import annotations

import json
import os
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


def test_model_commands_pull_list_verify_path_remove(local_hub, hub_env) -> None:
    pulled = _cli("model", "pull", MODEL_ID, env=hub_env)
    assert pulled.returncode == 0, pulled.stderr
    path = Path(pulled.stdout.strip())
    assert (path / "checkpoint.pt").is_file() and (path / "LICENSE").is_file()
    assert "fetching checkpoint.pt (2.6 MiB)" in pulled.stderr
    listed = _cli("model", "list", env=hub_env)
    assert MODEL_ID in listed.stdout and str(path) in listed.stdout
    [row] = json.loads(_cli("model", "list", "--json", env=hub_env).stdout)
    assert row["repo_id"] == MODEL_ID and row["size_bytes"] > 2_000_000
    verified = _cli("model", "verify", MODEL_ID, env=hub_env)
    assert verified.returncode == 0 and "ok" in verified.stdout
    assert _cli("model", "path", MODEL_ID, env=hub_env).stdout.strip() == str(path)
    removed = _cli("model", "remove", MODEL_ID, env=hub_env)
    assert removed.returncode == 0 and not path.exists()
    missing = _cli("model", "path", MODEL_ID, env=hub_env)
    assert missing.returncode == 2 and "model pull" in missing.stderr


def test_model_pull_failures_are_one_line_exit_2(local_hub, hub_env) -> None:
    env = {k: v for k, v in hub_env.items() if k != "HF_TOKEN"}
    done = _cli("model", "pull", MODEL_ID, env=env)
    assert done.returncode == 2
    *_, line = done.stderr.strip().splitlines()  # after "fetching config.json ..."
    assert line.startswith("samaudio-daw: error:") and "no Hugging Face token" in line
    assert "Traceback" not in done.stderr
    done = _cli("model", "pull", "facebook/no-such-model", env=hub_env)
    assert done.returncode == 2 and "is not a model on" in done.stderr


def test_doctor_json(tmp_path) -> None:
    reference = REPO / ".." / "shared" / "sam_audio_reference"
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache")}
    done = _cli("doctor", "--no-measure", "--json", "--model", str(reference), "--resource-path", str(tmp_path), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["model"]["ok"] and checks["audio i/o"]["ok"]
    assert report["plan"]["size"] in ("small", "base", "large")


def test_model_pull_then_separate_uses_the_pulled_copy(local_hub, hub_env, tmp_path) -> None:
    assert _cli("model", "pull", MODEL_ID, env=hub_env).returncode == 0
    source = tmp_path / "mix.wav"
    t = np.arange(48000) / 48000
    sf.write(source, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000)
    local_hub.repos.clear()  # the hub forgets the model: only the pulled copy can serve
    done = _cli(
        "separate", str(source), "--backend", "sam-audio", "--model", MODEL_ID,
        "--prompt", "tone", "--steps", "2", "--chunk", "1", "-o", str(tmp_path / "out"), env=hub_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert local_hub.gets("checkpoint.pt") == [""]
