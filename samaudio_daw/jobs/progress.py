"""Progress for long work: a bar on a terminal, a status file for REAPER, callbacks.

The runner reports (fraction done, message) to one ``Progress`` object; where it goes
is the caller's choice. Cancellation travels the other way, as a ``should_cancel``
callable the runner polls between blocks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol, TextIO

from samaudio_daw.jobs.manifest import write_json_atomically

JobState = Literal["running", "done", "failed", "cancelled"]


class JobCancelled(Exception):
    """The user asked to stop; nothing half-written is left behind."""


class Progress(Protocol):
    def update(self, fraction: float, message: str) -> None: ...

    def finish(self, state: JobState, message: str) -> None: ...


class TerminalBar:
    """A one-line bar on stderr; silent when stderr is not a terminal (piped, CI)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self._stream = stream or sys.stderr
        self._width = width
        self._enabled = self._stream.isatty()
        self._started = time.monotonic()

    def update(self, fraction: float, message: str) -> None:
        if not self._enabled:
            return
        filled = int(round(self._width * min(max(fraction, 0.0), 1.0)))
        bar = "#" * filled + "-" * (self._width - filled)
        elapsed = time.monotonic() - self._started
        line = f"\r[{bar}] {fraction * 100:5.1f}% {elapsed:6.1f}s {message[:40]:<40}"
        self._stream.write(line)
        self._stream.flush()

    def finish(self, state: JobState, message: str) -> None:
        if self._enabled:
            self.update(1.0 if state == "done" else 0.0, message)
            self._stream.write("\n")
            self._stream.flush()


class StatusFile:
    """Writes ``{"state", "progress", "message", "updated"}`` JSON for REAPER's defer loop.

    Written atomically and at most every ``interval_s`` while running, so a Lua poll
    never reads half a file and the disk is not hammered.
    """

    def __init__(self, path: Path, interval_s: float = 0.2) -> None:
        self.path = Path(path)
        self._interval_s = interval_s
        self._last = 0.0
        self._started = time.monotonic()

    def _write(self, state: JobState, fraction: float, message: str, **extra: object) -> None:
        document: dict[str, object] = {
            "state": state,
            "progress": round(fraction, 4),
            "message": message,
        }
        document.update(extra)
        document["updated"] = time.time()
        write_json_atomically(self.path, document)

    def update(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval_s:
            self._last = now
            elapsed = now - self._started
            # Time left at the pace so far: what the queue window shows per job.
            left = round(elapsed * (1 - fraction) / fraction, 1) if fraction > 0.01 else None
            self._write("running", fraction, message, elapsed_s=round(elapsed, 1), left_s=left)

    def finish(self, state: JobState, message: str, **extra: object) -> None:
        elapsed = round(time.monotonic() - self._started, 3)
        self._write(state, 1.0 if state == "done" else 0.0, message, elapsed_s=elapsed, **extra)


class CallbackProgress:
    """Forwards progress to a plain function (the OSC server sends it as messages)."""

    def __init__(self, callback: Callable[[float, str], None]) -> None:
        self._callback = callback

    def update(self, fraction: float, message: str) -> None:
        self._callback(fraction, message)

    def finish(self, state: JobState, message: str) -> None:
        self._callback(1.0 if state == "done" else 0.0, message)


class FanOut:
    """Sends every report to several Progress objects."""

    def __init__(self, targets: Sequence[Progress]) -> None:
        self._targets = tuple(targets)

    def update(self, fraction: float, message: str) -> None:
        for target in self._targets:
            target.update(fraction, message)

    def finish(self, state: JobState, message: str) -> None:
        for target in self._targets:
            target.finish(state, message)


class Silent:
    """Progress that goes nowhere."""

    def update(self, fraction: float, message: str) -> None:
        return None

    def finish(self, state: JobState, message: str) -> None:
        return None
