"""The official processor: downmix, zero-pad a batch, count frames, encode anchors (SPEC §3.1-2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from samaudio_daw.separation.sam_audio.anchors import Anchor, encode_anchors


@dataclass(frozen=True)
class FrameLabels:
    """Per-frame inputs of the DiT besides the audio.

    frame_mask: (B, T) bool, True = valid frame.
    anchor_ids: (B, K) int64; anchor_alignment: (B, T) int64 (see anchors.encode_anchors).
    """

    frame_mask: torch.Tensor
    anchor_ids: torch.Tensor
    anchor_alignment: torch.Tensor


def label_frames(
    anchors: Sequence[Sequence[Anchor]],
    frame_counts: Sequence[int],
    sample_rate: int,
    hop_samples: int,
) -> FrameLabels:
    """Frame mask and anchor encoding for items of ``frame_counts`` frames, padded to the longest."""
    n_frames = max(frame_counts)
    counts = torch.tensor(list(frame_counts), dtype=torch.int64)
    frame_mask = torch.arange(n_frames)[None, :] < counts[:, None]
    ids, alignment = encode_anchors(anchors, frame_counts, n_frames, sample_rate, hop_samples)
    return FrameLabels(frame_mask, ids, alignment)


@dataclass(frozen=True)
class AudioBatch:
    """A padded batch ready for the codec and the DiT.

    audio: (B, 1, L_max) float32 mono at 48 kHz, zero-padded on the right.
    sample_counts: (B,) int64 input lengths in samples.
    frame_counts: (B,) int64 latent frames per item, ceil(samples/hop).
    labels: frame mask (B, T), T = max(frame_counts), and anchors.
    """

    audio: torch.Tensor
    sample_counts: torch.Tensor
    frame_counts: torch.Tensor
    labels: FrameLabels


def downmix(audio: torch.Tensor, where: str) -> torch.Tensor:
    """(channels, samples) float → (samples,) mean over channels."""
    if audio.ndim != 2 or audio.shape[0] < 1:
        raise ValueError(
            f"{where}: audio must be a (channels, samples) tensor, got shape {tuple(audio.shape)}"
        )
    return audio.float().mean(dim=0)


def prepare_batch(
    audios: Sequence[torch.Tensor],
    anchors: Sequence[Sequence[Anchor]] | None,
    sample_rate: int,
    hop_samples: int,
) -> AudioBatch:
    """Downmix each (channels, samples) item, pad to the longest, encode the anchors.

    Items must be at least hop/2 samples long so that the codec's reflect padding works.
    """
    if not audios:
        raise ValueError("separate() needs at least one audio item")
    monos = [downmix(audio, f"audio item {i}") for i, audio in enumerate(audios)]
    for i, mono in enumerate(monos):
        if mono.shape[0] <= hop_samples // 2:
            raise ValueError(
                f"audio item {i} has {mono.shape[0]} samples; SAM-Audio needs more than "
                f"{hop_samples // 2} ({hop_samples / 2 / sample_rate * 1000:.0f} ms at 48 kHz)"
            )
    longest = max(mono.shape[0] for mono in monos)
    audio = torch.zeros((len(monos), 1, longest), dtype=torch.float32)
    for i, mono in enumerate(monos):
        audio[i, 0, : mono.shape[0]] = mono
    sample_counts = torch.tensor([mono.shape[0] for mono in monos], dtype=torch.int64)
    frame_counts = (sample_counts + hop_samples - 1) // hop_samples
    items = anchors if anchors is not None else [()] * len(monos)
    if len(items) != len(monos):
        raise ValueError(f"got anchors for {len(items)} items but {len(monos)} audio items")
    labels = label_frames(items, frame_counts.tolist(), sample_rate, hop_samples)
    return AudioBatch(audio, sample_counts, frame_counts, labels)
