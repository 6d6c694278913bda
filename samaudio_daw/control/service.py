"""What the server does for each request: check paths, build jobs, queue them, report.

The handlers here are plain functions of (request, reply address) returning the replies
to send now; the dispatcher calls them and the UDP server sends what they return. A
job's own messages (accepted, progress, done or error) come from the job queue. Jobs are the same
``Job`` values the CLI builds and run through the same ``run_job``, on separators made
once and kept (loading a model per job would take longer than most jobs).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from samaudio_daw.control import osc_messages as msg
from samaudio_daw.control.dispatch import Handler
from samaudio_daw.control.job_queue import (
    Address,
    JobAccepted,
    JobEvent,
    JobFailed,
    JobFinished,
    JobProgressed,
    JobQueue,
    QueuedJob,
)
from samaudio_daw.control.midi import MidiAction
from samaudio_daw.control.paths import PathRefused, Roots
from samaudio_daw.errors import UserError
from samaudio_daw.jobs.executor import Executor
from samaudio_daw.jobs.job_check import check_job
from samaudio_daw.jobs.manifest import RESULT_FILE_NAME, Job, JobItem, load_job
from samaudio_daw.jobs.requests import read_request
from samaudio_daw.jobs.separators import Separators
from samaudio_daw.presets import PresetLibrary
from samaudio_daw.separation.backends import BackendOptions

MAX_MANIFEST_BYTES = 1 << 20
"""A job manifest larger than this is refused before it is read."""


@dataclasses.dataclass(frozen=True)
class LastJob:
    """The inputs and output folder of the newest job, for MIDI "run a preset on them"."""

    items: tuple[JobItem, ...]
    output_dir: Path
    reply_to: Address | None


class ControlService:
    """Request handlers and the job runner for ``samaudio-daw serve``."""

    def __init__(
        self,
        roots: Roots,
        library: PresetLibrary,
        separators: Separators,
        backend: str,
        backend_options: BackendOptions,
        logger: logging.Logger | None = None,
        executor: Executor | None = None,
        allow_model: bool = False,
    ) -> None:
        self.roots = roots
        self.allow_model = allow_model
        self.library = library
        self.separators = separators
        self._log = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._backend = backend
        self._backend_options = backend_options
        self._executor = executor
        self._chosen_preset: str | None = None
        self._last: LastJob | None = None
        self._queue: JobQueue | None = None

    def attach(self, queue: JobQueue) -> None:
        """The queue jobs go to (made after the service, because it calls ``run``)."""
        self._queue = queue

    @property
    def queue(self) -> JobQueue:
        if self._queue is None:
            raise RuntimeError("ControlService.attach(queue) was not called")
        return self._queue

    def handlers(self) -> Mapping[type, Handler]:
        return {
            msg.Ping: self.ping,
            msg.Separate: self.separate,
            msg.SubmitManifest: self.submit_manifest,
            msg.Cancel: self.cancel,
            msg.Status: self.status,
        }

    def ping(self, request: msg.Request, reply_to: Address) -> list[msg.Reply]:
        return [msg.pong()]

    def separate(self, request: msg.Request, reply_to: Address) -> list[msg.Reply]:
        assert isinstance(request, msg.Separate)  # the dispatcher routes by type
        audio = self.roots.existing_file(request.input_file, "input file")
        output_dir = self.roots.output_folder(request.output_dir)
        asked = read_request(request.prompt_or_preset, self.library)
        assert asked is not None  # unmatched words are prompts here
        item = asked.job_item(audio, audio.stem)
        with self._lock:
            backend = self._backend
        job = Job((item,), output_dir, backend=backend, backend_options=self._backend_options)
        check_job(job, "/samaudio/separate")
        what = f"preset {asked.preset_name}" if asked.by_name else f"prompt {asked.text.strip()!r}"
        self._submit(job, reply_to, f"{audio.name}: {what} -> {output_dir}")
        return []  # the queue sends /samaudio/accepted before the job can start

    def submit_manifest(self, request: msg.Request, reply_to: Address) -> list[msg.Reply]:
        assert isinstance(request, msg.SubmitManifest)
        path = self.roots.existing_file(request.manifest, "job manifest", MAX_MANIFEST_BYTES)
        job = self.confine_job(load_job(path), str(path))
        self._submit(job, reply_to, f"{path.name}: {len(job.items)} item(s)")
        return []

    def confine_job(self, job: Job, source: str) -> Job:
        """``job`` checked by the one job validator, every path resolved inside the roots.

        Backend options are limited to what a remote sender may set; the status file is
        dropped: progress travels as OSC messages.
        """
        return check_job(job, source, self.roots, self._backend_options, self.allow_model)

    def _submit(self, job: Job, reply_to: Address | None, description: str) -> None:
        queued = self.queue.submit(job, reply_to, description)
        with self._lock:
            self._last = LastJob(job.items, job.output_dir, reply_to)
        self._log.info("job %s queued for %s: %s", queued.job_id, reply_to, description)

    def cancel(self, request: msg.Request, reply_to: Address) -> list[msg.Reply]:
        assert isinstance(request, msg.Cancel)
        self.queue.cancel(request.job_id)
        return []  # the job itself ends with /samaudio/error "cancelled" to its sender

    def status(self, request: msg.Request, reply_to: Address) -> list[msg.Reply]:
        listed = self.queue.status()
        replies = [msg.job_status(s.job_id, s.state, s.fraction, s.description) for s in listed]
        return [*replies, msg.status_end(len(listed))]

    def run(
        self, queued: QueuedJob, progress: Callable[[float], None], cancel: Callable[[], bool]
    ) -> Path:
        """The queue's JobRunner: re-check the paths, then ``run_job`` on a kept separator."""
        from samaudio_daw.jobs.progress import CallbackProgress
        from samaudio_daw.jobs.run_control import RunControl
        from samaudio_daw.jobs.runner import run_job

        job = queued.job
        # The files may have changed since the request was checked (a symlink swapped in).
        for path in [*(item.audio for item in job.items), job.output_dir]:
            if not self.roots.contains(path.resolve()):
                raise PathRefused(
                    f"{path} now points outside the allowed folders "
                    f"({self.roots.describe()}); the job was not run"
                )
        separator = self.separators.get(job.backend, job.backend_options)
        control = RunControl(
            progress=CallbackProgress(lambda fraction, _message: progress(fraction)),
            cancel_flag=cancel,
        )
        run_job(job, self.library, control, self._executor, separator)
        return job.output_dir / RESULT_FILE_NAME

    def apply_midi(self, action: MidiAction) -> list[tuple[msg.Reply, Address]]:
        """Do what a MIDI binding asks; a failure becomes an error for the last job's sender.

        Jobs it queues report to that sender too (through the queue's events).
        """
        with self._lock:
            last = self._last
        target = last.reply_to if last else None
        try:
            self._apply(action, last)
            return []
        except Exception as error:
            if not isinstance(error, UserError):
                self._log.exception("MIDI action %s failed", action)
            else:
                self._log.warning("MIDI %s: %s", action.kind, error)
            reply = msg.error("", f"MIDI {action.kind}: {error}")
        return [(reply, target)] if target is not None else []

    def _apply(self, action: MidiAction, last: LastJob | None) -> None:
        if action.kind == "choose_preset":
            assert action.preset is not None
            name = self.library.get(action.preset).name
            with self._lock:
                self._chosen_preset = name
            self._log.info("MIDI: preset for the next job: %s", name)
        elif action.kind == "choose_backend":
            assert action.backend is not None
            with self._lock:
                self._backend = action.backend
            self._log.info("MIDI: backend for the next job: %s", action.backend)
        elif action.kind == "cancel":
            running = self.queue.running_id()
            if running is None:
                raise msg.RequestError("nothing is running")
            self.queue.cancel(running)
        else:
            self._midi_run(action, last)

    def _midi_run(self, action: MidiAction, last: LastJob | None) -> None:
        with self._lock:
            preset_name = action.preset or self._chosen_preset
            backend = self._backend
        if preset_name is None:
            raise msg.RequestError("no preset chosen; bind a choose_preset action or name a preset")
        if last is None:
            raise msg.RequestError("no job has been sent yet, so there are no inputs to rerun")
        preset = self.library.get(preset_name)
        items = tuple(
            dataclasses.replace(item, preset=preset.name, prompts=()) for item in last.items
        )
        job = Job(items, last.output_dir, backend=backend, backend_options=self._backend_options)
        self._submit(
            job,
            last.reply_to,
            f"MIDI: preset {preset.name} on {len(items)} input(s) -> {last.output_dir}",
        )


def event_replies(event: JobEvent) -> list[msg.Reply]:
    """The messages a job event becomes for the job's sender."""
    job_id = event.queued.job_id
    if isinstance(event, JobAccepted):
        return [msg.accepted(job_id)]
    if isinstance(event, JobProgressed):
        return [msg.progress(job_id, event.fraction)]
    if isinstance(event, JobFinished):
        return [msg.done(job_id, str(event.result_path))]
    assert isinstance(event, JobFailed)
    return [msg.error(job_id, event.message)]
