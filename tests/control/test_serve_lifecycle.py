"""`serve` set-up and shut-down: fixed reply port, REAPER's action, SIGTERM during a job."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage

REAPER_ACTION = "_RS7d3c_samaudio_import"  # as in conftest.py


@pytest.fixture(scope="module")
def wired(launched: Any) -> Iterator[Any]:
    """A server replying to ``launched.replies``, telling ``launched.reaper`` when done."""
    running = launched.servers["wired"].wait_listening()
    yield running
    assert running.stop() == 0, running.log()


def _next(sock: socket.socket) -> tuple[str, list[Any]]:
    message = OscMessage(sock.recvfrom(65536)[0])
    return message.address, message.params


def test_replies_go_to_the_reply_port(wired: Any, launched: Any, make_client: Any) -> None:
    sender = make_client(wired.port)
    sender.send("/samaudio/ping")
    assert _next(launched.replies) == ("/samaudio/pong", [])
    assert sender.receive(0.3) is None  # nothing back to the sender's own port


def test_finished_job_runs_the_reaper_action(
    wired: Any, launched: Any, make_client: Any, studio: Any
) -> None:
    make_client(wired.port).send("/samaudio/separate", "take.wav", "de-hum", "stems-reaper")
    address, args = _next(launched.replies)
    assert address == "/samaudio/accepted", args
    [job_id] = args
    while (reply := _next(launched.replies))[0] != "/samaudio/done":
        assert reply[0] == "/samaudio/progress"
    assert _next(launched.reaper) == (f"/action/{REAPER_ACTION}", [])
    done = json.loads(launched.done_file.read_text())
    assert done["job_id"] == job_id
    assert done["result"] == str(studio.root / "stems-reaper" / "result.json")


def test_sigterm_during_a_job_cancels_it_and_exits_0(
    wired: Any, launched: Any, studio: Any, make_client: Any
) -> None:
    """Runs last in this module: it stops the ``wired`` server for good."""
    sender = make_client(wired.port)
    output = studio.root / "stems-sigterm"
    sender.send("/samaudio/separate", "long.wav", "de-hum", output.name)
    address, [job_id] = _next(launched.replies)
    assert address == "/samaudio/accepted"
    deadline = time.monotonic() + 30
    while _next(launched.replies) != ("/samaudio/progress", [job_id, 0.0]):
        assert time.monotonic() < deadline
    while (reply := _next(launched.replies))[1][1] == 0.0:  # until stems are being written
        assert reply[0] == "/samaudio/progress" and time.monotonic() < deadline
    sender.send("/samaudio/separate", "take.wav", "de-hum", "stems-never")
    while (reply := _next(launched.replies))[0] != "/samaudio/accepted":
        assert reply[0] == "/samaudio/progress"
    waiting_id = reply[1][0]
    assert wired.stop(signal.SIGTERM) == 0, wired.log()
    ends = {}
    while len(ends) < 2:
        address, args = _next(launched.replies)
        if address == "/samaudio/error":
            ends[args[0]] = args[1]
    assert "cancelled" in ends[job_id] and "stopping" in ends[waiting_id]
    leftovers = [p.name for p in output.iterdir()] if output.exists() else []
    assert [name for name in leftovers if name.endswith((".wav", ".part", ".json"))] == []
    assert not (studio.root / "stems-never").exists()
    assert "SIGTERM: stopping" in wired.log()
