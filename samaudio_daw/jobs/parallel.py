"""Items separated in parallel worker processes (``--jobs N``).

Each worker builds its backend once and keeps it for every item it gets. Workers
report progress through a queue the parent drains; a cancelled or failed run stops
the pool, and the stem writers' temporary files are cleaned by the next run.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from samaudio_daw.jobs.manifest import Job
from samaudio_daw.jobs.progress import JobCancelled, Progress
from samaudio_daw.separation.backends import create_backend
from samaudio_daw.separation.base import Separator

# A worker process's own state: its backend and progress queue, set once by _start_worker.
_worker: dict[str, Any] = {}


def _start_method() -> str:
    """fork where it exists: workers then share the parent's already-imported modules
    instead of spending seconds importing torch again (PyTorch resets its thread pools
    in a forked child). spawn elsewhere."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _start_worker(backend: str, options: Any, reports: Any) -> None:
    # One thread per worker: N workers on N cores beat N workers fighting over threads.
    import torch

    torch.set_num_threads(1)
    _worker["separator"] = create_backend(backend, options)
    _worker["reports"] = reports


def _separate_in_worker(index: int, work: Any) -> int:
    separator: Separator = _worker["separator"]
    reports = _worker["reports"]
    return work.separate(separator, lambda fraction: reports.put((index, fraction)), lambda: False)


def run_works_in_parallel(
    works: Sequence[Any],
    job: Job,
    progress: Progress,
    cancel: Callable[[], bool],
    jobs: int,
    item_done: Callable[[int, int], None],
) -> None:
    """Separate ``works`` on ``jobs`` processes, calling ``item_done(index, frames)`` as each ends."""
    context = multiprocessing.get_context(_start_method())
    reports = context.Queue()
    fractions = [0.0] * len(works)
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(works)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(job.backend, job.backend_options, reports),
    ) as pool:
        futures: dict[Future[int], int] = {
            pool.submit(_separate_in_worker, index, work): index for index, work in enumerate(works)
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                fractions[futures[future]] = 1.0
                item_done(futures[future], future.result())  # re-raises a worker's error
            _drain(reports, fractions)
            progress.update(
                sum(fractions) / len(works), f"{len(works) - len(pending)}/{len(works)} items"
            )
            if cancel():
                pool.shutdown(wait=False, cancel_futures=True)
                raise JobCancelled("cancelled")


def _drain(reports: Any, fractions: list[float]) -> None:
    while True:
        try:
            index, fraction = reports.get_nowait()
        except queue.Empty:
            return
        fractions[index] = max(fractions[index], fraction)
