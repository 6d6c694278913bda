"""The output folder is ours alone while a run writes it: one lock, one per-run work folder.

``hold_output_dir`` creates the folder (refusing an input's place), then takes an
exclusive lock on it: the file ``.samaudio.lock`` holds the owner's pid and host and is
``flock``-ed, so a lock left by a killed process is free again and is taken over (said in
one line). A second run waits with a message, or with ``wait=False`` stops with a line
naming the holder. The lock is re-entrant within one thread, so a command may hold it
around ``run_job`` (which takes it too); worker processes (``--jobs``, Ray) write under
their driver's lock and never take it.

``WorkFolder`` is a new folder per run for intermediate files; the run deletes exactly
the files it recorded there, and the folder only if it is then empty. Its name is noted
in the lock file, so a run that takes over a killed run's lock removes that run's work
folder (plain files only) and nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from samaudio_daw.errors import OutputError
from samaudio_daw.files import check_target, output_error, read_regular_bytes, remove_own_temp

LOCK_FILE_NAME = ".samaudio.lock"
WORK_FOLDER_PREFIX = ".samaudio-work-"
_WORK_NOTE_RE = re.compile(r"^work=(\.samaudio-work-[0-9a-f]{8})$", re.MULTILINE)
_MAX_LOCK_BYTES = 65536
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_POLL_S = 0.25
_log = logging.getLogger("samaudio_daw")


@dataclass
class _Held:
    fd: int
    thread: int
    count: int


_held: dict[Path, _Held] = {}
_held_lock = threading.Lock()


def _holder_text(lock_path: Path) -> str:
    """Who holds (or last held) a lock, from the lock file: 'pid N on host H'."""
    try:
        text = read_regular_bytes(lock_path, 4096, "lock file").decode("utf-8", "replace")
    except (OSError, OutputError):
        return "another process"
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    pid, host = fields.get("pid", "?"), fields.get("host", "?")
    return f"pid {pid} on host {host}"


def _open_lock(lock_path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    check_target(lock_path)
    try:
        fd = os.open(lock_path, flags, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            check_target(lock_path)  # says "is a symbolic link"
        raise output_error(lock_path.parent, error, "the output folder is not writable") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        check_target(lock_path)
    return fd


def _try_lock(lock_path: Path) -> int | None:
    """An fd holding the lock on the file now at ``lock_path``, or None when it is busy."""
    while True:
        fd = _open_lock(lock_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as error:
            if error.errno not in _NO_LOCKS:
                os.close(fd)
                raise output_error(lock_path, error, "cannot lock") from None
            _log.warning(
                "%s: this file system cannot lock files; writing without the output folder "
                "lock (do not start two runs into this folder at once)",
                lock_path.parent,
            )
            return fd
        # The previous holder may have removed the file between our open and flock.
        try:
            same = os.path.samestat(os.fstat(fd), os.lstat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _claim(lock_path: Path, fd: int) -> None:
    """Write our pid and host into the lock we hold; report a dead holder's lock and
    remove the work folders it recorded there (they were that run's, and it is gone)."""
    previous = os.pread(fd, _MAX_LOCK_BYTES, 0)
    if previous.strip():
        _log.warning(
            "%s: took over a stale lock from %s (that run ended without releasing it)",
            lock_path.parent,
            _holder_text(lock_path),
        )
        for name in _WORK_NOTE_RE.findall(previous.decode("utf-8", "replace")):
            WorkFolder(lock_path.parent / name).remove_all()
    text = f"pid={os.getpid()} host={socket.gethostname()} since={int(time.time())}\n"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode("utf-8"), 0)
    except OSError as error:
        raise output_error(lock_path.parent, error, "cannot write in the output folder") from None


def _acquire(folder: Path, wait: bool) -> int:
    lock_path = folder / LOCK_FILE_NAME
    fd = _try_lock(lock_path)
    if fd is None and not wait:
        raise OutputError(
            f"{folder}: another run is writing this folder ({_holder_text(lock_path)}); "
            "wait for it to finish or choose another output folder"
        )
    if fd is None:
        _log.warning(
            "%s: another run is writing this folder (%s); waiting for it to finish "
            "(--no-wait stops instead)",
            folder,
            _holder_text(lock_path),
        )
        while fd is None:
            time.sleep(_POLL_S)
            fd = _try_lock(lock_path)
    try:
        _claim(lock_path, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(folder: Path, fd: int) -> None:
    lock_path = folder / LOCK_FILE_NAME
    try:
        if os.path.samestat(os.fstat(fd), os.lstat(lock_path)):
            os.unlink(lock_path)  # still ours: leave the folder as we found it
    except OSError:
        pass
    os.close(fd)


def make_output_dir(output_dir: Path, inputs: Sequence[Path] = ()) -> None:
    """Create the output folder or fail with a line naming it; never an input's place."""
    resolved_inputs = {path.resolve() for path in inputs}
    if output_dir.resolve() in resolved_inputs or output_dir.is_file():
        raise OutputError(f"{output_dir}: the output folder is an existing file; choose a folder")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise output_error(output_dir, error, "cannot create the output folder") from None
    if not output_dir.is_dir():
        raise OutputError(f"{output_dir}: the output folder is not a folder; choose a folder")


def _note_in_lock(output_dir: Path, line: str) -> None:
    """Append ``line`` to the lock file of ``output_dir`` if this process holds it."""
    with _held_lock:
        held = _held.get(output_dir.resolve())
        if held is None:
            return
        with contextlib.suppress(OSError):  # a note is a courtesy to the next run
            size = os.fstat(held.fd).st_size
            if size + len(line) <= _MAX_LOCK_BYTES:
                os.pwrite(held.fd, line.encode("utf-8"), size)


@contextmanager
def hold_output_dir(
    output_dir: Path, inputs: Sequence[Path] = (), wait: bool = True
) -> Iterator[Path]:
    """Create ``output_dir`` and hold its lock for the ``with`` block."""
    make_output_dir(output_dir, inputs)
    key = output_dir.resolve()
    me = threading.get_ident()
    while True:
        with _held_lock:
            held = _held.get(key)
            if held is None or held.thread == me:
                break
        if not wait:  # another thread of this process (a server) writes it
            raise OutputError(f"{output_dir}: another job in this process is writing this folder")
        time.sleep(_POLL_S)
    if held is not None:
        held.count += 1
    else:
        fd = _acquire(key, wait)
        with _held_lock:
            _held[key] = _Held(fd, me, 1)
    try:
        yield output_dir
    finally:
        with _held_lock:
            entry = _held[key]
            entry.count -= 1
            if entry.count == 0:
                del _held[key]
                _release(key, entry.fd)


@dataclass
class WorkFolder:
    """A new folder inside the output folder for this run's intermediate files."""

    path: Path
    created: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, output_dir: Path) -> WorkFolder:
        """A folder name no one else uses (made with an exclusive mkdir).

        When this process holds the folder's lock, the name is noted in the lock file, so
        a run that takes over the lock after a crash removes what this one left.
        """
        while True:
            path = output_dir / f"{WORK_FOLDER_PREFIX}{secrets.token_hex(4)}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as error:
                raise output_error(path, error, "cannot create the work folder") from None
            _note_in_lock(output_dir, f"work={path.name}\n")
            return cls(path)

    def file(self, name: str) -> Path:
        """The path for a work file named ``name``, recorded for ``remove``."""
        path = self.path / name
        self.created.append(path)
        return path

    def remove_all(self) -> None:
        """Delete every plain file in a dead run's work folder, then the folder if empty.

        Only a real folder is entered (never a link); only plain files are deleted."""
        try:
            if not stat.S_ISDIR(os.lstat(self.path).st_mode):
                return
            self.created = [entry for entry in self.path.iterdir() if entry.is_file()]
        except OSError:
            return
        self.remove()

    def remove(self) -> None:
        """Delete the recorded files (plain files only) and the folder once it is empty."""
        for path in self.created:
            remove_own_temp(path)
        self.created.clear()
        with contextlib.suppress(OSError):  # something else was put in it: leave it
            self.path.rmdir()
