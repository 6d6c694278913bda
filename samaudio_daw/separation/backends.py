"""Which separation backends exist, whether each can run here, and how to make one.

Backends load lazily: asking what `sam-audio` can do must not import torch models.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

from samaudio_daw.separation.base import SeparationError, Separator

BackendName = Literal["dsp", "sam-audio"]
BACKEND_NAMES: tuple[BackendName, ...] = ("dsp", "sam-audio")


@dataclass(frozen=True)
class BackendOptions:
    """Settings a backend may use; each backend ignores the ones it has no use for.

    ``model`` is a folder or hub id for SAM-Audio; ``device`` is ``auto``, ``cpu``,
    ``cuda`` or ``mps``; ``dtype`` is ``auto``, ``float32``, ``bfloat16`` or ``float16``;
    ``steps`` is the number of ODE steps; ``seed`` makes the output reproducible;
    ``chunk_s`` is the model's chunk length in seconds; ``output`` chooses masked
    stems (stereo, full band, exact null) or the model's generated audio.
    """

    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    steps: int = 16
    seed: int = 0
    chunk_s: float = 10.0
    output: Literal["masked", "generated"] = "masked"
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BackendInfo:
    """What ``samaudio-daw backends`` prints for one backend."""

    name: BackendName
    available: bool
    summary: str
    capabilities: tuple[str, ...]
    why_unavailable: str = ""


_FACTORIES: dict[str, str] = {
    "dsp": "samaudio_daw.separation.dsp:DspSeparator",
    "sam-audio": "samaudio_daw.separation.sam_audio.backend:SamAudioSeparator",
}


def _load_class(name: str) -> type:
    if name not in _FACTORIES:
        raise SeparationError(
            f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}"
        )
    module_name, class_name = _FACTORIES[name].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)  # type: ignore[no-any-return]


def create_backend(name: str, options: BackendOptions | None = None) -> Separator:
    """Build the backend ``name`` with ``options`` (defaults when None)."""
    cls = _load_class(name)
    return cls(options or BackendOptions())  # type: ignore[no-any-return]


def describe_backends() -> list[BackendInfo]:
    """One BackendInfo per backend; each backend class has a ``describe()`` classmethod."""
    infos = []
    for name in BACKEND_NAMES:
        cls = _load_class(name)
        infos.append(cls.describe())  # type: ignore[attr-defined]
    return infos
