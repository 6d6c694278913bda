"""Is the prompted sound in this clip at all? A score from the model's own output.

When the prompted sound is absent, SAM-Audio still generates something: audio that the
mixture does not contain. The score is the share of the generated target's energy that
the mixture can account for, cell by cell on the mask grid: Σ min(|T|, |X|)² / Σ |T|².
A target that is part of the mixture scores near 1; sound invented where the mixture is
quiet scores low; a silent target scores 0. Below ``presence_threshold`` the clip's
target becomes silence (its mask 0), crossfaded with its neighbours.

The threshold is off (0) by default: it has been checked only with random weights, not
calibrated on the released models. 0.3 is a cautious first value to try.
"""

from __future__ import annotations

import torch

from samaudio_daw.separation.base import ChunkScore
from samaudio_daw.separation.sam_audio.masks import StftGrid

_SILENT = 1e-10
"""Target energy per sample below this (about -100 dBFS) counts as silence."""


ChunkPresence = ChunkScore
"""One (clip, prompt): where the clip is in the track and how present the prompt is."""


def presence_scores(target: torch.Tensor, mixture: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """target, mixture: (N, samples) → (N,) scores in [0, 1] (see the module docstring)."""
    target_mag = grid.stft(target).abs()
    mixture_mag = grid.stft(mixture).abs().expand_as(target_mag)
    energy = target_mag.square().sum(dim=(-2, -1))
    explained = torch.minimum(target_mag, mixture_mag).square().sum(dim=(-2, -1))
    silent = energy <= _SILENT * target.shape[-1]
    return torch.where(silent, torch.zeros_like(energy), explained / energy.clamp(min=1e-30))
