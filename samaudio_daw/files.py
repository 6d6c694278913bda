"""Atomic file writes: a temporary file beside the target, renamed into place when complete.

Every file samaudio-daw writes goes through here (or through the audio writers, which
follow the same rule), so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def make_shareable(path: Path) -> None:
    """mkstemp makes owner-only files; outputs should get the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_bytes_atomically(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary name in the same folder."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        make_shareable(Path(temp))
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
