"""Cut a track into equal, overlapping, hop-aligned clips and blend per-clip results back.

The models were trained on clips of about 10 s. Clips here all have the same length (the
last one ends at the track's end and overlaps its neighbour more), so they batch without
padding. Results are blended with triangular weights (as Demucs does): each clip's
weight falls towards its edges, and dividing by the summed weights turns the overlaps into
smooth crossfades while leaving single-covered stretches untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DEFAULT_OVERLAP = 0.15
"""Fraction of a clip shared with the next. benchmarks/sam_audio_seams.py: averaged over 4
seeds, the level and tone steps at the seams at 0.15 are no larger than at 0.25 (the former
default), on 6 s and on 12 s tracks, for 1.18x the DiT work of no overlap instead of 1.33x."""


@dataclass(frozen=True)
class ChunkPlan:
    """Clip positions in latent frames: clip i covers frames starts[i] : starts[i] + chunk_frames."""

    chunk_frames: int
    starts: tuple[int, ...]
    total_frames: int

    def __post_init__(self) -> None:
        if self.chunk_frames < 1 or self.chunk_frames > self.total_frames:
            raise ValueError(
                f"chunk of {self.chunk_frames} frames does not fit a track of {self.total_frames}"
            )


def frames_for_seconds(seconds: float, sample_rate: int, hop_samples: int) -> int:
    """The number of latent frames closest to ``seconds`` (at least one)."""
    return max(1, round(seconds * sample_rate / hop_samples))


def plan_chunks(total_frames: int, chunk_frames: int, overlap: float) -> ChunkPlan:
    """Equal clips of ``chunk_frames`` covering ``total_frames``, overlapping by ``overlap``.

    A track no longer than one clip is one clip of its own length.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if total_frames <= chunk_frames:
        return ChunkPlan(total_frames, (0,), total_frames)
    step = max(1, round(chunk_frames * (1.0 - overlap)))
    starts = list(range(0, total_frames - chunk_frames, step))
    starts.append(total_frames - chunk_frames)
    return ChunkPlan(chunk_frames, tuple(starts), total_frames)


def triangle(length: int, device: torch.device | None = None) -> torch.Tensor:
    """(length,) float32 weights min(k+1, length−k): highest mid-clip, never zero."""
    k = torch.arange(length, device=device, dtype=torch.float32)
    return torch.minimum(k + 1, length - k)


class OverlapAdd:
    """Per row, a weighted sum of clip results along the last axis, divided by the summed weights.

    ``shape`` is (rows, ..., length); a row is one prompt.
    """

    def __init__(self, shape: tuple[int, ...], device: torch.device) -> None:
        self.total = torch.zeros(shape, device=device, dtype=torch.float32)
        self.weight = torch.zeros((shape[0], shape[-1]), device=device, dtype=torch.float32)

    def add(self, row: int, start: int, values: torch.Tensor) -> None:
        """Blend ``values`` (..., length) into ``row`` at ``start`` with a triangular weight."""
        length = values.shape[-1]
        weights = triangle(length, self.total.device)
        self.total[row, ..., start : start + length] += values.float() * weights
        self.weight[row, start : start + length] += weights

    def result(self) -> torch.Tensor:
        """(rows, ..., length) float32; positions no clip covered stay zero."""
        shape = (self.weight.shape[0],) + (1,) * (self.total.dim() - 2) + (self.weight.shape[1],)
        return self.total / self.weight.clamp(min=1e-12).reshape(shape)
