"""Presence scores, the threshold that silences absent sources, and noise candidates
(tiny random weights).

Random weights cannot tell whether a sound is present; these tests check the score on
constructed signals and that the threshold turns exactly the low-scoring clips into
silence. How well the score separates present from absent sounds with the released
weights is not covered (no access to them here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator
from samaudio_daw.separation.sam_audio.cache import ModelCache, process_cache
from samaudio_daw.separation.sam_audio.masks import StftGrid
from samaudio_daw.separation.sam_audio.presence import presence_scores
from samaudio_daw.separation.sam_audio.ranking import pick_candidates

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
RATE_HZ = 48000


def test_score_is_high_for_a_part_of_the_mixture_and_low_for_invented_sound() -> None:
    grid = StftGrid(RATE_HZ)
    t = torch.arange(RATE_HZ) / RATE_HZ
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    hum = 0.2 * torch.sin(2 * torch.pi * 100 * t)
    mixture = tone + hum
    invented = 0.5 * torch.randn(RATE_HZ, generator=torch.Generator().manual_seed(0))
    scores = presence_scores(torch.stack([tone, invented, 0 * tone]), mixture, grid)
    assert scores[0] > 0.9
    assert scores[1] < 0.05
    assert scores[2] == 0.0


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {REFERENCE}")
    return process_cache()  # the models other modules already loaded


def _separator(cache: ModelCache, threshold: float | None) -> SamAudioSeparator:
    extra = () if threshold is None else (("presence_threshold", str(threshold)),)
    options = BackendOptions(model=str(REFERENCE), chunk_s=1.0, steps=2, device="cpu", extra=extra)
    return SamAudioSeparator(options, cache)


def test_threshold_silences_exactly_the_clips_below_it(cache: ModelCache) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(3 * RATE_HZ) / RATE_HZ
    audio = (0.4 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size))[None]
    audio = audio.astype(np.float32)
    prompts = [Prompt("sine tone")]
    plain = _separator(cache, None)
    [kept] = plain.separate(audio, RATE_HZ, prompts)
    scores = [c.score for c in plain.last_presence]
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)
    assert not any(c.silenced for c in plain.last_presence)
    # A threshold between the scores: the clips below it go silent, the others stay.
    threshold = float(np.median(scores))
    gated = _separator(cache, threshold)
    with pytest.warns(UserWarning, match="'sine tone' not found"):
        [out] = gated.separate(audio, RATE_HZ, prompts)
    silenced = [c for c in gated.last_presence if c.silenced]
    assert 0 < len(silenced) < 4
    assert [c.score < threshold for c in gated.last_presence] == [
        c.silenced for c in gated.last_presence
    ]
    assert gated.settings()["presence_threshold"] == threshold
    kept_energy = float(np.square(kept).sum())
    assert float(np.square(out).sum()) < kept_energy
    # Above every score: the stem is silence, and nothing random comes out.
    everything = _separator(cache, 1.0)
    with pytest.warns(UserWarning):
        [silent] = everything.separate(audio, RATE_HZ, prompts)
    assert np.abs(silent).max() == 0.0


def test_ranking_rules_pick_the_expected_candidate() -> None:
    grid = StftGrid(RATE_HZ)
    t = torch.arange(RATE_HZ // 2) / RATE_HZ
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    noise = 0.5 * torch.randn(t.numel(), generator=torch.Generator().manual_seed(1))
    mixture = tone[None]
    # Candidates (K=3, N=1): invented noise, the tone, the tone slightly louder.
    waves = torch.stack([noise, tone, 1.1 * tone])[:, None]
    assert torch.equal(pick_candidates(waves, mixture, "presence", grid)[0], tone)
    # Consensus: the two tones agree, the noise is the odd one out.
    assert not torch.equal(pick_candidates(waves, mixture, "consensus", grid)[0], noise)


def test_candidates_run_end_to_end_and_change_the_output(cache: ModelCache) -> None:
    t = np.arange(2 * RATE_HZ) / RATE_HZ
    audio = (0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)
    prompts = [Prompt("sine tone")]
    [one] = _separator(cache, None).separate(audio, RATE_HZ, prompts)
    extra = (("candidates", "3"), ("rank_by", "consensus"))
    options = BackendOptions(model=str(REFERENCE), chunk_s=1.0, steps=2, device="cpu", extra=extra)
    three = SamAudioSeparator(options, cache)
    assert three.settings()["candidates"] == 3 and three.settings()["rank_by"] == "consensus"
    [best] = three.separate(audio, RATE_HZ, prompts)
    assert best.shape == one.shape and np.isfinite(best).all()
    assert not np.array_equal(best, one)
