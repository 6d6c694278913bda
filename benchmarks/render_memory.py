"""Peak memory of `render` on a project with one item looping a 2 s source for 30 minutes.

Usage: python benchmarks/render_memory.py [--minutes 30] [--mode item|track]

Writes a REAPER project whose one item loops a 2-second stereo 48 kHz WAV for the
whole length (track ``Loop {extract the drums}``) to a temporary folder, then runs
``samaudio-daw render`` on it in a fresh process under ``/usr/bin/time -v`` and reads
its peak resident set size. The item's source span (30 minutes, unrolled) is
rendered to the work file block by block and separated by the streaming runner, so
memory does not grow with the item's length. Prints the figure (target < 500 MB,
torch's own ~230 MB included; the 30-minute `dsp_memory.py` separation alone is the
baseline) and writes JSON to benchmarks/results/render_memory.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RATE = 48000


def write_project(folder: Path, minutes: float) -> Path:
    """A project with one looped item over ``minutes``; returns the .rpp path."""
    sys.path.insert(0, str(HERE.parent))
    from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project

    rng = np.random.default_rng(0)
    t = np.arange(2 * RATE) / RATE
    beat = np.sin(2 * np.pi * 55.0 * t) * np.exp(-8.0 * (t % 0.5)) * 0.5
    loop = np.stack([beat + 0.05 * rng.standard_normal(t.size) for _ in range(2)])
    (folder / "media").mkdir()
    sf.write(folder / "media" / "loop.wav", loop.T.astype(np.float32), RATE, subtype="PCM_24")
    item = ItemSpec("media/loop.wav", 0.0, minutes * 60.0, loop=True)
    project = folder / "looped.rpp"
    project.write_text(new_project(RATE, 120.0, [TrackSpec("Loop {extract the drums}", (item,))]))
    return project


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--mode", choices=["item", "track"], default="item")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from dsp_memory import peak_rss_mb

    with tempfile.TemporaryDirectory(prefix="render-memory-") as folder:
        project = write_project(Path(folder), args.minutes)
        command = [
            sys.executable,
            "-m",
            "samaudio_daw",
            "render",
            str(project),
            "--mode",
            args.mode,
        ]
        peak_mb, wall_s = peak_rss_mb(command)
        stems = sorted((Path(folder) / "looped-stems").glob("*.wav"))
        frames = [sf.info(stem).frames for stem in stems]
    expected = round(args.minutes * 60.0 * RATE)
    result = {
        "benchmark": "render_memory",
        "mode": args.mode,
        "item_minutes": args.minutes,
        "source_s": 2.0,
        "sample_rate": RATE,
        "channels": 2,
        "stem_frames": frames,
        "peak_rss_mb": round(peak_mb, 1),
        "wall_s": round(wall_s, 1),
        "target_mb": 500,
        "passed": peak_mb < 500 and frames == [expected] * len(frames) and len(frames) == 2,
    }
    print(
        f"peak RSS rendering one {args.minutes:g}-min looped item ({args.mode} mode): "
        f"{peak_mb:.0f} MB "
        f"(target < 500), {len(frames)} stems of {frames[0] if frames else 0} frames"
    )
    print(f"wall time: {wall_s:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"render_memory_{args.mode}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
