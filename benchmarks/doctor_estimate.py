"""How close `doctor`'s time estimate is: estimate from its short measurement, then the real
pipeline on the same machine, per model size (random weights of the real size).

    python benchmarks/doctor_estimate.py --sizes small,base --seconds 10 --steps 4

Prints one line per size: measurement time, estimate, measured, ratio (estimate/measured).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch

from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.sam_audio.config import config_for_size
from samaudio_daw.separation.sam_audio.machine import estimate_s, measure_speed, random_model
from samaudio_daw.separation.sam_audio.pipeline import TrackSettings, separate_track

HERE = Path(__file__).resolve().parent


def _gpu_benchmark():  # type: ignore[no-untyped-def]
    """benchmarks/sam_audio_gpu.py, for its random T5 encoder and test track."""
    spec = importlib.util.spec_from_file_location("sam_audio_gpu", HERE / "sam_audio_gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,base")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--chunk", type=float, default=10.0)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    bench = _gpu_benchmark()
    device, dtype = torch.device("cpu"), getattr(torch, args.dtype)
    rows = []
    for size in args.sizes.split(","):
        speed = measure_speed(size, device, dtype, args.chunk)  # type: ignore[arg-type]
        config = config_for_size(size)  # type: ignore[arg-type]
        estimate = estimate_s(speed, config, args.seconds, 1, args.steps)
        model = random_model(config, device, dtype)
        model.text_encoder = bench.random_text_encoder(config, device)
        audio = bench.test_track(args.seconds)
        settings = TrackSettings(steps=args.steps, chunk_s=args.chunk, batch_size=1)
        model.encode_text(["warm up"])
        start = time.perf_counter()
        separate_track(model, audio, bench.RATE_HZ, [Prompt("a sound")], settings)
        measured = time.perf_counter() - start
        row = {
            "size": size, "threads": torch.get_num_threads(), "audio_s": args.seconds,
            "steps": args.steps, "measure_s": round(speed.measure_s, 1),
            "dit_eval_s": round(speed.dit_eval_s, 3),
            "decode_s_per_audio_s": round(speed.decode_s_per_audio_s, 3),
            "encode_s_per_audio_s": round(speed.encode_s_per_audio_s, 3),
            "estimate_s": round(estimate, 1), "measured_s": round(measured, 1),
            "ratio": round(estimate / measured, 2),
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        del model
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
