"""Speed of the dsp backend against a plain STFT round trip of the same file (issue 8).

Usage: python benchmarks/dsp_speed.py [--seconds 180] [--prompt "extract the drums"] [--repeats 3]

Writes a stereo 48 kHz 24-bit WAV (drums, chords, speech-like voice, hiss) to a
temporary folder, then times, in one run and in the same process:

- separate: the job runner's streaming path (``samaudio_daw.jobs.stems.separate_item``:
  read in blocks, dsp backend through ``BlockStream``, write the target stem and the
  residual);
- round trip: read the whole file, STFT, inverse STFT, write one file, with the dsp
  backend's own STFT settings and code.

Each is timed ``--repeats`` times and the fastest run counts (the machine is shared).
Prints both times, their ratio (target <= 3) and the real-time factor of separate
(target >= 30x), and writes JSON to benchmarks/results/dsp_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from samaudio_daw.audio.io import StemWriter, read_audio, write_audio
from samaudio_daw.separation.dsp import ALGORITHM_VERSION, DspSeparator
from samaudio_daw.separation.dsp.stft import StftSettings, analyse, synthesise

RATE = 48000
RESULTS = Path(__file__).parent / "results"


def write_test_file(path: Path, seconds: float, sample_rate: int = RATE) -> Path:
    """A stereo mix, written 10 s at a time so long files need little memory."""
    rng = np.random.default_rng(0)
    block = 10 * sample_rate
    total = int(seconds * sample_rate)
    with StemWriter(path, sample_rate, 2, "24") as writer:
        for start in range(0, total, block):
            writer.write(_mix_section(start, min(block, total - start), sample_rate, rng))
        writer.commit()
    return path


def _mix_section(start: int, frames: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = (start + np.arange(frames)) / rate
    chord = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    voice = 0.1 * np.sin(2 * np.pi * (150 + 20 * np.sin(2 * np.pi * 0.7 * t)) * t)
    voice *= np.sin(np.pi * 2.0 * t) ** 2
    beat = np.exp(-((start + np.arange(frames)) % (rate // 2)) / (0.02 * rate))
    drums = 0.3 * beat * rng.standard_normal(frames)
    hiss = 0.005 * rng.standard_normal((2, frames))
    left, right = chord + voice + drums, 0.8 * chord + voice + 0.9 * drums
    return (np.stack([left, right]) + hiss).astype(np.float32)


def separate_file(path: Path, output_dir: Path, prompt: str) -> int:
    """Read, separate with dsp (streaming, as the job runner does), write target + residual."""
    from samaudio_daw.jobs.stems import ItemAudio, plan_stems, separate_item
    from samaudio_daw.presets import preset_for_prompts
    from samaudio_daw.separation.base import Prompt

    preset = preset_for_prompts([prompt], keep_residual=True)
    plans = plan_stems(path.stem, preset, output_dir, "wav", keep_residual=True)
    return separate_item(
        ItemAudio(path, None, "wav"),
        preset,
        [Prompt(stem.prompt) for stem in preset.stems],
        plans,
        DspSeparator(),
        progress=lambda fraction: None,
        cancel=lambda: False,
    )


def round_trip_file(path: Path, output_dir: Path) -> int:
    """Read the whole file, STFT and inverse STFT with dsp's settings, write it back."""
    audio, rate = read_audio(path)
    settings = StftSettings.for_sample_rate(rate)
    restored = synthesise(analyse(audio, settings), settings, audio.shape[1])
    write_audio(output_dir / f"{path.stem}.roundtrip.wav", restored, rate, "24")
    return restored.shape[1]


def fastest(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--prompt", default="extract the drums")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dsp-speed-") as folder:
        source = write_test_file(Path(folder) / "mix.wav", args.seconds)
        out = Path(folder) / "out"
        out.mkdir()
        separate_s = fastest(lambda: separate_file(source, out, args.prompt), args.repeats)
        round_trip_s = fastest(lambda: round_trip_file(source, out), args.repeats)
    result = {
        "benchmark": "dsp_speed",
        "algorithm_version": ALGORITHM_VERSION,
        "audio_s": args.seconds,
        "sample_rate": RATE,
        "channels": 2,
        "prompt": args.prompt,
        "separate_s": round(separate_s, 3),
        "round_trip_s": round(round_trip_s, 3),
        "ratio": round(separate_s / round_trip_s, 3),
        "real_time_factor": round(args.seconds / separate_s, 1),
        "targets": {"ratio_max": 3.0, "real_time_factor_min": 30.0},
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
    }
    result["passed"] = result["ratio"] <= 3.0 and result["real_time_factor"] >= 30.0
    print(f"separate ({args.prompt!r}, dsp): {separate_s:.2f} s")
    print(f"STFT round trip:            {round_trip_s:.2f} s")
    print(f"ratio: {result['ratio']:.2f} (target <= 3)")
    print(f"real-time factor: {result['real_time_factor']:.1f}x (target >= 30x)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dsp_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
