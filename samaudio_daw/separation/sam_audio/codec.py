"""DAC-VAE: the encoder (mixture → latent mean) and the decoder with its watermark (SPEC §2.3, §5).

Module names follow the official ``audio_codec.*`` keys. Weight-normalised convolutions
are plain convolutions here: the loader folds ``weight_g``/``weight_v`` into ``weight``
once (numerically equivalent to ≤1e-7, SPEC §6). The decoder always adds the official
watermark; there is deliberately no switch to leave it out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from samaudio_daw.separation.sam_audio.config import CodecConfig

WATERMARK_STRIDES = (8, 5, 4, 2)
"""Strides of the watermark branch in decoder blocks 1..4 (hard-coded in dacvae)."""
WATERMARK_BITS = 16
WATERMARK_HIDDEN = 128
WATERMARK_BLEND = 0.25
TILE_ELEMENTS = 2**20
"""Largest activation (batch × channels × samples) a tile of the CPU codec makes: 4 MB,
which the allocator reuses and the caches hold. Whole 10 s clips make 184 MB tensors at
48 kHz, and the page faults and cache misses of those cost about as much as the arithmetic."""


def tile_geometry(modules: Sequence[nn.Module]) -> tuple[float, int, int, int]:
    """(reach, up, down, width) of ``modules`` run in order on (B, C, L).

    reach: how far, in input samples, the inputs an output sample depends on can lie from
    its own position (at most; Snake, ELU and tanh are pointwise, so only the convolutions
    count). The output has L·up/down samples. width: the most elements per input sample
    any convolution reads or writes.
    """
    reach, rate, width = 0.0, 1.0, 0.0
    up, down = 1, 1
    for module in modules:
        for conv in module.modules():
            if not isinstance(conv, nn.Conv1d | nn.ConvTranspose1d):
                continue
            span = conv.dilation[0] * (conv.kernel_size[0] - 1)
            pad, stride = int(conv.padding[0]), conv.stride[0]
            width = max(width, conv.in_channels * rate)
            if isinstance(conv, nn.ConvTranspose1d):
                # Output n sees inputs m with 0 <= n + pad - m·stride <= span.
                reach += max(span - pad, pad) / stride / rate
                rate, up = rate * stride, up * stride
            else:
                reach += max(span - pad, pad) / rate
                rate, down = rate / stride, down * stride
            width = max(width, conv.out_channels * rate)
    return reach, up, down, math.ceil(width)


def in_tiles(modules: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """``modules`` run in order on x (B, C, L), in windows along L on the CPU.

    Every layer is shift-equivariant (convolutions and pointwise functions), so a window
    widened by the modules' reach on each side gives exactly the full pass's output away
    from its edges; only that part is kept. The result is the one-pass result, up to the
    rounding of the convolution kernels' blocking. One pass on other devices, for short
    inputs, and where the widening would add more than an eighth to the work.
    """
    reach, up, down, width = tile_geometry(modules)
    length = x.shape[-1]
    tile = max(1, TILE_ELEMENTS // (x.shape[0] * width)) // down * down
    halo = math.ceil(reach / down) * down
    if x.device.type != "cpu" or tile == 0 or length <= tile or 16 * halo > tile:
        for module in modules:
            x = module(x)
        return x
    pieces = []
    for start in range(0, length, tile):
        end = min(length, start + tile)
        low, high = max(0, start - halo), min(length, end + halo)
        y = x[..., low:high]
        for module in modules:
            y = module(y)
        pieces.append(y[..., (start - low) * up // down : (end - low) * up // down])
    return torch.cat(pieces, dim=-1)


class Snake(nn.Module):
    """x + sin²(α·x)/(α + 1e-9), per channel; x: (B, channels, L)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One temporary and in-place steps: the codec's activations are long (48 kHz) and
        # Snake runs about fifty times per decode, so memory traffic dominates its cost.
        wave = torch.sin_(self.alpha * x).square_()
        return torch.addcmul(x, wave, (self.alpha + 1e-9).reciprocal())


class CausalConv1d(nn.Conv1d):
    """Conv1d with left zero padding (k−1)·dilation + 1 − stride: output frame n sees inputs ≤ n·stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = (self.kernel_size[0] - 1) * self.dilation[0] + 1 - self.stride[0]
        return super().forward(F.pad(x, (left, 0)))


class CausalConvTranspose1d(nn.ConvTranspose1d):
    """ConvTranspose1d (k = 2·stride) that drops the last ``stride`` samples: length × stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = super().forward(x)
        return out[..., : out.shape[-1] - self.stride[0]]


class ResidualUnit(nn.Module):
    """x + conv1(snake(conv7_dilated(snake(x))))."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake(channels),
            nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            Snake(channels),
            nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EluUnit(nn.Module):
    """x + conv1(elu(conv3_causal(elu(x)))), width channels → channels/2 → channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(),
            CausalConv1d(channels, channels // 2, 3),
            nn.ELU(),
            nn.Conv1d(channels // 2, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    """Three residual units on width/2, Snake, then a strided conv width/2 → width."""

    def __init__(self, width: int, stride: int) -> None:
        super().__init__()
        half = width // 2
        self.block = nn.Sequential(
            ResidualUnit(half, 1),
            ResidualUnit(half, 3),
            ResidualUnit(half, 9),
            Snake(half),
            nn.Conv1d(half, width, 2 * stride, stride=stride, padding=(stride + 1) // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    """Waveform (B, 1, L) → pre-bottleneck latent (B, latent_dim, L/hop)."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        width = config.encoder_dim
        layers: list[nn.Module] = [nn.Conv1d(1, width, 7, padding=3)]
        for stride in config.encoder_rates:
            width *= 2
            layers.append(EncoderBlock(width, stride))
        layers += [Snake(width), nn.Conv1d(width, config.latent_dim, 3, padding=1)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In stages: the reach in input samples grows with each downsampling, so one run of
        # tiles would widen the 48 kHz windows by the low-rate layers' long reach.
        layers = list(self.block)
        for stage in (layers[:3], layers[3:4], layers[4:]):
            x = in_tiles(stage, x)
        return x


class DecoderBlock(nn.Module):
    """Twelve modules, indexed as in the checkpoint (SPEC §5).

    Main path: 0, 1, 4, 5, 8. Watermark down path: 7, 10, 11. Watermark up path: 2, 3, 6.
    """

    def __init__(self, in_dim: int, out_dim: int, stride: int, wm_stride: int) -> None:
        super().__init__()
        wm_in, wm_out = in_dim // 3, out_dim // 3
        self.block = nn.ModuleList(
            [
                Snake(in_dim),
                nn.ConvTranspose1d(
                    in_dim,
                    out_dim,
                    2 * stride,
                    stride=stride,
                    padding=(stride + 1) // 2,
                    output_padding=stride % 2,
                ),
                nn.ELU(),
                CausalConvTranspose1d(wm_in, wm_out, 2 * wm_stride, stride=wm_stride),
                ResidualUnit(out_dim, 1),
                ResidualUnit(out_dim, 3),
                EluUnit(wm_out),
                EluUnit(wm_out),
                ResidualUnit(out_dim, 9),
                nn.Identity(),
                nn.ELU(),
                CausalConv1d(wm_out, wm_in, 2 * wm_stride, stride=wm_stride),
            ]
        )

    def main_path(self) -> list[nn.Module]:
        return [self.block[index] for index in (0, 1, 4, 5, 8)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Main path: (B, in_dim, L) → (B, out_dim, L·stride)."""
        for module in self.main_path():
            x = module(x)
        return x

    def watermark_down_path(self) -> list[nn.Module]:
        return [self.block[index] for index in (7, 10, 11)]

    def watermark_up_path(self) -> list[nn.Module]:
        return [self.block[index] for index in (2, 3, 6)]


class SkipLSTM(nn.Module):
    """Two-layer LSTM over time with a skip connection; x: (B, channels, L)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, channels, num_layers=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # nn.LSTM here is sequence-first: (B, C, L) → (L, B, C) and back.
        seq = x.permute(2, 0, 1)
        out, _ = self.lstm(seq)
        return (out + seq).permute(1, 2, 0)


class MessageEmbedding(nn.Module):
    """Σ_k embed[2k + bit_k]: one (B, hidden) vector per message of 16 bits."""

    def __init__(self) -> None:
        super().__init__()
        self.msg_processor = nn.Embedding(2 * WATERMARK_BITS, WATERMARK_HIDDEN)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        """bits: (B, 16) in {0, 1} (any dtype) → (B, hidden)."""
        offsets = 2 * torch.arange(bits.shape[-1], device=bits.device)
        return self.msg_processor(offsets + bits.long()).sum(dim=-2)


class WatermarkEncoderBlock(nn.Module):
    """``pre``: the decoder's output head (Snake, conv → 1, tanh) and the watermark input conv;
    ``post``: LSTM + ELU + conv to the 128-wide hidden code."""

    def __init__(self, last_dim: int, wm_dim: int, lstm_dim: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(
            Snake(last_dim),
            nn.Conv1d(last_dim, 1, 7, padding=3),
            nn.Tanh(),
            CausalConv1d(1, wm_dim, 7),
        )
        self.post = nn.Sequential(
            SkipLSTM(lstm_dim), nn.ELU(), CausalConv1d(lstm_dim, WATERMARK_HIDDEN, 7)
        )


class WatermarkDecoderBlock(nn.Module):
    """``pre``: conv 128 → LSTM width and an LSTM; ``post``: ELU + conv to one channel."""

    def __init__(self, wm_dim: int, lstm_dim: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(CausalConv1d(WATERMARK_HIDDEN, lstm_dim, 7), SkipLSTM(lstm_dim))
        self.post = nn.Sequential(nn.ELU(), CausalConv1d(wm_dim, 1, 7))


class WatermarkModel(nn.Module):
    """Holds the watermark parameters under the official ``wm_model.*`` names."""

    def __init__(self, decoder_dim: int, last_dim: int) -> None:
        super().__init__()
        # dacvae hard-codes 32 and 512, i.e. decoder_dim/48 and /3 for decoder_dim 1536.
        wm_dim, lstm_dim = decoder_dim // 48, decoder_dim // 3
        self.encoder_block = WatermarkEncoderBlock(last_dim, wm_dim, lstm_dim)
        self.msg_processor = MessageEmbedding()
        self.decoder_block = WatermarkDecoderBlock(wm_dim, lstm_dim)


class Decoder(nn.Module):
    """Latent (B, latent_dim, T) → waveform (B, 1, T·hop), watermarked with ``bits``."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        dim = config.decoder_dim
        blocks: list[nn.Module] = [nn.Conv1d(config.latent_dim, dim, 7, padding=3)]
        for stride, wm_stride in zip(config.decoder_rates, WATERMARK_STRIDES, strict=True):
            blocks.append(DecoderBlock(dim, dim // 2, stride, wm_stride))
            dim //= 2
        self.model = nn.Sequential(*blocks)
        self.wm_model = WatermarkModel(config.decoder_dim, dim)

    def forward(self, z: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim, T); bits: (B, 16) in {0, 1}. Returns (B, 1, T·hop)."""
        conv, *blocks = self.model
        main = [block.main_path() for block in blocks]  # type: ignore[operator]
        pre = self.wm_model.encoder_block.pre
        # In stages (see Encoder.forward): to 300 Hz, to 3 kHz, then to 48 kHz and the head.
        x = z
        for stage in ([conv, *main[0]], main[1], [*main[2], *main[3], pre[0], pre[1], pre[2]]):
            x = in_tiles(stage, x)
        return x + WATERMARK_BLEND * self._watermark(x, bits)

    def _watermark(self, base: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """The additive watermark signal for ``base`` (B, 1, L), same shape."""
        wm = self.wm_model
        blocks = [block for block in self.model if isinstance(block, DecoderBlock)]
        down = [wm.encoder_block.pre[3]]
        for block in reversed(blocks):
            down += block.watermark_down_path()
        h = in_tiles(down[7:], in_tiles(down[:7], base))  # 48 kHz → 6 kHz → 150 Hz
        h = wm.encoder_block.post(h)  # the LSTM: one pass over the whole clip
        h = h + wm.msg_processor(bits).to(h.dtype)[..., None]
        h = wm.decoder_block.pre(h)
        up = [module for block in blocks for module in block.watermark_up_path()]
        return in_tiles([*up[6:], *wm.decoder_block.post], in_tiles(up[:6], h))


class Bottleneck(nn.Module):
    """VAE bottleneck: ``in_proj`` gives mean ‖ scale (only the mean is used); ``out_proj`` back."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        self.in_proj = nn.Conv1d(config.latent_dim, 2 * config.codebook_dim, 1)
        self.out_proj = nn.Conv1d(config.codebook_dim, config.latent_dim, 1)


class DacVaeEncoder(nn.Module):
    """The codec's encoding half, as the official ``DACVAEEncoder`` (the judge's
    ``audio_codec``): ``encoder`` and the whole ``quantizer``; (B, 1, L) → mean latent."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.quantizer = Bottleneck(config)

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav: (B, 1, L) at 48 kHz → latent mean (B, C, ceil(L/hop)).

        When L is not a hop multiple the whole batch is reflect-padded on the right, as
        the official codec does (after any zero padding between items).
        """
        hop = self.config.hop_samples
        extra = -wav.shape[-1] % hop
        if extra:
            wav = F.pad(wav, (0, extra), mode="reflect")
        moments = self.quantizer.in_proj(self.encoder(wav))
        return moments[:, : self.config.codebook_dim]


class DacVae(DacVaeEncoder):
    """The codec: ``encode`` (B, 1, L) → (B, C, T) mean latent; ``decode`` (B, C, T) → (B, 1, T·hop)."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__(config)
        self.decoder = Decoder(config)

    def decode(self, latent: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """latent: (B, C, T); bits: (B, 16) watermark message in {0, 1}. Returns (B, 1, T·hop)."""
        return self.decoder(self.quantizer.out_proj(latent), bits)
