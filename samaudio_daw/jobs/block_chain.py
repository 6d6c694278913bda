"""A preset's pedalboard chain run block by block over a long file, staying aligned.

pedalboard keeps plugin state between calls with ``reset=False`` and compensates a
plugin's latency by returning fewer frames at first; ``flush`` feeds silence until
exactly as many frames came out as went in, so a stem keeps its length and its
place in time.
"""

from __future__ import annotations

import numpy as np
import pedalboard

from samaudio_daw.audio.checks import check_audio
from samaudio_daw.presets import Preset, build_post_chain, build_pre_chain

_FLUSH_BLOCK_FRAMES = 8192
_MAX_FLUSH_S = 30.0


class BlockChain:
    """Process consecutive (channels, frames) float32 blocks through one chain."""

    def __init__(self, board: pedalboard.Pedalboard, sample_rate: int, channels: int) -> None:
        check_audio(np.zeros((channels, 0), np.float32), sample_rate)
        self._board = board
        self._sample_rate = sample_rate
        self._channels = channels
        self._frames_in = 0
        self._frames_out = 0
        self._board.reset()

    @classmethod
    def before(cls, preset: Preset, sample_rate: int, channels: int) -> BlockChain | None:
        """The preset's pre-chain, or None when it has none."""
        if not preset.pre_chain:
            return None
        return cls(build_pre_chain(preset), sample_rate, channels)

    @classmethod
    def after(
        cls, preset: Preset, stem_index: int, sample_rate: int, channels: int
    ) -> BlockChain | None:
        """The post-chain of the preset's stem ``stem_index``, or None when it has none."""
        stem = preset.stems[stem_index]
        if not stem.post_chain:
            return None
        return cls(build_post_chain(preset, stem.name), sample_rate, channels)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Run one block; may return fewer frames early on (latency), never more than fed."""
        check_audio(block, self._sample_rate, finite=False)
        if block.shape[0] != self._channels:
            raise ValueError(f"expected {self._channels} channel(s), got shape {block.shape}")
        frames = block.shape[1]
        self._frames_in += frames
        if frames <= self._channels:
            # pedalboard guesses the channel axis; a block this short would be misread.
            block = np.pad(block, ((0, 0), (0, self._channels + 1 - frames)))
        out = self._board.process(block, self._sample_rate, reset=False)
        return self._take(out)

    def _take(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32).reshape(self._channels, -1)
        room = self._frames_in - self._frames_out
        out = out[:, :room]
        self._frames_out += out.shape[1]
        return out

    def flush(self) -> np.ndarray:
        """The frames still held by plugins with latency, so the total equals the input."""
        silence = np.zeros((self._channels, _FLUSH_BLOCK_FRAMES), dtype=np.float32)
        pieces = [np.zeros((self._channels, 0), dtype=np.float32)]
        fed = 0
        while self._frames_out < self._frames_in and fed < _MAX_FLUSH_S * self._sample_rate:
            fed += _FLUSH_BLOCK_FRAMES
            pieces.append(self._take(self._board.process(silence, self._sample_rate, reset=False)))
        missing = self._frames_in - self._frames_out
        if missing > 0:  # a plugin that never gives its audio back: pad rather than shorten
            pieces.append(np.zeros((self._channels, missing), dtype=np.float32))
            self._frames_out += missing
        return np.concatenate(pieces, axis=1)
