"""Safe file writes: never through a link, never over what is not a plain file, never half done.

Every file samaudio-daw writes goes through here (the audio writers use ``create_temp``
and ``commit_temp``): a temporary file is created beside the target with
``O_CREAT | O_EXCL | O_NOFOLLOW`` (so nothing planted under its name is followed or
reused), filled, and renamed into place only when complete. A symlink, FIFO, device or
folder already at the target name is refused with one line, never followed or removed.
Operating-system failures (a full disk, a read-only folder) become ``OutputError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from samaudio_daw.errors import OutputError

_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "its folder does not exist",
    errno.ENOTDIR: "a part of its folder path is not a folder",
    errno.ELOOP: "it is a symbolic link",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EFBIG: "the file would be too large",
}


def output_error(path: Path | str, error: OSError, doing: str = "cannot write") -> OutputError:
    """One line naming ``path`` and what the operating system said, for the user."""
    problem = _PROBLEMS.get(error.errno or 0) or error.strerror or str(error)
    return OutputError(f"{path}: {doing} ({problem})")


def file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_target(path: Path | str) -> None:
    """Refuse a target name that holds anything but a regular file (or nothing)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise output_error(path, error, "cannot check") from None
    kind = file_kind(info.st_mode)
    if kind is not None:
        raise OutputError(
            f"{path}: is {kind}; samaudio-daw writes only plain files and never through "
            "links; move it away or choose another output folder"
        )


def make_shareable(path: Path | int) -> None:
    """mkstemp makes owner-only files; outputs should get the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    if isinstance(path, int):
        os.fchmod(path, 0o666 & ~umask)
    else:
        os.chmod(path, 0o666 & ~umask, follow_symlinks=False)


def create_temp(path: Path) -> tuple[int, Path]:
    """An open descriptor and name for a new temporary file beside ``path``.

    The name is new (``O_EXCL``) and never a link (``O_NOFOLLOW``); the caller owns it
    and removes it with ``remove_own_temp`` if it is not committed.
    """
    check_target(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as error:
        raise output_error(path, error) from None
    with contextlib.suppress(OSError):  # permissions are a courtesy, not a reason to fail
        make_shareable(fd)
    return fd, Path(name)


def commit_temp(temp: Path, path: Path) -> Path:
    """Rename the finished temporary file onto ``path`` (checked again just before)."""
    check_target(path)
    try:
        os.replace(temp, path)
    except OSError as error:
        remove_own_temp(temp)
        raise output_error(path, error) from None
    return path


def remove_own_temp(temp: Path) -> None:
    """Delete a temporary file this process created, if it is still a plain file."""
    try:
        if stat.S_ISREG(os.lstat(temp).st_mode):
            os.unlink(temp)
    except OSError:
        pass  # already gone, or the folder went read-only: nothing more we can do


def write_bytes_atomically(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary name in the same folder."""
    path = Path(path)
    fd, temp = create_temp(path)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except OSError as error:
        remove_own_temp(temp)
        raise output_error(path, error) from None
    except BaseException:
        remove_own_temp(temp)
        raise
    return commit_temp(temp, path)


def read_regular_bytes(
    path: Path | str, max_bytes: int, what: str = "file", follow_links: bool = False
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; OutputError naming it otherwise.

    Opened without blocking, so a FIFO or device under the name cannot hang the read,
    and (unless ``follow_links``: a file the user named) without following a link, so a
    link planted in an output folder cannot redirect it. FileNotFoundError passes.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OutputError(f"{path}: the {what} is a symbolic link; move it away") from None
        raise output_error(path, error, f"cannot read the {what}") from None
    with os.fdopen(fd, "rb") as file:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise OutputError(f"{path}: the {what} is {kind}, not a plain file; move it away")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OutputError(f"{path}: the {what} is larger than {max_bytes} bytes")
    return data
