"""Checking an installed model: files complete, checksums as the hub gave them, and
config.json matching checkpoint.pt's keys and shapes (``samaudio-daw model verify``).

Apart from ``store`` because the last check builds the model: the store itself must not
import the loader, which imports the store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from samaudio_daw.separation.sam_audio import store


@dataclass(frozen=True)
class Verification:
    """What ``verify`` checked and what it found wrong; ``problems`` empty = fine."""

    path: Path
    checked: tuple[str, ...]
    problems: tuple[str, ...]


def verify(source: str, revision: str | None = None) -> Verification:
    """Files complete, checksums against the hub's (the cache names each blob by it), and
    config.json matching checkpoint.pt's keys and shapes. Reads the whole checkpoint once."""
    path = store.local_path(source, revision)
    checked: list[str] = []
    problems: list[str] = []
    for name in (store.CONFIG_FILE, store.CHECKPOINT_FILE):
        if not (path / name).is_file():
            problems.append(f"{name} is missing")
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        expected = _hub_checksum(file)
        if expected is None:
            continue
        actual = _checksum(file, len(expected))
        checked.append(str(file.relative_to(path)))
        if actual != expected:
            problems.append(
                f"{file.relative_to(path)} is damaged (checksum {actual[:12]}…, the hub's is "
                f"{expected[:12]}…): remove the model and pull it again"
            )
    if not problems:
        problems.extend(_config_problems(path))
        checked.append("config.json matches checkpoint.pt")
    return Verification(path, tuple(checked), tuple(problems))


def _hub_checksum(file: Path) -> str | None:
    """The checksum the hub gave a cached file: its blob's name (sha256 for large files,
    the git blob sha1 otherwise); None for a file outside the cache."""
    if not file.is_symlink():
        return None
    blob = file.resolve().name
    return blob if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", blob) else None


def _checksum(file: Path, length: int) -> str:
    if length == 64:
        digest = hashlib.sha256()
    else:  # git's blob id: sha1 over a header and the content
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {file.stat().st_size}\0".encode())
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _config_problems(path: Path) -> list[str]:
    import torch

    from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError
    from samaudio_daw.separation.sam_audio.loader import (
        account_keys,
        check_shapes,
        open_checkpoint,
        read_config,
    )
    from samaudio_daw.separation.sam_audio.model import SamAudio

    try:
        config = read_config(path)
        state = open_checkpoint(path / store.CHECKPOINT_FILE)
        with torch.device("meta"):
            model = SamAudio(config)
        account_keys(model, state, path / store.CHECKPOINT_FILE)
        check_shapes(model, state, path / store.CHECKPOINT_FILE)
    except CheckpointMismatchError as error:
        return [str(error)]
    return []
