"""`make bench`: every benchmark in one go, each in its own process, results in benchmarks/results/.

Runs the dsp speed and memory benchmarks, the render memory and --jobs speed-up, and the SAM-Audio
GPU benchmark (which skips itself with a message on a machine without CUDA). The
cluster benchmark runs too when Ray is installed, and the quality benchmark against the
free tools when its peers (`pip install .[bench]`) and FluidSynth and espeak-ng are there.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ["dsp_speed.py"],
    ["dsp_memory.py"],
    ["render_memory.py"],
    ["render_jobs.py"],
    ["sam_audio_gpu.py"],
]


def main() -> int:
    runs = list(BENCHMARKS)
    if importlib.util.find_spec("ray") is not None and (HERE / "render_ray.py").exists():
        runs.append(["render_ray.py"])
    peers = all(importlib.util.find_spec(name) for name in ("librosa", "noisereduce"))
    if peers and shutil.which("fluidsynth") and shutil.which("espeak-ng"):
        runs.append(["quality.py"])
    failed = []
    for argv in runs:
        print(f"\n== {' '.join(argv)} ==", flush=True)
        done = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], check=False)
        if done.returncode != 0:
            failed.append(argv[0])
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
