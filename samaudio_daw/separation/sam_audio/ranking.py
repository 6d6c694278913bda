"""Choosing among several noise candidates of one (clip, prompt) pair.

The official model draws several candidates and keeps the one its text ranker (a CLAP
model, named in config.json as ``text_ranker``) prefers. That ranker is not part of this
implementation; instead the user chooses one of two rules computed from the candidates:

- ``presence``: the candidate with the highest presence score (presence.py): the one whose
  sound the mixture accounts for best, i.e. the least invented.
- ``consensus``: the candidate whose magnitude spectrogram is closest to the candidates'
  median: the most typical draw, which leaves out a single odd one.
"""

from __future__ import annotations

from typing import Literal

import torch

from samaudio_daw.separation.sam_audio.masks import StftGrid
from samaudio_daw.separation.sam_audio.presence import presence_scores

RankBy = Literal["presence", "consensus"]
RANK_BY: tuple[RankBy, ...] = ("presence", "consensus")


def candidate_scores(
    waves: torch.Tensor, mixtures: torch.Tensor, rank_by: RankBy, grid: StftGrid
) -> torch.Tensor:
    """waves: (K, N, samples) candidates; mixtures: (N, samples) → (K, N), higher = better."""
    if rank_by == "presence":
        return torch.stack([presence_scores(w, mixtures, grid) for w in waves])
    magnitudes = grid.stft(waves).abs()
    median = magnitudes.median(dim=0).values
    return -(magnitudes - median).square().sum(dim=(-2, -1))


def pick_candidates(
    waves: torch.Tensor, mixtures: torch.Tensor, rank_by: RankBy, grid: StftGrid
) -> torch.Tensor:
    """(K, N, samples) → (N, samples): per pair, the best candidate by ``rank_by``."""
    best = candidate_scores(waves, mixtures, rank_by, grid).argmax(dim=0)
    return waves[best, torch.arange(waves.shape[1])]
