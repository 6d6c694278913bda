"""Band-limited resampling between any two integer rates, with zero delay and exact length.

Why our own: the model needs the mixture at 48 kHz, and stems must stay sample-aligned with
the input. A Kaiser-windowed sinc evaluated at each output instant (a polyphase table with
one row per output phase, gathered in blocks) has no latency to compensate, works for
coprime rates (44056 Hz) as well as 44.1 kHz, and runs on whatever device the tensor is
on. pedalboard's StreamResampler is a streaming converter with a latency of its own;
scipy is not a dependency. Output sample n sits at input time n·from/to, so
``resample(x, a, b)`` has ceil(len·b/a) samples and starts at the same instant.
"""

from __future__ import annotations

import math

import torch

ZERO_CROSSINGS = 32
"""Sinc zero crossings on each side: stop-band rejection and transition width."""
ROLLOFF = 0.94
"""Cut-off as a fraction of the lower Nyquist frequency (20.7 kHz for 44.1 kHz)."""
KAISER_BETA = 9.0
_BLOCK = 1 << 16


def output_length(frames: int, from_hz: int, to_hz: int) -> int:
    """ceil(frames · to / from), computed in integers."""
    return -(-frames * to_hz // from_hz)


def _phase_table(up: int, down: int) -> tuple[torch.Tensor, int]:
    """(up, 2W) tap weights, one row per output phase, and W (taps either side)."""
    cutoff = ROLLOFF * min(1.0, up / down)
    half_width = math.ceil(ZERO_CROSSINGS / cutoff)
    frac = torch.arange(up, dtype=torch.float64)[:, None] * down % up / up
    # Distance in input samples from each output instant to taps base-W+1 .. base+W.
    distance = frac + half_width - 1 - torch.arange(2 * half_width, dtype=torch.float64)[None, :]
    ratio = (distance / (half_width + 1e-9)).clamp(-1.0, 1.0)
    window = torch.special.i0(KAISER_BETA * torch.sqrt(1.0 - ratio**2))
    taps = cutoff * torch.sinc(cutoff * distance) * window
    # Each phase sums to exactly one, so a constant passes unchanged.
    return taps / taps.sum(dim=1, keepdim=True), half_width


_MAX_CONV_WEIGHTS = 1 << 22


def resample(audio: torch.Tensor, from_hz: int, to_hz: int) -> torch.Tensor:
    """audio: (..., frames) float at ``from_hz`` → (..., ceil(frames·to/from)) at ``to_hz``.

    Float32 out; samples beyond either end count as zeros.
    """
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {from_hz} Hz and {to_hz} Hz")
    x = audio.float()
    if from_hz == to_hz:
        return x.clone()
    g = math.gcd(from_hz, to_hz)
    up, down = to_hz // g, from_hz // g
    table, half_width = _phase_table(up, down)
    table = table.to(device=x.device, dtype=torch.float32)
    total = output_length(x.shape[-1], from_hz, to_hz)
    flat = x.reshape(-1, x.shape[-1])
    if up * (2 * half_width + down) <= _MAX_CONV_WEIGHTS:
        out = _resample_conv(flat, table, half_width, up, down, total)
    else:
        out = _resample_gather(flat, table, half_width, up, down, total)
    return out.reshape(*x.shape[:-1], total)


def _resample_conv(
    x: torch.Tensor, table: torch.Tensor, half_width: int, up: int, down: int, total: int
) -> torch.Tensor:
    """x: (rows, frames) → (rows, total), as one strided conv1d with a kernel per phase.

    Phase r's taps start at input q·down + c_r − W + 1 with c_r = r·down // up; embedding
    c_r in the kernel makes every phase a plain stride-``down`` convolution.
    """
    taps = 2 * half_width
    offsets = torch.arange(up, device=x.device) * down // up
    kernel = x.new_zeros((up, taps + down - 1))
    columns = offsets[:, None] + torch.arange(taps, device=x.device)[None, :]
    kernel.scatter_(1, columns, table)
    per_phase = -(-total // up)
    right = (per_phase - 1) * down + kernel.shape[1] - (x.shape[-1] + half_width - 1)
    padded = torch.nn.functional.pad(x[:, None, :], (half_width - 1, max(right, 0)))
    phases = torch.nn.functional.conv1d(padded, kernel[:, None, :], stride=down)
    # (rows, up, per_phase) → (rows, per_phase, up): output n = q·up + r.
    return phases[..., :per_phase].transpose(1, 2).reshape(x.shape[0], -1)[:, :total]


def _resample_gather(
    x: torch.Tensor, table: torch.Tensor, half_width: int, up: int, down: int, total: int
) -> torch.Tensor:
    """x: (rows, frames) → (rows, total), gathering taps per output; for rates with many phases."""
    padded = torch.nn.functional.pad(x, (half_width, half_width + 1))
    offsets = torch.arange(2 * half_width, device=x.device)
    pieces = [x.new_zeros((x.shape[0], 0))]
    for start in range(0, total, _BLOCK):
        n = torch.arange(start, min(start + _BLOCK, total), device=x.device, dtype=torch.int64)
        base = n * down // up
        # Tap k of output n reads input base-W+1+k, i.e. padded index base+1+k.
        taps = padded[:, base[:, None] + 1 + offsets[None, :]]
        pieces.append((taps * table[n % up]).sum(dim=-1))
    return torch.cat(pieces, dim=-1)
