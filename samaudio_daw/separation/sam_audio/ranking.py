"""Choosing among several noise candidates of one (clip, prompt) pair.

The official model draws several candidates and keeps the one its text ranker (a CLAP
model named in config.json as ``text_ranker``; clap.py, rankers.py) scores highest. The
user chooses the rule:

- ``ranker`` (default): the CLAP text ranker's choice, when the config names one and its
  checkpoint is on this machine; otherwise ``presence``, with one warning.
- ``presence``: the candidate with the highest presence score (presence.py): the one whose
  sound the mixture accounts for best, i.e. the least invented.
- ``consensus``: the candidate whose magnitude spectrogram is closest to the candidates'
  median: the most typical draw, which leaves out a single odd one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import torch

from samaudio_daw.separation.sam_audio.masks import StftGrid
from samaudio_daw.separation.sam_audio.presence import presence_scores

if TYPE_CHECKING:
    from samaudio_daw.separation.sam_audio.clap import ClapRanker

RankBy = Literal["ranker", "presence", "consensus"]
RANK_BY: tuple[RankBy, ...] = ("ranker", "presence", "consensus")
FALLBACK: RankBy = "presence"
"""What ``ranker`` means when no text ranker is loaded."""


def candidate_scores(
    waves: torch.Tensor,
    mixtures: torch.Tensor,
    rank_by: RankBy,
    grid: StftGrid,
    ranker: ClapRanker | None = None,
    texts: Sequence[str] = (),
) -> torch.Tensor:
    """waves: (K, N, samples) candidates at 48 kHz; mixtures: (N, samples); texts: the N
    prompts → (K, N), higher = better."""
    if rank_by == "ranker" and ranker is not None:
        return ranker.score(waves, texts).to(waves.device)
    if rank_by in ("ranker", "presence"):
        return torch.stack([presence_scores(w, mixtures, grid) for w in waves])
    magnitudes = grid.stft(waves).abs()
    median = magnitudes.median(dim=0).values
    return -(magnitudes - median).square().sum(dim=(-2, -1))


def pick_candidates(
    waves: torch.Tensor,
    mixtures: torch.Tensor,
    rank_by: RankBy,
    grid: StftGrid,
    ranker: ClapRanker | None = None,
    texts: Sequence[str] = (),
) -> torch.Tensor:
    """(K, N, samples) → (N, samples): per pair, the best candidate by ``rank_by``."""
    best = candidate_scores(waves, mixtures, rank_by, grid, ranker, texts).argmax(dim=0)
    return waves[best, torch.arange(waves.shape[1])]


def ranker_presence(ranker: ClapRanker, waves: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
    """(N, samples) → (N,) in [0, 1]: the text ranker's cosine mapped as (1 + cos) / 2, the
    presence score when a ranker is loaded."""
    return ((1.0 + ranker.score(waves[None], texts)[0]) / 2.0).clamp(0.0, 1.0).to(waves.device)
