"""A bounded job queue with one worker thread: jobs run one at a time, in arrival order.

Knows nothing of OSC: a job's life is reported as events (progress, finished, failed)
to one ``on_event`` function, and the caller turns them into messages. A full queue
refuses new jobs (``QueueFull``) instead of growing; ``close`` stops accepting, fails
the waiting jobs, cancels the running one and waits for the worker.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.manifest import Job
from samaudio_daw.jobs.progress import JobCancelled

Address: TypeAlias = tuple[str, int]
"""Where a job's messages go: (host, port)."""

CANCELLED_MESSAGE = "cancelled; no stems were written"
STOPPING_MESSAGE = "the server is stopping; the job was not run"


class QueueFull(UserError):
    """The queue holds its maximum of waiting jobs; the message says how many."""


class QueueClosed(UserError):
    """The server is stopping and takes no more jobs."""


class UnknownJob(UserError):
    """No queued or running job has this id."""


@dataclass(frozen=True)
class QueuedJob:
    """A job with its id, where its messages go (None: nobody), and a one-line description."""

    job_id: str
    job: Job
    reply_to: Address | None
    description: str


@dataclass(frozen=True)
class JobAccepted:
    """Reported from ``submit`` before the worker can start the job, so it comes first."""

    queued: QueuedJob


@dataclass(frozen=True)
class JobProgressed:
    queued: QueuedJob
    fraction: float


@dataclass(frozen=True)
class JobFinished:
    queued: QueuedJob
    result_path: Path


@dataclass(frozen=True)
class JobFailed:
    """A job that ended without a result: an error, a cancel, or a server stop."""

    queued: QueuedJob
    message: str
    cancelled: bool = False


JobEvent: TypeAlias = JobAccepted | JobProgressed | JobFinished | JobFailed


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: Literal["queued", "running"]
    fraction: float
    description: str


class JobRunner(Protocol):
    """Runs one job to its end; returns the result manifest's path.

    ``progress(fraction)`` reports 0..1; ``cancel()`` turns true when the job should stop,
    and the runner then raises JobCancelled leaving no partial files.
    """

    def __call__(
        self, queued: QueuedJob, progress: Callable[[float], None], cancel: Callable[[], bool]
    ) -> Path: ...


class _Throttle:
    """Passes a progress fraction on at most every ``interval_s`` (and always the first)."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._last = -float("inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval_s:
            return False
        self._last = now
        return True


class JobQueue:
    """Jobs wait here (at most ``max_waiting``) and run one by one on a worker thread."""

    def __init__(
        self,
        run: JobRunner,
        on_event: Callable[[JobEvent], None],
        max_waiting: int = 16,
        progress_interval_s: float = 0.1,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, got {max_waiting}")
        self._run = run
        self._on_event = on_event
        self._max_waiting = max_waiting
        self._progress_interval_s = progress_interval_s
        self._log = logger or logging.getLogger(__name__)
        self._changed = threading.Condition()
        self._waiting: deque[QueuedJob] = deque()
        self._running: QueuedJob | None = None
        self._running_fraction = 0.0
        self._cancel_running = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="samaudio-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, reply_to: Address | None, description: str) -> QueuedJob:
        """Queue ``job``; QueueFull or QueueClosed when it cannot be taken."""
        with self._changed:
            if self._closed:
                raise QueueClosed(STOPPING_MESSAGE)
            if len(self._waiting) >= self._max_waiting:
                raise QueueFull(
                    f"the job queue is full ({self._max_waiting} jobs waiting); wait for one "
                    "to finish or cancel one (/samaudio/status lists them)"
                )
            queued = QueuedJob(secrets.token_hex(4), job, reply_to, description)
            self._emit(JobAccepted(queued))  # under the lock: the worker cannot start it yet
            self._waiting.append(queued)
            self._changed.notify_all()
        return queued

    def cancel(self, job_id: str) -> Literal["queued", "running"]:
        """Cancel a job; a waiting job is dropped at once, a running one stops at its next block."""
        with self._changed:
            if self._running is not None and self._running.job_id == job_id:
                self._cancel_running.set()
                return "running"
            dropped = next((q for q in self._waiting if q.job_id == job_id), None)
            if dropped is None:
                raise UnknownJob(f"no queued or running job has the id {job_id[:64]!r}")
            self._waiting.remove(dropped)
        self._emit(JobFailed(dropped, CANCELLED_MESSAGE, cancelled=True))
        return "queued"

    def waiting(self) -> tuple[QueuedJob, ...]:
        """The jobs not started yet, in the order they will run."""
        with self._changed:
            return tuple(self._waiting)

    def running_id(self) -> str | None:
        with self._changed:
            return self._running.job_id if self._running else None

    def status(self) -> tuple[JobStatus, ...]:
        """The running job first, then the waiting ones in the order they will run."""
        with self._changed:
            listed = []
            if self._running is not None:
                listed.append(
                    JobStatus(
                        self._running.job_id,
                        "running",
                        self._running_fraction,
                        self._running.description,
                    )
                )
            listed += [JobStatus(q.job_id, "queued", 0.0, q.description) for q in self._waiting]
            return tuple(listed)

    def close(self, timeout_s: float | None = None) -> bool:
        """Stop taking jobs, fail the waiting ones, cancel the running one, wait for the worker.

        Returns False when the worker was still busy after ``timeout_s``.
        """
        with self._changed:
            self._closed = True
            dropped = list(self._waiting)
            self._waiting.clear()
            self._cancel_running.set()
            self._changed.notify_all()
        for queued in dropped:
            self._emit(JobFailed(queued, STOPPING_MESSAGE, cancelled=True))
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _next(self) -> QueuedJob | None:
        with self._changed:
            while not self._waiting and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            queued = self._waiting.popleft()
            self._running = queued
            self._running_fraction = 0.0
            self._cancel_running.clear()
            return queued

    def _work(self) -> None:
        while (queued := self._next()) is not None:
            try:
                self._emit(self._run_one(queued))
            finally:
                with self._changed:
                    self._running = None

    def _run_one(self, queued: QueuedJob) -> JobEvent:
        throttle = _Throttle(self._progress_interval_s)

        def progress(fraction: float) -> None:
            fraction = min(max(float(fraction), 0.0), 1.0)
            with self._changed:
                self._running_fraction = fraction
            if throttle.due():
                self._emit(JobProgressed(queued, fraction))

        self._log.info("job %s started: %s", queued.job_id, queued.description)
        throttle.due()  # the first report is this one
        self._emit(JobProgressed(queued, 0.0))
        try:
            result_path = self._run(queued, progress, self._cancel_running.is_set)
        except JobCancelled:
            self._log.info("job %s cancelled", queued.job_id)
            return JobFailed(queued, CANCELLED_MESSAGE, cancelled=True)
        except UserError as error:
            self._log.warning("job %s failed: %s", queued.job_id, error)
            return JobFailed(queued, str(error))
        except Exception as error:  # a bug: keep the server up, say so, keep the traceback
            self._log.exception("job %s: internal error", queued.job_id)
            return JobFailed(queued, f"internal error: {type(error).__name__}: {error}")
        self._log.info("job %s done: %s", queued.job_id, result_path)
        return JobFinished(queued, result_path)

    def _emit(self, event: JobEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a reply that cannot be sent must not stop the queue
            self._log.exception(
                "job %s: reporting %s failed", event.queued.job_id, type(event).__name__
            )
