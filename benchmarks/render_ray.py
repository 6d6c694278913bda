"""Overhead of `render --engine ray` (a local Ray with two workers) over `--jobs 2` locally.

Usage: python benchmarks/render_ray.py [--items 6] [--seconds 10]
Builds two projects of ITEMS items each in a temporary folder and renders the batch
through the real CLI three ways in the same run: `--jobs 2` locally; `--engine ray`
with no address (the command starts and stops its own Ray, as on a laptop); and
`--engine ray --address` to a two-CPU head already running (as on a render farm, where
Ray's start-up is paid once). Checks all wrote identical stems, prints the times and
the overhead ratios, and writes JSON to benchmarks/results/render_ray.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project

RATE = 48000
RESULTS = Path(__file__).parent / "results"


def build_project(folder: Path, name: str, items: int, seconds: float) -> Path:
    """One [de-hum] track of ``items`` stereo takes: tones over 50 Hz hum and noise."""
    rng = np.random.default_rng(len(name))
    (folder / "media").mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    specs = []
    for index in range(items):
        tone = 0.2 * np.sin(2 * np.pi * (110 + 15 * index) * t) + 0.05 * np.sin(2 * np.pi * 50 * t)
        stereo = np.stack([tone, tone]) + 0.01 * rng.standard_normal((2, t.size))
        media = folder / "media" / f"{name}{index}.wav"
        sf.write(media, stereo.T.astype(np.float32), RATE, subtype="PCM_24")
        specs.append(ItemSpec(f"media/{media.name}", index * seconds, seconds))
    project = folder / f"{name}.rpp"
    project.write_text(new_project(RATE, 120.0, [TrackSpec("Takes [de-hum]", tuple(specs))]))
    return project


def timed_render(projects: list[Path], out: Path, *engine: str) -> float:
    """Seconds for one `samaudio-daw render` of ``projects`` into ``out``."""
    command = [sys.executable, "-m", "samaudio_daw", "render", *map(str, projects)]
    command += ["-o", str(out), "--jobs", "2", *engine]
    # A head started by `ray start` uses token auth; its drivers must say so too.
    env = {**os.environ, "RAY_AUTH_MODE": "token"} if "--address" in engine else None
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_head(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """`ray start --head --block` in its own process group, so it all stops together."""
    ray = Path(sys.executable).parent / "ray"
    command = [str(ray), "start", "--head", "--block", f"--port={port}", "--num-cpus=2"]
    command += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"]
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = subprocess.run(
            [str(ray), "status", f"--address=127.0.0.1:{port}"],
            capture_output=True,
            env={**os.environ, "RAY_AUTH_MODE": "token"},
            check=False,
        )
        if status.returncode == 0:
            return head
        time.sleep(1.0)
    stop_head(head)
    raise RuntimeError(f"`ray start --head` did not come up on port {port} within 120 s")


def stop_head(head: subprocess.Popen[bytes]) -> None:
    """Stop the head this benchmark started: its process group, and nothing else."""
    os.killpg(head.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=10)
    # Ray's daemons can outlive `ray start` by many seconds after a SIGTERM.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=6, help="items per project (two projects)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each item")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        projects = [build_project(folder, name, args.items, args.seconds) for name in ("a", "b")]
        local = timed_render(projects, folder / "local")
        own_ray = timed_render(projects, folder / "ray", "--engine", "ray")
        port = free_port()
        head = start_head(folder / "head", port)
        try:
            address = f"127.0.0.1:{port}"
            on_head = timed_render(
                projects, folder / "head-out", "--engine", "ray", "--address", address
            )
        finally:
            stop_head(head)
        local_stems = sorted((folder / "local").glob("*.wav"))
        same = bool(local_stems) and all(
            p.read_bytes() == (folder / out / p.name).read_bytes()
            for p in local_stems
            for out in ("ray", "head-out")
        )
    report = {
        "projects": 2,
        "items": 2 * args.items,
        "item_s": args.seconds,
        "local_jobs2_s": round(local, 2),
        "ray_own_instance_s": round(own_ray, 2),
        "ray_running_head_s": round(on_head, 2),
        "overhead_ratio": round(own_ray / local, 2),
        "overhead_ratio_running_head": round(on_head / local, 2),
        "identical_stems": same,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "render_ray.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"2 projects x {args.items} items x {args.seconds:g} s, de-hum preset, dsp backend")
    print(f"  --jobs 2, local:                       {local:7.2f} s")
    print(
        f"  --engine ray, starts its own Ray:      {own_ray:7.2f} s   ratio {own_ray / local:.2f}"
    )
    print(
        f"  --engine ray --address, head running:  {on_head:7.2f} s   ratio {on_head / local:.2f}"
    )
    print(f"  stems identical: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
