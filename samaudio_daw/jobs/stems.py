"""One item's audio in, its stem files out: pre-chain, separation, residual, post-chains.

Everything streams block by block, so memory does not grow with the file's length,
and every file is written under a temporary name and committed only when all the
item's stems are complete: an interrupted item leaves nothing behind.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from samaudio_daw.audio.io import AudioReader, BitDepth, FileFormat, StemWriter, check_finite
from samaudio_daw.files import remove_own_temp
from samaudio_daw.jobs.block_chain import BlockChain
from samaudio_daw.jobs.progress import JobCancelled
from samaudio_daw.presets import Preset
from samaudio_daw.separation.base import ChunkScore, Prompt, Separator, residual_of
from samaudio_daw.separation.chunking import BlockStream

_READ_BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class SeparatedItem:
    """What separating one item gave besides its files: frames per stem, and the backend's
    presence scores per chunk (ChunkScore, seconds from the item's start; may be empty)."""

    frames: int
    scores: tuple[ChunkScore, ...] = ()


@dataclass(frozen=True)
class StemPlan:
    """One file to write: a target (with its prompt) or the residual."""

    name: str
    kind: Literal["target", "residual"]
    prompt: str | None
    path: Path


def plan_stems(
    item_name: str,
    preset: Preset,
    output_dir: Path,
    file_format: FileFormat,
    keep_residual: bool,
) -> tuple[StemPlan, ...]:
    """The files an item becomes: ``<item>.<stem>.<ext>`` per stem, then the residual."""
    plans = [
        StemPlan(
            stem.name, "target", stem.prompt, output_dir / f"{item_name}.{stem.name}.{file_format}"
        )
        for stem in preset.stems
    ]
    if keep_residual:
        name = preset.residual_name
        plans.append(
            StemPlan(name, "residual", None, output_dir / f"{item_name}.{name}.{file_format}")
        )
    return tuple(plans)


def remove_stem_leftovers(plans: Sequence[StemPlan]) -> None:
    """Delete temporary files a killed run left for exactly these stems.

    Only plain files named as ``StemWriter`` names its temporaries for these targets
    (``.<file name>.<8 characters>.part``) are removed; the caller holds the output
    folder's lock, so no other run is writing them. Other files are never touched.
    """
    for plan in plans:
        pattern = f".{glob.escape(plan.path.name)}.{'[!.]' * 8}.part"
        for stale in plan.path.parent.glob(pattern):
            remove_own_temp(stale)


@dataclass(frozen=True)
class ItemAudio:
    """Where an item's audio comes from and how its stems are written."""

    path: Path
    bit_depth: BitDepth | None
    file_format: FileFormat
    time_reference_frames: int | None = None


def _input_blocks(
    reader: AudioReader, pre_chain: BlockChain | None, cancel: Callable[[], bool]
) -> Iterator[np.ndarray]:
    """The item's audio in blocks, through the pre-chain, checked for NaN/inf."""
    info = reader.info
    for start, block in reader.blocks(_READ_BLOCK_FRAMES):
        if cancel():
            raise JobCancelled(f"{info.path}: cancelled")
        check_finite(block, info.path, start, info.sample_rate)
        yield pre_chain.process(block) if pre_chain else block
    if pre_chain:
        tail = pre_chain.flush()
        if tail.shape[1]:
            yield tail


class _MixtureQueue:
    """Input frames waiting for their targets, so each residual uses the same frames."""

    def __init__(self, channels: int) -> None:
        self._pieces: list[np.ndarray] = []
        self._channels = channels

    def put(self, block: np.ndarray) -> None:
        self._pieces.append(block)

    def take(self, frames: int) -> np.ndarray:
        joined = np.concatenate([np.zeros((self._channels, 0), np.float32), *self._pieces], axis=1)
        self._pieces = [joined[:, frames:]]
        return joined[:, :frames]


def _separated_blocks(
    blocks: Iterator[np.ndarray], stream: BlockStream, channels: int
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(mixture, targets) pairs, aligned frame for frame, as the stream finishes them."""
    pending = _MixtureQueue(channels)
    for block in blocks:
        pending.put(block)
        targets = stream.push(block)
        if targets[0].shape[1]:
            yield pending.take(targets[0].shape[1]), targets
    targets = stream.finish()
    yield pending.take(targets[0].shape[1]), targets


def separate_item(
    source: ItemAudio,
    preset: Preset,
    prompts: Sequence[Prompt],
    plans: Sequence[StemPlan],
    separator: Separator,
    progress: Callable[[float], None],
    cancel: Callable[[], bool],
) -> SeparatedItem:
    """Write every planned stem of one item; the frames in each and the presence scores."""
    with AudioReader(source.path) as reader, ExitStack() as stack:
        info = reader.info
        rate, channels = info.sample_rate, info.channels
        bit_depth = source.bit_depth or info.bit_depth
        writers = [
            stack.enter_context(
                StemWriter(
                    plan.path,
                    rate,
                    channels,
                    bit_depth,
                    source.file_format,
                    source.time_reference_frames,
                )
            )
            for plan in plans
        ]
        post_chains = [
            BlockChain.after(preset, index, rate, channels) for index in range(len(preset.stems))
        ]
        # Backends without a block length get the whole item as one block.
        block_s = separator.block_s or info.duration_s + 1.0
        stream = BlockStream(separator, rate, channels, prompts, block_s)
        blocks = _input_blocks(reader, BlockChain.before(preset, rate, channels), cancel)
        done = 0
        for mixture, targets in _separated_blocks(blocks, stream, channels):
            done += _write_block(mixture, targets, writers, post_chains)
            progress(min(done / info.frames, 1.0))
        _flush_post_chains(writers, post_chains)
        for writer in writers:
            writer.commit()
        return SeparatedItem(done, tuple(stream.scores))


def _write_block(
    mixture: np.ndarray,
    targets: Sequence[np.ndarray],
    writers: Sequence[StemWriter],
    post_chains: Sequence[BlockChain | None],
) -> int:
    """Write one finished block: targets (through their post-chains), then the residual.

    The residual is taken before the post-chains, so stems + residual still null
    against the (pre-chained) input when the post-chains are empty.
    """
    for writer, target, chain in zip(writers, targets, post_chains, strict=False):
        writer.write(chain.process(target) if chain else target)
    if len(writers) > len(targets):
        writers[-1].write(residual_of(mixture, targets))
    return mixture.shape[1]


def _flush_post_chains(
    writers: Sequence[StemWriter], post_chains: Sequence[BlockChain | None]
) -> None:
    """Post-chains with latency hold frames back; write them so stems keep their length."""
    for writer, chain in zip(writers, post_chains, strict=False):
        if chain:
            writer.write(chain.flush())
