"""What this machine can do with SAM-Audio: its devices, a short speed measurement, and
the model size, dtype, batch and chunk to use.

Speed comes from the machine, not from constants: ``measure_speed`` builds a model of the
real size with random weights (speed does not depend on the values) and times a few DiT
evaluations at the real clip length and the codec on one second of audio. ``estimate_s``
then counts those operations for a track, as the pipeline runs them.

GPU memory per batch item is counted from the sizes (activations of the DiT and the codec
decoder, the largest of them); it was not measured on a GPU here.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from samaudio_daw.separation.sam_audio.chunks import (
    DEFAULT_OVERLAP,
    frames_for_seconds,
    plan_chunks,
)
from samaudio_daw.separation.sam_audio.config import ModelSize, SamAudioConfig, config_for_size
from samaudio_daw.separation.sam_audio.model import Conditioning, SamAudio

SIZES_LARGEST_FIRST: tuple[ModelSize, ...] = ("large", "base", "small")
DEFAULT_CHUNK_S = 10.0
DECODER_BYTES_PER_SAMPLE = 8 * 96 * 4
"""Peak codec-decoder activation per output sample and batch item: about eight live float32
tensors of the last block's width (decoder_dim/16 = 96 channels at 48 kHz). On the CPU the
peak grew by about 2650 bytes per sample decoding 2 s with the released codec's sizes."""
MAX_AUTO_BATCH = 32
"""More pairs per batch gain nothing measurable once a GPU's matmuls are full."""
GPU_RESERVE_FRACTION = 0.15
"""Kept free for the allocator's fragmentation, the T5 encoder and other programs."""


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    kind: str
    """cuda or mps."""
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Machine:
    """Python, torch and the devices torch sees here."""

    python: str
    platform: str
    torch: str
    cuda_build: str | None
    """The CUDA version torch was built with; None for a CPU or MPS build."""
    mps_built: bool
    threads: int
    memory_bytes: int | None
    gpus: tuple[Gpu, ...]
    cpu_bf16: bool = False
    """The CPU multiplies bfloat16 natively (AMX or AVX512-BF16): the DiT runs about
    three times faster in bfloat16 there; elsewhere CPU bfloat16 is slower than float32."""


def describe_machine() -> Machine:
    return Machine(
        python=sys.version.split()[0],
        platform=f"{platform.system()} {platform.machine()}",
        torch=torch.__version__,
        cuda_build=torch.version.cuda,
        mps_built=torch.backends.mps.is_built(),
        threads=torch.get_num_threads(),
        memory_bytes=_memory_bytes(),
        gpus=tuple(_gpus()),
        cpu_bf16=_cpu_bf16(),
    )


def _cpu_bf16() -> bool:
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch >= 2.1
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[Gpu]:
    found = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            found.append(Gpu(index, torch.cuda.get_device_name(index), "cuda", total, free))
    elif torch.backends.mps.is_available():
        # Apple silicon shares system memory; torch reports what Metal recommends using.
        total = int(torch.mps.recommended_max_memory())
        found.append(
            Gpu(0, "Apple GPU (MPS)", "mps", total, free_memory_bytes(torch.device("mps")))
        )
    return found


T5_BASE_ENCODER_PARAMS = 109.6e6
"""t5-base's encoder, which runs beside the model in float32 (its width 768 = text dim)."""


def free_memory_bytes(device: torch.device) -> int:
    """Free memory on a CUDA GPU, or what Metal recommends minus what it has allocated (MPS)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    raise ValueError(f"no free-memory figure for device {device}")


def weights_bytes(config: SamAudioConfig, dtype: torch.dtype) -> int:
    """The audio-only model's weights: the DiT in ``dtype``, the codec and T5 in float32."""
    with torch.device("meta"):
        model = SamAudio(config)
    codec = sum(p.numel() for p in model.audio_codec.parameters())
    rest = sum(p.numel() for p in model.parameters()) - codec
    t5 = T5_BASE_ENCODER_PARAMS * (config.text.dim / 768) ** 2
    return int((codec + t5) * 4 + rest * torch.empty((), dtype=dtype).element_size())


def item_bytes(config: SamAudioConfig, chunk_s: float, dtype: torch.dtype) -> int:
    """Peak activation memory of one (clip, prompt) pair: the DiT's working set (a few
    (frames, FFN width) tensors) plus the codec decoder's (float32, 48 kHz), since on CUDA a
    batch is decoded while the next batch's ODE runs (pipeline.blend_clips)."""
    frames = frames_for_seconds(chunk_s, config.codec.sample_rate, config.codec.hop_samples)
    width = config.transformer.ffn_hidden_dim
    element = torch.empty((), dtype=dtype).element_size()
    dit = 6 * frames * width * element
    scale = config.codec.decoder_dim / 1536
    decoder = int(DECODER_BYTES_PER_SAMPLE * scale * chunk_s * config.codec.sample_rate)
    return dit + decoder


@dataclass(frozen=True)
class Plan:
    """What to run with on a device: model size, dtype, batch size and chunk length."""

    size: ModelSize
    dtype: str
    batch_size: int
    chunk_s: float
    why: str


def auto_batch(
    config: SamAudioConfig, free_bytes: int, dtype: torch.dtype, chunk_s: float, loaded: bool
) -> int:
    """Pairs per batch that fit ``free_bytes`` (the weights counted unless ``loaded``),
    1..MAX_AUTO_BATCH: the doctor's plan and the backend's default on CUDA and MPS."""
    usable = free_bytes * (1 - GPU_RESERVE_FRACTION)
    if not loaded:
        usable -= weights_bytes(config, dtype)
    return int(max(1, min(MAX_AUTO_BATCH, usable // item_bytes(config, chunk_s, dtype))))


def recommend(machine: Machine) -> Plan:
    """The largest released size whose weights and one 10 s pair fit the first GPU in
    bfloat16 (float16 on MPS before macOS 14 is not used: MPS gets float32); on the CPU,
    small with one pair at a time, its DiT in bfloat16 where the CPU has native bfloat16
    (``Machine.cpu_bf16``; the codec stays float32 either way), else float32."""
    gpu = machine.gpus[0] if machine.gpus else None
    cpu_dtype = "bfloat16" if machine.cpu_bf16 else "float32"
    cpu_why = "; the CPU has native bfloat16" if machine.cpu_bf16 else ""
    if gpu is None:
        return Plan("small", cpu_dtype, 1, DEFAULT_CHUNK_S, f"no GPU: small is the only size that runs in reasonable time on a CPU{cpu_why}")  # fmt: skip
    dtype = torch.bfloat16 if gpu.kind == "cuda" else torch.float32
    usable = gpu.free_bytes * (1 - GPU_RESERVE_FRACTION)
    for size in SIZES_LARGEST_FIRST:
        config = config_for_size(size)
        for chunk_s in (DEFAULT_CHUNK_S, 5.0):
            need = weights_bytes(config, dtype) + item_bytes(config, chunk_s, dtype)
            if need <= usable:
                batch = auto_batch(config, gpu.free_bytes, dtype, chunk_s, loaded=False)
                name = str(dtype).removeprefix("torch.")
                return Plan(size, name, batch, chunk_s, f"fits {gpu.name}: {_gib(need)} for the weights and one pair, {_gib(gpu.free_bytes)} free")  # fmt: skip
    return Plan("small", cpu_dtype, 1, 5.0, f"{gpu.name} has only {_gib(gpu.free_bytes)} free: not enough for small on the GPU, run on the CPU (--device cpu)")  # fmt: skip


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


@dataclass(frozen=True)
class Speed:
    """Measured on this machine for one size, device, dtype and clip length."""

    size: str
    device: str
    dtype: str
    chunk_s: float
    dit_eval_s: float
    """One DiT evaluation (a vector-field call) for one pair at the clip length."""
    encode_s_per_audio_s: float
    decode_s_per_audio_s: float
    measure_s: float


def random_model(config: SamAudioConfig, device: torch.device, dtype: torch.dtype) -> SamAudio:
    """SamAudio of ``config`` with random weights (scaled by fan-in so activations stay
    finite), no text encoder; the codec in float32, the rest in ``dtype``, as the loader."""
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
    return model.requires_grad_(False).eval()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _timed(
    device: torch.device,
    action: Callable[[], object],
    repeats: int,
    warm_up: Callable[[], object] | None = None,
) -> float:
    """Seconds per call of ``action()`` after one warm-up call (``warm_up()``, a cheaper
    one, when given), averaged over ``repeats`` (the mean, not the best: a real run meets
    the same load from other programs)."""
    (warm_up or action)()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        action()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def measure_speed(
    size: ModelSize | SamAudioConfig,
    device: torch.device,
    dtype: torch.dtype,
    chunk_s: float = DEFAULT_CHUNK_S,
    codec_s: float = 2.0,
    repeats: int = 1,
) -> Speed:
    """``measure_model`` on a random model of the real size (speed does not depend on the
    weights' values), including the time to build it."""
    started = time.perf_counter()
    config = size if isinstance(size, SamAudioConfig) else config_for_size(size)
    model = random_model(config, device, dtype)
    speed = measure_model(model, chunk_s, codec_s, repeats)
    name = size if isinstance(size, str) else "custom"
    return dataclasses.replace(speed, size=name, measure_s=time.perf_counter() - started)


@torch.inference_mode()
def measure_model(
    model: SamAudio, chunk_s: float = DEFAULT_CHUNK_S, codec_s: float = 2.0, repeats: int = 1
) -> Speed:
    """Time DiT evaluations at the clip length and the codec on ``codec_s`` of audio: two
    DiT calls and one codec pass each way, after short warm-ups. On the CPU the codec runs
    in tiles of bounded size (codec.in_tiles), so its cost per second of audio hardly
    depends on the length and ``codec_s`` of 2 s stands for a whole clip."""
    started = time.perf_counter()
    config, device, dtype = model.config, model.device, model.compute_dtype
    frames = frames_for_seconds(chunk_s, config.codec.sample_rate, config.codec.hop_samples)
    channels = config.latent_channels
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn((1, channels, frames), generator=generator).to(device)
    text_len = 8
    cond = Conditioning(
        audio_features=torch.cat([latent.transpose(1, 2)] * 2, -1).to(dtype),
        frame_mask=torch.ones((1, frames), dtype=torch.bool, device=device),
        anchor_term=torch.zeros((1, frames, config.transformer.dim), dtype=dtype, device=device),
        memory=torch.randn((1, text_len, config.transformer.dim), generator=generator).to(
            device, dtype
        ),
        memory_mask=torch.ones((1, text_len), dtype=torch.bool, device=device),
    )
    state = torch.randn((1, frames, 2 * channels), generator=generator).to(device)
    time_t = torch.full((1,), 0.5, device=device)
    dit = _timed(device, lambda: model.velocity(state, time_t, cond), repeats)
    codec_frames = frames_for_seconds(codec_s, config.codec.sample_rate, config.codec.hop_samples)
    audio = 0.1 * torch.randn((1, 1, codec_frames * config.codec.hop_samples), generator=generator)
    audio_s = audio.shape[-1] / config.codec.sample_rate
    short = audio[..., : 4 * config.codec.hop_samples]
    encode = _timed(device, lambda: model.encode_audio(audio), repeats, lambda: model.encode_audio(short))  # fmt: skip
    codec_latent = torch.randn((1, channels, codec_frames), generator=generator).to(device)
    bits = torch.zeros((1, 16), device=device)
    decode = _timed(device, lambda: model.decode(codec_latent, bits), repeats, lambda: model.decode(codec_latent[..., :4], bits))  # fmt: skip
    return Speed(
        size="loaded",
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        chunk_s=chunk_s,
        dit_eval_s=dit,
        encode_s_per_audio_s=encode / audio_s,
        decode_s_per_audio_s=decode / audio_s,
        measure_s=time.perf_counter() - started,
    )


def estimate_s(
    speed: Speed,
    config: SamAudioConfig,
    audio_s: float,
    prompts: int,
    steps: int,
    overlap: float = DEFAULT_OVERLAP,
) -> float:
    """Seconds to separate ``audio_s`` of audio with ``prompts`` prompts, from ``speed``:
    every clip is encoded once; every (clip, prompt) pair takes two DiT calls per ODE step
    and one decode of the clip's target. Clips as the pipeline cuts them."""
    rate, hop = config.codec.sample_rate, config.codec.hop_samples
    total = max(1, round(audio_s * rate / hop))
    chunk = frames_for_seconds(speed.chunk_s, rate, hop)
    plan = plan_chunks(total, chunk, overlap)
    clip_s = plan.chunk_frames * hop / rate
    # A DiT call costs about the same per frame at any clip length (attention is small).
    dit_s = speed.dit_eval_s * plan.chunk_frames / chunk
    pairs = len(plan.starts) * prompts
    encode = len(plan.starts) * clip_s * speed.encode_s_per_audio_s
    per_pair = 2 * steps * dit_s + clip_s * speed.decode_s_per_audio_s
    return encode + pairs * per_pair
