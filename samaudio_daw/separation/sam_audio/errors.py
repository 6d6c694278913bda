"""The errors the SAM-Audio backend raises; each message says what to do next."""

from __future__ import annotations

from samaudio_daw.separation.base import SeparationError

ACCESS_HELP = (
    "The SAM-Audio weights are gated: request access on "
    "https://huggingface.co/facebook/sam-audio-large (or -base, -small), then either "
    "log in (`hf auth login`) and pass the hub id, e.g. --model facebook/sam-audio-large, "
    "or download the folder (`hf download facebook/sam-audio-large --local-dir DIR`) and "
    "pass --model DIR or set SAMAUDIO_MODEL=DIR. The folder must hold config.json and "
    "checkpoint.pt (and may hold the T5 text encoder folder named in config.json)."
)


class ModelNotFoundError(SeparationError):
    """No SAM-Audio checkpoint where the user pointed, or no access to it on the hub."""


class CheckpointMismatchError(SeparationError):
    """config.json and checkpoint.pt do not describe the same (supported) model."""


class GpuMemoryError(SeparationError):
    """The GPU ran out of memory even with one chunk per batch."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none), for the
    one-line refusals of files we cannot read."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
