"""Separating long audio in overlapping blocks, crossfaded Demucs-style.

Audio of any length is cut into blocks of ``block_frames`` that start every
``stride_frames = (1 - overlap) * block_frames``. Each block is handed to the
separator with ``context_frames`` of real neighbouring audio on both sides (zeros
only before the start and after the end of the audio); the context is cut off the
targets again. Each block's targets are weighted by a triangle (peak 1 in the
middle, ``1/(block_frames/2)`` at the edges) raised to ``transition_power``, summed,
and divided by the summed weights, so every output frame is a weighted mean of the
blocks that cover it.

``BlockStream`` takes successive input blocks of any size as a reader delivers them
and gives back the target frames that are final so far, to write as you go; the
output does not depend on how the input was cut into blocks (it is the same bit for
bit as one push of the whole array). Memory stays bounded by about one block plus
context whatever the file length.

A separator may offer optional hooks the chunker uses (none is part of the
`Separator` protocol):

- ``context_s_for(prompts, sample_rate) -> float``, or a plain ``context_s``
  attribute: seconds of real audio it needs on each side of a block for its output
  there to match whole-file processing;
- ``frame_alignment(sample_rate) -> int``: block starts, lengths and context are
  rounded up to multiples of it, so its analysis frames fall on the same grid in
  every block.

Without them the context is 0 and the alignment 1 frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from samaudio_daw.separation.base import (
    ChunkScore,
    Prompt,
    SeparationError,
    Separator,
)


@dataclass(frozen=True)
class BlockPlan:
    """Block geometry in frames: length, hop between block starts, context per side."""

    block_frames: int
    stride_frames: int
    context_frames: int

    def __post_init__(self) -> None:
        if not 0 < self.stride_frames <= self.block_frames:
            raise ValueError(
                f"stride_frames must be in 1..block_frames ({self.block_frames}), "
                f"got {self.stride_frames}"
            )
        if self.context_frames < 0:
            raise ValueError(f"context_frames must be >= 0, got {self.context_frames}")


def plan_blocks(
    separator: Separator,
    sample_rate: int,
    block_s: float,
    overlap: float = 0.25,
    context_s: float | None = None,
    prompts: Sequence[Prompt] = (),
) -> BlockPlan:
    """Block geometry for ``separator`` at ``sample_rate``, rounded to its frame alignment.

    ``block_s`` > 0 seconds; ``overlap`` in [0, 1) is the fraction of a block shared
    with the next; ``context_s`` None asks the separator (for these ``prompts``).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    if not block_s > 0:
        raise ValueError(f"block_s must be > 0 seconds, got {block_s}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), e.g. 0.25, got {overlap}")
    if context_s is None:
        context_s = _separator_context_s(separator, prompts, sample_rate)
    if context_s < 0:
        raise ValueError(f"context_s must be >= 0 seconds, got {context_s}")
    alignment = getattr(separator, "frame_alignment", None)
    align = int(alignment(sample_rate)) if callable(alignment) else 1
    block = align * max(1, math.ceil(block_s * sample_rate / align))
    stride = align * max(1, round((1.0 - overlap) * block / align))
    context = align * math.ceil(context_s * sample_rate / align)
    return BlockPlan(block, min(stride, block), context)


def _separator_context_s(
    separator: Separator, prompts: Sequence[Prompt], sample_rate: int
) -> float:
    """The context the separator asks for: ``context_s_for`` hook, ``context_s``, or 0."""
    hook = getattr(separator, "context_s_for", None)
    if callable(hook):
        return float(hook(prompts, sample_rate))
    return float(getattr(separator, "context_s", 0.0))


def block_weights(block_frames: int, transition_power: float = 1.0) -> np.ndarray:
    """Demucs' crossfade weights: a triangle peaking at 1, to ``transition_power``, float32."""
    if not transition_power > 0:
        raise ValueError(f"transition_power must be > 0, e.g. 1.0, got {transition_power}")
    half = block_frames // 2
    rise = np.arange(1, half + 1, dtype=np.float64)
    fall = np.arange(block_frames - half, 0, -1, dtype=np.float64)
    triangle = np.concatenate([rise, fall])
    return ((triangle / triangle.max()) ** transition_power).astype(np.float32)


def _section(audio: np.ndarray, start: int, frames: int, origin: int = 0) -> np.ndarray:
    """``frames`` frames of ``audio`` from ``start``, zeros outside; ``audio[:, 0]`` is ``origin``."""
    out = np.zeros((audio.shape[0], frames), dtype=np.float32)
    begin = max(start, origin)
    end = min(start + frames, origin + audio.shape[1])
    if end > begin:
        out[:, begin - start : end - start] = audio[:, begin - origin : end - origin]
    return out


def _separate_block(
    separator: Separator,
    block: np.ndarray,
    sample_rate: int,
    prompts: Sequence[Prompt],
    plan: BlockPlan,
    kept_frames: int,
) -> list[np.ndarray]:
    """The targets of one context-padded block, context cut off: ``kept_frames`` each."""
    targets = separator.separate(block, sample_rate, prompts)
    if len(targets) != len(prompts):
        raise SeparationError(
            f"backend {separator.name!r} returned {len(targets)} targets for {len(prompts)} prompts"
        )
    for target in targets:
        if target.shape != block.shape:
            raise SeparationError(
                f"backend {separator.name!r} returned a target of shape {target.shape} "
                f"for a block of shape {block.shape}"
            )
    context = plan.context_frames
    return [target[:, context : context + kept_frames] for target in targets]


def _block_input_frames(plan: BlockPlan, start: int, total_frames: int) -> tuple[int, int]:
    """(frames of audio kept from the block at ``start``, frames handed to the separator)."""
    kept = min(plan.block_frames, total_frames - start)
    return kept, kept + 2 * plan.context_frames


class BlockStream:
    """Push input blocks, get finished targets: block-wise separation of one file.

    Make one per file: ``stream = BlockStream(separator, sample_rate, channels,
    prompts, block_s)``; call ``stream.push(block)`` with successive (channels,
    frames) float32 blocks of any length as they are read, and ``stream.finish()``
    once after the last. Each call returns one array per prompt holding the next
    target frames that are final (possibly 0 frames); written one after another
    they give exactly what one push of the whole file gives.
    ``frames_in`` and ``frames_out`` count frames pushed and returned.
    """

    def __init__(
        self,
        separator: Separator,
        sample_rate: int,
        channels: int,
        prompts: Sequence[Prompt],
        block_s: float,
        overlap: float = 0.25,
        transition_power: float = 1.0,
        *,
        context_s: float | None = None,
    ) -> None:
        if channels <= 0:
            raise ValueError(f"channels must be >= 1, got {channels}")
        separator.check_prompts(prompts)
        self._separator = separator
        self._sample_rate = sample_rate
        self._prompts = tuple(prompts)
        self._plan = plan_blocks(separator, sample_rate, block_s, overlap, context_s, prompts)
        self._weight = block_weights(self._plan.block_frames, transition_power)
        self._channels = channels
        # Input kept from frame _input_origin on; the first block's context is silence.
        self._pieces: list[np.ndarray] = []
        self._input = np.zeros((channels, 0), dtype=np.float32)
        self._input_origin = 0
        self._next_start = 0
        # Weighted target sums and weight sums for frames _emitted.. onwards.
        self._sums = [np.zeros((channels, 0), dtype=np.float32) for _ in self._prompts]
        self._weight_sum = np.zeros(0, dtype=np.float32)
        self.frames_in = 0
        self.frames_out = 0
        self._finished = False
        self.scores: list[ChunkScore] = []
        """The backend's presence scores (``last_presence``), in seconds from the start of
        the file; of overlapping blocks, each block's own stride."""

    def push(self, audio: np.ndarray) -> list[np.ndarray]:
        """Add the next input frames; returns the target frames now final, one per prompt."""
        if self._finished:
            raise SeparationError("this BlockStream is finished; make a new one for the next file")
        if audio.ndim != 2 or audio.shape[0] != self._channels:
            raise SeparationError(
                f"expected a block of shape ({self._channels}, frames), got {audio.shape}"
            )
        self._pieces.append(np.asarray(audio, dtype=np.float32))
        self.frames_in += audio.shape[1]
        # A block can run once its whole input, context after it included, is here.
        ready_until = self.frames_in - self._plan.block_frames - self._plan.context_frames
        if self._next_start <= ready_until:
            self._gather()
        while self._next_start <= ready_until:
            self._run_block(self.frames_in)
        return self._take(self._next_start, force=False)

    def finish(self) -> list[np.ndarray]:
        """Separate what is left (the end is followed by silence); returns the last frames."""
        if self._finished:
            raise SeparationError("finish() was already called on this BlockStream")
        self._gather()
        while self._next_start < self.frames_in:
            self._run_block(self.frames_in)
        self._finished = True
        return self._take(self.frames_in, force=True)

    def _gather(self) -> None:
        if self._pieces:
            self._input = np.concatenate([self._input, *self._pieces], axis=1)
            self._pieces = []

    def _run_block(self, total_frames: int) -> None:
        plan, start = self._plan, self._next_start
        kept, frames = _block_input_frames(plan, start, total_frames)
        block = _section(self._input, start - plan.context_frames, frames, self._input_origin)
        targets = _separate_block(
            self._separator, block, self._sample_rate, self._prompts, plan, kept
        )
        self._keep_scores(start, kept)
        self._grow_sums(start + kept)
        offset = start - self.frames_out
        for sums, target in zip(self._sums, targets, strict=True):
            sums[:, offset : offset + kept] += self._weight[:kept] * target
        self._weight_sum[offset : offset + kept] += self._weight[:kept]
        self._next_start = start + plan.stride_frames
        keep_from = max(self._next_start - plan.context_frames, self._input_origin)
        self._input = self._input[:, keep_from - self._input_origin :]
        self._input_origin = keep_from

    def _keep_scores(self, start: int, kept: int) -> None:
        """The block's scores whose middle falls in its own stride, moved to file time."""
        rate = self._sample_rate
        origin = (start - self._plan.context_frames) / rate
        low, high = start / rate, (start + min(kept, self._plan.stride_frames)) / rate
        for c in getattr(self._separator, "last_presence", ()):
            middle = origin + (c.start_s + c.end_s) / 2
            if low <= middle < high:
                start_s, end_s = max(0.0, origin + c.start_s), origin + c.end_s
                self.scores.append(ChunkScore(c.prompt, start_s, end_s, c.score, c.silenced))

    def _grow_sums(self, end_frame: int) -> None:
        extra = end_frame - self.frames_out - self._weight_sum.shape[0]
        if extra > 0:
            pad = np.zeros((self._channels, extra), dtype=np.float32)
            self._sums = [np.concatenate([sums, pad], axis=1) for sums in self._sums]
            self._weight_sum = np.concatenate([self._weight_sum, np.zeros(extra, np.float32)])

    def _take(self, until_frame: int, force: bool) -> list[np.ndarray]:
        """Divide out and return the frames before ``until_frame`` (all of them if ``force``)."""
        count = self._weight_sum.shape[0] if force else until_frame - self.frames_out
        count = max(0, min(count, self._weight_sum.shape[0]))
        weight = self._weight_sum[:count]
        finished = [sums[:, :count] / weight for sums in self._sums]
        self._sums = [sums[:, count:] for sums in self._sums]
        self._weight_sum = self._weight_sum[count:]
        self.frames_out += count
        return finished
