"""Loaded models kept for the next job: the model is loaded once per process."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import torch

from samaudio_daw.separation.sam_audio.loader import load_model
from samaudio_daw.separation.sam_audio.model import SamAudio

CacheKey = tuple[str, str, str]
"""(model path or hub id, device, dtype)."""


class ModelCache:
    """Loaded SamAudio models keyed by (path, device, dtype); safe to share between threads.

    A server or a batch runner holds one and passes it to every SamAudioSeparator it builds.
    """

    def __init__(self) -> None:
        self._models: dict[CacheKey, SamAudio] = {}
        self._lock = threading.Lock()

    def get(self, model: str, device: torch.device, dtype: torch.dtype) -> SamAudio:
        """The cached model, loading it on first use (other threads wait for the load)."""
        key = (_canonical(model), str(device), str(dtype))
        with self._lock:
            if key not in self._models:
                self._models[key] = load_model(model, device, dtype)
            return self._models[key]

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        """Drop every model (frees GPU memory once no job holds one)."""
        with self._lock:
            self._models.clear()


def _canonical(model: str) -> str:
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


@functools.lru_cache(maxsize=1)
def process_cache() -> ModelCache:
    """The process-wide cache used when the caller passes none.

    Why a process-wide accessor: the backend registry builds a separator per job from
    BackendOptions alone, so without one every CLI render or server job would reload
    several GB of weights. It is created lazily on first use, never at import.
    """
    return ModelCache()
