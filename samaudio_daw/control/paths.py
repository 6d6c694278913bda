"""Root confinement: every path a control message names must lie inside a ``--root`` folder.

A path is resolved first (``..`` collapsed, every symlink followed, relative paths taken
from the first root), then compared with the resolved roots. Only metadata is looked at
(``lstat``/``readlink`` while resolving, ``stat`` for "is it a file"); nothing outside
the roots is ever opened.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from samaudio_daw.errors import UserError


class PathRefused(UserError):
    """A path in a message that the server will not use; the message says why and what to do."""


@dataclass(frozen=True)
class Roots:
    """The folders a control message may read from and write to, absolute and resolved.

    Build one with ``Roots.from_folders``; the constructor only checks the values.
    """

    folders: tuple[Path, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.folders, tuple) or not all(
            isinstance(folder, Path) for folder in self.folders
        ):
            raise TypeError("Roots.folders must be a tuple of pathlib.Path")
        if not self.folders:
            raise ValueError("at least one root folder is needed (--root DIR)")
        for folder in self.folders:
            if not folder.is_absolute() or folder != Path(os.path.normpath(folder)):
                raise ValueError(
                    f"{folder}: a root must be absolute and resolved; use Roots.from_folders"
                )

    @classmethod
    def from_folders(cls, folders: Sequence[Path | str]) -> Roots:
        """Roots from folder names as typed; ValueError naming a missing or non-folder one."""
        resolved = []
        for folder in folders:
            path = Path(folder).expanduser()
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                raise ValueError(f"{folder}: --root folder does not exist") from None
            if not real.is_dir():
                raise ValueError(f"{folder}: --root must be a folder, not a file")
            if real not in resolved:
                resolved.append(real)
        return cls(tuple(resolved))

    def describe(self) -> str:
        """The roots as one comma-separated line for messages."""
        return ", ".join(str(folder) for folder in self.folders)

    def contains(self, resolved: Path) -> bool:
        """Whether the already-resolved path is one of the roots or lies under one."""
        return any(resolved == root or resolved.is_relative_to(root) for root in self.folders)

    def confine(self, path_text: str, what: str) -> Path:
        """The resolved path named by ``path_text``, or PathRefused when outside every root.

        ``what`` names the path in the producer's words ("input file", "output folder").
        """
        if not isinstance(path_text, str):
            raise TypeError(f"{what} must be str, got {type(path_text).__name__}")
        if not path_text.strip():
            raise PathRefused(f"{what} is empty; give a file path")
        if "\x00" in path_text:
            raise PathRefused(f"{what} {path_text!r} contains a NUL character")
        candidate = Path(path_text)
        if not candidate.is_absolute():
            candidate = self.folders[0] / candidate
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError) as error:  # a symlink loop, a name too long
            raise PathRefused(f"{what} {path_text!r} cannot be resolved ({error})") from None
        if not self.contains(resolved):
            raise PathRefused(
                f"{what} {path_text!r} is outside the allowed folders ({self.describe()}); "
                "move it under one of them or start serve with another --root"
            )
        return resolved

    def existing_file(self, path_text: str, what: str, max_bytes: int | None = None) -> Path:
        """Like ``confine``, and the path must be a regular file (at most ``max_bytes``)."""
        path = self.confine(path_text, what)
        try:
            info = path.stat()
        except OSError:
            raise PathRefused(f"{what} {path_text!r} does not exist") from None
        if not path.is_file():
            raise PathRefused(f"{what} {path_text!r} is not a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise PathRefused(
                f"{what} {path_text!r} is {info.st_size} bytes, over the limit of {max_bytes}"
            )
        return path

    def output_folder(self, path_text: str, what: str = "output folder") -> Path:
        """Like ``confine``, and the path must be a folder or not exist yet."""
        path = self.confine(path_text, what)
        if path.exists() and not path.is_dir():
            raise PathRefused(f"{what} {path_text!r} is an existing file; give a folder")
        return path
