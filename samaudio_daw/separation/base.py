"""The separator interface every backend implements, and the residual rule.

Audio crosses this boundary as ``(channels, frames)`` float32 with an explicit
``sample_rate``. A backend returns one target per prompt, same shape as the input;
the residual is always computed here, last, as input minus the sum of the targets,
so stems plus residual null against the input exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from samaudio_daw.audio.checks import MAX_SAMPLE_RATE, AudioArrayError, AudioTypeError, check_audio
from samaudio_daw.errors import UserError

ProgressCallback = Callable[[float], None]
"""Called with the fraction done, 0.0 to 1.0."""


class SeparationError(UserError):
    """A separation that cannot be done as asked; the message says why and what to do."""


class PromptNotSupportedError(SeparationError):
    """The backend cannot serve this prompt (for example `dsp` and "the owl hooting")."""


def check_input(
    backend: str,
    audio: np.ndarray,
    sample_rate: int,
    min_rate: int = 1,
    max_rate: int = MAX_SAMPLE_RATE,
    any_float: bool = False,
) -> None:
    """``audio.checks.check_audio`` for a backend's input; a problem is a SeparationError."""
    try:
        check_audio(audio, sample_rate, min_rate, max_rate, any_float=any_float)
    except (AudioArrayError, AudioTypeError) as error:
        raise SeparationError(f"{backend}: {error}") from None


@dataclass(frozen=True)
class TimeSpan:
    """A stretch of time where the target sound is (``+``) or is not (``-``) heard.

    Times are in seconds from the start of the audio handed to the separator.
    """

    start_s: float
    end_s: float
    sign: Literal["+", "-"] = "+"

    def __post_init__(self) -> None:
        if self.sign not in ("+", "-"):
            raise ValueError(f"time span sign must be '+' or '-', got {self.sign!r}")
        if not (0.0 <= self.start_s < self.end_s):
            raise ValueError(
                f"time span must satisfy 0 <= start_s < end_s, got {self.start_s}..{self.end_s}"
            )


@dataclass(frozen=True)
class Prompt:
    """What to pull out, in the producer's words, with optional time spans."""

    text: str
    spans: tuple[TimeSpan, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("a prompt needs some text, e.g. 'isolate the vocal'")


@dataclass(frozen=True)
class ChunkScore:
    """How present prompt ``prompt`` is in the stretch ``start_s``..``end_s`` of the audio
    (0..1), and whether the backend made that stretch silent for it."""

    prompt: int
    start_s: float
    end_s: float
    score: float
    silenced: bool


@runtime_checkable
class Separator(Protocol):
    """A separation backend.

    ``separate`` takes ``audio`` of shape (channels, frames), float32, at
    ``sample_rate`` Hz, and returns one float32 array of the same shape per prompt.
    It must not change ``audio``. ``block_s`` is the length of audio the runner
    hands over at once when streaming a long file (blocks overlap and are
    crossfaded by the runner); ``None`` means the whole file at once.

    Two optional hooks make block-wise output match whole-file output (see
    ``separation.chunking``): ``context_s_for(prompts, sample_rate)`` (or a plain
    ``context_s``), the seconds of real neighbouring audio a block needs on each side,
    and ``frame_alignment(sample_rate)``, the frame grid block starts must fall on.
    ``check_channels(prompts, channels)`` raises PromptNotSupportedError before any
    sample is read when a prompt cannot be served on audio with that many channels.
    A backend that scores how present each prompt is may keep ``last_presence``: the
    ChunkScores of its last ``separate`` call, in seconds from the start of that audio.
    """

    name: str
    block_s: float | None

    def check_prompts(self, prompts: Sequence[Prompt]) -> None:
        """Raise PromptNotSupportedError before any audio is read, if a prompt cannot be served."""
        ...

    def separate(
        self,
        audio: np.ndarray,
        sample_rate: int,
        prompts: Sequence[Prompt],
        progress: ProgressCallback | None = None,
    ) -> list[np.ndarray]: ...

    def settings(self) -> dict[str, object]:
        """Everything besides audio and prompts that changes the output (for cache keys)."""
        ...


def residual_of(audio: np.ndarray, targets: Sequence[np.ndarray]) -> np.ndarray:
    """Input minus the sum of the targets, shape (channels, frames), float32.

    Summed in float64 so that ``sum(targets) + residual == audio`` to float32 rounding.
    """
    total = np.zeros(audio.shape, dtype=np.float64)
    for target in targets:
        if target.shape != audio.shape:
            raise SeparationError(
                f"backend returned a target of shape {target.shape}, expected {audio.shape}"
            )
        total += target
    return (audio.astype(np.float64) - total).astype(np.float32)


@dataclass(frozen=True)
class Separation:
    """Targets (one per prompt) and the residual, each (channels, frames) float32."""

    targets: tuple[np.ndarray, ...]
    residual: np.ndarray
