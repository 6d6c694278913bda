"""The model-free parts of the sam-audio backend: resampling, clip planning, masks."""

from __future__ import annotations

import math

import pytest
import torch

from samaudio_daw.separation.sam_audio.chunks import OverlapAdd, plan_chunks, triangle
from samaudio_daw.separation.sam_audio.masks import (
    StftGrid,
    apply_masks,
    normalise_masks,
    project_masks,
)
from samaudio_daw.separation.sam_audio.resample import output_length, resample


def sine(freq_hz: float, rate_hz: int, seconds: float) -> torch.Tensor:
    t = torch.arange(round(rate_hz * seconds), dtype=torch.float64) / rate_hz
    return torch.sin(2 * math.pi * freq_hz * t)


@pytest.mark.parametrize(
    ("from_hz", "to_hz"),
    [(44100, 48000), (48000, 44100), (96000, 48000), (22050, 48000), (44056, 48000)],
)
def test_resampled_sine_stays_within_minus_80_db(from_hz: int, to_hz: int) -> None:
    freq = 0.4 * min(from_hz, to_hz)
    out = resample(sine(freq, from_hz, 0.5).float(), from_hz, to_hz)
    assert out.shape[-1] == output_length(round(from_hz * 0.5), from_hz, to_hz)
    inner = slice(to_hz // 20, -to_hz // 20)
    error = (out[inner].double() - sine(freq, to_hz, 0.5)[: out.shape[-1]][inner]).abs().max()
    assert 20 * math.log10(error) < -80


def test_resampling_has_no_delay_and_keeps_channels_apart() -> None:
    audio = torch.zeros(2, 4410)
    audio[0, 2205] = 1.0  # 50 ms
    out = resample(audio, 44100, 48000)
    assert out.shape == (2, 4800)
    assert int(out[0].abs().argmax()) == 2400
    assert out[1].abs().max() == 0


def test_resampling_removes_what_the_lower_rate_cannot_hold() -> None:
    out = resample(sine(30000.0, 96000, 0.5).float(), 96000, 48000)
    assert out[2400:-2400].abs().max() < 1e-4


def test_clips_are_equal_cover_the_track_and_overlap() -> None:
    plan = plan_chunks(total_frames=1000, chunk_frames=250, overlap=0.25)
    assert plan.starts[0] == 0 and plan.starts[-1] + 250 == 1000
    steps = [b - a for a, b in zip(plan.starts, plan.starts[1:], strict=False)]
    assert max(steps) <= 188 and min(steps) > 0
    short = plan_chunks(total_frames=30, chunk_frames=250, overlap=0.25)
    assert short.chunk_frames == 30 and short.starts == (0,)


def test_overlap_add_of_a_constant_is_that_constant() -> None:
    plan = plan_chunks(total_frames=100, chunk_frames=30, overlap=0.5)
    blend = OverlapAdd((2, 3, 100), torch.device("cpu"))
    for start in plan.starts:
        for row in range(2):
            blend.add(row, start, torch.full((3, 30), 0.7))
    torch.testing.assert_close(blend.result(), torch.full((2, 3, 100), 0.7))
    assert triangle(4).tolist() == [1.0, 2.0, 2.0, 1.0]


def test_normalised_masks_never_sum_above_one() -> None:
    masks = torch.rand(3, 10, 20) * 0.9
    normalised = normalise_masks(masks)
    assert normalised.sum(dim=0).max() <= 1.0 + 1e-6
    small = masks * 0.1
    torch.testing.assert_close(normalise_masks(small), small)


@pytest.mark.parametrize("rate_hz", [44100, 48000, 96000, 22050])
def test_masks_that_sum_to_one_give_back_the_input(rate_hz: int) -> None:
    audio = torch.randn(2, rate_hz // 2)
    model_grid, grid = StftGrid(48000), StftGrid(rate_hz)
    share = torch.rand(1, model_grid.n_fft // 2 + 1, model_grid.frames(24000))
    masks = torch.cat([share, 1 - share])
    projected = project_masks(masks, model_grid, grid, grid.frames(audio.shape[-1]), rate_hz)
    targets = apply_masks(audio, projected, grid)
    assert targets.shape == (2, 2, rate_hz // 2)
    torch.testing.assert_close(targets.sum(dim=0), audio, atol=1e-5, rtol=0)


def test_projection_matches_frames_in_seconds_and_bins_in_hertz() -> None:
    model_grid, grid = StftGrid(48000), StftGrid(44100)
    assert grid.hop == 882 and grid.n_fft == 3528  # 20 ms and 12.5 Hz bins at both rates
    masks = torch.rand(1, model_grid.n_fft // 2 + 1, 50)
    projected = project_masks(masks, model_grid, grid, 50, 44100)
    reliable_bins = int(0.9 * 22050 / 12.5)
    torch.testing.assert_close(projected[0, :reliable_bins], masks[0, :reliable_bins])
    # Above the reliable band every bin copies the top reliable one.
    assert torch.equal(projected[0, -1], projected[0, -2])
