"""The sound_activity ranker against pydub, whose silence detection the official one runs.

The official ranker turns each candidate into a pydub AudioSegment at 24 kHz, takes the
loudest 250 ms window (100 ms steps) as the reference for ``rel_to_max`` and calls
``pydub.silence.detect_nonsilent(min_silence_len=250, seek_step=10)``. Here pydub is run
on the same 16-bit samples and must find the same stretches as our numpy version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from samaudio_daw.separation.sam_audio.sound_activity import (
    SoundActivity,
    nonsilent_spans,
    overlap,
)

pydub = pytest.importorskip("pydub")
silence = pytest.importorskip("pydub.silence")

RATE = 24_000


def _bursts(seed: int, seconds: float = 4.0) -> np.ndarray:
    """Tone bursts of random length and level over a quiet noise floor, as int16."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    audio = 0.0005 * rng.standard_normal(n)
    t = np.arange(n) / RATE
    at = 0
    while at < n:
        length = int(rng.uniform(0.05, 0.9) * RATE)
        if rng.random() < 0.5:
            level = 10 ** rng.uniform(-2.5, -0.3)
            audio[at : at + length] += level * np.sin(
                2 * np.pi * rng.uniform(80, 3000) * t[at : at + length]
            )
        at += length + int(rng.uniform(0.0, 0.6) * RATE)
    return np.clip(audio * 32768, -32768, 32767).astype(np.int16)


def _official(
    samples: np.ndarray, sil_threshold: float, relative: bool
) -> list[tuple[float, float]]:
    """The official get_peak_rms + detect_nonsilent, on pydub."""
    segment = pydub.AudioSegment(samples.tobytes(), frame_rate=RATE, sample_width=2, channels=1)
    if relative:
        peak = -1.0
        for start in range(0, len(segment) - 250 + 1, 100):
            peak = max(peak, segment[start : start + 250].rms / segment.max_possible_amplitude)
        sil_threshold += pydub.utils.ratio_to_db(max(peak, 0.0))
    found = silence.detect_nonsilent(
        segment, min_silence_len=250, silence_thresh=sil_threshold, seek_step=10
    )
    return [(round(a / 1000, 3), round(b / 1000, 3)) for a, b in found]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("mode", "threshold"), [("rel_to_max", -40.0), ("rel_to_max", -20.0), ("abs", -45.0)]
)
def test_nonsilent_stretches_are_pydubs(seed: int, mode: str, threshold: float) -> None:
    samples = _bursts(seed)
    ours = nonsilent_spans(
        torch.from_numpy(samples.astype(np.float32) / 32768), RATE, SoundActivity(mode, threshold)
    )
    expected = _official(samples, threshold, mode == "rel_to_max")
    assert len(expected) >= 1
    assert ours == expected


def test_edge_cases_silence_short_clips_and_no_silence() -> None:
    assert nonsilent_spans(torch.zeros(RATE), RATE, SoundActivity("abs", -40.0)) == []
    tone = torch.sin(torch.arange(RATE) * 0.05) * 0.5
    assert nonsilent_spans(tone, RATE) == [(0.0, 1.0)]
    assert nonsilent_spans(tone[: RATE // 10], RATE) == [(0.0, 0.1)]


def test_scores_rank_the_candidate_that_sounds_in_the_spans_first() -> None:
    """Two candidates of one item: one sounds in the first second (the span), the other
    in the last; at 48 kHz, as the pipeline hands them over."""
    rate = 48_000
    t = torch.arange(3 * rate) / rate
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    early, late = tone.clone(), tone.clone()
    early[rate:] = 0
    late[: 2 * rate] = 0
    waves = torch.stack([late, early])[:, None]
    scores = SoundActivity().score(waves, [[(0.0, 1.0)]], rate)
    assert scores[1, 0] > 0.9 and scores[0, 0] == 0.0
    assert SoundActivity().score(waves, [[]], rate).eq(0).all()  # no spans: no preference


def test_overlap_is_the_official_sums() -> None:
    got = overlap([(0.0, 1.0), (2.0, 3.0)], [(0.5, 2.5)])
    assert got == pytest.approx({"iou": 1.0 / 3.0, "recall": 0.5, "precision": 0.5})


def test_config_fields_are_checked_in_one_line() -> None:
    assert SoundActivity.from_config({"kind": "sound_activity"}) == SoundActivity()
    with pytest.raises(ValueError, match="metric"):
        SoundActivity.from_config({"metric": "f1"})
    with pytest.raises(ValueError, match="threshold_mode"):
        SoundActivity.from_config({"threshold_mode": "loud"})


def _burst_candidates(rate: int = 48_000) -> torch.Tensor:
    """Three candidates of one pair, 3 s: sounding in the first second, the last second, or
    throughout; (K=3, N=1, samples)."""
    t = torch.arange(3 * rate) / rate
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    first, last = tone.clone(), tone.clone()
    first[rate:] = 0
    last[: 2 * rate] = 0
    return torch.stack([last, tone, first])[:, None]


def test_the_ensemble_ranks_by_sound_activity_with_the_pairs_spans() -> None:
    from samaudio_daw.separation.sam_audio.ensemble import EnsembleRanker, Member
    from samaudio_daw.separation.sam_audio.masks import StftGrid
    from samaudio_daw.separation.sam_audio.rankers import named_rankers
    from samaudio_daw.separation.sam_audio.ranking import pick_candidates

    [spec] = named_rankers({"text_ranker": {"kind": "sound_activity", "metric": "precision"}})
    assert spec.runnable and dict(spec.options) == {"metric": "precision"}
    ranker = EnsembleRanker((Member(spec, SoundActivity.from_config(dict(spec.options)), 1.0),))
    waves = _burst_candidates()
    mixture = waves.sum(dim=0)
    grid = StftGrid(48_000)

    def kept(spans: list[list[tuple[float, float]]]) -> int:
        out = pick_candidates(waves, mixture, "ranker", grid, ranker, ["a tone"], spans)
        return int((waves[:, 0] - out[0]).abs().amax(dim=-1).argmin())

    assert kept([[(0.0, 1.0)]]) == 2  # sounds only where the span is
    assert kept([[(2.0, 3.0)]]) == 0
    # The span over the whole clip: every candidate is precise; the first (0) is kept.
    assert kept([[(0.0, 3.0)]]) == 0


def test_a_sound_activity_text_ranker_runs_in_the_separator(tmp_path: Path) -> None:
    """With config.json naming it, nothing is reported as unused and the cache key names its
    settings. Not shown here: which candidate it keeps (the tiny reference model's candidates
    all sound throughout, at one level), shown above on made-up candidates."""
    import importlib.util
    import json
    import warnings

    from samaudio_daw.separation.base import Prompt, TimeSpan
    from samaudio_daw.separation.sam_audio.cache import ModelCache

    path = Path(__file__).with_name("test_sam_audio_rankers.py")
    spec = importlib.util.spec_from_file_location("sam_audio_rankers_tests", path)
    assert spec is not None and spec.loader is not None
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    if not helpers.REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {helpers.REFERENCE}")
    config = {"kind": "sound_activity", "sil_threshold": -30}
    folder = helpers.model_folder_naming(helpers.REFERENCE, tmp_path / "m", text_ranker=config)
    separator = helpers._separator(folder, ModelCache(), candidates="2")
    assert separator.settings()["ranker"] == "sound_activity:{'sil_threshold': -30}"
    audio = helpers._tone(1.0)
    prompts = [Prompt("sine tone", (TimeSpan(0.0, 0.5),))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [out] = separator.separate(audio, 48_000, prompts)
    assert out.shape == audio.shape and np.isfinite(out).all()
    assert not [w for w in caught if "sam-audio:" in str(w.message)]
    assert json.loads((folder / "config.json").read_text())["text_ranker"] == config
