"""Fixtures for the project tests: fixture projects and audio files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FIXTURES = Path(__file__).parent / "fixtures"

WriteAudio = Callable[..., Path]
Ramp = Callable[[int, int], np.ndarray]


def _write_audio(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> Path:
    """Write (channels, frames) float32 ``audio``; FLAC files get 24-bit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".flac":
        subtype = "PCM_24"
    sf.write(str(path), audio.T, sample_rate, subtype=subtype)
    return path


def _ramp(channels: int, frames: int) -> np.ndarray:
    """(channels, frames) float32: sample k of channel c is (k + 1) / 2**20 + c / 4.

    Every value is exact in float32 and in 24-bit PCM, so reads compare exactly.
    """
    base = (np.arange(frames, dtype=np.float64) + 1) / 2**20
    return np.stack([base + c / 4 for c in range(channels)]).astype(np.float32)


@pytest.fixture
def write_audio() -> WriteAudio:
    """``write_audio(path, audio, sample_rate, subtype="FLOAT") -> path``."""
    return _write_audio


@pytest.fixture
def ramp() -> Ramp:
    """``ramp(channels, frames)``: an exactly representable test signal."""
    return _ramp


@pytest.fixture
def fixtures_dir() -> Path:
    """The folder holding the third-party .rpp fixtures (see fixtures/SOURCES.md)."""
    return FIXTURES


@pytest.fixture
def fixture_text() -> dict[str, str]:
    """The fixture projects' text, decoded as the reader decodes files."""
    return {
        path.name: path.read_bytes().decode("utf-8", errors="surrogateescape")
        for path in sorted(FIXTURES.iterdir())
        if path.suffix.lower() == ".rpp"
    }
