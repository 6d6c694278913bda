"""The diffusion transformer (DiT) that predicts the flow velocity (SPEC §9-§11).

Module and parameter names follow the official checkpoint's ``transformer.*`` keys, except
for exact restructurings the loader applies (``restructured_sources``): self-attention's
wq/wk/wv are one ``wqkv`` and cross-attention's wk/wv one ``wkv`` (one matmul instead of
three or two); every q/k/v row is reordered head-major so the head split is a plain view;
SwiGLU's w1/w3 are one ``w13``. No buffers: the RoPE table is cached per length outside
the state dict, which lets the model be built on the ``meta`` device and filled from the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

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


RopeTable = tuple[torch.Tensor, torch.Tensor]
"""cos and sin of the RoPE angles, each (frames, head_dim/2) float32."""


def apply_rope(x: torch.Tensor, table: RopeTable) -> torch.Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) by the angles whose cos/sin are ``table``.

    x: (batch, heads, frames, head_dim). Computed in float32.
    """
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    cos, sin = table
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
    """w2(silu(w1·x) ⊙ w3·x): the FFN and the time/context projections; w1 ‖ w3 is ``w13``."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, bias: bool) -> None:
        super().__init__()
        self.w13 = nn.Linear(in_dim, 2 * hidden_dim, bias=bias)
        self.w2 = nn.Linear(hidden_dim, out_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(gate) * up)


class Projection(nn.Module):
    """Wrapper that gives the ``.projection.w*`` key layout of t/y embedders."""

    def __init__(self, in_dim: int, dim: int, bias: bool) -> None:
        super().__init__()
        self.projection = SwiGLU(in_dim, dim, dim, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


def head_major_rows(dim: int, n_heads: int) -> torch.Tensor:
    """Row order that makes an interleaved projection head-major.

    In the checkpoint, output channel c of wq/wk/wv belongs to head c mod H at position
    c // H (SPEC §10). Taking rows ``order`` puts head h, position i at row h·hd + i, so
    the head split becomes a plain view and each head's last dim is contiguous.
    """
    return torch.arange(dim).reshape(dim // n_heads, n_heads).T.flatten()


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(batch, frames, dim) head-major → (batch, heads, frames, head_dim), a view."""
    batch, frames, dim = x.shape
    return x.view(batch, frames, n_heads, dim // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, heads, frames, head_dim) → (batch, frames, heads·head_dim), head-major."""
    batch, heads, frames, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, frames, heads * head_dim)


def attention_mask(key_mask: torch.Tensor) -> torch.Tensor | None:
    """(B, S) True = attend → (B, 1, 1, S) for SDPA, or None when every key is valid.

    Without a mask SDPA may pick the flash / memory-efficient kernels; the result is the same.
    """
    if bool(key_mask.all()):
        return None
    return key_mask[:, None, None, :]


class Attention(nn.Module):
    """Multi-head attention with per-head QK RMSNorm and RoPE (self) or none (cross).

    Self-attention projects q, k, v with one ``wqkv``; cross-attention has ``wq`` for the
    queries and one ``wkv`` for the context. All q/k/v rows are head-major (see
    ``head_major_rows``); ``wo`` takes head-major input, as in the checkpoint.
    """

    def __init__(self, config: TransformerConfig, cross: bool) -> None:
        super().__init__()
        dim, bias = config.dim, config.fc_bias
        self.n_heads = config.n_heads
        self.cross = cross
        if cross:
            self.wq = nn.Linear(dim, dim, bias=bias)
            self.wkv = nn.Linear(dim, 2 * dim, bias=bias)
        else:
            self.wqkv = nn.Linear(dim, 3 * dim, bias=bias)
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
        mask: torch.Tensor | None,
        rope: RopeTable | None,
    ) -> torch.Tensor:
        """x: (B, T, D) queries; context: (B, S, D) keys/values (ignored for self-attention);
        mask: (B, 1, 1, S) True = attend, or None for all keys."""
        if self.cross:
            q = self.wq(x)
            k, v = self.wkv(context).chunk(2, dim=-1)
        else:
            q, k, v = self.wqkv(x).chunk(3, dim=-1)
        q = self.q_norm(split_heads(q, self.n_heads))
        k = self.k_norm(split_heads(k, self.n_heads))
        v = split_heads(v, self.n_heads)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.wo(merge_heads(out))


_RESTRUCTURED = re.compile(r"^(.*\.)(wqkv|wkv|w13|wq)\.(weight|bias)$")
_PARTS = {"wqkv": ("wq", "wk", "wv"), "wkv": ("wk", "wv"), "w13": ("w1", "w3"), "wq": ("wq",)}
_HEAD_MAJOR = ("wqkv", "wkv", "wq")


def restructured_sources(key: str) -> tuple[str, ...] | None:
    """The checkpoint keys a fused or reordered parameter is made of, in order; None if
    the parameter is the checkpoint's tensor as it is."""
    match = _RESTRUCTURED.match(key)
    if match is None:
        return None
    prefix, name, kind = match.groups()
    return tuple(f"{prefix}{part}.{kind}" for part in _PARTS[name])


def restructure(key: str, parts: list[torch.Tensor], n_heads: int) -> torch.Tensor:
    """Stack the checkpoint tensors of ``key`` along dim 0, q/k/v rows made head-major."""
    if key.split(".")[-2] in _HEAD_MAJOR:
        order = head_major_rows(parts[0].shape[0], n_heads)
        parts = [part[order] for part in parts]
    return torch.cat(parts, dim=0)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DiTLayer(nn.Module):
    """adaLN self-attention (gated, RoPE), plain cross-attention, adaLN FFN (gated)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.zeros(6, config.dim))
        self.attention = Attention(config, cross=False)
        self.cross_attention = Attention(config, cross=True)
        self.feed_forward = SwiGLU(config.dim, config.ffn_hidden_dim, config.dim, config.fc_bias)
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)

    def forward(
        self,
        h: torch.Tensor,
        t6: torch.Tensor,
        frame_mask: torch.Tensor | None,
        context: torch.Tensor,
        context_mask: torch.Tensor | None,
        rope: RopeTable | None,
    ) -> torch.Tensor:
        """h: (B, T, D); t6: (B, 6, D); context: (B, S, D); masks as ``attention_mask`` gives."""
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.scale_shift_table + t6).chunk(6, dim=1)
        normed = modulate(self.attention_norm(h), shift1, scale1)
        h = h + gate1 * self.attention(normed, normed, frame_mask, rope)
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
        self._rope_tables: dict[tuple[int, torch.device], RopeTable] = {}
        self.layer_stack: Callable[..., torch.Tensor] = self.run_layers
        """What ``forward`` calls for the layers: ``run_layers``, or its compiled form."""

    def rope_table(self, n_frames: int, device: torch.device) -> RopeTable:
        """cos/sin of the RoPE angles for ``n_frames``, computed once per length and device."""
        key = (n_frames, device)
        if key not in self._rope_tables:
            if len(self._rope_tables) >= 16:  # lengths vary little; keep the cache small
                self._rope_tables.clear()
            cfg = self.config
            angles = rope_angles(n_frames, cfg.head_dim, cfg.rope_theta, device)
            self._rope_tables[key] = (torch.cos(angles), torch.sin(angles))
        return self._rope_tables[key]

    def run_layers(
        self,
        h: torch.Tensor,
        t6: torch.Tensor,
        frame_mask: torch.Tensor | None,
        context: torch.Tensor,
        memory_mask: torch.Tensor | None,
        rope: RopeTable | None,
    ) -> torch.Tensor:
        """The layer stack: static shapes per batch and no host syncs, so it compiles whole."""
        for layer in self.layers:
            h = layer(h, t6, frame_mask, context, memory_mask, rope)
        return h

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
        rope = self.rope_table(h.shape[1], h.device) if cfg.use_rope else None
        frames, memory_keys = attention_mask(frame_mask), attention_mask(memory_mask)
        h = self.layer_stack(h, t6, frames, context, memory_keys, rope)
        # The final adaLN uses the raw time embedding, not t_block(silu(temb)) (SPEC pitfall 5).
        shift, scale = (self.final_layer_scale_shift_table + temb[:, None]).chunk(2, dim=1)
        return self.output(modulate(self.norm(h), shift, scale))
