"""The diffusion transformer (DiT) that predicts the flow velocity (SPEC §9-§11).

Module and parameter names follow the official checkpoint's ``transformer.*`` keys,
so a state dict loads without renaming. No buffers: the RoPE table and the
sinusoid frequencies are rebuilt on every call (cheap next to the layers), which
lets the model be built on the ``meta`` device and filled straight from the file.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from samaudio_daw.separation.sam_audio.config import TransformerConfig


def timestep_sinusoid(time: torch.Tensor, width: int) -> torch.Tensor:
    """[cos(t·f_k), sin(t·f_k)], f_k = exp(-ln(1e4)·k/(width/2)), cos first.

    time: (batch,) float. Returns (batch, width) float32.
    """
    half = width // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=time.device) / half
    )
    args = time.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope_angles(n_frames: int, head_dim: int, theta: float, device: torch.device) -> torch.Tensor:
    """RoPE rotation angles for positions 0..n_frames-1, shape (frames, head_dim/2), float32."""
    exponents = torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim
    freqs = 1.0 / (theta**exponents)
    positions = torch.arange(n_frames, device=device, dtype=torch.float32)
    return torch.outer(positions, freqs)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) by ``angles``.

    x: (batch, heads, frames, head_dim); angles: (frames, head_dim/2). Computed in float32.
    """
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    cos, sin = torch.cos(angles), torch.sin(angles)
    rotated = torch.stack([cos * x0 - sin * x1, sin * x0 + cos * x1], dim=-1)
    return rotated.flatten(-2).type_as(x)


class RMSNorm(nn.Module):
    """x·rsqrt(mean(x²)+eps)·weight over the last dim, normalised in float32."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class SwiGLU(nn.Module):
    """w2(silu(w1·x) ⊙ w3·x): the FFN and the time/context projections."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, bias: bool) -> None:
        super().__init__()
        self.w1 = nn.Linear(in_dim, hidden_dim, bias=bias)
        self.w2 = nn.Linear(hidden_dim, out_dim, bias=bias)
        self.w3 = nn.Linear(in_dim, hidden_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Projection(nn.Module):
    """Wrapper that gives the ``.projection.w*`` key layout of t/y embedders."""

    def __init__(self, in_dim: int, dim: int, bias: bool) -> None:
        super().__init__()
        self.projection = SwiGLU(in_dim, dim, dim, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(batch, frames, dim) → (batch, heads, frames, head_dim), head index fastest in dim.

    Channel c belongs to head c mod H (SPEC §10): reshape to (B, T, hd, H), then permute.
    """
    batch, frames, dim = x.shape
    return x.reshape(batch, frames, dim // n_heads, n_heads).permute(0, 3, 1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, heads, frames, head_dim) → (batch, frames, heads·head_dim), head-major."""
    batch, heads, frames, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, frames, heads * head_dim)


class Attention(nn.Module):
    """Multi-head attention with per-head QK RMSNorm; RoPE when angles are given."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        dim, bias = config.dim, config.fc_bias
        self.n_heads = config.n_heads
        self.wq = nn.Linear(dim, dim, bias=bias)
        self.wk = nn.Linear(dim, dim, bias=bias)
        self.wv = nn.Linear(dim, dim, bias=bias)
        self.wo = nn.Linear(dim, dim, bias=bias)
        self.q_norm: nn.Module = nn.Identity()
        self.k_norm: nn.Module = nn.Identity()
        if config.qk_norm:
            self.q_norm = RMSNorm(config.head_dim, config.norm_eps)
            self.k_norm = RMSNorm(config.head_dim, config.norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        key_mask: torch.Tensor,
        angles: torch.Tensor | None,
    ) -> torch.Tensor:
        """x: (B, T, D) queries; context: (B, S, D) keys/values; key_mask: (B, S) True = attend."""
        q = self.q_norm(split_heads(self.wq(x), self.n_heads))
        k = self.k_norm(split_heads(self.wk(context), self.n_heads))
        v = split_heads(self.wv(context), self.n_heads)
        if angles is not None:
            q, k = apply_rope(q, angles), apply_rope(k, angles)
        # (B, S) → (B, 1, 1, S): the same key mask for every head and query.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
        return self.wo(merge_heads(out))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DiTLayer(nn.Module):
    """adaLN self-attention (gated, RoPE), plain cross-attention, adaLN FFN (gated)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.zeros(6, config.dim))
        self.attention = Attention(config)
        self.cross_attention = Attention(config)
        self.feed_forward = SwiGLU(config.dim, config.ffn_hidden_dim, config.dim, config.fc_bias)
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)

    def forward(
        self,
        h: torch.Tensor,
        t6: torch.Tensor,
        frame_mask: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        angles: torch.Tensor | None,
    ) -> torch.Tensor:
        """h: (B, T, D); t6: (B, 6, D); frame_mask: (B, T); context: (B, S, D); context_mask: (B, S)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.scale_shift_table + t6).chunk(6, dim=1)
        normed = modulate(self.attention_norm(h), shift1, scale1)
        h = h + gate1 * self.attention(normed, normed, frame_mask, angles)
        h = h + self.cross_attention(h, context, context_mask, None)
        normed = modulate(self.ffn_norm(h), shift2, scale2)
        return h + gate2 * self.feed_forward(normed)


class ConvBlock1d(nn.Module):
    """GroupNorm(1 group) → SiLU → Conv1d(k=3, pad 1), on (B, D, T)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.groupnorm = nn.GroupNorm(1, dim, eps=1e-5)
        self.project = nn.Conv1d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(F.silu(self.groupnorm(x)))


class ResnetBlock1d(nn.Module):
    """x + block2(block1(x)); the GroupNorm statistics include padded frames (SPEC pitfall 8)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block1 = ConvBlock1d(dim)
        self.block2 = ConvBlock1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block2(self.block1(x))


class XEmbedder(nn.Module):
    """Gives the ``x_embedder.block.*`` key layout."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = ResnetBlock1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D) → (B, T, D); the convolution runs on (B, D, T)."""
        return self.block(x.transpose(1, 2)).transpose(1, 2)


class DiT(nn.Module):
    """The velocity network: (B, T, D) features, time, text memory → (B, T, 2C)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        dim, bias = config.dim, config.fc_bias
        self.config = config
        self.x_embedder = XEmbedder(dim)
        self.t_embedder = Projection(config.frequency_embedding_dim, dim, bias)
        self.t_block = nn.Linear(dim, 6 * dim, bias=config.t_block_bias)
        self.y_embedder = Projection(config.context_dim, dim, bias)
        self.layers = nn.ModuleList(DiTLayer(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(dim, config.norm_eps)
        self.final_layer_scale_shift_table = nn.Parameter(torch.zeros(2, dim))
        self.output = nn.Linear(dim, config.out_channels, bias=bias)

    def forward(
        self,
        h: torch.Tensor,
        time: torch.Tensor,
        frame_mask: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
    ) -> torch.Tensor:
        """h: (B, T, D); time: (B,); frame_mask: (B, T) True = valid; memory: (B, S, D);
        memory_mask: (B, S) True = real token. Returns (B, T, out_channels)."""
        cfg = self.config
        h = self.x_embedder(h)
        sinusoid = timestep_sinusoid(time, cfg.frequency_embedding_dim).to(h.dtype)
        temb = self.t_embedder(sinusoid)
        t6 = self.t_block(F.silu(temb)).reshape(-1, 6, cfg.dim)
        context = self.y_embedder(memory)
        angles = None
        if cfg.use_rope:
            angles = rope_angles(h.shape[1], cfg.head_dim, cfg.rope_theta, h.device)
        for layer in self.layers:
            h = layer(h, t6, frame_mask, context, memory_mask, angles)
        # The final adaLN uses the raw time embedding, not t_block(silu(temb)) (SPEC pitfall 5).
        shift, scale = (self.final_layer_scale_shift_table + temb[:, None]).chunk(2, dim=1)
        return self.output(modulate(self.norm(h), shift, scale))
