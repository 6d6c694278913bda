"""Block-wise separation: crossfade maths, context, alignment, and any cut == one push."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from samaudio_daw.separation.base import Prompt, SeparationError
from samaudio_daw.separation.chunking import BlockStream, block_weights, plan_blocks

RATE = 1000
PROMPTS = (Prompt("first"), Prompt("second"))


class Scaling:
    """Targets 0.25 * audio and 0.5 * audio: block-wise output must equal that exactly."""

    name = "scaling"
    block_s: float | None = 2.0

    def __init__(self, context_s: float = 0.0, alignment: int = 1) -> None:
        self.context_s = context_s
        self.alignment = alignment
        self.blocks: list[np.ndarray] = []
        self.checked = 0

    def frame_alignment(self, sample_rate: int) -> int:
        return self.alignment

    def check_prompts(self, prompts: Sequence[Prompt]) -> None:
        self.checked += 1
        if any(p.text == "owl" for p in prompts):
            raise SeparationError("no owls here")

    def separate(self, audio, sample_rate, prompts, progress=None):  # type: ignore[no-untyped-def]
        self.blocks.append(audio.copy())
        return [audio * np.float32(0.25 * (i + 1)) for i in range(len(prompts))]

    def settings(self) -> dict[str, object]:
        return {}


class Edgy(Scaling):
    """Output depends on where the block starts: shows the crossfade at work."""

    def separate(self, audio, sample_rate, prompts, progress=None):  # type: ignore[no-untyped-def]
        ramp = np.linspace(0.0, 1.0, audio.shape[1], dtype=np.float32)
        return [audio * ramp for _ in prompts]


def separate_in_blocks(
    separator: Scaling,
    audio: np.ndarray,
    sample_rate: int,
    prompts: Sequence[Prompt],
    block_s: float,
    overlap: float = 0.25,
    transition_power: float = 1.0,
    *,
    context_s: float | None = None,
) -> list[np.ndarray]:
    """The whole array pushed into a BlockStream at once: the in-memory form."""
    stream = BlockStream(
        separator,  # type: ignore[arg-type]
        sample_rate,
        audio.shape[0],
        prompts,
        block_s,
        overlap,
        transition_power,
        context_s=context_s,
    )
    pushed = stream.push(audio)
    rest = stream.finish()
    return [np.concatenate(pair, axis=1) for pair in zip(pushed, rest, strict=True)]


def _audio(channels: int = 2, frames: int = 7777, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((channels, frames)).astype(np.float32)


def _stream_all(
    separator: Scaling, audio: np.ndarray, piece_sizes: Sequence[int], **kwargs: float
) -> list[np.ndarray]:
    stream = BlockStream(separator, RATE, audio.shape[0], PROMPTS, **kwargs)  # type: ignore[arg-type]
    pieces: list[list[np.ndarray]] = []
    position, index = 0, 0
    while position < audio.shape[1]:
        size = piece_sizes[index % len(piece_sizes)]
        pieces.append(stream.push(audio[:, position : position + size]))
        position, index = position + size, index + 1
    pieces.append(stream.finish())
    assert stream.frames_in == stream.frames_out == audio.shape[1]
    return [np.concatenate([p[i] for p in pieces], axis=1) for i in range(len(PROMPTS))]


def test_weights_are_demucs_triangle() -> None:
    weights = block_weights(8)
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25])
    np.testing.assert_allclose(block_weights(8, 2.0), weights.astype(np.float64) ** 2, rtol=1e-6)
    odd = block_weights(5)
    np.testing.assert_allclose(odd, [1 / 3, 2 / 3, 1.0, 2 / 3, 1 / 3], rtol=1e-6)


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("power", [1.0, 2.5])
def test_a_pointwise_separator_passes_through_exactly(overlap: float, power: float) -> None:
    audio = _audio()
    targets = separate_in_blocks(Scaling(), audio, RATE, PROMPTS, 1.3, overlap, power)
    np.testing.assert_allclose(targets[0], 0.25 * audio, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(targets[1], 0.5 * audio, rtol=1e-6, atol=1e-7)
    assert all(t.dtype == np.float32 and t.shape == audio.shape for t in targets)


@pytest.mark.parametrize("pieces", [[1], [333], [4096, 17, 0, 2500], [100000]])
@pytest.mark.parametrize("separator_kind", [Scaling, Edgy])
def test_stream_equals_in_memory_bit_for_bit(pieces: list[int], separator_kind: type) -> None:
    audio = _audio(frames=6543)
    kwargs = {"block_s": 1.1, "overlap": 0.3, "transition_power": 1.5, "context_s": 0.2}
    whole = separate_in_blocks(separator_kind(), audio, RATE, PROMPTS, **kwargs)
    streamed = _stream_all(separator_kind(), audio, pieces, **kwargs)
    for a, b in zip(whole, streamed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_crossfade_blends_neighbouring_blocks() -> None:
    audio = np.ones((1, 4000), np.float32)
    (target, _) = separate_in_blocks(Edgy(), audio, RATE, PROMPTS, 2.0, 0.5)
    # Each block ramps 0..1; the weighted mean of two overlapping ramps is smooth.
    assert np.all(np.abs(np.diff(target[0])) < 0.01)


def test_blocks_get_real_context_and_zeros_only_at_the_ends() -> None:
    audio = np.arange(1, 5001, dtype=np.float32)[np.newaxis, :]
    separator = Scaling(context_s=0.1)
    separate_in_blocks(separator, audio, RATE, PROMPTS, 2.0, 0.25)
    first, second = separator.blocks[0], separator.blocks[1]
    assert first.shape[1] == 2000 + 2 * 100
    np.testing.assert_array_equal(first[0, :100], 0.0)  # before the start: silence
    np.testing.assert_array_equal(first[0, 100:], audio[0, :2100])
    np.testing.assert_array_equal(second[0], audio[0, 1500 - 100 : 1500 + 2100])
    np.testing.assert_array_equal(separator.blocks[-1][0, -100:], 0.0)  # after the end


def test_block_geometry_follows_the_separators_alignment() -> None:
    plan = plan_blocks(Scaling(context_s=0.05, alignment=64), RATE, 1.0, 0.25)  # type: ignore[arg-type]
    assert plan.block_frames == 1024 and plan.stride_frames == 768 and plan.context_frames == 64
    assert plan_blocks(Scaling(), RATE, 1.0, 0.25).context_frames == 0  # type: ignore[arg-type]


def test_prompts_are_checked_before_any_audio() -> None:
    separator = Scaling()
    with pytest.raises(SeparationError, match="owl"):
        BlockStream(separator, RATE, 2, [Prompt("owl")], 1.0)  # type: ignore[arg-type]
    assert separator.blocks == []


def test_input_is_not_changed_and_short_or_empty_audio_works() -> None:
    audio = _audio(frames=10)
    before = audio.copy()
    targets = separate_in_blocks(Scaling(), audio, RATE, PROMPTS, 5.0)
    np.testing.assert_array_equal(audio, before)
    np.testing.assert_allclose(targets[0], 0.25 * audio, rtol=1e-6)
    empty = separate_in_blocks(Scaling(), audio[:, :0], RATE, PROMPTS, 5.0)
    assert [t.shape for t in empty] == [(2, 0), (2, 0)]
    nothing_pushed = BlockStream(Scaling(), RATE, 2, PROMPTS, 5.0).finish()  # type: ignore[arg-type]
    assert [t.shape for t in nothing_pushed] == [(2, 0), (2, 0)]


def test_bad_settings_say_what_to_use() -> None:
    audio = _audio()
    with pytest.raises(ValueError, match="overlap must be in"):
        separate_in_blocks(Scaling(), audio, RATE, PROMPTS, 1.0, overlap=1.0)
    with pytest.raises(ValueError, match="block_s must be > 0"):
        separate_in_blocks(Scaling(), audio, RATE, PROMPTS, 0.0)
    with pytest.raises(ValueError, match="transition_power"):
        separate_in_blocks(Scaling(), audio, RATE, PROMPTS, 1.0, transition_power=0.0)


def test_wrong_backend_output_and_misuse_are_reported() -> None:
    class Broken(Scaling):
        def separate(self, audio, sample_rate, prompts, progress=None):  # type: ignore[no-untyped-def]
            return [audio[:, :-1] for _ in prompts]

    with pytest.raises(SeparationError, match="shape"):
        separate_in_blocks(Broken(), _audio(), RATE, PROMPTS, 1.0)
    stream = BlockStream(Scaling(), RATE, 2, PROMPTS, 1.0)  # type: ignore[arg-type]
    with pytest.raises(SeparationError, match=r"shape \(2, frames\)"):
        stream.push(_audio(channels=3))
    stream.finish()
    with pytest.raises(SeparationError, match="finished"):
        stream.push(_audio())
