"""SAM-Audio speed and GPU memory: real-time factor for a track, per model size, dtype and chunk.

Builds randomly initialised models of the released sizes (small, base, large; SPEC §8; speed
does not depend on the weight values, so no gated checkpoint is needed) and runs the real
backend pipeline (resampling, clips, ODE, codec, masks) on a stereo 44.1 kHz track.

    python benchmarks/sam_audio_gpu.py                      # 3-minute track, all sizes, GPU
    python benchmarks/sam_audio_gpu.py --sizes large --dtypes bfloat16 --chunks 5,10,20
    python benchmarks/sam_audio_gpu.py --sizes tiny --device cpu --seconds 5   # smoke test

Writes JSON (``--out``) and prints a Markdown table. Real sizes need CUDA: without it they
are skipped with a message (exit status 0).
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
from samaudio_daw.separation.sam_audio.config import ModelSize, SamAudioConfig, config_for_size
from samaudio_daw.separation.sam_audio.device import DTYPES, dtype_name, is_out_of_memory
from samaudio_daw.separation.sam_audio.model import SamAudio
from samaudio_daw.separation.sam_audio.pipeline import TrackSettings, separate_track
from samaudio_daw.separation.sam_audio.text import TextEncoder

SIZES: tuple[ModelSize, ...] = ("tiny", "small", "base", "large")
RATE_HZ = 44100
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sam_audio_gpu.json"


@dataclass(frozen=True)
class Measurement:
    """One (size, dtype, chunk) run: wall time, real-time factor, peak GPU memory."""

    size: str
    dtype: str
    chunk_s: float
    audio_s: float
    wall_s: float
    real_time_factor: float
    peak_gpu_gib: float | None
    weights_gib: float
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
    """SamAudio of ``size`` with random weights (scaled by fan-in so activations stay finite);
    the codec in float32, the rest in ``dtype``, as the loader does."""
    config = config_for_size(size)
    with torch.device("meta"):
        model = SamAudio(config)
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            fan_in = param[0].numel() if param.dim() > 1 else 1
            param.normal_(0.0, fan_in**-0.5 if param.dim() > 1 else 0.02, generator=generator)
            if name.endswith("alpha") or (name.endswith("weight") and param.dim() == 1):
                param.add_(1.0)  # norm weights and Snake alphas near one, as trained ones are
    model.to(dtype)
    model.audio_codec.float()
    model.text_encoder = random_text_encoder(config, device)
    return model.requires_grad_(False).eval()


def test_track(seconds: float) -> torch.Tensor:
    """Stereo noise with a slow level change, (2, frames) at 44.1 kHz."""
    generator = torch.Generator().manual_seed(1)
    frames = round(seconds * RATE_HZ)
    envelope = 0.5 + 0.4 * torch.sin(torch.linspace(0, 20, frames))
    return 0.1 * torch.randn((2, frames), generator=generator) * envelope


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model: SamAudio, size: str, audio: torch.Tensor, settings: TrackSettings, prompts: int
) -> Measurement:
    """Warm up on one clip, then time the whole track and read the peak GPU memory."""
    device = model.device
    asks = [Prompt(f"sound number {i}") for i in range(prompts)]
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    audio_s = audio.shape[-1] / RATE_HZ
    warmup = audio[:, : round(min(audio_s, settings.chunk_s) * RATE_HZ)]
    separate_track(model, warmup, RATE_HZ, asks, settings)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    separate_track(model, audio, RATE_HZ, asks, settings)
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
    )


def failed(
    size: str, dtype: str, chunk_s: float, audio_s: float, error: BaseException
) -> Measurement:
    return Measurement(
        size, dtype, chunk_s, audio_s, 0.0, float("nan"), None, 0.0, str(error)[:200]
    )


def run_size(size: ModelSize, args: argparse.Namespace, audio: torch.Tensor) -> list[Measurement]:
    """Every dtype and chunk length for one model size; out-of-memory runs are recorded, not fatal."""
    device = torch.device(args.device)
    results = []
    for dtype in args.dtypes:
        try:
            model = random_model(size, device, DTYPES[dtype])
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            results += [
                failed(size, dtype, c, audio.shape[-1] / RATE_HZ, error) for c in args.chunks
            ]
            continue
        for chunk_s in args.chunks:
            settings = TrackSettings(steps=args.steps, chunk_s=chunk_s, batch_size=args.batch_size)
            try:
                results.append(measure(model, size, audio, settings, args.prompts))
            except (RuntimeError, MemoryError) as error:
                if not is_out_of_memory(error):
                    raise
                results.append(failed(size, dtype, chunk_s, audio.shape[-1] / RATE_HZ, error))
            print(format_row(results[-1]), flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


TABLE_HEADER = (
    "| size | dtype | chunk s | audio s | wall s | RTF | x real time | peak GPU GiB | weights GiB |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def format_row(m: Measurement) -> str:
    if m.error:
        return f"| {m.size} | {m.dtype} | {m.chunk_s:g} | {m.audio_s:g} | failed: {m.error} ||||||"
    peak = f"{m.peak_gpu_gib:.2f}" if m.peak_gpu_gib is not None else "-"
    return (
        f"| {m.size} | {m.dtype} | {m.chunk_s:g} | {m.audio_s:g} | {m.wall_s:.1f} | "
        f"{m.real_time_factor:.3f} | {1 / m.real_time_factor:.1f} | {peak} | {m.weights_gib:.2f} |"
    )


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
    parser.add_argument("--prompts", type=int, default=1, help="prompts separated at once")
    parser.add_argument("--batch-size", type=int, default=8, help="(clip, prompt) pairs per pass")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.chunks = [float(c) for c in args.chunks.split(",") if c]
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
