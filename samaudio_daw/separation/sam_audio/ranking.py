"""Choosing among several noise candidates of one (clip, prompt) pair.

The official model draws several candidates and keeps the one its text ranker (named in
config.json as ``text_ranker``: CLAP, the judge, sound activity against the pair's spans,
or an ensemble of them; ensemble.py, rankers.py) scores highest. The user chooses the rule:

- ``ranker`` (default): the text ranker's choice, when the config names one and its files
  are on this machine; otherwise ``presence``, with one warning.
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
from samaudio_daw.separation.sam_audio.sound_activity import Span

if TYPE_CHECKING:
    from samaudio_daw.separation.sam_audio.ensemble import EnsembleRanker

RankBy = Literal["ranker", "presence", "consensus"]
RANK_BY: tuple[RankBy, ...] = ("ranker", "presence", "consensus")
FALLBACK: RankBy = "presence"
"""What ``ranker`` means when no text ranker is loaded."""


def candidate_scores(
    waves: torch.Tensor,
    mixtures: torch.Tensor,
    rank_by: RankBy,
    grid: StftGrid,
    ranker: EnsembleRanker | None = None,
    texts: Sequence[str] = (),
    spans: Sequence[Sequence[Span]] = (),
) -> torch.Tensor:
    """waves: (K, N, samples) candidates at 48 kHz; mixtures: (N, samples); texts: the N
    prompts; spans: the N pairs' anchors (none: no spans) → (K, N), higher = better."""
    if rank_by == "ranker" and ranker is not None:
        return ranker.score(waves, mixtures, texts, spans).to(waves.device)
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
    ranker: EnsembleRanker | None = None,
    texts: Sequence[str] = (),
    spans: Sequence[Sequence[Span]] = (),
) -> torch.Tensor:
    """(K, N, samples) → (N, samples): per pair, the best candidate by ``rank_by``."""
    best = candidate_scores(waves, mixtures, rank_by, grid, ranker, texts, spans).argmax(dim=0)
    return waves[best, torch.arange(waves.shape[1])]


def ranker_presence(
    ranker: EnsembleRanker,
    waves: torch.Tensor,
    mixtures: torch.Tensor,
    texts: Sequence[str],
    grid: StftGrid,
) -> torch.Tensor:
    """(N, samples) → (N,) in [0, 1], the presence score when a text ranker is loaded.

    With a CLAP ranker (alone or in the ensemble): its cosine mapped as (1 + cos) / 2.
    With the judge alone: the mixture-based presence score (presence.py), as with no
    ranker: the judge's overall score is on the scale of its training ratings (its
    ``mean``/``std`` restore it) with no stated bounds, so any mapping to [0, 1] would be
    made up here."""
    clap = ranker.clap
    if clap is None:
        return presence_scores(waves, mixtures, grid)
    return ((1.0 + clap.score(waves[None], texts)[0]) / 2.0).clamp(0.0, 1.0).to(waves.device)
