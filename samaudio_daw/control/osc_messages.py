"""The OSC address space as values: incoming messages parsed into requests, replies built.

Pure: no sockets, no files. An ``Incoming`` message (address + arguments, as python-osc
decoded them) becomes one frozen request value, or a ``RequestError`` whose text is what
the sender gets back in ``/samaudio/error``. Replies are ``Reply`` values, encoded to
datagrams by ``encode_reply``.

Requests (``[token]`` is the first argument only when the server runs with ``--token``)::

    /samaudio/ping       [token]                                   -> /samaudio/pong
    /samaudio/separate   [token] <input file> <prompt or preset> <output folder>
    /samaudio/job        [token] <job manifest path>
    /samaudio/cancel     [token] <job id>
    /samaudio/status     [token]

Replies::

    /samaudio/pong
    /samaudio/accepted   ,s   <job id>
    /samaudio/progress   ,sf  <job id> <0..1>
    /samaudio/done       ,ss  <job id> <result.json path>
    /samaudio/error      ,ss  <job id or ""> <message>
    /samaudio/job_status ,ssfs <job id> <queued|running> <0..1> <description>
    /samaudio/status_end ,i   <number of job_status messages sent>
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

from pythonosc.osc_message_builder import OscMessageBuilder

from samaudio_daw.errors import UserError

PREFIX = "/samaudio"
PING = f"{PREFIX}/ping"
SEPARATE = f"{PREFIX}/separate"
JOB = f"{PREFIX}/job"
CANCEL = f"{PREFIX}/cancel"
STATUS = f"{PREFIX}/status"

PONG = f"{PREFIX}/pong"
ACCEPTED = f"{PREFIX}/accepted"
PROGRESS = f"{PREFIX}/progress"
DONE = f"{PREFIX}/done"
ERROR = f"{PREFIX}/error"
JOB_STATUS = f"{PREFIX}/job_status"
STATUS_END = f"{PREFIX}/status_end"

MAX_MESSAGE_CHARS = 1000
"""Error texts are cut to this length so a reply always fits one datagram."""

MAX_ARGUMENT_CHARS = 4096
"""Longest string argument accepted (paths, prompts)."""

REAPER_COMMAND_ID_RE = re.compile(r"^(?:\d{1,10}|_[A-Za-z0-9_]{1,127})$")
"""A REAPER command id: a number (40001) or a named command (``_RS1a2b...``)."""

OscValue: TypeAlias = object
"""An argument as python-osc decodes it (str, int, float, bool, bytes, None, lists...)."""


class RequestError(UserError):
    """A message the server will not act on; the text is sent back in ``/samaudio/error``."""


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, got {type(value).__name__}")


@dataclass(frozen=True)
class Incoming:
    """One decoded OSC message: its address and its arguments, in order."""

    address: str
    args: tuple[OscValue, ...] = ()

    def __post_init__(self) -> None:
        _check_text(self.address, "address")
        if not self.address.startswith("/"):
            raise ValueError(f"an OSC address starts with '/', got {self.address!r}")
        if not isinstance(self.args, tuple):
            raise TypeError(f"args must be a tuple, got {type(self.args).__name__}")

    @property
    def type_tags(self) -> str:
        """The arguments' OSC type tags, e.g. ``,ssf`` (for error messages)."""
        return "," + "".join(_type_tag(arg) for arg in self.args)


def _type_tag(value: OscValue) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "T", False: "F", None: "N"}[value]
    tags: tuple[tuple[type, str], ...] = (
        (str, "s"),
        (int, "i"),
        (float, "f"),
        (bytes, "b"),
        (list, "["),
        (tuple, "m"),
    )
    return next((tag for kind, tag in tags if isinstance(value, kind)), "?")


def _text_argument(value: str, what: str) -> None:
    _check_text(value, what)
    if not value.strip():
        raise ValueError(f"{what} is empty")
    if len(value) > MAX_ARGUMENT_CHARS:
        raise ValueError(
            f"{what} is {len(value)} characters, over the limit of {MAX_ARGUMENT_CHARS}"
        )


@dataclass(frozen=True)
class Ping:
    """``/samaudio/ping``: is the server there?"""


@dataclass(frozen=True)
class Separate:
    """``/samaudio/separate``: one file, a prompt or preset name, an output folder (as sent)."""

    input_file: str
    prompt_or_preset: str
    output_dir: str

    def __post_init__(self) -> None:
        _text_argument(self.input_file, "input file")
        _text_argument(self.prompt_or_preset, "prompt or preset")
        _text_argument(self.output_dir, "output folder")


@dataclass(frozen=True)
class SubmitManifest:
    """``/samaudio/job``: run a job manifest (JSON, job.schema.json)."""

    manifest: str

    def __post_init__(self) -> None:
        _text_argument(self.manifest, "job manifest path")


@dataclass(frozen=True)
class Cancel:
    """``/samaudio/cancel``: stop a queued or running job."""

    job_id: str

    def __post_init__(self) -> None:
        _text_argument(self.job_id, "job id")


@dataclass(frozen=True)
class Status:
    """``/samaudio/status``: one ``/samaudio/job_status`` per queued or running job."""


Request: TypeAlias = Ping | Separate | SubmitManifest | Cancel | Status


@dataclass(frozen=True)
class Signature:
    """What one address takes: argument names (all strings) and how to make the request."""

    arg_names: tuple[str, ...]
    make: Callable[..., Request]

    def usage(self, address: str) -> str:
        tags = "," + "s" * len(self.arg_names) if self.arg_names else "(no arguments)"
        names = " ".join(f"<{name}>" for name in self.arg_names)
        return f"{address} {tags} {names}".rstrip()


SIGNATURES = MappingProxyType(
    {
        PING: Signature((), lambda: Ping()),
        SEPARATE: Signature(("input file", "prompt or preset", "output folder"), Separate),
        JOB: Signature(("job manifest path",), SubmitManifest),
        CANCEL: Signature(("job id",), Cancel),
        STATUS: Signature((), lambda: Status()),
    }
)


class TokenRefused(RequestError):
    """A message without the server's token: never answered, counted against its sender."""


def _strip_token(message: Incoming, token: str | None) -> tuple[OscValue, ...]:
    """The arguments after the token; RequestError when a token is needed and not right."""
    if token is None:
        return message.args
    given = message.args[0] if message.args else None
    # Constant-time comparison: response timing must not reveal how much of a guess is right.
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode("utf-8"), token.encode("utf-8")
    ):
        raise TokenRefused(
            f"{message.address[:200]}: missing or wrong token; this server needs the token "
            "as the first argument of every message"
        )
    return message.args[1:]


def parse_request(message: Incoming, token: str | None = None) -> Request:
    """The request ``message`` asks for; RequestError saying what is wrong otherwise."""
    args = _strip_token(message, token)  # first: nothing is said to a sender without it
    signature = SIGNATURES.get(message.address)
    if signature is None:
        known = ", ".join(SIGNATURES)
        raise RequestError(f"unknown address {message.address[:200]!r}; known: {known}")
    if len(args) != len(signature.arg_names) or not all(isinstance(a, str) for a in args):
        given = Incoming(message.address, args).type_tags
        raise RequestError(
            f"{message.address}: wrong arguments {given}; expected "
            f"{signature.usage(message.address)}"
            + (" after the token" if token is not None else "")
        )
    try:
        return signature.make(*args)
    except ValueError as error:
        raise RequestError(f"{message.address}: {error}") from None


ReplyValue: TypeAlias = str | int | float


@dataclass(frozen=True)
class Reply:
    """An outgoing OSC message: address and arguments (str, int or float only)."""

    address: str
    args: tuple[ReplyValue, ...] = ()

    def __post_init__(self) -> None:
        _check_text(self.address, "address")
        if not self.address.startswith("/") or "\x00" in self.address:
            raise ValueError(f"an OSC address starts with '/' and has no NUL, got {self.address!r}")
        if not isinstance(self.args, tuple):
            raise TypeError(f"args must be a tuple, got {type(self.args).__name__}")
        for index, value in enumerate(self.args):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise TypeError(
                    f"args[{index}] must be str, int or float, got {type(value).__name__}"
                )


def _short(text: str) -> str:
    text = text.replace("\x00", "")
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def pong() -> Reply:
    return Reply(PONG)


def accepted(job_id: str) -> Reply:
    return Reply(ACCEPTED, (job_id,))


def progress(job_id: str, fraction: float) -> Reply:
    """``/samaudio/progress``; ``fraction`` must be a finite number in 0..1."""
    if not math.isfinite(fraction) or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"progress fraction must be within 0..1, got {fraction}")
    return Reply(PROGRESS, (job_id, float(fraction)))


def done(job_id: str, result_path: str) -> Reply:
    return Reply(DONE, (job_id, result_path))


def error(job_id: str, message: str) -> Reply:
    """``/samaudio/error``; ``job_id`` is "" when the error is not about a job."""
    return Reply(ERROR, (job_id, _short(message)))


JobState = Literal["queued", "running"]


def job_status(job_id: str, state: JobState, fraction: float, description: str) -> Reply:
    if state not in ("queued", "running"):
        raise ValueError(f"job state must be 'queued' or 'running', got {state!r}")
    return Reply(JOB_STATUS, (job_id, state, float(fraction), _short(description)))


def status_end(count: int) -> Reply:
    return Reply(STATUS_END, (count,))


def reaper_action(command_id: str) -> Reply:
    """``/action/<command id>``: REAPER's default pattern runs that action (``t/action/@``)."""
    _check_text(command_id, "command id")
    if not REAPER_COMMAND_ID_RE.match(command_id):
        raise ValueError(
            f"REAPER command id {command_id!r} is neither a number (40001) nor a named "
            "command (_RS...); copy it from REAPER's action list (right-click > Copy "
            "selected action command ID)"
        )
    return Reply(f"/action/{command_id}")


def encode_reply(reply: Reply) -> bytes:
    """The datagram for ``reply``: strings as ``s``, ints as ``i``, floats as ``f``."""
    builder = OscMessageBuilder(reply.address)
    for value in reply.args:
        tag = "s" if isinstance(value, str) else "i" if isinstance(value, int) else "f"
        builder.add_arg(value, tag)
    return builder.build().dgram
