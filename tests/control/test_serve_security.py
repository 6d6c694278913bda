"""`serve` security over real UDP on 127.0.0.1: roots, tokens, bad packets, floods.

"Never read" is checked with FIFOs outside the roots: a FIFO opened for writing with
O_NONBLOCK fails with ENXIO exactly when no process has it open for reading.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TOKEN = "s3cret-studio-token"  # as in conftest.py
FLOOD_PACKETS = 5000


def _nobody_reads(fifo: Path) -> bool:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        return error.errno == errno.ENXIO
    os.close(fd)
    return False


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.fixture(scope="module")
def escapes(studio: Any) -> Any:
    """Traps outside the root, and links from inside the root pointing at them."""
    fifo = studio.outside / "pipe.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    (studio.root / "link-to-secret.wav").symlink_to(studio.outside / "secret.wav")
    (studio.root / "link-to-pipe.wav").symlink_to(fifo)
    (studio.root / "link-to-outside").symlink_to(studio.outside, target_is_directory=True)
    manifest_outside = studio.outside / "job.json"
    manifest_outside.write_text(
        json.dumps({"version": 1, "output_dir": "out", "items": [{"audio": "secret.wav"}]})
    )
    return fifo


INPUT_ESCAPES = {
    "absolute path outside": "{outside}/pipe.wav",
    "dot-dot": "../outside/pipe.wav",
    "dot-dot inside a path": "stems/../../outside/secret.wav",
    "symlink to a file outside": "link-to-secret.wav",
    "symlink to a FIFO outside": "link-to-pipe.wav",
    "symlinked folder": "link-to-outside/secret.wav",
}


@pytest.mark.parametrize("path", INPUT_ESCAPES.values(), ids=INPUT_ESCAPES.keys())
def test_input_outside_the_roots_is_refused_unread(
    client: Any, studio: Any, escapes: Path, path: str
) -> None:
    before = _snapshot(studio.outside)
    address, args = client.ask(
        "/samaudio/separate", path.format(outside=studio.outside), "de-hum", "stems-escape"
    )
    assert address == "/samaudio/error"
    assert "outside the allowed folders" in args[1]
    assert client.ask("/samaudio/ping")[0] == "/samaudio/pong"
    assert _nobody_reads(escapes)
    assert _snapshot(studio.outside) == before
    assert not (studio.root / "stems-escape").exists()


OUTPUT_ESCAPES = {
    "absolute folder outside": "{outside}/made-here",
    "dot-dot": "../outside/made-here",
    "symlinked folder": "link-to-outside/made-here",
    "symlink itself": "link-to-outside",
}


@pytest.mark.parametrize("path", OUTPUT_ESCAPES.values(), ids=OUTPUT_ESCAPES.keys())
def test_output_folder_outside_the_roots_is_refused(
    client: Any, studio: Any, escapes: Path, path: str
) -> None:
    before = _snapshot(studio.outside)
    address, args = client.ask(
        "/samaudio/separate", "take.wav", "de-hum", path.format(outside=studio.outside)
    )
    assert address == "/samaudio/error"
    assert "outside the allowed folders" in args[1]
    assert _snapshot(studio.outside) == before


def _manifest(studio: Any, name: str, **fields: Any) -> str:
    document = {
        "version": 1,
        "output_dir": "stems-manifest-escape",
        "items": [{"audio": "take.wav"}],
    }
    document.update(fields)
    for item in document["items"]:
        item["preset"] = "de-hum"
    (studio.root / name).write_text(json.dumps(document))
    return name


def test_job_manifest_outside_the_roots_is_refused(client: Any, studio: Any, escapes: Path) -> None:
    for path in (str(studio.outside / "job.json"), "../outside/job.json", str(escapes)):
        address, args = client.ask("/samaudio/job", path)
        assert address == "/samaudio/error" and "outside the allowed folders" in args[1]
    assert _nobody_reads(escapes)


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"items": [{"audio": "../outside/secret.wav"}]}, "outside the allowed folders"),
        ({"items": [{"audio": "link-to-secret.wav"}]}, "outside the allowed folders"),
        ({"output_dir": "../outside/out"}, "outside the allowed folders"),
        ({"items": [{"audio": "take.wav", "name": "../../x"}]}, "plain file name"),
        ({"items": [{"audio": "take.wav", "name": "/tmp/abs"}]}, "plain file name"),
        ({"items": [{"audio": "take.wav", "name": ".."}]}, "plain file name"),
        ({"items": [{"audio": "take.wav", "name": "a\\b"}]}, "plain file name"),
        ({"items": [{"audio": "link-to-outside/secret.wav"}]}, "outside the allowed folders"),
        ({"project": "../outside/song.rpp"}, "outside the allowed folders"),
        ({"backend_options": {"model": str(Path("/") / "outside" / "m")}}, "--allow-model"),
        ({"backend_options": {"model": "facebook/sam-audio-large"}}, "--allow-model"),
        ({"backend_options": {"device": "cuda"}}, "server's setting"),
        ({"items": [{"audio": "take.wav", "position_s": -1}]}, "position_s"),
    ],
    ids=[
        "audio dot-dot",
        "audio symlink",
        "output_dir dot-dot",
        "item name with folders",
        "item name absolute",
        "item name dot-dot",
        "item name backslash",
        "audio through a folder link",
        "project outside",
        "model path",
        "model hub id",
        "device",
        "negative position",
    ],
)
def test_job_manifest_pointing_outside_is_refused(
    client: Any, studio: Any, escapes: Path, fields: dict[str, Any], problem: str
) -> None:
    before = _snapshot(studio.outside)
    address, args = client.ask("/samaudio/job", _manifest(studio, "escape.json", **fields))
    assert address == "/samaudio/error" and problem in args[1]
    assert _snapshot(studio.outside) == before


@pytest.mark.parametrize(
    "address, args, problem",
    [
        ("/samaudio/separate", ("take.wav", "de-hum"), "wrong arguments"),
        ("/samaudio/separate", ("take.wav", "de-hum", 3), "wrong arguments ,ssi"),
        ("/samaudio/job", (1.5,), "wrong arguments ,f"),
        ("/samaudio/ping", ("extra",), "wrong arguments ,s"),
        ("/samaudio/nope", (), "unknown address"),
        ("/samaudio/separate", ("missing.wav", "de-hum", "out"), "does not exist"),
        ("/samaudio/separate", ("take.wav", "  ", "out"), "prompt or preset is empty"),
    ],
)
def test_bad_requests_get_an_error(
    client: Any, address: str, args: tuple[Any, ...], problem: str
) -> None:
    reply_address, reply_args = client.ask(address, *args)
    assert reply_address == "/samaudio/error"
    assert problem in reply_args[1]


def _bad_packets() -> Iterator[bytes]:
    """Garbage, wrong types, unknown addresses, oversize, bad UTF-8, broken bundles."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    def message(address: str, *args: Any) -> bytes:
        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        return builder.build().dgram

    deep_bundle = message("/samaudio/ping")
    for _ in range(300):  # nesting deeper than python-osc's recursion can follow
        deep_bundle = b"#bundle\x00" + bytes(8) + struct.pack(">i", len(deep_bundle)) + deep_bundle
    kinds = [
        os.urandom(64),
        b"\x00" * 16,
        b"/samaudio/separate\x00\x00,sss\x00\x00\x00\x00",  # arguments missing
        b"/samaudio/\xff\xfe\x00\x00",
        b"#bundle\x00" + bytes(8) + struct.pack(">i", 9999) + b"/x",
        message("/samaudio/separate", 1, 2.5, b"blob"),
        message("/samaudio/job", True),
        message("/unknown/address", "x"),
        message("/samaudio/cancel"),
        b"/" + b"x" * 9000,
        deep_bundle,
    ]
    for index in range(FLOOD_PACKETS):
        yield kinds[index % len(kinds)]


def _drain(sock: socket.socket, expected: int, quiet_s: float = 0.2) -> int:
    """Read replies until ``expected`` came or none came for ``quiet_s``; returns the count."""
    got = 0
    sock.settimeout(quiet_s)
    while got < expected:
        try:
            sock.recv(65536)
        except TimeoutError:
            break
        got += 1
    return got


def test_bad_packet_flood_then_ping_within_a_second(server: Any, make_client: Any) -> None:
    flood = make_client(server.port)
    errors, burst, started_flood = 0, [], time.monotonic()
    for packet in _bad_packets():
        burst.append(packet)
        if len(burst) == 20:  # bursts as fast as the socket takes them, then the answers
            for datagram in burst:
                flood.send_raw(datagram)
            errors += _drain(flood.sock, len(burst))
            burst = []
    flood_s = time.monotonic() - started_flood
    for packet in _bad_packets():  # then one raw burst: the kernel drops what will not fit
        flood.send_raw(packet)
    # UDP may drop a datagram while the server's receive buffer is still full of the
    # flood, so the ping is resent every 100 ms, as an OSC client would; the clock runs
    # from the first one.
    pinger = make_client(server.port)
    started = time.monotonic()
    reply, attempts = None, 0
    while reply is None and time.monotonic() - started < 1.0:
        attempts += 1
        pinger.send("/samaudio/ping")
        reply = pinger.receive(0.1)
    latency_s = time.monotonic() - started
    print(
        f"flood: {FLOOD_PACKETS} bad packets in {flood_s:.2f} s, {errors} error replies, "
        f"then a raw burst of {FLOOD_PACKETS}; "
        f"ping answered in {latency_s * 1000:.1f} ms ({attempts} ping(s) sent)"
    )
    assert reply == ("/samaudio/pong", [])
    assert latency_s < 1.0
    assert errors > FLOOD_PACKETS // 2  # answered, not just dropped (UDP may lose a few)
    assert server.process.poll() is None
    assert server.log().count("dropped a datagram") <= 40  # the log is throttled


def test_oversize_and_garbage_get_an_error_reply(client: Any) -> None:
    client.send_raw(b"/" + b"x" * 9000)
    assert client.expect("/samaudio/error", "")[1].startswith("packet of 9001 bytes")
    client.send_raw(b"\x01\x02\x03")
    assert "not an OSC packet" in client.expect("/samaudio/error", "")[1]


@pytest.fixture(scope="module")
def token_server(launched: Any) -> Iterator[Any]:
    running = launched.servers["token"].wait_listening()
    yield running
    assert running.stop(signal.SIGINT) == 0, running.log()  # Ctrl-C stops it cleanly too


def test_token_is_required_and_a_refused_datagram_gets_no_reply(
    token_server: Any, make_client: Any
) -> None:
    client = make_client(token_server.port)
    for args in [(), ("wrong-token-value",), (TOKEN[:-1],), (123,)]:
        client.send("/samaudio/ping", *args)
    client.send("/samaudio/separate", "take.wav", "de-hum", "out")  # a path is not the token
    client.send("/elsewhere", "x")  # not even "unknown address" without the token
    client.send_raw(b"\x01")  # a 1-byte datagram: nothing to bounce at a spoofed sender
    client.send_raw(b"/" + b"x" * 9000)
    assert client.receive(1.0) is None
    assert client.ask("/samaudio/ping", TOKEN) == ("/samaudio/pong", [])
    address, reply = client.ask("/samaudio/separate", TOKEN, "take.wav", "de-hum")
    assert "wrong arguments" in reply[1]  # with the token, mistakes are explained
    assert token_server.log().count("wrong token") <= 20


def test_token_guesses_are_rate_limited_per_sender(token_server: Any, make_client: Any) -> None:
    client = make_client(token_server.port)
    time.sleep(10.5)  # the earlier test's failures leave the window
    started = time.monotonic()
    for guess in range(200):
        client.send("/samaudio/ping", f"guess-{guess:05d}-xxxxxxxx")
    client.send("/samaudio/ping", TOKEN)  # right, but this host is blocked for now
    assert client.receive(1.0) is None
    deadline = started + 30
    while time.monotonic() < deadline:  # unblocked once its failures leave the window
        client.send("/samaudio/ping", TOKEN)
        if client.receive(0.5) is not None:
            break
    assert time.monotonic() - started >= 9.0, "200 guesses were not slowed down"
    assert client.ask("/samaudio/ping", TOKEN) == ("/samaudio/pong", [])
    log = token_server.log()
    assert "dropped so far" in log and log.count("\n") < 200


def test_token_job_runs(token_server: Any, make_client: Any, studio: Any) -> None:
    client = make_client(token_server.port)
    client.send("/samaudio/separate", TOKEN, "take.wav", "de-hum", "stems-token")
    [job_id] = client.expect("/samaudio/accepted")
    assert Path(client.expect("/samaudio/done", job_id, timeout_s=60)[1]).is_file()


def test_public_address_without_token_refuses_to_start(
    studio: Any, helpers: Any, tmp_path: Path
) -> None:
    log = tmp_path / "refused.log"
    started = time.monotonic()
    done = helpers.run_serve(["--osc-host", "0.0.0.0", "--osc-port", "0"], studio.root, log)
    assert done.returncode == 2
    assert "--token" in log.read_text()
    assert time.monotonic() - started < 20  # refused before any model is loaded


def test_loopback_names_are_recognised() -> None:
    from samaudio_daw.control.osc_server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback(socket.gethostname() + ".invalid")
