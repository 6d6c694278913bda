"""Load the official ``config.json`` + ``checkpoint.pt`` into a SamAudio, from a folder or the hub.

The checkpoint is memory-mapped and only the tensors the audio-only model uses are read:
the PE vision tower (about 671M parameters in the real models) stays on disk. Every key
is accounted for, consumed or known to be unused, so a wrong file fails loudly.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from samaudio_daw.separation.sam_audio import store
from samaudio_daw.separation.sam_audio.config import SamAudioConfig, config_from_dict
from samaudio_daw.separation.sam_audio.dit import restructure, restructured_sources
from samaudio_daw.separation.sam_audio.errors import (
    ACCESS_HELP,
    CheckpointMismatchError,
    ModelNotFoundError,
)
from samaudio_daw.separation.sam_audio.model import SamAudio
from samaudio_daw.separation.sam_audio.text import load_text_encoder

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"

KNOWN_UNUSED = re.compile(
    r"^(vision_encoder\.|text_encoder\.|visual_ranker\.|text_ranker\.|span_predictor\."
    r"|transformer\.data_proj\.|align_masked_video\.conv\.weight$)"
)
"""Keys audio-only inference never reads: the video tower and the conv weight that only ever
multiplies zeros, modules that come from the hub (text encoder, rankers, span predictor),
and ``data_proj``, which the official forward never calls."""

_VIDEO_KEYS = ("conv.bias", "layer_norm.weight", "layer_norm.bias", "gate")


def resolve_model_dir(path_or_hub_id: str | Path) -> Path:
    """A local folder holding config.json and checkpoint.pt: the given one, the installed copy
    of a hub model, or the hub model pulled now (the same files and messages as `model pull`)."""
    path = store.resolve(str(path_or_hub_id))
    if not path.is_dir():
        raise ModelNotFoundError(f"no SAM-Audio model folder at {path}. {ACCESS_HELP}")
    for name in (CONFIG_FILE, CHECKPOINT_FILE):
        if not (path / name).is_file():
            raise ModelNotFoundError(f"{path} has no {name}. {ACCESS_HELP}")
    return path


def read_config(model_dir: Path) -> SamAudioConfig:
    where = str(model_dir / CONFIG_FILE)
    try:
        raw = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointMismatchError(f"cannot read {where}: {error}") from error
    if not isinstance(raw, dict):
        raise CheckpointMismatchError(f"{where} must hold a JSON object")
    return config_from_dict(raw, where)


def open_checkpoint(path: Path) -> Mapping[str, torch.Tensor]:
    """The state dict, memory-mapped: tensors are read from disk only when used."""
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        raise CheckpointMismatchError(
            f"cannot read {path} as a PyTorch checkpoint ({error}); download it again"
        ) from error
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointMismatchError(f"{path} does not hold a state dict of tensors")
    return state


def _weight_norm(gain: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """g·v/‖v‖, the norm over every dim but 0 (for a ConvTranspose, dim 0 is input channels)."""
    v = direction.float()
    norm = v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
    return gain.float() * v / norm


def _video_term(state: Mapping[str, torch.Tensor], dim: int) -> torch.Tensor:
    """tanh(gate)·LayerNorm(conv bias): the video branch for all-zero video features, (D,)."""
    p = {k: state[f"align_masked_video.{k}"].float() for k in _VIDEO_KEYS}
    normed = F.layer_norm(
        p["conv.bias"], (dim,), p["layer_norm.weight"], p["layer_norm.bias"], 1e-5
    )
    return torch.tanh(p["gate"]) * normed


def _source_keys(key: str, state: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """The checkpoint keys that make our parameter ``key``."""
    if key == "video_term":
        return tuple(f"align_masked_video.{k}" for k in _VIDEO_KEYS)
    if key.endswith(".weight") and f"{key}_g" in state:
        return (f"{key}_g", f"{key}_v")
    return restructured_sources(key) or (key,)


def _tensor_for(
    key: str, state: Mapping[str, torch.Tensor], config: SamAudioConfig
) -> torch.Tensor:
    if key == "video_term":
        return _video_term(state, config.transformer.dim)
    if key.endswith(".weight") and f"{key}_g" in state:
        return _weight_norm(state[f"{key}_g"], state[f"{key}_v"])
    parts = restructured_sources(key)
    if parts is not None:
        return restructure(key, [state[part] for part in parts], config.transformer.n_heads)
    return state[key]


@dataclass(frozen=True)
class KeyAccount:
    """Where every checkpoint key went: read into the model, or known to be unused."""

    consumed: frozenset[str]
    unused: frozenset[str]


def account_keys(model: SamAudio, state: Mapping[str, torch.Tensor], where: Path) -> KeyAccount:
    """Check that the checkpoint has every key the model needs and nothing unexplained."""
    needed = {src for key in model.state_dict() for src in _source_keys(key, state)}
    missing = sorted(k for k in needed if k not in state)
    extra = [k for k in state if k not in needed]
    unknown = sorted(k for k in extra if not KNOWN_UNUSED.match(k))
    if missing or unknown:
        raise CheckpointMismatchError(
            f"{where} does not match its config.json: "
            f"{len(missing)} missing keys {missing[:8]}, {len(unknown)} unexpected keys {unknown[:8]}. "
            "Use the config.json and checkpoint.pt from the same facebook/sam-audio-* folder."
        )
    return KeyAccount(frozenset(needed), frozenset(extra))


def _shape_of(
    key: str, state: Mapping[str, torch.Tensor], config: SamAudioConfig
) -> tuple[int, ...]:
    if key == "video_term":
        return (config.transformer.dim,)
    if key.endswith(".weight") and f"{key}_g" in state:
        return tuple(state[f"{key}_v"].shape)
    return tuple(state[key].shape)


def check_shapes(model: SamAudio, state: Mapping[str, torch.Tensor], where: Path) -> None:
    """Every tensor has the shape config.json implies; reads shapes only, not the data."""
    for key, param in model.state_dict(keep_vars=True).items():
        implied = tuple(param.shape)
        parts = restructured_sources(key)
        # A restructured parameter stacks its checkpoint parts along dim 0: check each part.
        checks = (
            [
                (part, tuple(state[part].shape), (implied[0] // len(parts), *implied[1:]))
                for part in parts
            ]
            if parts is not None
            else [(key, _shape_of(key, state, model.config), implied)]
        )
        for name, shape, wanted in checks:
            if shape != wanted:
                raise CheckpointMismatchError(
                    f"{where}: {name} has shape {shape}, config.json implies "
                    f"{wanted}; config.json and checkpoint.pt are from different models"
                )


def build_state(
    model: SamAudio,
    state: Mapping[str, torch.Tensor],
    device: torch.device,
    dtype: torch.dtype,
    where: Path,
) -> dict[str, torch.Tensor]:
    """Our state dict from the checkpoint's, shape-checked; codec in float32, the rest in ``dtype``."""
    account_keys(model, state, where)
    check_shapes(model, state, where)
    out: dict[str, torch.Tensor] = {}
    for key in model.state_dict(keep_vars=True):
        tensor = _tensor_for(key, state, model.config)
        wanted = torch.float32 if key.startswith("audio_codec.") else dtype
        out[key] = tensor.to(device=device, dtype=wanted, copy=True)
    return out


def load_model(path_or_hub_id: str | Path, device: torch.device, dtype: torch.dtype) -> SamAudio:
    """SamAudio with weights from ``path_or_hub_id``, on ``device``; the DiT in ``dtype``."""
    model_dir = resolve_model_dir(path_or_hub_id)
    config = read_config(model_dir)
    state = open_checkpoint(model_dir / CHECKPOINT_FILE)
    # Built on the meta device: no memory is allocated until the real tensors are assigned.
    with torch.device("meta"):
        model = SamAudio(config)
    weights = build_state(model, state, device, dtype, model_dir / CHECKPOINT_FILE)
    model.load_state_dict(weights, strict=True, assign=True)
    model.requires_grad_(False).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.LSTM):
            module.flatten_parameters()  # one contiguous cuDNN weight buffer (a no-op on CPU)
    model.text_encoder = load_text_encoder(config.text, model_dir, device)
    return model
