"""Batches: several projects, --jobs in parallel, and resuming after a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project

RATE = 48000


def _project(folder: Path, items: int, seconds: float, name: str = "batch") -> Path:
    """``items`` items of noisy hum on one [de-hum] track, each its own media file."""
    rng = np.random.default_rng(len(name))
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    specs = []
    t = np.arange(int(seconds * RATE)) / RATE
    for index in range(items):
        audio = 0.2 * np.sin(2 * np.pi * (200 + 20 * index) * t) + 0.05 * np.sin(2 * np.pi * 50 * t)
        audio = audio + 0.01 * rng.standard_normal(t.size)
        sf.write(media / f"take{index}.wav", audio.astype(np.float32), RATE, subtype="PCM_24")
        specs.append(ItemSpec(f"media/take{index}.wav", index * seconds, seconds))
    path = folder / f"{name}.rpp"
    path.write_text(new_project(RATE, 120.0, [TrackSpec("Takes [de-hum]", tuple(specs))]))
    return path


def _stems(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.wav"))}


def test_two_jobs_give_the_same_files_as_one(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    project = _project(tmp_path / "p", items=4, seconds=1.0)
    serial = cli("render", project, "-o", tmp_path / "serial")
    parallel = cli("render", project, "-o", tmp_path / "parallel", "--jobs", "2")
    assert serial.returncode == 0 and parallel.returncode == 0, parallel.stderr
    assert _stems(tmp_path / "serial") == _stems(tmp_path / "parallel")
    assert len(_stems(tmp_path / "serial")) == 8


def test_several_projects_in_one_call(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = _project(tmp_path / "one", items=1, seconds=0.5, name="one")
    second = _project(tmp_path / "two", items=2, seconds=0.5, name="two")
    done = cli("render", first, second)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "one" / "one-stems" / "one-stems.rpp").is_file()
    assert len(_stems(tmp_path / "two" / "two-stems")) == 4
    shared = cli("render", first, second, "-o", tmp_path / "shared")
    assert shared.returncode == 0, shared.stderr
    result = json.loads((tmp_path / "shared" / "result.json").read_text())
    assert {Path(s["project"]).name for s in result["stems"]} == {"one.rpp", "two.rpp"}
    assert (tmp_path / "shared" / "one-stems.rpp").is_file()
    assert (tmp_path / "shared" / "two-stems.rpp").is_file()


def test_kill_9_leaves_no_partial_stem_and_the_rerun_completes(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", items=6, seconds=6.0)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "samaudio_daw", "render", str(project), "-o", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "result.json").exists():
        time.sleep(0.02)  # the manifest appears once the first item is complete
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = list(out.glob("*.wav"))
    assert 2 <= len(finished) < 12, "the kill should land mid-batch"
    for stem in finished:  # every stem file that exists is complete
        assert sf.info(stem).frames == 6 * RATE
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads((out / "result.json").read_text())
    reused = {s["file"] for s in result["stems"] if s["reused"]}
    assert reused and reused < {s["file"] for s in result["stems"]}  # resumed, not redone
    assert len(list(out.glob("*.wav"))) == 12 and not list(out.glob(".*.part"))
    assert all(sf.info(p).frames == 6 * RATE for p in out.glob("*.wav"))


def test_a_bad_item_in_a_parallel_batch_is_skipped_and_the_rest_renders(
    tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    project = _project(tmp_path / "p", items=2, seconds=0.5)
    broken = np.zeros(RATE // 2, np.float32)
    broken[100] = np.nan
    sf.write(tmp_path / "p" / "media" / "take1.wav", broken, RATE, subtype="FLOAT")
    done = cli("render", project, "--jobs", "2")
    assert done.returncode == 3, done.stderr
    assert "take1.wav" in done.stdout and "NaN" in done.stdout, done.stdout
    out = tmp_path / "p" / "batch-stems"
    result = json.loads((out / "result.json").read_text())
    assert result["stems"] and all("take1" not in s["input"] for s in result["stems"])
    assert not list(out.glob("*.part")) and not list(out.glob(".samaudio-work-*"))
