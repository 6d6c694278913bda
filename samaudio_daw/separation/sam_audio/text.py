"""The T5 text encoder through transformers: prompts → (B, S, text_dim) features + mask.

The T5 named in config.json (``t5-base`` for the released models) is looked for next to
the checkpoint first, then in the Hugging Face cache, then downloaded. It always runs in
float32: it runs once per prompt, so speed does not matter, and T5 activations are known
to overflow in half precision.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from samaudio_daw.separation.sam_audio.config import TextEncoderConfig
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError, ModelNotFoundError


@dataclass(frozen=True)
class TextFeatures:
    """features: (B, S, text_dim) float32; mask: (B, S) bool, True = real token."""

    features: torch.Tensor
    mask: torch.Tensor


class TextEncoder:
    """A T5 encoder and its tokenizer, with the official tokenizer settings."""

    def __init__(self, model: Any, tokenizer: Any, config: TextEncoderConfig) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config
        # Fast tokenizers fail with "Already borrowed" when two threads (server jobs) call one.
        self._tokenizer_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, S) int64 and mask (B, S) bool; ``</s>`` appended, right padding."""
        with self._tokenizer_lock:
            tokens = self.tokenizer(
                list(prompts),
                truncation=True,
                max_length=self.config.max_length,
                padding=self.config.pad_mode,
                return_tensors="pt",
            )
        return tokens["input_ids"], tokens["attention_mask"].bool()

    @torch.inference_mode()
    def encode_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        """ids, mask: (B, S) → T5 last hidden state (B, S, text_dim) float32 on the model's device."""
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return TextFeatures(hidden.float(), mask)

    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        return self.encode_ids(*self.tokenize(prompts))


def _candidates(name: str, model_dir: Path | None) -> list[Path]:
    if model_dir is None:
        return []
    return [model_dir / name, model_dir / name.split("/")[-1]]


def load_text_encoder(
    config: TextEncoderConfig, model_dir: Path | None, device: torch.device
) -> TextEncoder:
    """Load the T5 named in ``config``: from ``model_dir/<name>``, else the hub cache, else
    pulled from the hub (only the files it needs, as `samaudio-daw model pull` does)."""
    from transformers import AutoTokenizer, T5EncoderModel

    from samaudio_daw.separation.sam_audio import store

    folder = next(
        (f for f in _candidates(config.name, model_dir) if (f / "config.json").is_file()), None
    )
    if folder is None:
        folder = store.text_encoder_folder(config.name)
    try:
        return _build(T5EncoderModel, AutoTokenizer, str(folder), config, device, {})
    except OSError as error:
        raise ModelNotFoundError(
            f"cannot load the text encoder {config.name!r} named in config.json from {folder} "
            f"({error}); remove it and pull the model again"
        ) from error


def _build(
    model_cls: Any,
    tokenizer_cls: Any,
    source: str,
    config: TextEncoderConfig,
    device: torch.device,
    kwargs: dict[str, Any],
) -> TextEncoder:
    tokenizer = tokenizer_cls.from_pretrained(source, **kwargs)
    model = model_cls.from_pretrained(source, **kwargs).to(device=device, dtype=torch.float32)
    hidden = int(model.config.d_model)
    if hidden != config.dim:
        raise CheckpointMismatchError(
            f"text encoder {source!r} has width {hidden}, but config.json says "
            f"text_encoder.dim={config.dim}; put the T5 that matches the checkpoint "
            f"({config.name}) next to it"
        )
    return TextEncoder(model, tokenizer, config)
