"""Long audio in several clips: no click and no level or tone step where clips meet.

The stem's short-term energy and spectral centroid are measured in 50 ms windows; the step
across each clip boundary (mean over 0.25 s after minus mean over 0.25 s before) must be no
larger than the same step measured away from every boundary, and the largest sample-to-sample
jump near a boundary no larger than elsewhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator
from samaudio_daw.separation.sam_audio.cache import process_cache
from samaudio_daw.separation.sam_audio.chunks import DEFAULT_OVERLAP, OverlapAdd, plan_chunks

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / ".." / "shared" / "sam_audio_reference"
SCRIPT = REPO / "benchmarks" / "sam_audio_seams.py"
RATE_HZ = 44100
SECONDS = 6.0
CHUNK_S = 2.0
WINDOW_S = 0.05
SIDE_S = 0.25
MARGIN = 1.25


def _seams_benchmark() -> ModuleType:
    """benchmarks/sam_audio_seams.py, whose mixture and measures this test shares."""
    spec = importlib.util.spec_from_file_location("sam_audio_seams", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


seams_benchmark = _seams_benchmark()
steady_mix = seams_benchmark.steady_mix
short_term_measures = seams_benchmark.short_term_measures
steps = seams_benchmark.steps


def clip_boundaries_s() -> list[float]:
    return list(seams_benchmark.clip_boundaries_s(SECONDS, CHUNK_S, DEFAULT_OVERLAP))


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference fixtures not found at {REFERENCE}")
@pytest.mark.filterwarnings("ignore::samaudio_daw.separation.sam_audio.device.CpuSlowWarning")
def test_no_click_or_level_step_at_clip_seams() -> None:
    options = BackendOptions(model=str(REFERENCE), chunk_s=CHUNK_S, steps=2)
    stem = SamAudioSeparator(options, cache=process_cache()).separate(
        steady_mix(SECONDS), RATE_HZ, [Prompt("sine tone")]
    )[0]
    energy_db, centroid_hz = short_term_measures(stem)
    side = round(SIDE_S / WINDOW_S)
    seams = [round(b / WINDOW_S) for b in clip_boundaries_s()]
    away = [i for i in range(side, len(energy_db) - side) if all(abs(i - s) > side for s in seams)]
    assert len(seams) >= 4 and len(away) >= 10
    for series in (energy_db, centroid_hz):
        assert steps(series, seams, side).max() <= MARGIN * steps(series, away, side).max()
    jumps = np.abs(np.diff(stem[0]))
    near = np.zeros(jumps.size, dtype=bool)
    for boundary in clip_boundaries_s():
        centre = round(boundary * RATE_HZ)
        near[centre - RATE_HZ // 100 : centre + RATE_HZ // 100] = True
    assert jumps[near].max() <= MARGIN * jumps[~near].max()


def test_masks_crossfade_over_the_whole_overlap() -> None:
    """Clips with constant but different masks: the blend moves gradually across each overlap."""
    plan = plan_chunks(total_frames=400, chunk_frames=100, overlap=0.25)
    blend = OverlapAdd((1, 400), torch.device("cpu"))
    levels = [0.2, 0.8, 0.3, 0.9, 0.5]
    for start, level in zip(plan.starts, levels, strict=False):
        blend.add(0, start, torch.full((100,), level))
    mask = blend.result()[0]
    largest_change = max(abs(a - b) for a, b in zip(levels, levels[1:], strict=False))
    overlap = min(a + 100 - b for a, b in zip(plan.starts, plan.starts[1:], strict=False))
    assert mask.diff().abs().max() <= 3 * largest_change / overlap
