"""Items separated in parallel worker processes (``--jobs N``).

Each worker builds its backend once and keeps it, in a local variable of its loop, for
every item it takes from the shared inbox; it posts progress, results and errors to
one outbox the parent drains. A cancelled or failed run asks the workers to stop, so
their stem writers delete their temporary files; one that does not stop in time is
killed and its temporary files are removed here.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from samaudio_daw.jobs.executor import ItemDone, portable, remove_leftovers
from samaudio_daw.jobs.manifest import Job
from samaudio_daw.jobs.progress import JobCancelled
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.serial import SerialExecutor
from samaudio_daw.jobs.work import ItemWork
from samaudio_daw.separation.backends import BackendOptions, create_backend
from samaudio_daw.separation.base import Separator

_POLL_S = 0.2
_STOP_WAIT_S = 30.0


def _start_method() -> str:
    """fork where it exists: workers then share the parent's already-imported modules
    instead of spending seconds importing torch again (PyTorch resets its thread pools
    in a forked child). spawn elsewhere."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _worker(backend: str, options: BackendOptions, inbox: Any, outbox: Any, stop: Any) -> None:
    """A worker process: separate ``(index, work)`` from ``inbox`` until it says None
    or ``stop`` is set."""
    # One thread per worker: N workers on N cores beat N workers fighting over threads.
    import torch

    torch.set_num_threads(1)
    separator: Separator | None = None
    while not stop.is_set() and (task := inbox.get()) is not None:
        index, work = task
        try:
            separator = separator or create_backend(backend, options)
            separated = work.separate(
                separator, lambda f, i=index: outbox.put(("progress", i, f)), stop.is_set
            )
            outbox.put(("done", index, separated))
        except Exception as error:
            outbox.put(("error", index, portable(error)))
            return


@dataclass(frozen=True)
class ProcessPool:
    """``jobs`` worker processes; a single item runs here instead (no start-up cost)."""

    jobs: int

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}")

    def run(
        self,
        works: Sequence[ItemWork],
        job: Job,
        separator: Separator,
        control: RunControl,
        item_done: ItemDone,
    ) -> None:
        if self.jobs < 2 or len(works) < 2:
            SerialExecutor().run(works, job, separator, control, item_done)
            return
        context: Any = multiprocessing.get_context(_start_method())
        inbox, outbox, stop = context.Queue(), context.Queue(), context.Event()
        for task in enumerate(works):
            inbox.put(task)
        workers = [
            context.Process(
                target=_worker,
                args=(job.backend, job.backend_options, inbox, outbox, stop),
                daemon=True,
            )
            for _ in range(min(self.jobs, len(works)))
        ]
        for worker in workers:
            inbox.put(None)
            worker.start()
        try:
            _collect(len(works), outbox, workers, control, item_done)
        finally:
            _stop(workers, stop, outbox)
            for work in works:
                remove_leftovers(work)


def _stop(workers: list[Any], stop: Any, outbox: Any) -> None:
    """Ask every worker to stop, drain what they still post, kill any that does not."""
    stop.set()
    deadline = time.monotonic() + _STOP_WAIT_S
    while any(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
        _drain(outbox)  # a worker cannot exit while its messages fill the pipe
        for worker in workers:
            worker.join(_POLL_S / len(workers))
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
        worker.join()
    _drain(outbox)


def _drain(outbox: Any) -> None:
    while True:
        try:
            outbox.get_nowait()
        except queue.Empty:
            return


def _collect(
    count: int, outbox: Any, workers: list[Any], control: RunControl, item_done: ItemDone
) -> None:
    """Drain the workers' messages until every item is done; raise what a worker raised."""
    fractions = [0.0] * count
    done = 0
    while done < count:
        try:
            kind, index, value = outbox.get(timeout=_POLL_S)
        except queue.Empty:
            if not any(worker.is_alive() for worker in workers):
                raise RuntimeError(
                    "every worker process stopped before the batch was done"
                ) from None
        else:
            if kind == "error":
                raise value
            if kind == "done":
                done += 1
                fractions[index] = 1.0
                item_done(index, value)
            else:
                fractions[index] = max(fractions[index], value)
        control.update(sum(fractions) / count, f"{done}/{count} items")
        if control.cancelled():
            raise JobCancelled("cancelled")
