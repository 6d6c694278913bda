"""The span predictor SAM-Audio's config.json names (PE-A-Frame): where, in a clip, the
prompted sound is heard.

Official SAM-Audio (``predict_spans=True``, and only for a batch without anchors) runs
perception_models' ``PEAudioFrame`` on the mixture's codec latents and the prompt's text,
and turns every run of frames it finds active into a ``+`` anchor. We do the same with the
same checkpoint (a folder with config.json, model.safetensors and ModernBERT's tokenizer
files), loaded strictly:

- ``audio_model.data_proj`` (Linear, codec channels → audio width), then
  ``audio_model.audio_transformer`` (pe_transformer.PeTransformer); its frames, not its
  pooled output, go through ``audio_head`` (ContrastiveHead);
- ``text_model``: transformers' ModernBertModel; the class token of hidden state
  ``nth_text_layer`` (the last one when null) goes through ``text_head``;
- per frame: logit = (audio · text) · logit_scale + logit_bias (the scale is not
  exponentiated, as in the original), active when sigmoid(logit) > 0.3; each run of
  active frames is a span of [first, last + 1) · hop / rate seconds.

The checkpoint also holds ``audio_model.dac_vae_encoder.*`` (a DAC encoder and its VAE
bottleneck), which turns audio into the codec features when none are given. SAM-Audio
always gives its own, so we check those weights are there and fit the config, and neither
build nor run them. Text is tokenized as the original: padded to the longest, truncated
at 512 tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samaudio_daw.separation.sam_audio.anchors import Anchor
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError, first_line
from samaudio_daw.separation.sam_audio.pe_transformer import (
    ContrastiveHead,
    PeShape,
    PeTransformer,
    text_class_token,
    tokenize,
)

SPAN_THRESHOLD = 0.3
"""A frame is active above this probability (the official ``threshold`` default)."""
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DAC_PREFIX = "audio_model.dac_vae_encoder."
DEFAULT_DAC = {
    "encoder_hidden_size": 64,
    "downsampling_ratios": [2, 8, 10, 12],
    "decoder_hidden_size": 1536,
    "n_codebooks": 16,
    "codebook_size": 1024,
    "codebook_dim": 128,
    "quantizer_dropout": 0,
    "sampling_rate": 48000,
}
"""perception_models' codec config when config.json gives none."""
DEFAULT_TEXT = {
    "classifier_pooling": "mean",
    "global_attn_every_n_layers": 3,
    "global_rope_theta": 160000.0,
    "hidden_size": 1024,
    "intermediate_size": 2624,
    "layer_norm_eps": 1e-5,
    "local_rope_theta": 10000.0,
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "position_embedding_type": "absolute",
    "tie_word_embeddings": True,
}
"""perception_models' text model config (ModernBERT-large) when config.json gives none."""


@dataclass(frozen=True)
class FrameShape:
    """What config.json says: codec channels, hop and rate (from its DacConfig), the audio
    transformer's sizes, the text model's config, the joint width, the text layer used."""

    codec_channels: int
    codebook_size: int
    hop_length: int
    sampling_rate: int
    audio: PeShape
    text: Any
    """A transformers ModernBertConfig."""
    output_dim: int = 1024
    nth_text_layer: int | None = 22

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FrameShape:
        """As perception_models' PEAudioFrameConfig reads it (TypeError/ValueError on bad values)."""
        from transformers import DacConfig, ModernBertConfig

        audio = raw.get("audio_model") or {}
        dac = DacConfig(**(audio.get("dac_vae_encoder") or DEFAULT_DAC))
        text = ModernBertConfig(**(raw.get("text_model") or DEFAULT_TEXT))
        nth = raw.get("nth_text_layer", 22)
        return cls(
            codec_channels=int(dac.codebook_dim),
            codebook_size=int(dac.codebook_size),
            hop_length=int(dac.hop_length),
            sampling_rate=int(dac.sampling_rate),
            audio=PeShape.from_dict(audio.get("audio_transformer")),
            text=text,
            output_dim=int(raw.get("output_dim", 1024)),
            nth_text_layer=None if nth is None else int(nth),
        )


class _AudioModel(nn.Module):
    """perception_models' ``AudioEncoder`` without its DAC encoder (see the module docstring)."""

    def __init__(self, shape: FrameShape) -> None:
        super().__init__()
        self.data_proj = nn.Linear(shape.codec_channels, shape.audio.hidden_size)
        self.audio_transformer = PeTransformer(shape.audio)


class SpanPredictor(nn.Module):
    """PE-A-Frame: codec latents and texts → per-frame probabilities and ``+`` anchors."""

    def __init__(self, shape: FrameShape, tokenizer: Any) -> None:
        from transformers import ModernBertModel

        super().__init__()
        self.shape = shape
        self.audio_model = _AudioModel(shape)
        self.text_model = ModernBertModel(shape.text)
        self.text_head = ContrastiveHead(shape.text.hidden_size, shape.output_dim)
        self.audio_head = ContrastiveHead(shape.audio.hidden_size, shape.output_dim)
        self.logit_scale = nn.Parameter(torch.zeros(1))
        self.logit_bias = nn.Parameter(torch.zeros(1))
        self.tokenizer = tokenizer

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """n texts → (n, output_dim)."""
        ids, mask = tokenize(self.tokenizer, texts, self.logit_scale.device)
        return self.text_head(
            text_class_token(self.text_model, ids, mask, self.shape.nth_text_layer)
        )

    def probabilities(self, latents: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """latents (n, C, frames) of the mixture, n texts → (n, frames) in [0, 1]."""
        width = self.shape.codec_channels
        if latents.shape[1] < width:
            raise CheckpointMismatchError(
                f"span predictor: it reads {width} codec channels, the SAM-Audio codec gives "
                f"{latents.shape[1]}"
            )
        device = self.logit_scale.device
        features = latents[:, :width].transpose(1, 2).to(device, torch.float32)
        _, frames = self.audio_model.audio_transformer(self.audio_model.data_proj(features))
        audio = self.audio_head(frames)
        text = self.text_embeddings(texts)
        logits = (audio @ text[:, :, None]).squeeze(-1) * self.logit_scale + self.logit_bias
        return logits.sigmoid()

    def predict(
        self, latents: torch.Tensor, texts: Sequence[str], threshold: float = SPAN_THRESHOLD
    ) -> list[tuple[Anchor, ...]]:
        """latents (n, C, frames), n texts → per item, a ``+`` anchor for each run of active
        frames, in seconds from the clip's start; none when no frame is active."""
        active = self.probabilities(latents, texts) > threshold
        hop, rate = self.shape.hop_length, self.shape.sampling_rate
        # frame · hop / rate, in this order, as the original computes the times.
        return [
            tuple(Anchor("+", start * hop / rate, end * hop / rate) for start, end in runs)
            for runs in active_runs(active)
        ]


def active_runs(active: torch.Tensor) -> list[list[tuple[int, int]]]:
    """(n, frames) bool → per row, [start, end) of each run of True frames."""
    padded = nn.functional.pad(active.to(torch.int8), (1, 1))
    edges = padded.diff(dim=1)
    runs: list[list[tuple[int, int]]] = []
    for row in edges:
        starts = (row == 1).nonzero().flatten().tolist()
        ends = (row == -1).nonzero().flatten().tolist()
        runs.append(list(zip(starts, ends, strict=True)))
    return runs


def read_shape(folder: Path) -> FrameShape:
    path = folder / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, Mapping):
            raise ValueError("not a JSON object")
        return FrameShape.from_dict(raw)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise CheckpointMismatchError(
            f"{path}: not a PE-A-Frame config.json ({first_line(error)})"
        ) from error


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as error:
        raise CheckpointMismatchError(
            f"{path}: not a readable safetensors file ({first_line(error)})"
        ) from error


def _check_codec_encoder(path: Path, state: Mapping[str, torch.Tensor], shape: FrameShape) -> None:
    """The DAC encoder's weights are in the checkpoint and its bottleneck fits the config."""
    bottleneck = state.get(DAC_PREFIX + "bottleneck.in_proj.weight")
    encoder = [k for k in state if k.startswith(DAC_PREFIX + "encoder.")]
    wanted = (2 * shape.codec_channels, shape.codebook_size, 1)
    if bottleneck is None or not encoder or tuple(bottleneck.shape) != wanted:
        found = "absent" if bottleneck is None else tuple(bottleneck.shape)
        raise CheckpointMismatchError(
            f"{path}: no PE-A-Frame codec encoder ({len(encoder)} {DAC_PREFIX}encoder.* "
            f"weights, bottleneck.in_proj {found}, config.json wants {wanted})"
        )


def load_span_predictor(folder: Path, device: torch.device) -> SpanPredictor:
    """The predictor in ``folder`` (config.json, model.safetensors, tokenizer files), every
    weight loaded strictly; CheckpointMismatchError (one line naming the file) otherwise."""
    from transformers import AutoTokenizer

    shape = read_shape(folder)
    if shape.nth_text_layer is not None and not (
        0 <= shape.nth_text_layer <= shape.text.num_hidden_layers
    ):
        raise CheckpointMismatchError(
            f"{folder / CONFIG_FILE}: nth_text_layer {shape.nth_text_layer} is not a hidden "
            f"state of a {shape.text.num_hidden_layers}-layer text model"
        )
    path = folder / WEIGHTS_FILE
    state = _read_weights(path)
    _check_codec_encoder(path, state, shape)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:
        raise CheckpointMismatchError(
            f"{folder}: no ModernBERT tokenizer files (tokenizer.json, tokenizer_config.json) "
            f"that transformers can read ({first_line(error)})"
        ) from error
    predictor = SpanPredictor(shape, tokenizer)
    used = {k: v for k, v in state.items() if not k.startswith(DAC_PREFIX)}
    mine = set(predictor.state_dict())
    missing, unexpected = sorted(mine - set(used)), sorted(set(used) - mine)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{path}: weights do not fit the PE-A-Frame model config.json describes "
            f"({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, "
            f"e.g. {unexpected[:2]})"
        )
    try:
        predictor.load_state_dict(used, strict=True)
    except RuntimeError as error:  # a shape that differs from config.json's
        why = str(error).split("\n\t")[1] if "\n\t" in str(error) else first_line(error)
        raise CheckpointMismatchError(
            f"{path}: weights do not fit the PE-A-Frame model config.json describes ({why})"
        ) from error
    predictor.requires_grad_(False)
    return predictor.to(device).eval()
