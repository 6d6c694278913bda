"""LAION-CLAP's audio encoder: HTSAT, a Swin transformer over a log-mel "image".

The module tree and parameter names follow LAION-CLAP's ``HTSAT_Swin_Transformer`` (as
the ``audio_branch`` of its ``630k-best.pt``), so that checkpoint loads strictly; what
runs is the non-fusion inference path the CLAP ranker uses:

1. log-mel: a reflect-padded STFT as two convolutions (``spectrogram_extractor``, 1024
   window, 480 hop, Hann), power, 64 Slaney mel bands 50 Hz-14 kHz (``logmel_extractor``),
   10·log10 with a 1e-10 floor, no top-dB clipping;
2. ``bn0``: batch norm over the mel bands (its running statistics; no spec augmentation at
   inference);
3. the (1001 frames × 64 bands) picture stretched bicubically to 1024 frames and folded
   into a 256 × 256 image (four 256-frame strips stacked along the frequency axis);
4. ``patch_embed`` (4 × 4 patches, LayerNorm), four Swin stages of windowed attention (8 × 8
   windows, every second block shifted by 4, patch merging between stages), ``norm``;
5. the embedding: the mean over all tokens (LAION's ``embedding``, the ``latent_output``
   that ``get_audio_embedding`` projects; the frame-wise and class outputs are not used).

The filters of steps 1 come from the checkpoint (they are parameters there); the values
built here are the same (librosa's Hann window and mel filters) and serve new models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

N_FFT, HOP, F_MIN, F_MAX = 1024, 480, 50.0, 14_000.0
SAMPLE_RATE = 48_000
SPEC_SIZE = 256
"""The side of the square image every HTSAT configuration of LAION-CLAP uses."""
_AMIN = 1e-10


@dataclass(frozen=True)
class HtsatShape:
    """The sizes of one HTSAT (HTSAT-tiny: 64 mels, 96 wide, depths 2-2-6-2, heads 4-8-16-32)."""

    mel_bins: int = 64
    embed_dim: int = 96
    patch: int = 4
    depths: tuple[int, ...] = (2, 2, 6, 2)
    heads: tuple[int, ...] = (4, 8, 16, 32)
    window: int = 8

    @property
    def width(self) -> int:
        """The embedding's width (768 for HTSAT-tiny)."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)


class _Stft(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        bins = N_FFT // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, N_FFT, stride=HOP, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, N_FFT, stride=HOP, bias=False)
        n = torch.arange(N_FFT, dtype=torch.float64)
        angle = 2 * math.pi * torch.arange(bins, dtype=torch.float64)[:, None] * n / N_FFT
        window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)
        with torch.no_grad():
            self.conv_real.weight.copy_((torch.cos(angle) * window)[:, None])
            self.conv_imag.weight.copy_((-torch.sin(angle) * window)[:, None])


class _Spectrogram(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stft = _Stft()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) → (n, 1, frames, bins) power."""
        padded = functional.pad(audio[:, None], (N_FFT // 2, N_FFT // 2), mode="reflect")
        real = self.stft.conv_real(padded)
        imag = self.stft.conv_imag(padded)
        return (real.square() + imag.square()).transpose(1, 2)[:, None]


class _LogMel(nn.Module):
    def __init__(self, mel_bins: int) -> None:
        super().__init__()
        self.melW = nn.Parameter(slaney_mel_filters(mel_bins))

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10((power @ self.melW).clamp(min=_AMIN))


def slaney_mel_filters(mel_bins: int) -> torch.Tensor:
    """(bins, mel_bins): librosa.filters.mel(sr=48000, n_fft=1024, fmin=50, fmax=14000).T,
    the Slaney scale and area normalisation."""

    def to_mel(hz: torch.Tensor) -> torch.Tensor:
        log_part = 15.0 + torch.log(hz.clamp(min=1e-10) / 1000.0) / (math.log(6.4) / 27.0)
        return torch.where(hz >= 1000.0, log_part, hz * 3.0 / 200.0)

    def to_hz(mel: torch.Tensor) -> torch.Tensor:
        log_part = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0))
        return torch.where(mel >= 15.0, log_part, mel * 200.0 / 3.0)

    f64, cpu = torch.float64, "cpu"  # on the CPU also when modules are built on "meta"
    low, high = to_mel(torch.tensor([F_MIN, F_MAX], dtype=f64, device=cpu)).tolist()
    edges = to_hz(torch.linspace(low, high, mel_bins + 2, dtype=f64, device=cpu))
    freqs = torch.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1, dtype=f64, device=cpu)
    widths = edges.diff()
    ramps = edges[:, None] - freqs[None]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = torch.minimum(rising, falling).clamp(min=0.0)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.contiguous().float()


class _PatchEmbed(nn.Module):
    def __init__(self, shape: HtsatShape) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, shape.embed_dim, shape.patch, stride=shape.patch)
        self.norm = nn.LayerNorm(shape.embed_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(image).flatten(2).transpose(1, 2))


class _Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(functional.gelu(self.fc1(x)))


class _WindowAttention(nn.Module):
    relative_position_index: torch.Tensor

    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer(
            "relative_position_index", relative[..., 0] * (2 * window - 1) + relative[..., 1]
        )
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: (windows·B, N, C); mask: (windows, N, N) of 0 / -100, or None."""
        batch, n, c = x.shape
        q, k, v = (
            self.qkv(x).reshape(batch, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        )
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        attn = attn + bias.reshape(n, n, -1).permute(2, 0, 1)[None]
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.reshape(batch // windows, windows, self.heads, n, n) + mask[None, :, None]
            attn = attn.reshape(batch, self.heads, n, n)
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, n, c))


class _SwinBlock(nn.Module):
    attn_mask: torch.Tensor | None

    def __init__(self, dim: int, resolution: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        if resolution <= window:  # one window covers the map: no shift
            window, shift = resolution, 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim)
        self.register_buffer("attn_mask", _shift_mask(resolution, window, shift) if shift else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, c = x.shape
        side, window, shift = self.resolution, self.window, self.shift
        grid = self.norm1(x).reshape(batch, side, side, c)
        if shift:
            grid = torch.roll(grid, (-shift, -shift), dims=(1, 2))
        attended = self.attn(_windows(grid, window), self.attn_mask)
        grid = _unwindow(attended, window, side)
        if shift:
            grid = torch.roll(grid, (shift, shift), dims=(1, 2))
        x = x + grid.reshape(batch, side * side, c)
        return x + self.mlp(self.norm2(x))


def _windows(grid: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) → (B·windows, window², C), windows in row-major order."""
    batch, h, w, c = grid.shape
    tiles = grid.reshape(batch, h // window, window, w // window, window, c).permute(
        0, 1, 3, 2, 4, 5
    )
    return tiles.reshape(-1, window * window, c)


def _unwindow(tiles: torch.Tensor, window: int, side: int) -> torch.Tensor:
    """The inverse of _windows for a (side × side) map."""
    c = tiles.shape[-1]
    grid = tiles.reshape(-1, side // window, side // window, window, window, c)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(-1, side, side, c)


def _shift_mask(side: int, window: int, shift: int) -> torch.Tensor:
    """(windows, window², window²): -100 between tokens that the cyclic shift brought from
    different regions of the map, 0 elsewhere."""
    region = torch.zeros(1, side, side, 1)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for label, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
        region[:, rows, cols] = label
    labels = _windows(region, window)[..., 0]
    differ = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(differ.shape).masked_fill(differ, -100.0)


class _PatchMerging(nn.Module):
    def __init__(self, dim: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, c = x.shape
        grid = x.reshape(batch, self.resolution, self.resolution, c)
        quads = [grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2], grid[:, 1::2, 1::2]]
        return self.reduction(self.norm(torch.cat(quads, dim=-1).reshape(batch, -1, 4 * c)))


class _Stage(nn.Module):
    def __init__(
        self, dim: int, resolution: int, depth: int, heads: int, window: int, last: bool
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _SwinBlock(dim, resolution, heads, window, window // 2 if i % 2 else 0)
            for i in range(depth)
        )
        self.downsample = None if last else _PatchMerging(dim, resolution)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class HtsatAudioBranch(nn.Module):
    """(n, 480000) waveforms at 48 kHz → (n, shape.width) embeddings."""

    def __init__(self, shape: HtsatShape) -> None:
        super().__init__()
        self.shape = shape
        self.freq_ratio = SPEC_SIZE // shape.mel_bins
        self.spectrogram_extractor = _Spectrogram()
        self.logmel_extractor = _LogMel(shape.mel_bins)
        self.bn0 = nn.BatchNorm2d(shape.mel_bins)
        self.patch_embed = _PatchEmbed(shape)
        side = SPEC_SIZE // shape.patch
        last = len(shape.depths) - 1
        self.layers = nn.ModuleList(
            _Stage(shape.embed_dim * 2**i, side // 2**i, depth, heads, shape.window, i == last)
            for i, (depth, heads) in enumerate(zip(shape.depths, shape.heads, strict=True))
        )
        self.norm = nn.LayerNorm(shape.width)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        mel = self.logmel_extractor(self.spectrogram_extractor(audio))  # (n, 1, T, mels)
        mel = self.bn0(mel.transpose(1, 3)).transpose(1, 3)
        x = self.patch_embed(self._image(mel))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x).mean(dim=1)

    def _image(self, mel: torch.Tensor) -> torch.Tensor:
        """(n, 1, T ≤ 1024, mels) → (n, 1, 256, 256): stretched to 1024 frames, then the
        four 256-frame strips stacked along the frequency axis."""
        frames = SPEC_SIZE * self.freq_ratio
        if mel.shape[2] < frames:
            mel = functional.interpolate(
                mel, (frames, mel.shape[3]), mode="bicubic", align_corners=True
            )
        n, mels = mel.shape[0], mel.shape[3]
        strips = mel.transpose(2, 3).reshape(n, 1, mels, self.freq_ratio, frames // self.freq_ratio)
        return strips.permute(0, 1, 3, 2, 4).reshape(n, 1, mels * self.freq_ratio, -1)


def htsat_shape(state: dict[str, torch.Tensor], prefix: str = "audio_branch.") -> HtsatShape:
    """The sizes of the HTSAT whose weights ``state`` holds (KeyError when it holds none)."""
    patch = state[f"{prefix}patch_embed.proj.weight"]
    depths: list[int] = []
    heads: list[int] = []
    while f"{prefix}layers.{len(depths)}.blocks.0.norm1.weight" in state:
        stage = f"{prefix}layers.{len(depths)}."
        depths.append(sum(1 for k in state if k.startswith(stage) and k.endswith(".norm1.weight")))
        heads.append(state[f"{stage}blocks.0.attn.relative_position_bias_table"].shape[1])
    table = state[f"{prefix}layers.0.blocks.0.attn.relative_position_bias_table"]
    return HtsatShape(
        mel_bins=state[f"{prefix}bn0.weight"].shape[0],
        embed_dim=patch.shape[0],
        patch=patch.shape[-1],
        depths=tuple(depths),
        heads=tuple(heads),
        window=(math.isqrt(table.shape[0]) + 1) // 2,
    )
