"""The UDP side of ``samaudio-daw serve``: datagrams in, replies out, nothing else.

Each datagram is size-checked and decoded with python-osc (``OscPacket``, which also
unpacks bundles) before anything is dispatched; a datagram that is too big or does not
decode is answered with ``/samaudio/error`` and dropped (with ``--token``: dropped
unanswered, as is any message without the right token). Decoded messages go to the
dispatcher, whose replies are sent to the sender (or to ``--reply-host/--reply-port``).
The job queue's events are sent the same way from its worker thread. SIGINT/SIGTERM
stop the loop; the running job is cancelled (no partial files) and the server exits 0.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pythonosc.osc_packet import OscPacket, ParseError

from samaudio_daw.control import osc_messages as msg
from samaudio_daw.control.dispatch import Dispatcher
from samaudio_daw.control.job_queue import Address, JobEvent, JobFinished
from samaudio_daw.control.osc_messages import Incoming, Reply, TokenRefused
from samaudio_daw.control.throttle import SenderLimiter, ThrottledLog

MAX_PACKET_BYTES = 8192
"""Datagrams longer than this are refused unread (paths and prompts fit easily)."""

MAX_BUNDLE_DEPTH = 4
MAX_MESSAGES_PER_PACKET = 32
"""A bundle may nest this deep and carry this many messages; more is refused unparsed."""

_BUNDLE_PREFIX = b"#bundle\x00"
_BUNDLE_HEADER_BYTES = 16  # the prefix and the timetag
_RECEIVE_BUFFER_BYTES = 65536  # the largest UDP payload, so the true size is always seen
_POLL_S = 0.2  # how often the receive loop looks at the stop flag


class BadDatagram(Exception):
    """A datagram that is not a usable OSC packet; the text says why."""


def _bundle_shape(datagram: bytes) -> tuple[int, int]:
    """(deepest nesting, number of messages) of a bundle, walked without copying.

    python-osc copies each nested element while it parses, so a packet of many nested
    bundles costs milliseconds; the shape is checked first, in one pass of offsets.
    """
    deepest, messages = 0, 0
    pending = [(0, len(datagram), 1)]  # (start, end, depth) of bundles still to walk
    while pending:
        start, end, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_BUNDLE_DEPTH or messages > MAX_MESSAGES_PER_PACKET:
            break
        index = start + _BUNDLE_HEADER_BYTES
        while index < end:
            size = int.from_bytes(datagram[index : index + 4], "big", signed=True)
            index += 4
            if size <= 0 or size % 4 or index + size > end:
                raise BadDatagram("malformed OSC bundle (an element size does not fit)")
            if datagram.startswith(_BUNDLE_PREFIX, index, index + size):
                pending.append((index, index + size, depth + 1))
            else:
                messages += 1
            index += size
    return deepest, messages


def decode_datagram(datagram: bytes, max_bytes: int = MAX_PACKET_BYTES) -> tuple[Incoming, ...]:
    """The messages in ``datagram`` (one, or a bundle's, timetags ignored); BadDatagram else."""
    if len(datagram) > max_bytes:
        raise BadDatagram(f"packet of {len(datagram)} bytes is over the limit of {max_bytes}")
    if not datagram.startswith((b"/", _BUNDLE_PREFIX)):
        raise BadDatagram("not an OSC packet (it must start with '/' or '#bundle')")
    if datagram.startswith(_BUNDLE_PREFIX):
        depth, messages = _bundle_shape(datagram)
        if depth > MAX_BUNDLE_DEPTH:
            raise BadDatagram(f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
        if messages > MAX_MESSAGES_PER_PACKET:
            raise BadDatagram(f"more than {MAX_MESSAGES_PER_PACKET} messages in one bundle")
    try:
        packet = OscPacket(datagram)
    # python-osc raises ParseError for most faults, but lets a string that is not
    # UTF-8 through as UnicodeDecodeError (a ValueError).
    except (ParseError, ValueError) as error:
        raise BadDatagram(
            f"malformed OSC packet ({type(error).__name__}: {str(error)[:200]})"
        ) from None
    try:
        return tuple(
            Incoming(timed.message.address, tuple(timed.message.params))
            for timed in packet.messages
        )
    except ValueError as error:  # an address that does not start with '/'
        raise BadDatagram(f"malformed OSC message ({error})") from None


@dataclass(frozen=True)
class ReplyPolicy:
    """Where replies go: the sender's host and port, each replaceable by a fixed one."""

    host: str | None = None
    port: int | None = None

    def target(self, sender: Address) -> Address:
        return (self.host or sender[0], self.port or sender[1])


@dataclass(frozen=True)
class ReaperTarget:
    """REAPER's OSC control surface, and the action to run there when a job is done."""

    host: str
    port: int
    action: Reply


class OscServer:
    """Moves datagrams: receive, decode, dispatch, send the replies. Nothing else.

    With ``token_required`` a datagram that does not prove the token (wrong or missing
    token, or not decodable at all) gets no reply: a spoofed sender address cannot be
    used to bounce traffic at a third party. Failures are counted per sender host; a
    host with too many is ignored for a while, so the token cannot be guessed quickly.
    """

    def __init__(
        self,
        sock: socket.socket,
        dispatcher: Dispatcher,
        replies: ReplyPolicy,
        logger: logging.Logger,
        max_packet_bytes: int = MAX_PACKET_BYTES,
        token_required: bool = False,
        limiter: SenderLimiter | None = None,
    ) -> None:
        self._sock = sock
        self._dispatcher = dispatcher
        self._replies = replies
        self._log = logger
        self._bad = ThrottledLog(logger)
        self._max_packet_bytes = max_packet_bytes
        self._token_required = token_required
        self._limiter = limiter or SenderLimiter()

    @property
    def address(self) -> Address:
        host, port = self._sock.getsockname()[:2]
        return host, port

    def send(self, reply: Reply, target: Address) -> None:
        """Send one reply; a failure is logged (the client may be gone), never raised."""
        try:
            self._sock.sendto(msg.encode_reply(reply), target)
        except OSError as error:
            self._bad.warning("cannot send %s to %s: %s", reply.address, target, error)

    def handle(self, datagram: bytes, sender: Address) -> tuple[Reply, ...]:
        """The replies to one datagram (an error for a bad one, nothing for a refused one)."""
        host = sender[0]
        if self._token_required and not self._limiter.allows(host):
            self._bad.warning(
                "ignoring %s: too many bad datagrams or wrong tokens (%d dropped so far)",
                host,
                self._limiter.dropped,
            )
            return ()
        reply_to = self._replies.target(sender)
        try:
            messages = decode_datagram(datagram, self._max_packet_bytes)
        except BadDatagram as error:
            self._limiter.failed(host)
            self._bad.warning("dropped a datagram from %s:%s: %s", sender[0], sender[1], error)
            return () if self._token_required else (msg.error("", str(error)),)
        except Exception as error:  # a decoder bug must not stop the server; keep its trace
            self._log.exception("decoding a datagram from %s:%s failed", sender[0], sender[1])
            if self._token_required:
                return ()
            return (msg.error("", f"internal error: {type(error).__name__}: {error}"),)
        replies: list[Reply] = []
        for message in messages:
            try:
                replies += self._dispatcher.dispatch(message, reply_to)
            except TokenRefused:
                self._limiter.failed(host)
                self._bad.warning(
                    "refused a message from %s:%s: missing or wrong token", sender[0], sender[1]
                )
                return ()  # nothing of an unproven datagram is answered
        return tuple(replies)

    def serve(self, stop: threading.Event) -> None:
        """Receive until ``stop`` is set; no datagram and no handler can end the loop."""
        self._sock.settimeout(_POLL_S)
        while not stop.is_set():
            try:
                datagram, sender = self._sock.recvfrom(_RECEIVE_BUFFER_BYTES)
            except TimeoutError:
                continue
            except OSError as error:  # e.g. Windows reports an earlier reply's ICMP here
                self._bad.warning("receive failed: %s", error)
                continue
            sender = (sender[0], sender[1])
            reply_to = self._replies.target(sender)
            for reply in self.handle(datagram, sender):
                self.send(reply, reply_to)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (127.x, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses
    )


def bind_udp(host: str, port: int) -> socket.socket:
    """A UDP socket bound to ``host:port`` (IPv4 or IPv6, whichever ``host`` is)."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


@contextmanager
def stop_on_signals(stop: threading.Event, logger: logging.Logger) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while inside; the old handlers come back after."""
    signals = [signal.SIGINT, signal.SIGTERM]

    def handle(number: int, frame: FrameType | None) -> None:
        logger.info("%s: stopping (the running job is cancelled)", signal.Signals(number).name)
        stop.set()

    previous = {number: signal.signal(number, handle) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def event_sender(
    server: OscServer,
    to_replies: Callable[[JobEvent], Sequence[Reply]],
    reaper: ReaperTarget | None,
    done_file: Path | None,
    logger: logging.Logger,
) -> Callable[[JobEvent], None]:
    """The queue's ``on_event``: replies to the job's sender, then REAPER's action when done."""

    def on_event(event: JobEvent) -> None:
        target = event.queued.reply_to
        if target is not None:
            for reply in to_replies(event):
                server.send(reply, target)
        if isinstance(event, JobFinished) and reaper is not None:
            if done_file is not None:
                write_done_file(done_file, event)
            server.send(reaper.action, (reaper.host, reaper.port))
            logger.info(
                "job %s: sent %s to REAPER at %s:%s",
                event.queued.job_id,
                reaper.action.address,
                reaper.host,
                reaper.port,
            )

    return on_event


def write_done_file(path: Path, event: JobFinished) -> None:
    """Tell REAPER's import action which result to import: ``{"job_id", "result"}``."""
    from samaudio_daw.jobs.manifest import write_json_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(
        path,
        {"job_id": event.queued.job_id, "result": str(event.result_path), "finished": time.time()},
    )
