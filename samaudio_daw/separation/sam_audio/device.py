"""Where the model runs and in what precision; what to tell the user when that goes badly."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch

from samaudio_daw.separation.sam_audio.errors import GpuMemoryError
from samaudio_daw.separation.sam_audio.model import SamAudio

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


class OutOfMemoryRetry(UserWarning):
    """A batch ran out of memory and is being retried with fewer pairs."""


class CpuSlowWarning(UserWarning):
    """SAM-Audio runs on the CPU, which takes far longer than the audio lasts."""


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; otherwise the named device, checked to exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} asked for, but this PyTorch sees no CUDA GPU; "
            "use --device cpu or install a CUDA build of PyTorch"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {name!r} asked for, but MPS is not available here; use --device cpu"
        )
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` → bfloat16 on CUDA, float32 elsewhere (CPU bf16 is slow; MPS bf16 needs macOS 14)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose auto, float32, bfloat16 or float16")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, MPS's RuntimeError for the same, and a failed CPU allocation."""
    if isinstance(error, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(error).lower()
    return "out of memory" in text or "can't allocate memory" in text


Item = TypeVar("Item")
Result = TypeVar("Result")


def in_batches(
    items: Sequence[Item],
    batch_size: int,
    run: Callable[[Sequence[Item], int], Result],
    give_up: Callable[[BaseException], Exception],
    device: torch.device,
) -> Iterator[tuple[Sequence[Item], Result]]:
    """Yield (batch, run(batch, items done before it)) over consecutive batches of ``items``.

    When a batch runs out of memory it is retried in halves, down to one item, with a
    warning each time; then ``give_up(error)`` is raised.
    """
    done = 0
    while done < len(items):
        batch = items[done : done + batch_size]
        try:
            result = run(batch, done)
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            if batch_size == 1:
                raise give_up(error) from error
            warnings.warn(
                OutOfMemoryRetry(
                    f"out of {device.type} memory with {len(batch)} clip-prompt pairs per batch; "
                    f"retrying with {max(1, len(batch) // 2)}"
                ),
                stacklevel=2,
            )
            batch_size = max(1, len(batch) // 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the failed batch's blocks, for the smaller retry
            elif device.type == "mps":
                torch.mps.empty_cache()
            continue
        yield batch, result
        done += len(batch)


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def out_of_memory_error(model: SamAudio, chunk_s: float, error: BaseException) -> GpuMemoryError:
    """A GpuMemoryError with the figures: model size, GPU size and use, and what to try."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    figures = f"the model's weights take {_gib(weights)}"
    if model.device.type == "cuda":
        free, total = torch.cuda.mem_get_info(model.device)
        figures += f"; the GPU has {_gib(total)}, {_gib(free)} free now"
    where = "GPU memory" if model.device.type != "cpu" else "memory"
    return GpuMemoryError(
        f"out of {where} separating {chunk_s:g} s chunks one at a time ({figures}). "
        f"Try a shorter chunk (--chunk {max(1.0, chunk_s / 2):g}), a smaller model "
        "(facebook/sam-audio-base or -small), --dtype bfloat16, or close other programs "
        f"using the GPU. ({error})"
    )


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
