"""Peak memory of a 30-minute stereo 48 kHz separation with the dsp backend (issue 3).

Usage: python benchmarks/dsp_memory.py [--minutes 30] [--prompt "extract the drums"]

Writes the test file (24-bit WAV, about 520 MB) to a temporary folder, then runs the
separation in a fresh process under ``/usr/bin/time -v`` (the job runner's
streaming path: read in blocks, dsp through ``BlockStream``, target stem and
residual written as they are finished) and reads its peak resident set size.
Prints the figure (target < 500 MB, torch's own ~230 MB included) and writes JSON
to benchmarks/results/dsp_memory.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TIME = Path("/usr/bin/time")


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``command`` run under /usr/bin/time -v."""
    if not TIME.exists():
        raise SystemExit("/usr/bin/time is needed (apt-get install time)")
    started = time.perf_counter()
    done = subprocess.run([str(TIME), "-v", *command], capture_output=True, text=True)
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the separation failed:\n{done.stdout}\n{done.stderr}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no peak RSS in /usr/bin/time's report:\n{done.stderr}")
    return int(found.group(1)) / 1024.0, wall_s


def child(source: Path, output_dir: Path, prompt: str) -> int:
    """The measured process: one streaming separation, nothing else."""
    sys.path.insert(0, str(Path(__file__).parent))
    from dsp_speed import separate_file

    frames = separate_file(source, output_dir, prompt)
    print(f"separated {frames} frames")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--prompt", default="extract the drums")
    parser.add_argument(
        "--child", nargs=2, metavar=("SOURCE", "OUTPUT_DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        return child(Path(args.child[0]), Path(args.child[1]), args.prompt)
    sys.path.insert(0, str(Path(__file__).parent))
    from dsp_speed import write_test_file

    with tempfile.TemporaryDirectory(prefix="dsp-memory-") as folder:
        source = write_test_file(Path(folder) / "long.wav", args.minutes * 60.0)
        out = Path(folder) / "out"
        out.mkdir()
        command = [
            sys.executable,
            __file__,
            "--prompt",
            args.prompt,
            "--child",
            str(source),
            str(out),
        ]
        peak_mb, wall_s = peak_rss_mb(command)
    result = {
        "benchmark": "dsp_memory",
        "audio_minutes": args.minutes,
        "sample_rate": 48000,
        "channels": 2,
        "prompt": args.prompt,
        "peak_rss_mb": round(peak_mb, 1),
        "wall_s": round(wall_s, 1),
        "target_mb": 500,
        "passed": peak_mb < 500,
    }
    print(
        f"peak RSS separating {args.minutes:g} min stereo 48 kHz: {peak_mb:.0f} MB (target < 500)"
    )
    print(f"wall time: {wall_s:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dsp_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
