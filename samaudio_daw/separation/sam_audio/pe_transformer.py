"""The Perception Encoder audio transformer, as SAM-Audio's judge and its span predictor use it.

Both official helpers (the ``judge`` text ranker, judge.py, and the PE-A-Frame span
predictor, spans.py) run the same encoder from Meta's perception_models
(``core/audio_visual_encoder/transformer.py``). This is our code with its parameter names,
so its checkpoints load as they are:

- ``embeddings``: a class token (``cls_token``) put before the frames, then one residual
  block of two (GroupNorm(1) → SiLU → Conv1d k=3 "same") along time
  (``resnet_block.block{1,2}.{groupnorm,project}``);
- ``layers.N``: pre-norm blocks: RMSNorm, attention with per-head RMSNorm on q and k and
  RoPE on adjacent pairs (theta = max(10 000, 2 · max_position_embeddings), as the original
  sets it, whatever ``rope_theta`` says), RMSNorm, SwiGLU (``gate_proj``, ``up_proj``,
  ``down_proj``);
- ``norm`` (RMSNorm) and ``output`` (Linear, no bias); the class token's output is the
  pooled one, the rest are the frames.

Padding masks are not taken: every caller here passes clips of one length, where the
original's masked statistics equal the plain ones.

Both models read their text the same way (``tokenize``, ``text_class_token``): ModernBERT
tokens padded to the longest text and cut at 512, and the first token of one hidden state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from samaudio_daw.separation.sam_audio.dit import RMSNorm, apply_rope, rope_angles


@dataclass(frozen=True)
class PeShape:
    """The sizes in a ``TransformerConfig`` of perception_models (its defaults)."""

    hidden_size: int = 1024
    intermediate_size: int = 2752
    num_hidden_layers: int = 16
    num_attention_heads: int = 8
    num_key_value_heads: int | None = None
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 10_000

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def rope_theta(self) -> float:
        return float(max(10_000, 2 * self.max_position_embeddings))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> PeShape:
        """The sizes a config.json section gives; keys this encoder has no use for (its
        ``rope_theta``, dropout, activation name) are left."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (raw or {}).items() if k in known})


class _ConvBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.groupnorm = nn.GroupNorm(1, width)
        self.project = nn.Conv1d(width, width, kernel_size=3, padding="same")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(F.silu(self.groupnorm(x)))


class _ResnetBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.block1 = _ConvBlock(width)
        self.block2 = _ConvBlock(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block2(self.block1(x))


class _Embeddings(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.resnet_block = _ResnetBlock(width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) → (B, 1 + T, D), the class token first."""
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.resnet_block(x.transpose(1, 2)).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, shape: PeShape) -> None:
        super().__init__()
        d, h, kv = shape.hidden_size, shape.head_dim, shape.kv_heads
        self.heads, self.kv, self.head_dim = shape.num_attention_heads, kv, h
        self.q_proj = nn.Linear(d, shape.num_attention_heads * h, bias=False)
        self.k_proj = nn.Linear(d, kv * h, bias=False)
        self.v_proj = nn.Linear(d, kv * h, bias=False)
        self.o_proj = nn.Linear(shape.num_attention_heads * h, d, bias=False)
        self.q_norm = RMSNorm(h, shape.rms_norm_eps)
        self.k_norm = RMSNorm(h, shape.rms_norm_eps)

    def _heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        return x.view(*x.shape[:2], heads, self.head_dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q = self.q_norm(self._heads(self.q_proj(x), self.heads)).transpose(1, 2)
        k = self.k_norm(self._heads(self.k_proj(x), self.kv)).transpose(1, 2)
        v = self._heads(self.v_proj(x), self.kv).transpose(1, 2)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        if self.kv != self.heads:
            k = k.repeat_interleave(self.heads // self.kv, dim=1)
            v = v.repeat_interleave(self.heads // self.kv, dim=1)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.o_proj(out.transpose(1, 2).reshape(*x.shape[:2], -1))


class _Mlp(nn.Module):
    def __init__(self, shape: PeShape) -> None:
        super().__init__()
        d, f = shape.hidden_size, shape.intermediate_size
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _Layer(nn.Module):
    def __init__(self, shape: PeShape) -> None:
        super().__init__()
        self.self_attn = _Attention(shape)
        self.mlp = _Mlp(shape)
        self.input_layernorm = RMSNorm(shape.hidden_size, shape.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(shape.hidden_size, shape.rms_norm_eps)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope)
        return x + self.mlp(self.post_attention_layernorm(x))


class PeTransformer(nn.Module):
    """(B, T, hidden) frame embeddings → (pooled (B, hidden), frames (B, T, hidden))."""

    def __init__(self, shape: PeShape) -> None:
        super().__init__()
        self.shape = shape
        self.embeddings = _Embeddings(shape.hidden_size)
        self.layers = nn.ModuleList(_Layer(shape) for _ in range(shape.num_hidden_layers))
        self.norm = RMSNorm(shape.hidden_size, shape.rms_norm_eps)
        self.output = nn.Linear(shape.hidden_size, shape.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embeddings(x)
        angles = rope_angles(h.shape[1], self.shape.head_dim, self.shape.rope_theta, h.device)
        rope = (torch.cos(angles), torch.sin(angles))
        for layer in self.layers:
            h = layer(h, rope)
        h = self.output(self.norm(h))
        return h[:, 0], h[:, 1:]


class ContrastiveHead(nn.Module):
    """perception_models' ``ContrastiveHead``: LayerNorm (eps 1e-6) → Linear, no bias."""

    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(width, eps=1e-6)
        self.proj = nn.Linear(width, out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.layer_norm(x))


TEXT_MAX_TOKENS = 512
"""The PE models' processors pad to the longest text and cut at this many tokens."""


def tokenize(
    tokenizer: Any, texts: Sequence[str], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """n texts → (input ids, attention mask), each (n, tokens), on ``device``."""
    tokens = tokenizer(
        list(texts),
        padding="longest",
        truncation=True,
        max_length=TEXT_MAX_TOKENS,
        return_tensors="pt",
    )
    return tokens["input_ids"].to(device), tokens["attention_mask"].to(device)


def text_class_token(
    text_model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    nth_layer: int | None,
) -> torch.Tensor:
    """(n, width): the first token of hidden state ``nth_layer`` of the text model (its last
    hidden state when None), as perception_models' ``_get_text_output`` pools it."""
    out = text_model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        output_hidden_states=nth_layer is not None,
    )
    hidden = out.last_hidden_state if nth_layer is None else out.hidden_states[nth_layer]
    return hidden[:, 0]
