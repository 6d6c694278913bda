"""Finding a project's media files the way REAPER does.

A ``FILE`` line holds the path as REAPER wrote it: relative to the project folder
(``media\\take.wav``), or absolute, possibly from another computer
(``D:\\Music\\song\\media\\take.wav``). REAPER looks a path up in the project
folder first, then in the project's record path, and finds files moved with the
project by their file name. Windows separators are accepted on every system, and
file names are matched without regard to case when the exact name is not found
(projects made on Windows or macOS often differ in case from the files).
Extra media folders (``--media-dir``, for projects moved from another machine)
are searched after REAPER's own rules: the file name in each folder, then in its
subfolders.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
MAX_SEARCH_DEPTH = 4
MAX_SEARCH_FOLDERS = 2000


@dataclass(frozen=True)
class MediaLookup:
    """Where a media path was found, or why it was not."""

    written: str
    path: Path | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.reason is None):
            raise ValueError("MediaLookup needs exactly one of path or reason")

    @property
    def found(self) -> bool:
        return self.path is not None


def split_written_path(written: str) -> tuple[bool, tuple[str, ...]]:
    """(is_absolute, parts) of a path as written in a project, on any system.

    ``C:\\a\\b.wav`` -> (True, ("C:", "a", "b.wav")); ``media\\b.wav`` -> (False, ...).
    """
    normal = written.replace("\\", "/")
    absolute = normal.startswith("/") or bool(_WINDOWS_DRIVE.match(written))
    parts = tuple(part for part in normal.split("/") if part not in ("", "."))
    return absolute, parts


def record_folders(project_dir: Path, record_paths: Sequence[str]) -> list[Path]:
    """The project's record folders (RECORD_PATH entries), relative ones under the project."""
    folders: list[Path] = []
    for written in record_paths:
        if not written.strip():
            continue
        absolute, parts = split_written_path(written)
        folder = _native_absolute(written) if absolute else project_dir.joinpath(*parts)
        if folder is not None and folder not in folders:
            folders.append(folder)
    return folders


class MediaFinder:
    """Finds one project's media files; its subfolders are listed once, when first needed."""

    def __init__(
        self,
        project_dir: Path,
        record_paths: Sequence[str] = (),
        media_dirs: Sequence[Path] = (),
    ) -> None:
        self.project_dir = Path(project_dir)
        self.folders = record_folders(self.project_dir, record_paths)
        self.media_dirs = [Path(folder) for folder in media_dirs]
        self._subfolder_files: dict[Path, dict[str, list[Path]]] = {}

    def find(self, written: str) -> MediaLookup:
        """Find the file a ``FILE`` line names (see :func:`resolve_media` for the order)."""
        if not written.strip():
            return MediaLookup(written, None, "the take names no media file (empty FILE)")
        absolute, parts = split_written_path(written)
        if not parts:
            return MediaLookup(written, None, f"{written!r} is not a file path")
        candidates = _direct_candidates(written, absolute, parts, self.project_dir, self.folders)
        for candidate in candidates:
            if candidate.is_file():
                return MediaLookup(written, candidate)
        name = parts[-1]
        searched = [self.project_dir, *self.folders]
        for folder in searched:
            found = _file_in(folder, name)
            if found is not None:
                return MediaLookup(written, found)
        matches = self._subfolder_index(self.project_dir).get(name.lower())
        if matches:
            return MediaLookup(written, matches[0])
        for folder in self.media_dirs:
            found = _file_in(folder, name) or next(
                iter(self._subfolder_index(folder).get(name.lower(), ())), None
            )
            if found is not None:
                return MediaLookup(written, found)
        looked = ", ".join(str(folder) for folder in [*searched, *self.media_dirs])
        return MediaLookup(
            written,
            None,
            f"media file {written!r} not found (looked for {name!r} in {looked} and their "
            "subfolders); copy the file next to the project, fix its path in REAPER "
            "(Project bay, or File > Consolidate/Export project), or name its folder "
            "with --media-dir",
        )

    def _subfolder_index(self, folder: Path) -> dict[str, list[Path]]:
        if folder not in self._subfolder_files:
            self._subfolder_files[folder] = _index_subfolders(folder)
        return self._subfolder_files[folder]


def resolve_media(written: str, project_dir: Path, record_paths: Sequence[str] = ()) -> MediaLookup:
    """Find the file a project's ``FILE`` line names.

    Order: the path itself (absolute, or relative to ``project_dir``), then the same
    relative path under each record folder, then the file name in the project
    folder, the record folders and the project's subfolders (up to
    ``MAX_SEARCH_DEPTH`` levels, shallowest first). The reason says where it looked
    and how to fix it. To look up many files, make one :class:`MediaFinder`.
    """
    return MediaFinder(project_dir, record_paths).find(written)


def _direct_candidates(
    written: str, absolute: bool, parts: tuple[str, ...], project_dir: Path, folders: list[Path]
) -> Iterator[Path]:
    if absolute:
        native = _native_absolute(written)
        if native is not None:
            yield native
        return
    # lexically normalised, so ``../media/take.wav`` reads as the folder it names
    yield Path(os.path.normpath(project_dir.joinpath(*parts)))
    for folder in folders:
        yield Path(os.path.normpath(folder.joinpath(*parts)))


def _native_absolute(written: str) -> Path | None:
    """An absolute written path as a path on this system; None for another system's drive."""
    if _WINDOWS_DRIVE.match(written) and os.name != "nt":
        return None
    return Path(written.replace("\\", "/")) if os.name != "nt" else Path(written)


def _file_in(folder: Path, name: str) -> Path | None:
    exact = folder / name
    if exact.is_file():
        return exact
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    lowered = name.lower()
    matches = sorted(e.path for e in entries if e.name.lower() == lowered and e.is_file())
    return Path(matches[0]) if matches else None


def _index_subfolders(project_dir: Path) -> dict[str, list[Path]]:
    """Files in the project's subfolders by lower-case name, shallowest first, then by path.

    Walks at most ``MAX_SEARCH_DEPTH`` levels and ``MAX_SEARCH_FOLDERS`` folders.
    """
    index: dict[str, list[Path]] = {}
    level, visited = [project_dir], 0
    for _depth in range(MAX_SEARCH_DEPTH):
        next_level = [sub for folder in level for sub in _subfolders(folder)]
        next_level = next_level[: max(MAX_SEARCH_FOLDERS - visited, 0)]
        visited += len(next_level)
        found = sorted((str(sub / name), name) for sub in next_level for name in _file_names(sub))
        for path, name in found:
            index.setdefault(name.lower(), []).append(Path(path))
        level = next_level
    return index


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(
            Path(e.path) for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
        )
    except OSError:
        return []


def _file_names(folder: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(folder) if e.is_file()]
    except OSError:
        return []


def relocated_media_path(written: str, found: Path | None, old_dir: Path, new_dir: Path) -> str:
    """How to write a media path so a project moved from ``old_dir`` to ``new_dir``
    still finds the file: the file found (or, when missing, where the written
    relative path pointed) relative to ``new_dir``. An absolute written path of
    a missing file stays as written (it may exist on the machine that made it).
    """
    absolute, parts = split_written_path(written)
    if found is not None:
        if absolute and _native_absolute(written) == found:
            return written  # found where it says: REAPER finds it there from anywhere
        return relative_media_path(found, new_dir)
    if absolute or not parts:
        return written
    return relative_media_path(Path(old_dir).joinpath(*parts), new_dir)


def relative_media_path(file: Path, project_dir: Path) -> str:
    """How to write ``file`` in a project in ``project_dir``: relative with ``/`` when possible.

    REAPER accepts ``/`` on every system; a file on another drive stays absolute.
    """
    try:
        relative = os.path.relpath(Path(file).resolve(), Path(project_dir).resolve())
    except ValueError:  # another drive on Windows
        return str(Path(file).resolve())
    return PurePosixPath(*Path(relative).parts).as_posix()
