"""The address space as values: parsing requests, checking tokens, building replies."""

from __future__ import annotations

import struct

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from samaudio_daw.control import osc_messages as msg
from samaudio_daw.control.osc_messages import Incoming, RequestError, parse_request
from samaudio_daw.control.osc_server import (
    MAX_BUNDLE_DEPTH,
    BadDatagram,
    ReplyPolicy,
    decode_datagram,
)


def _datagram(address: str, *args: object) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)  # type: ignore[arg-type]
    return builder.build().dgram


def _bundle(*elements: bytes) -> bytes:
    body = b"".join(struct.pack(">i", len(element)) + element for element in elements)
    return b"#bundle\x00" + bytes(8) + body


def test_requests_parse_into_values() -> None:
    assert parse_request(Incoming("/samaudio/ping")) == msg.Ping()
    assert parse_request(Incoming("/samaudio/separate", ("a.wav", "de-hum", "out"))) == (
        msg.Separate("a.wav", "de-hum", "out")
    )
    assert parse_request(Incoming("/samaudio/job", ("job.json",))) == msg.SubmitManifest("job.json")
    assert parse_request(Incoming("/samaudio/cancel", ("ab12",))) == msg.Cancel("ab12")
    assert parse_request(Incoming("/samaudio/status")) == msg.Status()


@pytest.mark.parametrize(
    "address, args, problem",
    [
        ("/samaudio/nope", (), "unknown address '/samaudio/nope'"),
        (
            "/samaudio/separate",
            ("a.wav", "p"),
            "wrong arguments ,ss; expected /samaudio/separate ,sss",
        ),
        ("/samaudio/separate", ("a.wav", "p", 1), "wrong arguments ,ssi"),
        ("/samaudio/job", (2.5,), "wrong arguments ,f"),
        ("/samaudio/cancel", (None,), "wrong arguments ,N"),
        ("/samaudio/ping", (True,), "wrong arguments ,T"),
        ("/samaudio/separate", ("a.wav", "", "out"), "prompt or preset is empty"),
        ("/samaudio/job", ("x" * 5000,), "over the limit"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    address: str, args: tuple[object, ...], problem: str
) -> None:
    with pytest.raises(RequestError, match=None) as caught:
        parse_request(Incoming(address, args))
    assert problem in str(caught.value)


def test_token_is_checked_and_stripped() -> None:
    token = "a-long-token"
    assert parse_request(Incoming("/samaudio/ping", (token,)), token) == msg.Ping()
    assert parse_request(Incoming("/samaudio/cancel", (token, "id1")), token) == msg.Cancel("id1")
    for args in [(), ("wrong",), (token + "x",), (1,), ("id1",)]:
        with pytest.raises(RequestError, match="missing or wrong token"):
            parse_request(Incoming("/samaudio/cancel", args), token)
    with pytest.raises(RequestError, match="after the token"):
        parse_request(Incoming("/samaudio/cancel", (token,)), token)


def test_values_are_checked_when_made() -> None:
    with pytest.raises(TypeError):
        msg.Separate("a.wav", 3, "out")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        msg.Cancel(" ")
    with pytest.raises(ValueError):
        Incoming("no-slash")
    with pytest.raises(TypeError):
        msg.Reply("/x", (True,))
    with pytest.raises(ValueError):
        msg.progress("id", 1.5)
    with pytest.raises(ValueError):
        msg.job_status("id", "done", 1.0, "")  # type: ignore[arg-type]
    assert msg.Cancel("a") == msg.Cancel("a") and hash(msg.Cancel("a")) == hash(msg.Cancel("a"))


def test_replies_encode_with_the_documented_types() -> None:
    decoded = OscMessage(msg.encode_reply(msg.progress("ab", 0.5)))
    assert decoded.address == "/samaudio/progress" and decoded.params == ["ab", 0.5]
    assert msg.encode_reply(msg.progress("ab", 0.5))[20:24] == b",sf\x00"
    assert OscMessage(msg.encode_reply(msg.status_end(3))).params == [3]
    assert OscMessage(msg.encode_reply(msg.pong())).address == "/samaudio/pong"
    long_error = msg.error("", "x" * 5000)
    assert len(long_error.args[1]) == msg.MAX_MESSAGE_CHARS  # type: ignore[arg-type]


def test_reaper_action_accepts_numeric_and_named_command_ids() -> None:
    assert msg.reaper_action("40001").address == "/action/40001"
    assert msg.reaper_action("_RS7d3c1a2b").address == "/action/_RS7d3c1a2b"
    for bad in ["", "40001/x", "../x", "_RS a", "abc"]:
        with pytest.raises(ValueError, match="command id"):
            msg.reaper_action(bad)


def test_decode_datagram_reads_messages_and_bundles() -> None:
    ping = _datagram("/samaudio/ping")
    assert decode_datagram(ping) == (Incoming("/samaudio/ping"),)
    cancel = _datagram("/samaudio/cancel", "id1")
    assert decode_datagram(_bundle(ping, _bundle(cancel))) == (
        Incoming("/samaudio/ping"),
        Incoming("/samaudio/cancel", ("id1",)),
    )


def _nested(depth: int) -> bytes:
    datagram = _datagram("/samaudio/ping")
    for _ in range(depth):
        datagram = _bundle(datagram)
    return datagram


@pytest.mark.parametrize(
    "datagram, problem",
    [
        (b"", "not an OSC packet"),
        (b"hello", "not an OSC packet"),
        (b"/" + b"x" * 9000, "packet of 9001 bytes is over the limit of 8192"),
        (b"/\xff\xfe\x00", "malformed OSC packet"),
        (b"/samaudio/ping\x00\x00,s\x00\x00", "malformed OSC packet"),
        (b"#bundle\x00" + bytes(8) + struct.pack(">i", 999) + b"/x\x00\x00", "does not fit"),
        (_nested(MAX_BUNDLE_DEPTH + 1), "nested more than"),
        (_nested(400), "nested more than"),
        (_bundle(*[_datagram("/samaudio/ping")] * 40), "more than 32 messages"),
    ],
    ids=[
        "empty",
        "text",
        "oversize",
        "bad utf-8",
        "truncated",
        "bundle size",
        "deep",
        "very deep",
        "many",
    ],
)
def test_decode_datagram_refuses_bad_packets(datagram: bytes, problem: str) -> None:
    with pytest.raises(BadDatagram) as caught:
        decode_datagram(datagram)
    assert problem in str(caught.value)


def test_nesting_at_the_limit_is_fine() -> None:
    assert decode_datagram(_nested(MAX_BUNDLE_DEPTH - 1)) == (Incoming("/samaudio/ping"),)


def test_reply_policy_replaces_host_or_port() -> None:
    sender = ("127.0.0.1", 5000)
    assert ReplyPolicy().target(sender) == sender
    assert ReplyPolicy(port=9000).target(sender) == ("127.0.0.1", 9000)
    assert ReplyPolicy("10.0.0.2", 9000).target(sender) == ("10.0.0.2", 9000)
