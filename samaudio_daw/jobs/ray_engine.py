"""Items separated on a Ray cluster (``--engine ray``): a render farm for big batches.

``RayEngine`` is an executor (``executor.py``): works in, ``item_done(index, separated)``
as each item ends, so the cache, the result manifest and skipping on a rerun stay the
runner's one piece of code. Each Ray worker is an actor that builds its backend once and separates
items one after another; a worker that dies mid-item is restarted by Ray (on any node
with room) and the item is separated again from the start. Stems are written straight
to the output folder, which on a real cluster must be shared storage seen at the same
path on every node. Ray is an optional extra and is imported only when a batch runs.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from samaudio_daw.jobs.executor import ItemDone, remove_leftovers
from samaudio_daw.jobs.executor import portable as portable_from
from samaudio_daw.jobs.manifest import Job
from samaudio_daw.jobs.progress import JobCancelled
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.stems import SeparatedItem
from samaudio_daw.jobs.work import ItemWork
from samaudio_daw.separation.backends import BackendOptions, create_backend
from samaudio_daw.separation.base import SeparationError, Separator

# Backends that need no model: their workers ask Ray for a CPU and never for a GPU.
CPU_ONLY_BACKENDS = frozenset({"dsp"})
# Only item descriptions and frame counts travel through Ray's object store, never audio.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024
_POLL_S = 0.2
_REPORT_INTERVAL_S = 0.25
_STOP_WAIT_S = 10.0
_CONNECT_TIMEOUT_S = 10.0


class ClusterError(SeparationError):
    """The batch cannot run on Ray as asked; the message says why and what to do."""


@dataclass(frozen=True)
class RayEngine:
    """Where a batch runs on Ray, and what each worker asks the cluster for.

    ``address`` is ``auto`` (the cluster this machine belongs to), ``HOST:PORT`` or
    ``ray://HOST:PORT`` (Ray Client); None starts a local Ray for this run and stops it
    afterwards. ``gpus_per_job`` is what a model backend's worker requests (fractions
    share a GPU; ``dsp`` requests one CPU and no GPU). ``max_workers`` caps how many
    items run at once (None: as many as the cluster has room for). ``retries`` is how
    often a dead worker is restarted and its item separated again.
    """

    address: str | None = None
    gpus_per_job: float = 1.0
    max_workers: int | None = None
    retries: int = 3

    def __post_init__(self) -> None:
        if self.address is not None:
            head_of(self.address)  # raises ValueError for an address Ray could not use
        if not 0.0 <= self.gpus_per_job <= 64.0:
            raise ValueError(f"gpus_per_job must be 0..64, got {self.gpus_per_job}")
        if self.max_workers is not None and self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {self.max_workers}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")

    def run(
        self,
        works: Sequence[ItemWork],
        job: Job,
        separator: Separator,
        control: RunControl,
        item_done: ItemDone,
    ) -> None:
        """Separate ``works`` on Ray workers whose backends must match ``separator``'s."""
        if works:
            run_works_on_ray(works, job, separator.settings(), control, item_done, self)


def head_of(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``HOST:PORT`` or ``ray://HOST:PORT`` address; None for ``auto``."""
    if address == "auto":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got {address!r}"
        )
    return host.strip("[]"), int(port)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line ClusterError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "--engine ray needs Ray, which is not installed: pip install samaudio-daw[cluster]"
        ) from None
    return ray


def actor_options(backend: str, engine: RayEngine) -> dict[str, Any]:
    """Resources and fault tolerance for one worker running ``backend``."""
    gpus = 0.0 if backend in CPU_ONLY_BACKENDS else engine.gpus_per_job
    return {
        "num_cpus": 1,
        "num_gpus": gpus,
        "max_restarts": engine.retries,
        # A method running when its worker died is run again on the restarted worker.
        "max_task_retries": engine.retries,
    }


def worker_count(resources: dict[str, float], backend: str, engine: RayEngine, items: int) -> int:
    """How many workers to start: one per item, at most what the cluster holds at once."""
    options = actor_options(backend, engine)
    slots = int(resources.get("CPU", 0.0) // options["num_cpus"])
    if options["num_gpus"] > 0:
        slots = min(slots, int(resources.get("GPU", 0.0) // options["num_gpus"]))
    if slots < 1:
        need = f"{options['num_gpus']:g} GPU" if options["num_gpus"] > 0 else "1 CPU"
        raise ClusterError(
            f"the Ray cluster has no room for one {backend} worker ({need} each; it has "
            f"{resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU): add workers "
            "with GPUs, or pass --gpus-per-job 0 to run the model on CPUs"
        )
    return min(items, slots, engine.max_workers or items)


@contextmanager
def ray_session(ray: Any, engine: RayEngine) -> Iterator[None]:
    """Connected to Ray for the block: the cluster at ``engine.address``, or a local one.

    A connection the caller already made is used and left open; a local Ray started
    here is stopped on the way out, whatever happens.
    """
    if ray.is_initialized():
        yield
        return
    _connect(ray, engine)
    try:
        yield
    finally:
        ray.shutdown()


def _connect(ray: Any, engine: RayEngine) -> None:
    # Worker output would tear the progress bar; errors come back as exceptions instead.
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if engine.address is None:
        ray.init(
            num_cpus=engine.max_workers or os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            **quiet,
        )
        return
    _check_reachable(engine.address)
    try:
        ray.init(address=engine.address, **quiet)
    except (ConnectionError, TimeoutError) as error:
        raise ClusterError(
            f"no Ray cluster at --address {engine.address} ({error}); start one with "
            "`ray start --head`, or leave out --address to run on a local Ray"
        ) from None


def _check_reachable(address: str) -> None:
    """Fail in seconds on a wrong address: Ray itself retries one for many minutes."""
    head = head_of(address)
    if head is None:
        return
    try:
        socket.create_connection(head, timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ClusterError(
            f"cannot reach the Ray head at --address {address} ({error.strerror or error}); "
            "start it with `ray start --head`, or check the host, port and firewall"
        ) from None


class ProgressBoard:
    """A Ray actor's body: the latest fraction done of each item, posted by the workers."""

    def __init__(self) -> None:
        self._fractions: dict[int, float] = {}

    def report(self, index: int, fraction: float) -> None:
        self._fractions[index] = max(self._fractions.get(index, 0.0), fraction)

    def fractions(self) -> dict[int, float]:
        return dict(self._fractions)


class _BoardReport:
    """An item's progress callback: posts to the board without waiting, a few times a second."""

    def __init__(self, board: Any, index: int) -> None:
        self._board = board
        self._index = index
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last >= _REPORT_INTERVAL_S:
            self._last = now
            self._board.report.remote(self._index, fraction)


def check_worker_settings(
    backend: str, worker: dict[str, object], expected: dict[str, object]
) -> None:
    """Refuse a worker whose backend settings differ from the ones the cache keys used.

    ``device``/``dtype`` ``auto`` resolve on each machine: a GPU worker would write
    bfloat16 stems under a key this (CPU) machine computed for float32.
    """
    differ = sorted(
        key for key in expected.keys() | worker.keys() if worker.get(key) != expected.get(key)
    )
    if differ:
        found = ", ".join(f"{k}={worker.get(k)!r} (here {expected.get(k)!r})" for k in differ)
        raise ClusterError(
            f"{backend} on Ray worker {socket.gethostname()} resolves {found}; pass these "
            "explicitly (e.g. --device cuda --dtype bfloat16) so every machine agrees"
        )


def portable(error: Exception) -> Exception:
    """``executor.portable`` for an error on a Ray worker."""
    return portable_from(error, "a Ray worker")


class ItemSeparator:
    """A Ray actor's body: builds the backend on first use and keeps it for every item."""

    def __init__(self, backend: str, options: BackendOptions, expected: dict[str, object]) -> None:
        # Plain values only: Ray cannot restart an actor whose arguments it has lost.
        self._backend = backend
        self._options = options
        self._expected = expected
        self._separator: Separator | None = None

    def separate(self, index: int, work: ItemWork, board: Any) -> SeparatedItem:
        """Write every stem of ``work``, posting progress to ``board``; its frames and scores."""
        try:
            separator = self._loaded()
            remove_leftovers(work)
            return work.separate(separator, _BoardReport(board, index), lambda: False)
        except Exception as error:
            raise portable(error) from None

    def _loaded(self) -> Separator:
        if self._separator is None:
            separator = create_backend(self._backend, self._options)
            check_worker_settings(self._backend, separator.settings(), self._expected)
            self._separator = separator
        return self._separator


def absolute_work(work: ItemWork) -> ItemWork:
    """``work`` with absolute paths: workers do not run in this process's folder."""
    plans = tuple(replace(plan, path=plan.path.absolute()) for plan in work.plans)
    source = replace(work.source, path=work.source.path.absolute())
    return replace(work, plans=plans, source=source)


def run_works_on_ray(
    works: Sequence[ItemWork],
    job: Job,
    expected: dict[str, object],
    control: RunControl,
    item_done: ItemDone,
    settings: RayEngine,
) -> None:
    """Separate ``works`` on Ray workers, calling ``item_done(index, separated)`` as each ends.

    ``expected`` are the backend settings the cache keys were made with; a worker whose
    backend resolves otherwise is refused.
    """
    ray = import_ray()
    with ray_session(ray, settings):
        count = worker_count(ray.cluster_resources(), job.backend, settings, len(works))
        # The board is restarted too if its node goes: it holds only progress.
        restarts = {"max_restarts": settings.retries, "max_task_retries": settings.retries}
        board = ray.remote(num_cpus=0, **restarts)(ProgressBoard).remote()
        worker_class = ray.remote(**actor_options(job.backend, settings))(ItemSeparator)
        workers = [
            worker_class.remote(job.backend, job.backend_options, expected) for _ in range(count)
        ]
        batch = _Batch(ray, [absolute_work(work) for work in works], workers, board, settings)
        try:
            batch.run(control, item_done)
        finally:
            batch.stop()
            ray.kill(board)


class _Batch:
    """The items in flight on the workers, handed out one per idle worker."""

    def __init__(
        self, ray: Any, works: list[ItemWork], workers: list[Any], board: Any, engine: RayEngine
    ) -> None:
        self._ray = ray
        self._works = works
        self._workers = workers
        self._board = board
        self._engine = engine
        self._waiting = list(reversed(range(len(works))))  # popped from the end: in order
        self._running: dict[Any, tuple[int, Any]] = {}
        self._fractions = [0.0] * len(works)

    def run(self, control: RunControl, item_done: ItemDone) -> None:
        for worker in self._workers:
            self._hand_out(worker)
        while self._running:
            ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                index, worker = self._running.pop(ref)
                item_done(index, self._frames(ref, index))
                self._fractions[index] = 1.0
                self._hand_out(worker)
            self._report(control)
            if control.cancelled():
                raise JobCancelled("cancelled")

    def _hand_out(self, worker: Any) -> None:
        if self._waiting:
            index = self._waiting.pop()
            ref = worker.separate.remote(index, self._works[index], self._board)
            self._running[ref] = (index, worker)

    def _frames(self, ref: Any, index: int) -> SeparatedItem:
        exceptions = self._ray.exceptions
        try:
            separated: SeparatedItem = self._ray.get(ref)
            return separated
        except exceptions.RayTaskError as error:
            # The worker's own exception, so its one-line message reaches the user as is.
            if isinstance(error.cause, Exception):
                raise error.cause from error
            raise
        except exceptions.RayError as error:  # the worker itself failed, not the item
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise ClusterError(
                f"{self._works[index].item.name}: Ray could not finish this item in "
                f"{self._engine.retries + 1} attempt(s) ({type(error).__name__}: {first_line}); "
                "check the workers' memory and `ray logs` on the head node"
            ) from error

    def _report(self, control: RunControl) -> None:
        for index, fraction in self._ray.get(self._board.fractions.remote()).items():
            self._fractions[index] = max(self._fractions[index], fraction)
        done = len(self._works) - len(self._waiting) - len(self._running)
        control.update(
            sum(self._fractions) / len(self._works), f"{done}/{len(self._works)} items on Ray"
        )

    def stop(self) -> None:
        """Stop every worker; items cut short lose their temporary files, not just later."""
        for worker in self._workers:
            self._ray.kill(worker, no_restart=True)
        if self._running:
            # The killed items' calls end once their workers are gone; then no file is open.
            self._ray.wait(
                list(self._running), num_returns=len(self._running), timeout=_STOP_WAIT_S
            )
            for index, _ in self._running.values():
                remove_leftovers(self._works[index])
