"""What to separate: ``Job`` and its ``JobItem`` values, checked when made.

Every entrance builds these (the command line, ``run`` from a manifest, the OSC server,
render); ``job_check`` checks them further and the runner runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from samaudio_daw.audio.io import BitDepth, FileFormat
from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import TimeSpan


@dataclass(frozen=True)
class JobItem:
    """One piece of audio to separate, with where it sits in the project."""

    audio: Path
    name: str
    preset: str | None = None
    prompts: tuple[str, ...] = ()
    spans: tuple[TimeSpan, ...] = ()
    track: str | None = None
    track_guid: str | None = None
    item_guid: str | None = None
    position_s: float = 0.0
    length_s: float | None = None
    mode: Literal["file", "item", "track"] = "file"
    bit_depth: BitDepth | None = None
    project: Path | None = None
    source_label: str | None = None

    def __post_init__(self) -> None:
        if (self.preset is None) == (not self.prompts):
            raise ValueError(f"{self.audio}: an item needs either a preset or prompts, not both")


@dataclass(frozen=True)
class Job:
    """A whole job: items, where stems go, and how to separate them."""

    items: tuple[JobItem, ...]
    output_dir: Path
    backend: str = "dsp"
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    file_format: FileFormat = "wav"
    bit_depth: BitDepth | None = None
    keep_residual: bool | None = None
    sample_rate: int | None = None
    project: Path | None = None
    status_file: Path | None = None
