"""SAM-Audio speed and GPU memory: real-time factor for a track, per model size, dtype and chunk.

Builds randomly initialised models of the released sizes (small, base, large; SPEC §8; speed
does not depend on the weight values, so no gated checkpoint is needed) and runs the real
backend pipeline (resampling, clips, ODE, codec, masks) on a stereo 44.1 kHz track.

    python benchmarks/sam_audio_gpu.py                      # 3-minute track, all sizes, GPU
    python benchmarks/sam_audio_gpu.py --sizes large --dtypes bfloat16 --chunks 5,10,20
    python benchmarks/sam_audio_gpu.py --sizes tiny --device cpu --seconds 5   # smoke test
    python benchmarks/sam_audio_gpu.py --quick     # small/base/large bf16, 3 min, 1 and 4 prompts
    python benchmarks/sam_audio_gpu.py --cpu       # small and base on 1 and 2 CPU threads
    python benchmarks/sam_audio_gpu.py --quick --batch-size auto --decode-beside off

Writes JSON (``--out``) and prints a Markdown table: real-time factor, peak GPU memory and
the achieved TFLOP/s of one DiT evaluation (FLOPs counted by torch's FlopCounterMode over
a batch of pairs at the clip length). ``--quick`` is sized to finish within about 8 minutes
on one H200-class GPU including compilation. ``--cpu`` times one DiT evaluation and the
codec per size and thread count (machine.measure_model) and estimates a 10 s clip and a
3-minute song from them, since whole tracks take hours there. Real sizes need CUDA except
in ``--cpu``: without it they are skipped with a message (exit status 0).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.sam_audio.chunks import frames_for_seconds
from samaudio_daw.separation.sam_audio.compiled import COMPILE_MODES, compile_model
from samaudio_daw.separation.sam_audio.config import ModelSize, SamAudioConfig, config_for_size
from samaudio_daw.separation.sam_audio.device import DTYPES, dtype_name, is_out_of_memory
from samaudio_daw.separation.sam_audio.machine import (
    auto_batch,
    estimate_s,
    free_memory_bytes,
    measure_model,
)
from samaudio_daw.separation.sam_audio.machine import random_model as machine_random_model
from samaudio_daw.separation.sam_audio.model import Conditioning, SamAudio
from samaudio_daw.separation.sam_audio.pipeline import TrackSettings, separate_track
from samaudio_daw.separation.sam_audio.text import TextEncoder

SIZES: tuple[ModelSize, ...] = ("tiny", "small", "base", "large")
RATE_HZ = 44100
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sam_audio_gpu.json"


@dataclass(frozen=True)
class Measurement:
    """One (size, dtype, chunk, prompts) run: wall time, real-time factor, peak GPU memory,
    and the achieved TFLOP/s of one DiT evaluation of a batch."""

    size: str
    dtype: str
    chunk_s: float
    audio_s: float
    wall_s: float
    real_time_factor: float
    peak_gpu_gib: float | None
    weights_gib: float
    prompts: int = 1
    dit_tflops: float | None = None
    error: str = ""


class HashTokenizer:
    """Stands in for the T5 tokenizer offline: word hashes as ids, ``</s>`` = 1 appended, pad 0."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def __call__(self, texts: Sequence[str], **_: Any) -> dict[str, torch.Tensor]:
        rows = [
            [3 + zlib.crc32(w.encode()) % (self.vocab_size - 3) for w in t.split()] + [1]
            for t in texts
        ]
        width = max(len(row) for row in rows)
        ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def random_text_encoder(config: SamAudioConfig, device: torch.device) -> TextEncoder:
    """A randomly initialised T5 encoder of the configured width (t5-base for real sizes)."""
    from transformers import T5Config, T5EncoderModel

    tiny = config.text.dim < 256
    t5 = T5Config(
        d_model=config.text.dim,
        d_kv=8 if tiny else 64,
        d_ff=2 * config.text.dim if tiny else 3072,
        num_layers=2 if tiny else 12,
        num_heads=4 if tiny else 12,
        vocab_size=32 if tiny else 32128,
        feed_forward_proj="relu",
    )
    model = T5EncoderModel(t5).to(device)  # type: ignore[arg-type]
    return TextEncoder(model, HashTokenizer(t5.vocab_size), config.text)


def random_model(size: ModelSize, device: torch.device, dtype: torch.dtype) -> SamAudio:
    """The doctor's random-weight model of ``size`` plus a random text encoder."""
    config = config_for_size(size)
    model = machine_random_model(config, device, dtype)
    model.text_encoder = random_text_encoder(config, device)
    return model


def test_track(seconds: float) -> torch.Tensor:
    """Stereo noise with a slow level change, (2, frames) at 44.1 kHz."""
    generator = torch.Generator().manual_seed(1)
    frames = round(seconds * RATE_HZ)
    envelope = 0.5 + 0.4 * torch.sin(torch.linspace(0, 20, frames))
    return 0.1 * torch.randn((2, frames), generator=generator) * envelope


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_conditioning(model: SamAudio, pairs: int, chunk_s: float) -> Conditioning:
    """Conditioning of ``pairs`` unpadded clips of ``chunk_s`` with 12 text tokens each."""
    config, device, dtype = model.config, model.device, model.compute_dtype
    frames = frames_for_seconds(chunk_s, config.codec.sample_rate, config.codec.hop_samples)
    dim, channels = config.transformer.dim, 2 * config.latent_channels

    def noise(*shape: int) -> torch.Tensor:
        return torch.randn(shape, device=device).to(dtype)

    return Conditioning(
        noise(pairs, frames, channels),
        torch.ones(pairs, frames, dtype=torch.bool, device=device),
        0.1 * noise(pairs, frames, dim),
        noise(pairs, 12, dim),
        torch.ones(pairs, 12, dtype=torch.bool, device=device),
    )


@torch.inference_mode()
def dit_tflops(model: SamAudio, pairs: int, chunk_s: float, repeats: int = 3) -> float:
    """Achieved TFLOP/s of one vector-field evaluation for ``pairs`` clips (after a warm-up)."""
    from torch.utils.flop_counter import FlopCounterMode

    cond = random_conditioning(model, pairs, chunk_s)
    state = torch.randn(cond.audio_features.shape, device=model.device)
    time_ = torch.full((pairs,), 0.5, device=model.device)
    model.velocity(state, time_, cond)
    counter = FlopCounterMode(display=False)
    with counter:
        model.velocity(state, time_, cond)
    synchronize(model.device)
    start = time.perf_counter()
    for _ in range(repeats):
        model.velocity(state, time_, cond)
    synchronize(model.device)
    seconds = (time.perf_counter() - start) / repeats
    return counter.get_total_flops() / seconds / 1e12


def measure(
    model: SamAudio,
    size: str,
    audio: torch.Tensor,
    settings: TrackSettings,
    prompts: int,
    decode_beside: bool | None = None,
) -> Measurement:
    """Warm up on one clip, then time the whole track and read the peak GPU memory."""
    device = model.device
    asks = [Prompt(f"sound number {i}") for i in range(prompts)]
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    audio_s = audio.shape[-1] / RATE_HZ
    warmup = audio[:, : round(min(audio_s, settings.chunk_s) * RATE_HZ)]
    separate_track(model, warmup, RATE_HZ, asks, settings, decode_beside=decode_beside)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    separate_track(model, audio, RATE_HZ, asks, settings, decode_beside=decode_beside)
    synchronize(device)
    wall = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return Measurement(
        size,
        dtype_name(model.compute_dtype),
        settings.chunk_s,
        audio_s,
        wall,
        wall / audio_s,
        peak,
        weights,
        prompts,
        dit_tflops(model, settings.batch_size, settings.chunk_s),
    )


def failed(
    size: str, dtype: str, chunk_s: float, audio_s: float, prompts: int, error: BaseException
) -> Measurement:
    return Measurement(
        size, dtype, chunk_s, audio_s, 0.0, float("nan"), None, 0.0, prompts, None, str(error)[:200]
    )


def batch_size(model: SamAudio, args: argparse.Namespace, chunk_s: float) -> int:
    """``--batch-size``: a number, or auto (free GPU memory, as the backend; 8 elsewhere)."""
    if args.batch_size != "auto":
        return int(args.batch_size)
    if model.device.type not in ("cuda", "mps"):
        return 8
    free = free_memory_bytes(model.device)
    return auto_batch(model.config, free, model.compute_dtype, chunk_s, loaded=True)


def run_size(size: ModelSize, args: argparse.Namespace, audio: torch.Tensor) -> list[Measurement]:
    """Every dtype, chunk length and prompt count for one model size; out-of-memory runs are
    recorded, not fatal."""
    device = torch.device(args.device)
    audio_s = audio.shape[-1] / RATE_HZ
    results = []
    for dtype in args.dtypes:
        try:
            model = random_model(size, device, DTYPES[dtype])
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            results += [
                failed(size, dtype, c, audio_s, n, error) for c in args.chunks for n in args.prompts
            ]
            continue
        compile_model(model, args.compile)
        beside = {"auto": None, "on": True, "off": False}[args.decode_beside]
        for chunk_s in args.chunks:
            settings = TrackSettings(
                steps=args.steps, chunk_s=chunk_s, batch_size=batch_size(model, args, chunk_s)
            )
            for prompts in args.prompts:
                try:
                    results.append(measure(model, size, audio, settings, prompts, beside))
                except (RuntimeError, MemoryError) as error:
                    if not is_out_of_memory(error):
                        raise
                    results.append(failed(size, dtype, chunk_s, audio_s, prompts, error))
                print(format_row(results[-1]), flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


TABLE_HEADER = (
    "| size | dtype | chunk s | audio s | prompts | wall s | RTF | x real time | peak GPU GiB "
    "| weights GiB | DiT TFLOP/s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def format_row(m: Measurement) -> str:
    head = f"| {m.size} | {m.dtype} | {m.chunk_s:g} | {m.audio_s:g} | {m.prompts} |"
    if m.error:
        return f"{head} failed: {m.error} ||||||"
    peak = f"{m.peak_gpu_gib:.2f}" if m.peak_gpu_gib is not None else "-"
    flops = f"{m.dit_tflops:.3g}" if m.dit_tflops is not None else "-"
    return (
        f"{head} {m.wall_s:.1f} | {m.real_time_factor:.3f} | {1 / m.real_time_factor:.1f} | "
        f"{peak} | {m.weights_gib:.2f} | {flops} |"
    )


CPU_HEADER = (
    "| size | threads | DiT eval s (clip) | encode s/s | decode s/s | est. 10 s clip s "
    "| est. 3 min, 1 prompt, min |\n"
    "|---|---|---|---|---|---|---|"
)


def run_cpu(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--cpu``: measure_model per size and thread count; estimates from machine.estimate_s."""
    rows = []
    before = torch.get_num_threads()
    try:
        for size in args.sizes:
            model = random_model(size, torch.device("cpu"), torch.float32)
            for threads in args.threads:
                torch.set_num_threads(threads)
                speed = measure_model(model, args.chunks[0])
                clip = estimate_s(speed, model.config, 10.0, 1, args.steps)
                song = estimate_s(speed, model.config, 180.0, 1, args.steps)
                row = {**asdict(speed), "size": size, "threads": threads}
                row |= {"estimate_10s_clip_s": clip, "estimate_3min_s": song}
                rows.append(row)
                print(
                    f"| {size} | {threads} | {speed.dit_eval_s:.2f} | "
                    f"{speed.encode_s_per_audio_s:.2f} | {speed.decode_s_per_audio_s:.2f} | "
                    f"{clip:.0f} | {song / 60:.0f} |",
                    flush=True,
                )
            del model
    finally:
        torch.set_num_threads(before)
    return rows


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="small,base,large", help=f"comma list of {', '.join(SIZES)}"
    )
    parser.add_argument("--dtypes", default="bfloat16,float16,float32", help="comma list")
    parser.add_argument("--chunks", default="5,10,20", help="chunk lengths in seconds, comma list")
    parser.add_argument("--seconds", type=float, default=180.0, help="track length (default 3 min)")
    parser.add_argument("--steps", type=int, default=16, help="ODE steps (default 16, as official)")
    parser.add_argument("--prompts", default="1", help="prompts separated at once, comma list")
    parser.add_argument(
        "--batch-size",
        default="8",
        help="(clip, prompt) pairs per pass, or auto: fitted to free GPU memory as the backend "
        "does (machine.auto_batch, up to 32)",
    )
    parser.add_argument(
        "--decode-beside",
        choices=("auto", "on", "off"),
        default="auto",
        help="decode a batch while the next batch's ODE runs (auto: on CUDA)",
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--compile", choices=COMPILE_MODES, default="auto", help="torch.compile (auto: CUDA only)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small,base,large in bfloat16, 10 s chunks, 3-minute track, 1 and 4 prompts",
    )
    parser.add_argument(
        "--cpu", action="store_true", help="small and base on the CPU: DiT and codec timings"
    )
    parser.add_argument("--threads", default="1,2", help="--cpu: thread counts, comma list")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.dtypes, args.chunks = "small,base,large", "bfloat16", "10"
        args.seconds, args.prompts = 180.0, "1,4"
    if args.cpu:
        given = argv if argv is not None else []
        args.sizes = args.sizes if "--sizes" in given else "small,base"
        args.device, args.dtypes, args.chunks = "cpu", "float32", "10"
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.chunks = [float(c) for c in args.chunks.split(",") if c]
    args.prompts = [int(p) for p in args.prompts.split(",") if p]
    args.threads = [int(t) for t in args.threads.split(",") if t]
    unknown = [s for s in args.sizes if s not in SIZES] + [
        d for d in args.dtypes if d not in DTYPES
    ]
    if unknown:
        parser.error(f"unknown size or dtype: {', '.join(unknown)}")
    return args


def runnable_sizes(args: argparse.Namespace) -> tuple[list[ModelSize], list[str]]:
    """Sizes to run here, and a message for each skipped one (real sizes need CUDA)."""
    has_cuda = args.device.startswith("cuda") and torch.cuda.is_available()
    run, skipped = [], []
    for size in args.sizes:
        if size == "tiny" or has_cuda:
            run.append(size)
        else:
            skipped.append(
                f"skipped {size}: a real model size needs a CUDA GPU (device {args.device!r}, "
                f"CUDA available: {torch.cuda.is_available()}); use --sizes tiny for a smoke test"
            )
    return run, skipped


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.cpu:
        print(CPU_HEADER, flush=True)
        cpu_report = {
            "device": "cpu",
            "torch": torch.__version__,
            "python": platform.python_version(),
            "steps": args.steps,
            "cpu": run_cpu(args),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(cpu_report, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    sizes, skipped = runnable_sizes(args)
    for message in skipped:
        print(message, file=sys.stderr)
    print(TABLE_HEADER, flush=True)
    audio = test_track(args.seconds).to(torch.float32)
    results = [m for size in sizes for m in run_size(size, args, audio)]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    report = {
        "device": args.device,
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "steps": args.steps,
        "prompts": args.prompts,
        "results": [asdict(m) for m in results],
        "skipped": skipped,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
