"""The one check of an audio array crossing a module boundary: shape, dtype, rate, finite.

Audio is ``(channels, frames)`` float32 with an explicit integer ``sample_rate`` in Hz.
Every backend and chain checks its input here, so the rules and the messages are the
same wherever bad audio is caught.
"""

from __future__ import annotations

import numpy as np

from samaudio_daw.errors import UserError

MAX_SAMPLE_RATE = 768_000


class AudioArrayError(UserError, ValueError):
    """An audio array with a wrong shape, an impossible rate or NaN/infinite samples."""


class AudioTypeError(UserError, TypeError):
    """Audio that is not a float32 array, or a sample rate that is not an integer."""


def first_non_finite_frame(audio: np.ndarray) -> int | None:
    """The first frame of (channels, frames) ``audio`` holding a NaN or infinity, or None."""
    bad = ~np.isfinite(audio)
    if not bad.any():
        return None
    return int(np.argwhere(bad.any(axis=0))[0][0])


def check_audio(
    audio: np.ndarray,
    sample_rate: int,
    min_rate: int = 1,
    max_rate: int = MAX_SAMPLE_RATE,
    finite: bool = True,
    any_float: bool = False,
) -> None:
    """Raise AudioTypeError or AudioArrayError unless ``audio`` is usable as it is.

    ``audio`` must be a (channels >= 1, frames) float32 array (any floating dtype with
    ``any_float``, for callers that convert) and ``sample_rate`` an integer
    ``min_rate..max_rate`` Hz; with ``finite`` every sample must be a number.
    """
    if not isinstance(audio, np.ndarray):
        raise AudioTypeError(f"audio must be a float32 numpy array, got {type(audio).__name__}")
    if audio.ndim != 2 or audio.shape[0] < 1:
        raise AudioArrayError(
            f"audio must be (channels, frames) with channels >= 1, got shape {audio.shape}"
        )
    if not (np.issubdtype(audio.dtype, np.floating) if any_float else audio.dtype == np.float32):
        raise AudioTypeError(f"audio must be float32 samples, got dtype {audio.dtype}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise AudioTypeError(f"sample_rate must be an integer in Hz, got {sample_rate!r}")
    if not min_rate <= sample_rate <= max_rate:
        raise AudioArrayError(f"sample_rate must be {min_rate}..{max_rate} Hz, got {sample_rate}")
    frame = first_non_finite_frame(audio) if finite else None
    if frame is not None:
        raise AudioArrayError(
            f"audio contains NaN or infinite samples (first at {frame / sample_rate:.3f} s); "
            "fix the input file"
        )
