"""The CLAP text ranker: how well a candidate's audio matches the prompt's text.

Official SAM-Audio ranks its noise candidates with LAION-CLAP (``text_ranker: {"kind":
"clap"}`` in config.json; checkpoint ``630k-best.pt`` of ``lukewys/laion_clap`` unless the
config names one; HTSAT-tiny, no fusion, RoBERTa): both embeddings are projected to a
joint space, L2-normalised, and the candidate with the highest dot product (cosine) wins.
This module runs that model from a checkpoint in LAION's layout (``{"state_dict":
{"module.KEY": tensor}}``), loaded strictly:

- ``audio_branch``: HTSAT (htsat.py), its sizes read from the checkpoint;
- ``text_branch``: ``transformers.RobertaModel`` with a config read from the checkpoint's
  shapes (heads: width / 64, as RoBERTa's), its pooler output as LAION takes it;
- ``audio_projection``/``text_projection``: Linear → ReLU → Linear;
- ``logit_scale_a/t``; ``audio_transform``/``text_transform`` (training-only heads), the
  HTSAT class heads ``tscam_conv``/``head`` and RoBERTa's ``position_ids`` are read and
  not used.

Text goes through roberta-base's byte-level BPE tokenizer (``FacebookAI/roberta-base``:
vocab.json and merges.txt, fetched by ``model pull --with-rankers``), padded to 77 tokens
and truncated there, as LAION's ``tokenizer``. Audio as LAION's ``get_audio_features``
without fusion: the int16 round trip, clips under 10 s repeated whole and zero-padded to
10 s; clips over 10 s: the first 10 s, where LAION takes a random 10 s crop.

Checked against LAION-CLAP's own code with random weights (benchmarks/clap_vs_laion.py);
the released 630k-best.pt itself was not run here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError, first_line
from samaudio_daw.separation.sam_audio.htsat import HtsatAudioBranch, HtsatShape, htsat_shape

SAMPLE_RATE = 48_000
CLIP_SAMPLES = 480_000
"""LAION-CLAP hears 10 s at 48 kHz."""
CONTEXT = 77
"""Tokens per text (LAION pads and truncates to this)."""
_UNUSED = ("audio_transform.", "text_transform.", "audio_branch.tscam_conv.", "audio_branch.head.")
"""Checkpoint keys the embeddings never use: read, then left."""
_POSITION_IDS = "text_branch.embeddings.position_ids"
_FUSION = ("audio_branch.mel_conv1d.", "audio_branch.mel_conv2d.", "audio_branch.fusion_model.")


class _Projection(torch.nn.Sequential):
    """LAION-CLAP's projection head: Linear → ReLU → Linear (keys ``0.*`` and ``2.*``)."""

    def __init__(self, width: int, joint: int) -> None:
        super().__init__(
            torch.nn.Linear(width, joint), torch.nn.ReLU(), torch.nn.Linear(joint, joint)
        )


class ClapRanker(torch.nn.Module):
    """Scores (K candidates × N pairs) of audio against N texts: cosine in the joint space."""

    def __init__(self, audio: HtsatShape, text: Any, joint: int, tokenizer: Any) -> None:
        """``text``: a transformers RobertaConfig; ``tokenizer``: a RobertaTokenizer."""
        from transformers import RobertaModel

        super().__init__()
        self.audio_branch = HtsatAudioBranch(audio)
        self.text_branch = RobertaModel(text, add_pooling_layer=True)
        self.audio_projection = _Projection(audio.width, joint)
        self.text_projection = _Projection(text.hidden_size, joint)
        self.logit_scale_a = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_scale_t = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.tokenizer = tokenizer

    def audio_embedding(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) at 48 kHz → (n, joint), unit length."""
        embedded = self.audio_projection(self.audio_branch(prepare_audio(audio)))
        return torch.nn.functional.normalize(embedded, dim=-1)

    def text_embedding(self, texts: Sequence[str]) -> torch.Tensor:
        """n texts → (n, joint), unit length."""
        device = self.logit_scale_t.device
        tokens = self.tokenizer(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=CONTEXT,
            return_tensors="pt",
        )
        pooled = self.text_branch(
            input_ids=tokens["input_ids"].to(device),
            attention_mask=tokens["attention_mask"].to(device),
        ).pooler_output
        return torch.nn.functional.normalize(self.text_projection(pooled), dim=-1)

    def score(self, waves: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """waves: (K, N, samples) at 48 kHz, texts: N → (K, N) cosine similarities in [-1, 1]."""
        k, n, samples = waves.shape
        device = self.logit_scale_a.device
        audio = self.audio_embedding(waves.reshape(k * n, samples).to(device, torch.float32))
        text = self.text_embedding(texts)
        return (audio.reshape(k, n, -1) * text[None]).sum(dim=-1)


def prepare_audio(audio: torch.Tensor) -> torch.Tensor:
    """(n, samples) → (n, CLIP_SAMPLES): int16 round trip, repeat-padded or cut to 10 s."""
    quantised = (audio.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).float() / 32767.0
    samples = quantised.shape[-1]
    if samples >= CLIP_SAMPLES:
        return quantised[:, :CLIP_SAMPLES]
    repeated = quantised.repeat(1, CLIP_SAMPLES // max(samples, 1))
    return torch.nn.functional.pad(repeated, (0, CLIP_SAMPLES - repeated.shape[-1]))


def roberta_config(state: Mapping[str, torch.Tensor]) -> Any:
    """The RobertaConfig of the text branch ``state`` holds (KeyError when it holds none)."""
    from transformers import RobertaConfig

    words = state["text_branch.embeddings.word_embeddings.weight"]
    layers = 0
    while f"text_branch.encoder.layer.{layers}.attention.self.query.weight" in state:
        layers += 1
    hidden = words.shape[1]
    return RobertaConfig(
        vocab_size=words.shape[0],
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=state["text_branch.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["text_branch.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["text_branch.embeddings.token_type_embeddings.weight"].shape[0],
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        layer_norm_eps=1e-5,
    )


def load_tokenizer(folder: Path) -> Any:
    """roberta-base's tokenizer from a folder holding its vocab.json and merges.txt."""
    from transformers import RobertaTokenizer

    return RobertaTokenizer.from_pretrained(str(folder))


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a checkpoint, without ``module.``; tensors only are unpickled
    (numpy scalars that training scripts leave beside them are allowed)."""
    import contextlib

    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core
    scalar = core.multiarray.scalar
    allowed: list[Any] = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    try:
        with safe_globals(allowed) if safe_globals else contextlib.nullcontext():
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        why = first_line(error)
        raise CheckpointMismatchError(f"{path}: not a readable CLAP checkpoint ({why})") from error
    state = raw.get("state_dict", raw) if isinstance(raw, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f"{path}: no state_dict in the CLAP checkpoint")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def load_clap(path: Path, tokenizer_folder: Path, device: torch.device) -> ClapRanker:
    """A ranker from a LAION-CLAP checkpoint (HTSAT + RoBERTa, no fusion) and roberta-base's
    tokenizer files; CheckpointMismatchError (one line) for anything else."""
    state = _read_state(path)
    try:
        audio, text = htsat_shape(state), roberta_config(state)
        joint = state["audio_projection.2.weight"].shape[0]
    except (KeyError, IndexError) as error:
        raise CheckpointMismatchError(
            f"{path}: not a LAION-CLAP checkpoint with an HTSAT audio branch and a RoBERTa "
            f"text branch (no {error})"
        ) from error
    if any(k.startswith(_FUSION) for k in state):
        raise CheckpointMismatchError(
            f"{path}: a LAION-CLAP fusion checkpoint; the official ranker runs the non-fusion "
            "one (630k-best.pt)"
        )
    state = {k: v for k, v in state.items() if not k.startswith(_UNUSED) and k != _POSITION_IDS}
    try:
        tokenizer = load_tokenizer(tokenizer_folder)
    except Exception as error:
        raise CheckpointMismatchError(
            f"{tokenizer_folder}: not roberta-base's tokenizer files ({error})"
        ) from error
    ranker = ClapRanker(audio, text, joint, tokenizer)
    result = ranker.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        missing, unexpected = result.missing_keys, result.unexpected_keys
        raise CheckpointMismatchError(
            f"{path}: CLAP weights do not fit the model their shapes describe "
            f"({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, "
            f"e.g. {unexpected[:2]})"
        )
    ranker.requires_grad_(False)
    return ranker.to(device).eval()
