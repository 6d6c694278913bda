"""Starting and stopping ``samaudio-daw serve``: build the parts, serve, shut down cleanly.

Order matters. At start: check the settings, bind (a taken port fails at once), load
the presets and the default backend (the model is loaded here, once), start the worker,
then listen. At stop (SIGINT, SIGTERM): stop reading datagrams, fail the waiting jobs,
cancel the running one (the runner leaves no partial files), wait for the worker, then
close the socket, so that every job's last message still goes out.
"""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import mido

from samaudio_daw.control.dispatch import Dispatcher
from samaudio_daw.control.job_queue import JobQueue
from samaudio_daw.control.midi import MidiAction, MidiMapping, mapping_callback, open_input
from samaudio_daw.control.osc_server import (
    MAX_PACKET_BYTES,
    OscServer,
    ReaperTarget,
    ReplyPolicy,
    bind_udp,
    event_sender,
    is_loopback,
    stop_on_signals,
)
from samaudio_daw.control.paths import Roots
from samaudio_daw.control.service import ControlService, event_replies
from samaudio_daw.errors import UserError
from samaudio_daw.jobs.executor import Executor
from samaudio_daw.jobs.separators import Separators
from samaudio_daw.separation.backends import BackendOptions

MIN_TOKEN_CHARS = 16
DEFAULT_DONE_FILE = Path(tempfile.gettempdir()) / "samaudio-daw" / "last-result.json"
"""Where ``serve`` writes the last finished job's result path for REAPER by default."""


class ServeError(UserError):
    """Settings the server cannot start with; the message says how to fix them."""


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``serve`` needs, checked when made."""

    roots: Roots
    host: str = "127.0.0.1"
    port: int = 9010
    token: str | None = None
    replies: ReplyPolicy = field(default_factory=ReplyPolicy)
    reaper: ReaperTarget | None = None
    done_file: Path | None = None
    midi_port: str | None = None
    midi_mapping: MidiMapping | None = None
    backend: str = "dsp"
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    preset_dirs: tuple[Path, ...] = ()
    max_waiting: int = 16
    executor: Executor | None = None  # None: each job's items one after another, here
    max_packet_bytes: int = MAX_PACKET_BYTES
    stop_timeout_s: float = 60.0
    allow_model: bool = False  # may a job manifest name a model folder or hub id?

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServeError(f"--osc-port must be within 0..65535, got {self.port}")
        if self.token is not None and len("".join(self.token.split())) < MIN_TOKEN_CHARS:
            raise ServeError(
                f"--token must have at least {MIN_TOKEN_CHARS} characters besides spaces; "
                "make one "
                'with: python -c "import secrets; print(secrets.token_urlsafe())"'
            )
        if self.token is None and not is_loopback(self.host):
            raise ServeError(
                f"--osc-host {self.host} is reachable from other machines; "
                "give --token T (then every message starts with it) or bind "
                "127.0.0.1"
            )
        if (self.midi_mapping is None) != (self.midi_port is None):
            raise ServeError(
                "MIDI needs both a port (--midi-in, or port = in the mapping) and --midi-map FILE"
            )
        if not 1 <= self.max_waiting <= 10_000:
            raise ServeError(f"--max-queued must be within 1..10000, got {self.max_waiting}")


def _check_mapping_presets(settings: ServeSettings, service: ControlService) -> None:
    if settings.midi_mapping is None:
        return
    for name in settings.midi_mapping.preset_names():
        if name not in service.library:
            raise ServeError(
                f"the MIDI mapping names preset {name!r}, which does not exist; "
                "see `samaudio-daw presets list`"
            )


@contextmanager
def _midi_input(
    settings: ServeSettings, service: ControlService, server: OscServer, log: logging.Logger
) -> Iterator[None]:
    if settings.midi_mapping is None:
        yield
        return

    def on_action(action: MidiAction, message: mido.Message) -> None:
        log.info("MIDI %s -> %s", message, action.kind)
        for reply, target in service.apply_midi(action):
            server.send(reply, target)

    def on_failure(message: mido.Message, error: Exception) -> None:
        log.error("MIDI %s: %s: %s", message, type(error).__name__, error, exc_info=error)

    callback = mapping_callback(settings.midi_mapping, on_action, on_failure)
    port = open_input(settings.midi_port, callback)
    log.info(
        "MIDI input: %s (%d bindings)", settings.midi_port, len(settings.midi_mapping.bindings)
    )
    with port:
        yield


def _bind(settings: ServeSettings) -> socket.socket:
    try:
        return bind_udp(settings.host, settings.port)
    except OSError as error:
        raise ServeError(
            f"cannot listen on {settings.host}:{settings.port} ({error.strerror or error}); "
            "is another serve running? choose another --osc-port"
        ) from None


def _service(settings: ServeSettings, log: logging.Logger) -> ControlService:
    """Presets read, mapping checked, the default backend loaded (the slow part)."""
    from samaudio_daw.presets import default_library

    separators = Separators(settings.backend, settings.backend_options)
    service = ControlService(
        settings.roots,
        default_library(settings.preset_dirs),
        separators,
        settings.backend,
        settings.backend_options,
        log,
        settings.executor,
        allow_model=settings.allow_model,
    )
    _check_mapping_presets(settings, service)
    log.info("loading the %s backend", settings.backend)
    separators.load_default()
    return service


def run_server(
    settings: ServeSettings, log: logging.Logger, stop: threading.Event | None = None
) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); returns the exit code (0: clean)."""
    stop = stop or threading.Event()
    # Bound first: a taken port fails at once, and messages sent while the model loads wait.
    with closing(_bind(settings)) as sock:
        service = _service(settings, log)
        dispatcher = Dispatcher(service.handlers(), settings.token, log)
        server = OscServer(
            sock,
            dispatcher,
            settings.replies,
            log,
            settings.max_packet_bytes,
            token_required=settings.token is not None,
        )
        on_event = event_sender(server, event_replies, settings.reaper, settings.done_file, log)
        queue = JobQueue(service.run, on_event, settings.max_waiting, logger=log)
        service.attach(queue)
        queue.start()
        with stop_on_signals(stop, log), _midi_input(settings, service, server, log):
            host, port = server.address
            log.info("listening on %s:%s (roots: %s)", host, port, settings.roots.describe())
            server.serve(stop)
        log.info("stopped taking messages; finishing up")
        if not queue.close(settings.stop_timeout_s):
            log.error(
                "the running job did not stop within %.0f s; exiting anyway",
                settings.stop_timeout_s,
            )
            return 1
    log.info("stopped")
    return 0
