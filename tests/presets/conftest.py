"""Helpers for the preset tests: write small preset files into a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

MINIMAL_PRESET = """\
description = "a test preset"
match = ["*test*"]
residual_name = "rest"

[[stems]]
name = "vocal"
prompt = "the lead vocal"
"""


@pytest.fixture
def minimal_preset() -> str:
    """The text of a small valid preset: one stem 'vocal', patterns ['*test*']."""
    return MINIMAL_PRESET


@pytest.fixture
def write_preset(tmp_path: Path) -> Callable[..., Path]:
    """``write_preset(name, text, folder="user")`` writes ``<tmp>/<folder>/<name>.toml``."""

    def write(name: str, text: str = MINIMAL_PRESET, folder: str = "user") -> Path:
        directory = tmp_path / folder
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
