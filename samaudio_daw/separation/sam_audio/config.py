"""SAM-Audio's ``config.json`` as frozen, checked values (SPEC §1).

Only the fields that change the audio-only forward pass are kept; the rest are
checked for presence where a wrong value would silently change the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError

ModelSize = Literal["tiny", "small", "base", "large"]


@dataclass(frozen=True)
class CodecConfig:
    """DAC-VAE codec sizes. ``hop_samples`` latent frames per sample = product of encoder rates."""

    encoder_dim: int = 64
    encoder_rates: tuple[int, ...] = (2, 8, 10, 12)
    latent_dim: int = 1024
    decoder_dim: int = 1536
    decoder_rates: tuple[int, ...] = (12, 10, 8, 2)
    codebook_dim: int = 128
    sample_rate: int = 48000

    @property
    def hop_samples(self) -> int:
        return math.prod(self.encoder_rates)


@dataclass(frozen=True)
class TextEncoderConfig:
    """Which T5 encodes the prompt, and how its tokenizer pads and truncates."""

    name: str = "t5-base"
    dim: int = 768
    max_length: int = 512
    pad_mode: str = "longest"


@dataclass(frozen=True)
class TransformerConfig:
    """DiT sizes (SPEC §1, §8)."""

    dim: int = 2048
    n_heads: int = 16
    n_layers: int = 16
    norm_eps: float = 1e-5
    qk_norm: bool = True
    fc_bias: bool = False
    ffn_exp: int = 4
    ffn_dim_multiplier: float = 1.0
    multiple_of: int = 64
    use_rope: bool = True
    max_positions: int = 10000
    frequency_embedding_dim: int = 256
    t_block_bias: bool = True
    context_dim: int = 2048
    out_channels: int = 256
    in_channels: int | None = None

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def ffn_hidden_dim(self) -> int:
        """round_up(int(int(2·ffn_exp·D/3)·multiplier), multiple_of), as the official FFN."""
        hidden = int(int(2 * self.ffn_exp * self.dim / 3) * self.ffn_dim_multiplier)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    @property
    def rope_theta(self) -> float:
        return float(max(10000, 2 * self.max_positions))


@dataclass(frozen=True)
class SamAudioConfig:
    """The whole model: codec, text encoder, DiT and the small top-level layers."""

    in_channels: int
    codec: CodecConfig
    text: TextEncoderConfig
    transformer: TransformerConfig
    vision_dim: int = 1024
    num_anchors: int = 3
    anchor_embedding_dim: int = 128

    @property
    def latent_channels(self) -> int:
        """C: the VAE latent width the DiT sees."""
        return self.codec.codebook_dim

    def __post_init__(self) -> None:
        _check_consistent(self)


def _check_consistent(config: SamAudioConfig) -> None:
    c = config.latent_channels
    t = config.transformer
    problems = []
    if config.in_channels != 6 * c:
        problems.append(f"in_channels={config.in_channels} must be 6 x codebook_dim={6 * c}")
    if t.out_channels != 2 * c:
        problems.append(f"transformer.out_channels={t.out_channels} must be 2 x codebook_dim")
    if t.context_dim != t.dim:
        problems.append(f"transformer.context_dim={t.context_dim} must equal dim={t.dim}")
    if t.dim % t.n_heads or t.head_dim % 2:
        problems.append(f"transformer.dim={t.dim} must split into {t.n_heads} even-sized heads")
    if config.codec.decoder_dim % 48:
        problems.append(f"audio_codec.decoder_dim={config.codec.decoder_dim} must divide by 48")
    if problems:
        raise CheckpointMismatchError(
            "config.json describes a model this backend cannot build: "
            + "; ".join(problems)
            + ". Use the config.json that came with the checkpoint."
        )


_UNSUPPORTED: tuple[tuple[str, object], ...] = (
    ("non_linearity", "swiglu"),
    ("timestep_non_linearity", "swiglu"),
    ("context_non_linearity", "swiglu"),
    ("t_block_non_linearity", "silu"),
    ("context_norm", False),
)


def _section(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise CheckpointMismatchError(
            f"{where}: missing the '{key}' section; this is not a SAM-Audio config.json "
            "(expected the file from facebook/sam-audio-small/base/large)"
        )
    return value


def _pick(section: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """The keys of ``section`` that ``cls`` has fields for (lists become tuples)."""
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in section.items()
        if key in fields
    }


def _check_supported(transformer: Mapping[str, Any], where: str) -> None:
    for key, wanted in _UNSUPPORTED:
        if key in transformer and transformer[key] != wanted:
            raise CheckpointMismatchError(
                f"{where}: transformer.{key}={transformer[key]!r} is not supported "
                f"(only {wanted!r}, as in the released SAM-Audio models)"
            )


def config_from_dict(raw: Mapping[str, Any], where: str = "config.json") -> SamAudioConfig:
    """Build a SamAudioConfig from the parsed official ``config.json``; ``where`` names the file."""
    transformer = _section(raw, "transformer", where)
    _check_supported(transformer, where)
    try:
        return SamAudioConfig(
            in_channels=int(raw["in_channels"]),
            codec=CodecConfig(**_pick(_section(raw, "audio_codec", where), CodecConfig)),
            text=TextEncoderConfig(
                **_pick(_section(raw, "text_encoder", where), TextEncoderConfig)
            ),
            transformer=TransformerConfig(**_pick(transformer, TransformerConfig)),
            vision_dim=int(_section(raw, "vision_encoder", where)["dim"]),
            num_anchors=int(raw.get("num_anchors", 3)),
            anchor_embedding_dim=int(raw.get("anchor_embedding_dim", 128)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointMismatchError(
            f"{where}: cannot read the SAM-Audio config ({error!r}); "
            "use the config.json that came with the checkpoint"
        ) from error


_SIZES: dict[str, tuple[int, int, int]] = {
    "small": (1024, 8, 12),
    "base": (1536, 12, 16),
    "large": (2816, 22, 22),
}


def config_for_size(size: ModelSize) -> SamAudioConfig:
    """The config of a released model size (SPEC §8), or ``tiny`` = the reference fixture's.

    Used to build randomly initialised models for benchmarks and tests.
    """
    if size == "tiny":
        return SamAudioConfig(
            in_channels=48,
            codec=CodecConfig(encoder_dim=2, latent_dim=16, decoder_dim=96, codebook_dim=8),
            text=TextEncoderConfig(name="tiny_t5", dim=32),
            transformer=TransformerConfig(
                dim=64, n_heads=4, n_layers=2, context_dim=64, out_channels=16
            ),
            vision_dim=8,
            anchor_embedding_dim=8,
        )
    dim, heads, layers = _SIZES[size]
    return SamAudioConfig(
        in_channels=768,
        codec=CodecConfig(),
        text=TextEncoderConfig(),
        transformer=TransformerConfig(
            dim=dim, n_heads=heads, n_layers=layers, context_dim=dim, out_channels=256
        ),
    )
