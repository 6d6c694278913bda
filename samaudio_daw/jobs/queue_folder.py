"""A queue of job folders, run by one process: what REAPER's actions drop in a row.

Each action writes a job folder under the jobs folder (``job.json``, its input audio,
the marker ``.samaudio-job``) and, last, the file ``queued``. ``run_queue`` holds the
jobs folder's lock (one runner per folder; a second one ends at once), runs every
queued job with ``run_job`` into the job's own ``status.json`` (one at a time on a GPU,
up to ``jobs`` at once on the CPU), and ends once nothing has been queued for
``idle_s``. A job's ``status.json.cancel`` stops it, running or still waiting; a job
that fails ends alone and the queue goes on. The runner writes status files and its
heartbeat ``queue.json`` and nothing else of its own; it deletes nothing.

An audition is a job with ``audition.json`` beside its manifest (``{"full_length_s":
s}``): its final status adds how long it took and the estimate for the full length.
Jobs of one backend and settings share one loaded separator when they run one at a
time, so a Commit after its audition does not load the model again.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.manifest import load_job, write_json_atomically
from samaudio_daw.jobs.outdir import hold_output_dir
from samaudio_daw.jobs.progress import StatusFile
from samaudio_daw.jobs.run_control import RunControl, cancel_file_for
from samaudio_daw.jobs.runner import run_job
from samaudio_daw.jobs.separators import Separators
from samaudio_daw.jobs.serial import SerialExecutor
from samaudio_daw.presets import PresetLibrary

JOB_MARKER = ".samaudio-job"
QUEUED_FILE = "queued"
MANIFEST = "job.json"
STATUS = "status.json"
AUDITION = "audition.json"
HEARTBEAT = "queue.json"
FINAL_STATES = {"done", "failed", "cancelled"}
_log = logging.getLogger("samaudio_daw")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _state(job_dir: Path) -> str | None:
    status = _read_json(job_dir / STATUS)
    return status.get("state") if isinstance(status, dict) else None


def queued_jobs(folder: Path, skip: set[Path] | None = None) -> list[Path]:
    """Job folders under ``folder`` that are queued and not finished, oldest name first.

    ``skip``: folders already known (taken or finished); the ones found finished are
    added to it, so a jobs folder full of old jobs is not read again five times a second.
    """
    found = []
    skip = set() if skip is None else skip
    for entry in sorted(folder.iterdir()):
        if entry in skip or entry.is_symlink() or not entry.is_dir():
            continue
        if not all((entry / name).is_file() for name in (JOB_MARKER, QUEUED_FILE, MANIFEST)):
            continue
        if _state(entry) in FINAL_STATES:
            skip.add(entry)
        else:
            found.append(entry)
    return found


def gpu_present() -> bool:
    """Whether torch sees a CUDA device (then jobs run one at a time)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


@dataclass
class QueueSummary:
    """How each job the runner took ended, by folder name."""

    ended: dict[str, str] = field(default_factory=dict)


def _add_to_status(job_dir: Path, **fields: object) -> None:
    status = _read_json(job_dir / STATUS)
    if isinstance(status, dict):
        status.update(fields)
        write_json_atomically(job_dir / STATUS, status)


def _audition_fields(job_dir: Path, result: Any) -> dict[str, object]:
    """How long the audition took and what the full length would take at that pace."""
    audition = _read_json(job_dir / AUDITION)
    if not isinstance(audition, dict):
        return {}
    took, heard = float(result.elapsed_s or 0.0), float(result.audio_s or 0.0)
    full = float(audition.get("full_length_s") or 0.0)
    estimate = round(took / heard * full, 1) if heard > 0 else None
    return {"audition_s": round(took, 3), "audio_s": heard, "estimate_full_s": estimate}


def run_one(
    job_dir: Path,
    library: PresetLibrary,
    separators: Separators | None,
    say: Callable[[str], None],
) -> str:
    """Run one queued job folder; returns how it ended. Never raises for the job's own
    failure: that is in its status file, and the queue goes on."""
    status_file = job_dir / STATUS
    if cancel_file_for(status_file).exists():  # cancelled while it waited
        StatusFile(status_file).finish("cancelled", "cancelled before it started")
        say(f"{job_dir.name}: cancelled before it started")
        return "cancelled"
    control = RunControl(status_file=status_file)
    warm = False
    try:
        job = load_job(job_dir / MANIFEST)
        separator = None  # run_job loads its own when jobs run side by side
        if separators is not None:
            warm = separators.loaded(job.backend, job.backend_options)
            separator = separators.get(job.backend, job.backend_options)
        result = run_job(job, library, control, SerialExecutor(), separator)
    except UserError as error:
        if _state(job_dir) not in FINAL_STATES:  # failed before run_job started
            StatusFile(status_file).finish("failed", str(error))
        say(f"{job_dir.name}: failed: {error}")
        return _state(job_dir) or "failed"
    except Exception as error:  # a bug in one job must not stop the others
        if _state(job_dir) not in FINAL_STATES:
            StatusFile(status_file).finish(
                "failed", f"internal error: {type(error).__name__}: {error}"
            )
        say(f"{job_dir.name}: internal error: {type(error).__name__}: {error}")
        return _state(job_dir) or "failed"
    extra = _audition_fields(job_dir, result)
    _add_to_status(job_dir, warm_model=warm, **extra)
    took = f"{result.elapsed_s:.1f} s"
    if extra.get("estimate_full_s") is not None:
        took += f"; the full length would take about {extra['estimate_full_s']:.0f} s"
    say(f"{job_dir.name}: done in {took}")
    return "done"


def _waiting_status(job_dir: Path, ahead: int) -> None:
    status = _read_json(job_dir / STATUS)
    message = f"waiting ({ahead} ahead)"
    if (job_dir / STATUS).exists() and not isinstance(status, dict):
        return  # being written: next round
    if isinstance(status, dict) and (
        status.get("state") != "queued" or status.get("message") == message
    ):
        return
    write_json_atomically(
        job_dir / STATUS,
        {"state": "queued", "progress": 0.0, "message": message, "updated": time.time()},
    )


def run_queue(
    folder: Path,
    library: PresetLibrary,
    jobs: int = 1,
    idle_s: float = 10.0,
    poll_s: float = 0.2,
    say: Callable[[str], None] = print,
) -> QueueSummary:
    """Run the jobs queued under ``folder`` until none has been queued for ``idle_s``.

    Raises OutputError when another runner holds the folder.
    """
    workers = 1 if jobs <= 1 or gpu_present() else jobs  # torch loads only when it matters
    separators = Separators() if workers == 1 else None  # shared only one at a time
    summary = QueueSummary()
    lock = threading.Lock()
    with hold_output_dir(folder, wait=False), ThreadPoolExecutor(workers) as pool:
        running: dict[Path, Future[str]] = {}
        taken: set[Path] = set()
        quiet_since = time.monotonic()

        def record(job_dir: Path, future: Future[str]) -> None:
            with lock:
                summary.ended[job_dir.name] = future.result()

        while True:
            for job_dir in [d for d, f in running.items() if f.done()]:
                del running[job_dir]
            waiting = queued_jobs(folder, taken)
            for ahead, job_dir in enumerate(waiting):
                _waiting_status(job_dir, len(running) + ahead)
            while waiting and len(running) < workers:
                job_dir = waiting.pop(0)
                taken.add(job_dir)
                future = pool.submit(run_one, job_dir, library, separators, say)
                future.add_done_callback(functools.partial(record, job_dir))
                running[job_dir] = future
            write_json_atomically(
                folder / HEARTBEAT,
                {
                    "pid": os.getpid(),
                    "updated": time.time(),
                    "running": [d.name for d in running],
                    "waiting": [d.name for d in waiting],
                },
            )
            if running or waiting:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= idle_s:
                return summary
            time.sleep(poll_s)
