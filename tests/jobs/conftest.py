"""Helpers for the job tests: run the real CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``samaudio-daw ARGS`` in a subprocess; never raises on a non-zero exit."""
    command = [sys.executable, "-m", "samaudio_daw", *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli
