"""The sam-audio backend with the tiny reference checkpoint: shapes, null, masks, options, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import Prompt, SeparationError, TimeSpan, residual_of
from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator
from samaudio_daw.separation.sam_audio.cache import ModelCache, process_cache
from samaudio_daw.separation.sam_audio.device import (
    CpuSlowWarning,
    OutOfMemoryRetry,
    is_out_of_memory,
    out_of_memory_error,
)
from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError
from samaudio_daw.separation.sam_audio.model import SamAudio
from samaudio_daw.separation.sam_audio.pipeline import TrackSettings, clip_anchors, separate_track

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
pytestmark = [
    pytest.mark.skipif(
        not REFERENCE.is_dir(), reason=f"SAM-Audio reference fixtures not found at {REFERENCE}"
    ),
    pytest.mark.filterwarnings("ignore::samaudio_daw.separation.sam_audio.device.CpuSlowWarning"),
]
RATE_HZ = 44100


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    """The process-wide cache: every test module reuses the models already loaded."""
    return process_cache()


def separator(cache: ModelCache, **options: object) -> SamAudioSeparator:
    defaults: dict[str, object] = {"model": str(REFERENCE), "chunk_s": 1.0, "steps": 2}
    return SamAudioSeparator(BackendOptions(**{**defaults, **options}), cache=cache)  # type: ignore[arg-type]


def mixture(seconds: float = 2.5, rate_hz: int = RATE_HZ, channels: int = 2) -> np.ndarray:
    """Two tones and a little noise, a different mix per channel, (channels, frames) float32."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * rate_hz)) / rate_hz
    rows = [
        (0.4 - 0.1 * c) * np.sin(2 * np.pi * (330 + 110 * c) * t)
        + 0.05 * rng.standard_normal(t.size)
        for c in range(channels)
    ]
    return np.stack(rows).astype(np.float32)


def test_describe_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator\n"
        "info = SamAudioSeparator.describe()\n"
        "print(info.available, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "SAMAUDIO_MODEL": str(REFERENCE.resolve())}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["True", "False"]


def test_describe_says_whether_a_model_is_configured_and_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SAMAUDIO_MODEL", raising=False)
    info = SamAudioSeparator.describe()
    assert not info.available and "no model set" in info.why_unavailable
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv("SAMAUDIO_MODEL", str(tmp_path))
    info = SamAudioSeparator.describe()
    assert not info.available and "lacks checkpoint.pt" in info.why_unavailable
    monkeypatch.setenv("SAMAUDIO_MODEL", str(tmp_path / "nowhere"))
    assert not SamAudioSeparator.describe().available
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("SAMAUDIO_MODEL", "someone/not-downloaded")
    info = SamAudioSeparator.describe()
    assert not info.available and "not downloaded" in info.why_unavailable
    monkeypatch.setenv("SAMAUDIO_MODEL", str(REFERENCE.resolve()))
    info = SamAudioSeparator.describe()
    assert info.available and "found" in info.summary


def test_no_model_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMAUDIO_MODEL", raising=False)
    with pytest.raises(ModelNotFoundError, match="SAMAUDIO_MODEL.*request access"):
        SamAudioSeparator(BackendOptions())


def test_model_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMAUDIO_MODEL", str(REFERENCE))
    settings = SamAudioSeparator(BackendOptions(seed=3, steps=8)).settings()
    assert settings["model"] == str(REFERENCE.resolve())
    assert settings["dtype"] == "float32"  # CPU default
    assert (settings["steps"], settings["seed"], settings["chunk_s"]) == (8, 3, 10.0)
    assert settings["output"] == "masked"


def test_bad_options_are_reported_as_separation_errors(cache: ModelCache) -> None:
    with pytest.raises(SeparationError, match="overlap"):
        separator(cache, extra=(("overlap", "0.9"),))
    with pytest.raises(SeparationError, match="batch_size='x' is not a number"):
        separator(cache, extra=(("batch_size", "x"),))
    with pytest.raises(SeparationError, match="dtype"):
        separator(cache, dtype="float8")


def test_stereo_stems_keep_shape_and_null_exactly(cache: ModelCache) -> None:
    audio = mixture()
    original = audio.copy()
    sep = separator(cache)
    prompts = [Prompt("sine tone"), Prompt("white noise", (TimeSpan(0.5, 1.5),))]
    targets = sep.separate(audio, RATE_HZ, prompts)
    assert np.array_equal(audio, original)
    assert [t.shape for t in targets] == [audio.shape] * 2
    assert all(t.dtype == np.float32 for t in targets)
    residual = residual_of(audio, targets)
    assert np.abs(sum(targets) + residual - audio).max() < 1e-6
    # The masks keep the stereo image: each target channel follows its own input channel.
    assert not np.allclose(targets[0][0], targets[0][1])


class DecodesTooLoud(SamAudio):
    """A SamAudio whose targets are far louder than anything in the mix: every prompt's
    raw mask is then one nearly everywhere, so the normalisation across prompts must act."""

    def decode(self, latents, bits):  # type: ignore[no-untyped-def]
        return 1e4 * super().decode(latents, bits)


def band_energies(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """Energy per 1/3 octave from 50 Hz, summed over channels and time."""
    spectrum = np.abs(np.fft.rfft(audio, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / rate_hz)
    edges = 50.0 * 2.0 ** (np.arange(28) / 3)
    return np.array(
        [
            spectrum[..., (freqs >= a) & (freqs < b)].sum()
            for a, b in zip(edges, edges[1:], strict=False)
        ]
    )


def test_targets_never_take_more_than_the_mixture(cache: ModelCache) -> None:
    model = separator(cache).model()
    loud = DecodesTooLoud(model.config, model.text_encoder).eval()
    loud.load_state_dict(model.state_dict())
    audio = mixture()
    settings = TrackSettings(steps=2, chunk_s=1.0)
    prompts = [Prompt("vocals"), Prompt("drums"), Prompt("bass")]
    targets = separate_track(loud, torch.from_numpy(audio), RATE_HZ, prompts, settings).numpy()
    mix_bands = band_energies(audio, RATE_HZ)
    target_bands = sum(band_energies(t, RATE_HZ) for t in targets)
    assert np.all(target_bands <= 1.01 * mix_bands + 1e-6)
    # Three saturated masks share each cell: every target is about a third of the mix.
    for target in targets:
        share = float((target * audio).sum() / (audio * audio).sum())
        assert 0.3 < share < 0.34


def test_masks_stay_below_one_without_the_normalisation(cache: ModelCache) -> None:
    audio = mixture()
    targets = separator(cache).separate(audio, RATE_HZ, [Prompt("a"), Prompt("b")])
    residual = residual_of(audio, targets)
    assert np.all(sum(band_energies(t, RATE_HZ) for t in targets) <= band_energies(audio, RATE_HZ))
    assert np.sqrt((residual**2).mean()) > 0.5 * np.sqrt((audio**2).mean())


def test_seed_makes_output_reproducible(cache: ModelCache) -> None:
    audio = mixture(1.5)
    first = separator(cache, seed=1).separate(audio, RATE_HZ, [Prompt("tone")])[0]
    again = separator(cache, seed=1).separate(audio, RATE_HZ, [Prompt("tone")])[0]
    other = separator(cache, seed=2).separate(audio, RATE_HZ, [Prompt("tone")])[0]
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_time_spans_become_anchors(cache: ModelCache) -> None:
    audio = mixture(1.5)
    plain = separator(cache).separate(audio, RATE_HZ, [Prompt("tone")])[0]
    spans = (TimeSpan(0.2, 0.9), TimeSpan(1.0, 1.4, "-"))
    anchored = separator(cache).separate(audio, RATE_HZ, [Prompt("tone", spans)])[0]
    assert not np.allclose(plain, anchored)


def test_spans_are_cut_to_each_clip() -> None:
    prompt = Prompt("dog", (TimeSpan(0.5, 1.5), TimeSpan(3.0, 4.0, "-"), TimeSpan(9.0, 9.5)))
    anchors = clip_anchors(prompt, start_s=1.0, length_s=2.5)
    assert [(a.sign, a.start_s, a.end_s) for a in anchors] == [("+", 0.0, 0.5), ("-", 2.0, 2.5)]


def test_generated_output_is_the_model_audio_on_every_channel(cache: ModelCache) -> None:
    audio = mixture(1.5)
    generated = separator(cache, output="generated").separate(audio, RATE_HZ, [Prompt("tone")])[0]
    masked = separator(cache).separate(audio, RATE_HZ, [Prompt("tone")])[0]
    assert generated.shape == audio.shape
    assert np.array_equal(generated[0], generated[1])
    assert not np.allclose(generated, masked)


@pytest.mark.parametrize(("rate_hz", "channels"), [(22050, 1), (96000, 3), (44056, 2)])
def test_any_rate_and_channel_count(cache: ModelCache, rate_hz: int, channels: int) -> None:
    audio = mixture(0.7, rate_hz, channels)
    targets = separator(cache).separate(audio, rate_hz, [Prompt("tone"), Prompt("noise")])
    assert [t.shape for t in targets] == [audio.shape] * 2
    assert np.abs(sum(targets) + residual_of(audio, targets) - audio).max() < 1e-6


def test_tiny_and_empty_inputs(cache: ModelCache) -> None:
    sep = separator(cache)
    blip = mixture(0.002)
    assert sep.separate(blip, RATE_HZ, [Prompt("tone")])[0].shape == blip.shape
    empty = np.zeros((2, 0), dtype=np.float32)
    assert sep.separate(empty, RATE_HZ, [Prompt("tone")])[0].shape == (2, 0)
    assert sep.separate(blip, RATE_HZ, []) == []
    with pytest.raises(SeparationError, match="NaN"):
        sep.separate(np.full((1, 100), np.nan, dtype=np.float32), RATE_HZ, [Prompt("tone")])
    with pytest.raises(SeparationError, match="channels, frames"):
        sep.separate(np.zeros(100, dtype=np.float32), RATE_HZ, [Prompt("tone")])


def test_model_is_loaded_once_and_kept(cache: ModelCache) -> None:
    first = separator(cache).model()
    loaded = len(cache)
    second = separator(cache, seed=5, chunk_s=3.0).model()
    assert first is second
    assert len(cache) == loaded


def test_cpu_use_warns_with_the_expected_time(cache: ModelCache) -> None:
    with pytest.warns(CpuSlowWarning, match=r"expect roughly \d+ s for 2 s of audio"):
        separator(cache).separate(mixture(1.5), RATE_HZ, [Prompt("tone")])


def test_out_of_memory_says_what_to_try(cache: ModelCache) -> None:
    error = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert is_out_of_memory(error) and not is_out_of_memory(RuntimeError("shape mismatch"))
    message = str(out_of_memory_error(separator(cache).model(), 10.0, error))
    assert "--chunk 5" in message and "sam-audio-base" in message and "GiB" in message


class RunsOutOfMemoryInBatches(SamAudio):
    """A SamAudio that fails like a full GPU whenever it gets more than one pair at once."""

    def solve(self, noise, cond, steps=16, on_step=None):  # type: ignore[no-untyped-def]
        if noise.shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().solve(noise, cond, steps, on_step)


def test_out_of_memory_retries_with_smaller_batches(cache: ModelCache) -> None:
    model = separator(cache).model()
    flaky = RunsOutOfMemoryInBatches(model.config, model.text_encoder).eval()
    flaky.load_state_dict(model.state_dict())
    audio = torch.from_numpy(mixture(1.5))
    prompts = [Prompt("tone"), Prompt("noise")]
    settings = TrackSettings(steps=2, chunk_s=1.0, batch_size=4)
    expected = separate_track(model, audio, RATE_HZ, prompts, settings)
    with pytest.warns(OutOfMemoryRetry, match="4 clip-prompt pairs per batch; retrying with 2"):
        got = separate_track(flaky, audio, RATE_HZ, prompts, settings)
    torch.testing.assert_close(got, expected)


def test_progress_goes_up_to_one(cache: ModelCache) -> None:
    seen: list[float] = []
    separator(cache).separate(mixture(1.5), RATE_HZ, [Prompt("tone")], seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3
