"""SAM-Audio (Meta's text-prompted separator), our own inference implementation.

Written from the reference spec and checked against the official fixtures stage by stage.
Modules: config (config.json), dit, codec (DAC-VAE + watermark), text (T5), anchors,
processor, ode, model (SamAudio), loader (load_model), resample, masks, chunks,
pipeline (one track, any rate), device, cache, backend (the ``sam-audio`` Separator).

Importing this package does not import torch; ``SamAudio`` and ``SamAudioSeparator`` are
loaded on first access so that listing backends stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SamAudio": "samaudio_daw.separation.sam_audio.model",
    "SeparationResult": "samaudio_daw.separation.sam_audio.model",
    "SamAudioSeparator": "samaudio_daw.separation.sam_audio.backend",
    "ModelCache": "samaudio_daw.separation.sam_audio.cache",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
