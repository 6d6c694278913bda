"""The SAM-Audio judge: how well a separated candidate answers the prompt, given the mixture.

The official judge (hub model ``facebook/sam-audio-judge``, revision ``sam_audio``; a
folder of config.json, checkpoint.pt and ModernBERT's tokenizer files) scores a (text,
mixture, candidate) triple with four numbers: overall, recall, precision, faithfulness.
Its ``JudgeRanker`` ranks SAM-Audio's noise candidates by ``overall``. This module runs
that model from its files, loaded strictly, with the official parameter names:

- ``audio_codec``: the DAC-VAE's encoding half (codec.py ``DacVaeEncoder``): the mean
  latent of the mixture and of the candidate; ``data_proj`` into ``transformer`` (the
  Perception Encoder audio transformer, pe_transformer.py), whose frames are used;
- ``text_model``: ModernBERT (transformers' ``ModernBertModel``), the first token of
  hidden state ``nth_text_layer`` (the last hidden state when it is null), ``text_proj1``;
- ``cat_audio_proj`` over (candidate frames ‖ mixture frames), the candidate first;
  ``text_proj2`` → ``layer_norm``, broadcast over the frames; ``proj_audio_and_text``;
  ``finetune_data_proj`` into ``finetune_transformer``; ``head`` averaged over the frames,
  then ``· std + mean`` (the training labels' scale).

Inputs as the official processor makes them: the text as given, padded to the longest and
truncated at 512 tokens; mono 48 kHz audio, reflect-padded on the right to a whole number
of codec hops. Every candidate of a chunk has one length, so no padding mask is needed.

What we do differently: the mixture's frames and each text's features are computed once
per pair and reused for its K candidates (the official batch repeats them; each item of a
batch is computed on its own, so the scores are the same). Weight-normalised codec
convolutions (``weight_g``/``weight_v``) are folded into plain weights, as the SAM-Audio
loader does. Checked with tiny random weights only: the released checkpoint was not run
here, and no reference implementation of the judge was at hand to compare with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samaudio_daw.separation.sam_audio.codec import DacVaeEncoder
from samaudio_daw.separation.sam_audio.config import CodecConfig, _pick
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError, first_line
from samaudio_daw.separation.sam_audio.loader import _weight_norm
from samaudio_daw.separation.sam_audio.pe_transformer import (
    PeShape,
    PeTransformer,
    text_class_token,
    tokenize,
)

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
SCORES = ("overall", "recall", "precision", "faithfulness")
"""The head's four outputs, in order; the ranker uses ``overall``."""
_SECTIONS = ("audio_codec", "transformer", "finetune_transformer", "text_model")


@dataclass(frozen=True)
class JudgeConfig:
    """The sizes in the official ``SAMAudioJudgeConfig`` (config.json)."""

    codec: CodecConfig
    transformer: PeShape
    finetune: PeShape
    text_model: Mapping[str, Any]
    """A transformers ModernBertConfig as a dict."""
    nth_text_layer: int | None = 22
    bottleneck_dim: int = 256

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: Path) -> JudgeConfig:
        absent = [key for key in _SECTIONS if not isinstance(raw.get(key), Mapping)]
        if absent:
            raise CheckpointMismatchError(
                f"{where}: not a SAM-Audio judge config.json (no {', '.join(absent)}; "
                "expected the file of facebook/sam-audio-judge)"
            )
        layer = raw.get("nth_text_layer", 22)
        try:
            config = cls(
                codec=CodecConfig(**_pick(raw["audio_codec"], CodecConfig)),
                transformer=PeShape.from_dict(raw["transformer"]),
                finetune=PeShape.from_dict(raw["finetune_transformer"]),
                text_model=dict(raw["text_model"]),
                nth_text_layer=None if layer is None else int(layer),
                bottleneck_dim=int(raw.get("bottleneck_dim", 256)),
            )
        except (TypeError, ValueError) as error:
            raise CheckpointMismatchError(
                f"{where}: a field has the wrong type ({error})"
            ) from error
        layers = int(config.text_model.get("num_hidden_layers", 22))
        if config.nth_text_layer is not None and not 0 <= config.nth_text_layer <= layers:
            raise CheckpointMismatchError(
                f"{where}: nth_text_layer={config.nth_text_layer}, but text_model has "
                f"{layers} layers"
            )
        kind = config.text_model.get("model_type", "modernbert")
        if kind != "modernbert":
            raise CheckpointMismatchError(
                f"{where}: text_model.model_type={kind!r}; the judge's text model is ModernBERT"
            )
        return config


def modernbert(text_model: Mapping[str, Any]) -> tuple[nn.Module, int]:
    """(transformers' ModernBertModel for the config dict, as ``AutoModel.from_config``
    builds it; its width)."""
    from transformers import ModernBertConfig, ModernBertModel

    config = ModernBertConfig(**{k: v for k, v in text_model.items() if k != "model_type"})
    return ModernBertModel(config), int(config.hidden_size)


class SamAudioJudge(nn.Module):
    """The official ``SAMAudioJudgeModel``'s module tree; ``forward`` → (B, 4) scores."""

    def __init__(self, config: JudgeConfig) -> None:
        super().__init__()
        self.config = config
        width, bottleneck = config.transformer.hidden_size, config.bottleneck_dim
        self.audio_codec = DacVaeEncoder(config.codec)
        self.data_proj = nn.Linear(config.codec.codebook_dim, width)
        self.transformer = PeTransformer(config.transformer)
        self.finetune_transformer = PeTransformer(config.finetune)
        self.text_model, text_width = modernbert(config.text_model)
        self.cat_audio_proj = nn.Linear(2 * width, bottleneck)
        self.text_proj1 = nn.Linear(text_width, width, bias=False)
        self.text_proj2 = nn.Linear(width, bottleneck)
        self.layer_norm = nn.LayerNorm(bottleneck)
        self.proj_audio_and_text = nn.Linear(2 * bottleneck, bottleneck)
        self.finetune_data_proj = nn.Linear(bottleneck, config.finetune.hidden_size)
        self.head = nn.Linear(config.finetune.hidden_size, len(SCORES), bias=False)
        self.mean = nn.Parameter(torch.zeros(len(SCORES)))
        self.std = nn.Parameter(torch.ones(len(SCORES)))

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tokens (B, S) → (B, width): the first token of the chosen hidden state."""
        first = text_class_token(
            self.text_model, input_ids, attention_mask, self.config.nth_text_layer
        )
        return self.text_proj1(first)

    def audio_frames(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, 1, L) at 48 kHz → (B, T, width): the audio transformer's frames."""
        latent = self.audio_codec.encode(wav).transpose(1, 2)
        return self.transformer(self.data_proj(latent))[1]

    def scores_from(
        self, text: torch.Tensor, mixture: torch.Tensor, candidate: torch.Tensor
    ) -> torch.Tensor:
        """text (B, width), mixture and candidate frames (B, T, width) → (B, 4)."""
        audio = self.cat_audio_proj(torch.cat([candidate, mixture], dim=2))
        prompt = self.layer_norm(self.text_proj2(text)).unsqueeze(1).expand_as(audio)
        joined = self.proj_audio_and_text(torch.cat([audio, prompt], dim=2))
        frames = self.finetune_transformer(self.finetune_data_proj(joined))[1]
        return self.head(frames).mean(dim=1) * self.std + self.mean

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        input_values: torch.Tensor,
        separated_values: torch.Tensor,
    ) -> torch.Tensor:
        """Tokens (B, S), mixture and candidate (B, 1, L) → (B, 4), columns as SCORES."""
        text = self.text_features(input_ids, attention_mask)
        frames = self.audio_frames(torch.cat([input_values, separated_values], dim=0))
        mixture, candidate = frames.chunk(2, dim=0)
        return self.scores_from(text, mixture, candidate)


class JudgeRanker(nn.Module):
    """Scores (K candidates × N pairs) against the N mixtures and texts: the judge's overall."""

    def __init__(self, model: SamAudioJudge, tokenizer: Any) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer

    @property
    def device(self) -> torch.device:
        return self.model.mean.device

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.text_features(*tokenize(self.tokenizer, texts, self.device))

    @torch.inference_mode()
    def score(
        self, waves: torch.Tensor, mixtures: torch.Tensor, texts: Sequence[str]
    ) -> torch.Tensor:
        """waves: (K, N, samples), mixtures: (N, samples) at 48 kHz, texts: N → (K, N)
        overall scores (the judge's rating scale; higher = better), float32, on the
        judge's device. One batch of N per candidate."""
        text = self.text_features(texts)
        mixture = self.model.audio_frames(mixtures[:, None].to(self.device, torch.float32))
        scores = [
            self.model.scores_from(
                text, mixture, self.model.audio_frames(wave[:, None].to(self.device, torch.float32))
            )[:, 0]
            for wave in waves
        ]
        return torch.stack(scores)


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """checkpoint.pt as a state dict of tensors, weight-normalised convolutions folded."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        why = first_line(error)
        raise CheckpointMismatchError(f"{path}: not a readable judge checkpoint ({why})") from error
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointMismatchError(f"{path}: not a judge checkpoint (no state dict of tensors)")
    return fold_weight_norm({str(k): v for k, v in raw.items()})


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``X.weight_g`` and ``X.weight_v`` (weight-normalised convolutions) → ``X.weight``."""
    folded = dict(state)
    for gain in [k for k in state if k.endswith(".weight_g")]:
        base = gain.removesuffix("_g")
        if f"{base}_v" in folded:
            folded[base] = _weight_norm(folded.pop(gain), folded.pop(f"{base}_v"))
    return folded


def read_config(folder: Path) -> JudgeConfig:
    where = folder / CONFIG_FILE
    try:
        raw = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointMismatchError(f"{where}: not readable as JSON ({error})") from error
    if not isinstance(raw, Mapping):
        raise CheckpointMismatchError(f"{where}: not a SAM-Audio judge config.json")
    return JudgeConfig.from_dict(raw, where)


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer files beside the weights (ModernBERT's), as the official processor
    loads them (``AutoTokenizer.from_pretrained(folder)``)."""
    from transformers import AutoTokenizer

    if not (folder / "tokenizer.json").is_file():
        raise CheckpointMismatchError(
            f"{folder}: no tokenizer (tokenizer.json) beside the judge's weights (fetch them "
            "with `samaudio-daw model pull --with-rankers`)"
        )
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:
        why = first_line(error)
        raise CheckpointMismatchError(f"{folder}: no usable tokenizer ({why})") from error


def load_judge(folder: Path, device: torch.device) -> JudgeRanker:
    """The judge from its folder (config.json, checkpoint.pt, tokenizer files), in float32
    on ``device``; CheckpointMismatchError (one line naming the file) for anything else."""
    config = read_config(folder)
    path = folder / CHECKPOINT_FILE
    state = read_state(path)
    tokenizer = load_tokenizer(folder)
    model = SamAudioJudge(config)
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{path}: does not fit the judge {folder / CONFIG_FILE} describes "
            f"({len(missing)} missing keys, e.g. {missing[:3]}; {len(unexpected)} unexpected, "
            f"e.g. {unexpected[:3]})"
        )
    wrong = [k for k, v in wanted.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        key = wrong[0]
        raise CheckpointMismatchError(
            f"{path}: {key} has shape {tuple(state[key].shape)}, {folder / CONFIG_FILE} implies "
            f"{tuple(wanted[key].shape)} ({len(wrong)} tensors differ)"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.requires_grad_(False)
    return JudgeRanker(model.to(device).eval(), tokenizer)
