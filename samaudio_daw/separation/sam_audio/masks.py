"""Soft time-frequency masks: from the model's 48 kHz mono targets to the input's own channels.

A mask is |target| / |mixture| on a grid of 20 ms frames and 12.5 Hz bins, where the
mixture is the model's view (the 48 kHz mono downmix). Masks of several prompts are scaled
so that they never add up to more than one in any cell. The grid is defined in seconds and
hertz, so it maps onto an STFT of the original audio at its own rate (hop 20 ms, window
80 ms: the same frame times and the same bin spacing for every rate divisible by 50 Hz);
applying the masks there keeps every channel, the full bandwidth and the exact length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FRAME_S = 0.02
"""STFT hop in seconds; the window is four hops (80 ms, 12.5 Hz bins)."""
RELIABLE_FRACTION = 0.9
"""Masks above this fraction of the lower Nyquist frequency copy the mask just below it:
the resampler's transition band leaves the model's mixture nearly empty there."""
_EPS = 1e-8


@dataclass(frozen=True)
class StftGrid:
    """An STFT at ``sample_rate``: hop ``hop`` samples, window 4·hop (Hann)."""

    sample_rate: int

    @property
    def hop(self) -> int:
        return max(1, round(self.sample_rate * FRAME_S))

    @property
    def n_fft(self) -> int:
        return 4 * self.hop

    def frames(self, samples: int) -> int:
        """Frames of a centred STFT of ``samples`` samples."""
        return samples // self.hop + 1

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """(..., samples) float → (..., bins, frames) complex; frame k centred at k·hop."""
        flat = audio.reshape(-1, audio.shape[-1]).float()
        window = torch.hann_window(self.n_fft, device=audio.device)
        # Zero (not reflect) padding at the ends: it works for clips shorter than a window.
        spec = torch.stft(
            flat,
            self.n_fft,
            self.hop,
            window=window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.reshape(*audio.shape[:-1], *spec.shape[-2:])

    def istft(self, spec: torch.Tensor, samples: int) -> torch.Tensor:
        """(..., bins, frames) complex → (..., samples) float32."""
        flat = spec.reshape(-1, *spec.shape[-2:])
        window = torch.hann_window(self.n_fft, device=spec.device)
        audio = torch.istft(flat, self.n_fft, self.hop, window=window, center=True, length=samples)
        return audio.reshape(*spec.shape[:-2], samples)


def ratio_mask(target: torch.Tensor, mixture: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """|STFT(target)| / |STFT(mixture)|, clipped to [0, 1].

    target: (N, samples), mixture: (N, samples) or (samples,). Returns (N, bins, frames).
    """
    target_mag = grid.stft(target).abs()
    mixture_mag = grid.stft(mixture).abs()
    return (target_mag / (mixture_mag + _EPS)).clamp(0.0, 1.0)


def normalise_masks(masks: torch.Tensor) -> torch.Tensor:
    """(prompts, bins, frames): divide each cell by max(1, Σ over prompts), so targets never
    take more than the mixture has and the residual is a true "everything else"."""
    return masks / masks.sum(dim=0, keepdim=True).clamp(min=1.0)


def _interp_axis(values: torch.Tensor, positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear interpolation of ``values`` along ``dim`` at fractional ``positions`` (clamped)."""
    size = values.shape[dim]
    positions = positions.clamp(0, size - 1)
    low = positions.floor().long().clamp(max=size - 1)
    high = (low + 1).clamp(max=size - 1)
    weight_shape = [1] * values.dim()
    weight_shape[dim] = -1
    weight = (positions - low).reshape(weight_shape).to(values.device, values.dtype)
    low, high = low.to(values.device), high.to(values.device)
    return values.index_select(dim, low) * (1 - weight) + values.index_select(dim, high) * weight


def project_masks(
    masks: torch.Tensor, model_grid: StftGrid, target_grid: StftGrid, frames: int, input_hz: int
) -> torch.Tensor:
    """Resample masks (P, bins, frames) from ``model_grid`` onto ``target_grid`` (P, bins', frames').

    Times and frequencies are matched in seconds and hertz; bins above the reliable band
    (RELIABLE_FRACTION of the lower Nyquist of the input and the model) copy the top reliable bin.
    Positions are computed in float64 on the CPU (MPS has no float64).
    """
    device = torch.device("cpu")
    target_times = torch.arange(frames, device=device, dtype=torch.float64) * (
        target_grid.hop / target_grid.sample_rate
    )
    source_frames = target_times / (model_grid.hop / model_grid.sample_rate)
    in_time = _interp_axis(masks, source_frames, dim=2)
    bins = target_grid.n_fft // 2 + 1
    freqs = torch.arange(bins, device=device, dtype=torch.float64) * (
        target_grid.sample_rate / target_grid.n_fft
    )
    reliable_hz = RELIABLE_FRACTION * min(input_hz, model_grid.sample_rate) / 2
    source_bins = freqs.clamp(max=reliable_hz) / (model_grid.sample_rate / model_grid.n_fft)
    return _interp_axis(in_time, source_bins, dim=1)


def apply_masks(audio: torch.Tensor, masks: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """audio: (channels, samples); masks: (P, bins, frames) on ``grid`` → (P, channels, samples)."""
    spec = grid.stft(audio)
    # One prompt at a time: a (P, channels, bins, frames) complex product can be large.
    return torch.stack([grid.istft(mask * spec, audio.shape[-1]) for mask in masks])
