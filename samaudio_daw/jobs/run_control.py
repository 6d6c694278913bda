"""How a run reports and is stopped, the same for every entrance: ``RunControl``.

Progress goes to a ``Progress`` (a terminal bar, an OSC callback); a status file, when
asked for, gets the same progress and always ends as ``done`` (with the result's
path), ``failed`` (with the one-line error) or ``cancelled``. A run stops when its
cancel flag turns true or ``<status file>.cancel`` appears (REAPER's Cancel button).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.progress import JobCancelled, JobState, Progress, Silent, StatusFile


def cancel_file_for(status_file: Path) -> Path:
    """The file whose existence asks a running job to stop (REAPER's Cancel button makes it)."""
    return status_file.with_name(status_file.name + ".cancel")


def _never() -> bool:
    return False


@dataclass(frozen=True)
class RunControl:
    """Where a run's progress goes and what stops it.

    ``progress`` gets ``(fraction, message)`` as the run goes; ``status_file`` (None: none)
    is written for REAPER; ``cancel_flag`` is polled between blocks (an OSC cancel, a
    threading.Event's ``is_set``).
    """

    progress: Progress = field(default_factory=Silent)
    status_file: Path | None = None
    cancel_flag: Callable[[], bool] = _never
    _status: StatusFile | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        status = StatusFile(self.status_file) if self.status_file is not None else None
        object.__setattr__(self, "_status", status)

    @property
    def cancel_file(self) -> Path | None:
        return cancel_file_for(self.status_file) if self.status_file is not None else None

    def cancelled(self) -> bool:
        """True once the run should stop: the flag is set or the cancel file exists."""
        cancel_file = self.cancel_file
        return self.cancel_flag() or (cancel_file is not None and cancel_file.exists())

    def update(self, fraction: float, message: str) -> None:
        self.progress.update(fraction, message)
        if self._status is not None:
            self._status.update(fraction, message)

    def _finish(self, state: JobState, message: str, **extra: object) -> None:
        self.progress.finish(state, message)
        if self._status is not None:
            self._status.finish(state, message, **extra)

    @contextmanager
    def running(self, result_path: Path) -> Iterator[dict[str, str]]:
        """The run inside: starts the status file, and ends it however the run ends.

        The run may set ``ending["message"]``, the line shown when it is done.
        """
        cancel_file = self.cancel_file
        if cancel_file is not None:
            cancel_file.unlink(missing_ok=True)  # a request left from an earlier run
        if self._status is not None:
            self._status.update(0.0, "starting")
        ending = {"message": "done"}
        try:
            yield ending
        except (JobCancelled, KeyboardInterrupt):
            self._finish("cancelled", "cancelled; nothing was written")
            raise
        except UserError as error:
            self._finish("failed", str(error))
            raise
        except Exception as error:
            self._finish("failed", f"internal error: {type(error).__name__}: {error}")
            raise
        self._finish("done", ending["message"], result=str(result_path))
