"""The errors a user can fix: the command line prints their one-line message and exits 2."""

from __future__ import annotations

from samaudio_daw.audio.io import AudioFileError
from samaudio_daw.jobs.manifest import ManifestError
from samaudio_daw.separation.base import SeparationError


class OutputError(Exception):
    """An output folder or file that cannot be used; the message names it."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every exception type that means bad input rather than a bug in samaudio-daw."""
    from samaudio_daw.presets import PresetError
    from samaudio_daw.project.model import ProjectFormatError
    from samaudio_daw.project.rpp import RppParseError
    from samaudio_daw.project.timeline import RenderError
    from samaudio_daw.report import ReportError

    return (
        AudioFileError,
        ManifestError,
        SeparationError,
        OutputError,
        PresetError,
        RppParseError,
        ProjectFormatError,
        RenderError,
        ReportError,
    )
