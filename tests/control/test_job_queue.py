"""The bounded job queue with fake runners: order, bounds, cancel, errors, close."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from samaudio_daw.control.job_queue import (
    JobAccepted,
    JobEvent,
    JobFailed,
    JobFinished,
    JobProgressed,
    JobQueue,
    QueueClosed,
    QueuedJob,
    QueueFull,
    UnknownJob,
)
from samaudio_daw.errors import OutputError
from samaudio_daw.jobs.manifest import Job, JobItem
from samaudio_daw.jobs.progress import JobCancelled

TARGET = ("127.0.0.1", 9)


def _job(name: str) -> Job:
    return Job((JobItem(Path(f"/{name}.wav"), name, preset="de-hum"),), Path(f"/out/{name}"))


class Recorder:
    """Collects events; ``wait_for`` blocks until a predicate holds (bounded)."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: JobEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[JobEvent]], bool], timeout_s: float = 5) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self.events), timeout_s), self.events

    def ends(self) -> list[tuple[str, str]]:
        return [
            (e.queued.job.items[0].name, type(e).__name__)
            for e in self.events
            if isinstance(e, JobFinished | JobFailed)
        ]


def _gated_runner(gate: threading.Event) -> Any:
    """Runs until ``gate`` opens (or cancel); a job named "bad" fails, "bug" raises."""

    def run(
        queued: QueuedJob, progress: Callable[[float], None], cancel: Callable[[], bool]
    ) -> Path:
        name = queued.job.items[0].name
        progress(0.5)
        deadline = time.monotonic() + 10
        while not gate.wait(0.01):
            if cancel():
                raise JobCancelled("cancelled")
            assert time.monotonic() < deadline
        if name == "bad":
            raise OutputError(f"/out/{name}: the output folder is not writable")
        if name == "bug":
            raise ZeroDivisionError("oops")
        return queued.job.output_dir / "result.json"

    return run


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def queue(gate: threading.Event) -> Iterator[tuple[JobQueue, Recorder]]:
    recorder = Recorder()
    made = JobQueue(_gated_runner(gate), recorder, max_waiting=2, progress_interval_s=0)
    made.start()
    yield made, recorder
    gate.set()
    assert made.close(timeout_s=5)


def test_jobs_run_one_at_a_time_in_order(queue: Any, gate: threading.Event) -> None:
    jobs, recorder = queue
    for name in ("a", "b"):
        jobs.submit(_job(name), TARGET, name)
    recorder.wait_for(lambda events: any(isinstance(e, JobProgressed) for e in events))
    assert [s.state for s in jobs.status()] == ["running", "queued"]
    gate.set()
    recorder.wait_for(lambda events: len(recorder.ends()) == 2)
    assert recorder.ends() == [("a", "JobFinished"), ("b", "JobFinished")]
    first = [type(e).__name__ for e in recorder.events if e.queued.job.items[0].name == "a"]
    assert first[0] == "JobAccepted" and first[1:3] == ["JobProgressed", "JobProgressed"]
    assert jobs.status() == ()


def test_full_queue_refuses_instead_of_growing(queue: Any) -> None:
    jobs, recorder = queue
    jobs.submit(_job("running"), TARGET, "")
    recorder.wait_for(lambda events: any(isinstance(e, JobProgressed) for e in events))
    jobs.submit(_job("w1"), TARGET, "")
    jobs.submit(_job("w2"), TARGET, "")
    with pytest.raises(QueueFull, match="2 jobs waiting"):
        jobs.submit(_job("w3"), TARGET, "")
    assert len(jobs.status()) == 3


def test_cancel_waiting_and_running_jobs(queue: Any) -> None:
    jobs, recorder = queue
    running = jobs.submit(_job("a"), TARGET, "")
    waiting = jobs.submit(_job("b"), TARGET, "")
    recorder.wait_for(lambda events: any(isinstance(e, JobProgressed) for e in events))
    assert jobs.cancel(waiting.job_id) == "queued"
    assert jobs.cancel(running.job_id) == "running"
    recorder.wait_for(lambda events: len(recorder.ends()) == 2)
    assert recorder.ends() == [("b", "JobFailed"), ("a", "JobFailed")]
    assert all(e.cancelled for e in recorder.events if isinstance(e, JobFailed))
    with pytest.raises(UnknownJob):
        jobs.cancel(running.job_id)


def test_failures_are_reported_and_the_worker_goes_on(gate: threading.Event) -> None:
    recorder = Recorder()
    jobs = JobQueue(_gated_runner(gate), recorder)
    jobs.start()
    gate.set()
    for name in ("bad", "bug", "good"):
        jobs.submit(_job(name), TARGET, name)
    recorder.wait_for(lambda events: len(recorder.ends()) == 3)
    failed = {
        e.queued.job.items[0].name: e.message for e in recorder.events if isinstance(e, JobFailed)
    }
    assert "not writable" in failed["bad"]
    assert failed["bug"] == "internal error: ZeroDivisionError: oops"
    assert recorder.ends()[-1] == ("good", "JobFinished")
    assert jobs.close(5)


def test_close_fails_waiting_jobs_and_cancels_the_running_one(gate: threading.Event) -> None:
    recorder = Recorder()
    jobs = JobQueue(_gated_runner(gate), recorder, max_waiting=4)
    jobs.start()
    jobs.submit(_job("a"), TARGET, "")
    jobs.submit(_job("b"), TARGET, "")
    recorder.wait_for(lambda events: any(isinstance(e, JobProgressed) for e in events))
    assert jobs.close(timeout_s=5)
    assert sorted(recorder.ends()) == [("a", "JobFailed"), ("b", "JobFailed")]
    with pytest.raises(QueueClosed):
        jobs.submit(_job("c"), TARGET, "")


def test_accepted_comes_before_anything_else(gate: threading.Event) -> None:
    recorder = Recorder()
    jobs = JobQueue(_gated_runner(gate), recorder, max_waiting=32)
    jobs.start()
    gate.set()
    for index in range(20):
        jobs.submit(_job(f"j{index}"), TARGET, "")
    recorder.wait_for(lambda events: len(recorder.ends()) == 20)
    jobs.close(5)
    seen: set[str] = set()
    for event in recorder.events:
        if isinstance(event, JobAccepted):
            seen.add(event.queued.job_id)
        else:
            assert event.queued.job_id in seen


def test_a_failing_event_sink_does_not_stop_the_queue(gate: threading.Event) -> None:
    recorder = Recorder()

    def flaky(event: JobEvent) -> None:
        recorder(event)
        if isinstance(event, JobProgressed):
            raise OSError("network is unreachable")

    jobs = JobQueue(_gated_runner(gate), flaky)
    jobs.start()
    gate.set()
    jobs.submit(_job("a"), TARGET, "")
    jobs.submit(_job("b"), TARGET, "")
    recorder.wait_for(lambda events: len(recorder.ends()) == 2)
    assert jobs.close(5)


def test_max_waiting_must_be_positive() -> None:
    with pytest.raises(ValueError):
        JobQueue(_gated_runner(threading.Event()), Recorder(), max_waiting=0)
