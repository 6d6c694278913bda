"""Anchors: time spans where the target is (``+``) or is not (``-``) heard (SPEC §4).

``encode_anchors`` turns spans into token ids and a per-frame alignment; ``AnchorEmbedding``
turns those into a gated (B, T, D) term added to the DiT input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

NULL_ID, PLUS_ID, MINUS_ID, PAD_ID = 0, 1, 2, 3
_SIGN_IDS = {"+": PLUS_ID, "-": MINUS_ID}


@dataclass(frozen=True)
class Anchor:
    """A span in seconds from the start of the item's audio."""

    sign: Literal["+", "-"]
    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if self.sign not in _SIGN_IDS:
            raise ValueError(f"anchor sign must be '+' or '-', got {self.sign!r}")
        if not 0.0 <= self.start_s < self.end_s:
            raise ValueError(f"anchor needs 0 <= start_s < end_s, got {self.start_s}..{self.end_s}")


def frame_of(time_s: float, sample_rate: int, hop_samples: int) -> int:
    """First latent frame at or after ``time_s``: ceil(time·sr/hop), in float as the official code."""
    return math.ceil(time_s * sample_rate / hop_samples)


def encode_anchors(
    anchors: Sequence[Sequence[Anchor]],
    frame_counts: Sequence[int],
    n_frames: int,
    sample_rate: int,
    hop_samples: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, K) int64 and alignment (B, n_frames) int64 for a batch.

    Each item's ids are [<null>, <pad>, one id per anchor], right-padded with <pad>.
    Valid frames point at slot 0 (<null>), padded frames at slot 1 (<pad>); each anchor
    then claims frames ceil(start) : ceil(end) (end exclusive, later anchors win).
    """
    width = 2 + max((len(item) for item in anchors), default=0)
    ids = torch.full((len(anchors), width), PAD_ID, dtype=torch.int64)
    alignment = torch.ones((len(anchors), n_frames), dtype=torch.int64)
    for b, (item, valid) in enumerate(zip(anchors, frame_counts, strict=True)):
        ids[b, 0] = NULL_ID
        alignment[b, :valid] = 0
        for j, anchor in enumerate(item):
            ids[b, 2 + j] = _SIGN_IDS[anchor.sign]
            start = frame_of(anchor.start_s, sample_rate, hop_samples)
            end = frame_of(anchor.end_s, sample_rate, hop_samples)
            alignment[b, start:end] = 2 + j
    return ids, alignment


class AnchorEmbedding(nn.Module):
    """tanh(gate)·proj(embed[ids.gather(alignment)]): (B, K), (B, T) → (B, T, D)."""

    def __init__(self, num_anchors: int, embedding_dim: int, dim: int) -> None:
        super().__init__()
        # The stored pad row is used as-is; padding_idx only matters for training.
        self.embed = nn.Embedding(num_anchors + 1, embedding_dim)
        self.proj = nn.Linear(embedding_dim, dim, bias=False)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, ids: torch.Tensor, alignment: torch.Tensor) -> torch.Tensor:
        per_frame = ids.gather(1, alignment)
        return torch.tanh(self.gate) * self.proj(self.embed(per_frame))
