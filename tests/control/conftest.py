"""Fixtures for the control tests: audio files, an OSC client, the server as a subprocess.

Every socket here is bound to 127.0.0.1; every wait has a deadline; every server
process is stopped (SIGTERM, then kill) when its fixture ends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 90.0  # the dsp backend imports torch at start: seconds on a busy laptop
TOKEN = "s3cret-studio-token"
REAPER_ACTION = "_RS7d3c_samaudio_import"
_LISTENING_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def write_hum_wav(
    path: Path, seconds: float = 2.0, sample_rate: int = 44100, channels: int = 2
) -> Path:
    """A tone with 60 Hz mains hum and a little noise, 24-bit WAV."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(0)
    mono = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 60 * t)
    audio = np.stack([mono + 0.005 * rng.standard_normal(t.size) for _ in range(channels)], 1)
    sf.write(path, audio.astype(np.float32), sample_rate, subtype="PCM_24")
    return path


def write_long_wav(path: Path, seconds: float = 600.0, sample_rate: int = 8000) -> Path:
    """A long mono 16-bit file (10 MB) that the dsp backend needs seconds to separate."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 60 * t)
    sf.write(path, mono.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


def encode(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


@dataclass
class OscClient:
    """A UDP socket on 127.0.0.1 that sends to one server and collects its replies."""

    server_port: int
    sock: socket.socket = field(init=False)
    seen: list[tuple[str, list[Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(encode(address, *args), (LOOPBACK, self.server_port))

    def send_raw(self, datagram: bytes) -> None:
        self.sock.sendto(datagram, (LOOPBACK, self.server_port))

    def receive(self, timeout_s: float) -> tuple[str, list[Any]] | None:
        self.sock.settimeout(max(timeout_s, 0.001))
        try:
            datagram, _ = self.sock.recvfrom(65536)
        except TimeoutError:
            return None
        message = OscMessage(datagram)
        return message.address, message.params

    def expect(self, address: str, job_id: str | None = None, timeout_s: float = 15.0) -> list[Any]:
        """The arguments of the first reply to ``address`` (for ``job_id``) not yet taken.

        Replies that do not match stay in ``seen`` for later calls; fails on timeout.
        """

        def wanted(reply: tuple[str, list[Any]]) -> bool:
            return reply[0] == address and (job_id is None or reply[1][:1] == [job_id])

        for index, reply in enumerate(self.seen):
            if wanted(reply):
                return self.seen.pop(index)[1]
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            reply = self.receive(left)
            if reply is None:
                break
            if wanted(reply):
                return reply[1]
            self.seen.append(reply)
        pytest.fail(f"no {address} for {job_id} within {timeout_s} s; got {self.seen[-10:]}")

    def ask(self, address: str, *args: Any, timeout_s: float = 5.0) -> tuple[str, list[Any]]:
        """Send one message and return the first reply."""
        self.send(address, *args)
        reply = self.receive(timeout_s)
        assert reply is not None, f"no reply to {address} within {timeout_s} s"
        return reply

    def close(self) -> None:
        self.sock.close()


@dataclass
class ServerProcess:
    """``samaudio-daw serve`` running as a subprocess, its log in a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self) -> OscClient:
        return OscClient(self.port)

    def wait_listening(self) -> ServerProcess:
        """Wait for the "listening on" line and take the port from it."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.port and time.monotonic() < deadline:
            match = _LISTENING_RE.search(self.log())
            if match:
                self.port = int(match.group(1))
            elif self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log()}")
            else:
                time.sleep(0.1)
        if not self.port:
            self.kill()
            pytest.fail(f"server did not start within {START_TIMEOUT_S} s:\n{self.log()}")
        return self

    def stop(self, stop_signal: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send ``stop_signal`` and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(stop_signal)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"server did not stop within {timeout_s} s; log:\n{self.log()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def serve_argv() -> list[str]:
    """How to start ``serve``: the real command line, as a user would."""
    return [sys.executable, "-m", "samaudio_daw", "serve"]


def run_serve(
    args: Sequence[str], cwd: Path, log_path: Path, timeout_s: float = 30.0
) -> subprocess.CompletedProcess[bytes]:
    """Run ``serve`` expecting it to exit by itself (a refused start)."""
    with log_path.open("wb") as log:
        return subprocess.run(
            [*serve_argv(), *args], cwd=cwd, stdout=log, stderr=log, timeout=timeout_s, check=False
        )


def launch_server(args: Sequence[str], cwd: Path, log_path: Path) -> ServerProcess:
    """Start ``serve --osc-port 0 ARGS`` without waiting (``wait_listening`` gives the port)."""
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(
            [*serve_argv(), "--osc-port", "0", *args],
            cwd=cwd,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return ServerProcess(process, log_path)


@dataclass(frozen=True)
class Studio:
    """The folders of a served machine: ``root`` (the only --root) and ``outside`` it."""

    root: Path
    outside: Path


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    base = tmp_path_factory.mktemp("studio")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    write_hum_wav(root / "take.wav")
    write_long_wav(root / "long.wav")
    write_hum_wav(outside / "secret.wav")
    return Studio(root, outside)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(15)
    return sock


@pytest.fixture(scope="session")
def launched(studio: Studio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Every server the tests use, started at once: each takes seconds to load the backend.

    ``shared``: root only. ``token``: with --token TOKEN. ``wired``: replies to the
    ``replies`` socket, tells the ``reaper`` socket when a job is done (its last test
    stops it with SIGTERM during a job).
    """
    root = ["--root", str(studio.root)]
    replies, reaper = _bound_socket(), _bound_socket()
    done_file = tmp_path_factory.mktemp("reaper") / "last-result.json"
    wired = [
        "--reply-port", str(replies.getsockname()[1]),
        "--reaper-port", str(reaper.getsockname()[1]),
        "--on-done-action", REAPER_ACTION,
        "--done-file", str(done_file),
    ]  # fmt: skip
    configs = {
        "shared": root,
        "token": [*root, "--token", TOKEN],
        "wired": [*root, *wired],
    }
    logs = tmp_path_factory.mktemp("logs")
    servers = {
        name: launch_server(args, studio.root, logs / f"{name}.log")
        for name, args in configs.items()
    }
    yield types.SimpleNamespace(
        servers=servers, replies=replies, reaper=reaper, done_file=done_file
    )
    for running in servers.values():
        running.kill()
    replies.close()
    reaper.close()


@pytest.fixture(scope="session")
def server(launched: Any) -> Iterator[ServerProcess]:
    """The shared server: root = ``studio.root``, no token."""
    running = launched.servers["shared"].wait_listening()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[OscClient]:
    made = server.client()
    yield made
    made.close()


@pytest.fixture
def make_client() -> Iterator[Callable[[int], OscClient]]:
    made: list[OscClient] = []

    def make(port: int) -> OscClient:
        made.append(OscClient(port))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture(scope="session")
def helpers() -> Any:
    """The helper functions and classes, for tests (importlib mode cannot import this file)."""
    return types.SimpleNamespace(
        write_hum_wav=write_hum_wav,
        write_long_wav=write_long_wav,
        encode=encode,
        launch_server=launch_server,
        TOKEN=TOKEN,
        REAPER_ACTION=REAPER_ACTION,
        run_serve=run_serve,
        OscClient=OscClient,
    )
