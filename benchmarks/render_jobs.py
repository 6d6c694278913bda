"""Speed-up of `render --jobs 2` over `--jobs 1` on a 16-item project (target >= 1.6x on 2 cores).

Usage: python benchmarks/render_jobs.py [--items 16] [--seconds 20]
Builds the project in a temporary folder, runs both renders through the real CLI in
the same run, checks both wrote identical stems, prints the times and their ratio,
and writes JSON to benchmarks/results/render_jobs.json.
"""

from __future__ import annotations

import argparse
import json
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


def build_project(folder: Path, items: int, seconds: float) -> Path:
    rng = np.random.default_rng(0)
    (folder / "media").mkdir(parents=True)
    t = np.arange(int(seconds * RATE)) / RATE
    specs = []
    for index in range(items):
        tone = 0.2 * np.sin(2 * np.pi * (110 + 15 * index) * t) + 0.05 * np.sin(2 * np.pi * 50 * t)
        stereo = np.stack([tone, tone]) + 0.01 * rng.standard_normal((2, t.size))
        sf.write(
            folder / "media" / f"take{index}.wav",
            stereo.T.astype(np.float32),
            RATE,
            subtype="PCM_24",
        )
        specs.append(ItemSpec(f"media/take{index}.wav", index * seconds, seconds))
    project = folder / "bench.rpp"
    project.write_text(
        new_project(RATE, 120.0, [TrackSpec("Takes [dialogue-cleanup]", tuple(specs))])
    )
    return project


def timed_render(project: Path, out: Path, jobs: int) -> float:
    command = [
        sys.executable,
        "-m",
        "samaudio_daw",
        "render",
        str(project),
        "-o",
        str(out),
        "--jobs",
        str(jobs),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        project = build_project(Path(temp), args.items, args.seconds)
        one = timed_render(project, Path(temp) / "one", 1)
        two = timed_render(project, Path(temp) / "two", 2)
        same = all(
            (Path(temp) / "one" / p.name).read_bytes() == p.read_bytes()
            for p in (Path(temp) / "two").glob("*.wav")
        )
    audio_s = args.items * args.seconds
    report = {
        "items": args.items,
        "item_s": args.seconds,
        "jobs1_s": round(one, 2),
        "jobs2_s": round(two, 2),
        "speedup": round(one / two, 2),
        "realtime_jobs2": round(audio_s / two, 1),
        "identical_stems": same,
        "target": 1.6,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "render_jobs.json").write_text(json.dumps(report, indent=2))
    print(f"{args.items} items x {args.seconds:g} s, dialogue-cleanup preset, dsp backend")
    print(f"  --jobs 1: {one:7.2f} s")
    print(
        f"  --jobs 2: {two:7.2f} s   speed-up {one / two:.2f}x (target >= 1.6x), "
        f"stems identical: {same}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
