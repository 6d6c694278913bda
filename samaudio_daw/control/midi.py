"""MIDI control: a TOML mapping from notes, CCs and program changes to server actions.

A mapping file (see ``docs/osc.md`` and ``examples/midi-map.toml``)::

    port = "nanoKONTROL2"        # optional; ``serve --midi-in`` wins

    [[bindings]]
    message = "note_on"          # note_on | control_change | program_change
    channel = 10                 # 1..16 as printed on devices; leave out for any
    number = 36                  # note, controller or program number, 0..127
    value = [1, 127]             # velocity / controller value range (not for program_change)
    action = "run"               # run | cancel | choose_preset | choose_backend
    preset = "de-hum"            # run (default: the chosen preset), choose_preset
    # backend = "dsp"            # choose_backend

Values are checked when made (TypeError for a wrong type, ValueError for a value out of
range); the file loader turns both into ``MidiMapError`` naming the file and field. The
mapping is pure: ``MidiMapping.action_for(mido message)``. Ports (python-rtmidi) load
lazily, only for ``serve --midi-in`` and the ``midi`` commands.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

import mido

from samaudio_daw.errors import UserError
from samaudio_daw.presets.parsing import did_you_mean
from samaudio_daw.separation.backends import BACKEND_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MessageKind: TypeAlias = Literal["note_on", "control_change", "program_change"]
ActionKind: TypeAlias = Literal["run", "cancel", "choose_preset", "choose_backend"]
MESSAGE_KINDS: tuple[MessageKind, ...] = get_args(MessageKind)
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
RTMIDI_HINT = "install python-rtmidi (pip install python-rtmidi) for MIDI ports"


class MidiMapError(UserError, ValueError):
    """A mapping file that cannot be used: ``<file>: <field>: <problem>``."""


class MidiUnavailable(UserError):
    """No MIDI system to open ports on; the message says how to get one."""


def _check_int(value: object, what: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a whole number, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be within {low}..{high}, got {value}")


@dataclass(frozen=True)
class MidiTrigger:
    """Which incoming messages fire a binding.

    ``channel`` is 1..16 (None: any), ``number`` the note, controller or program (None:
    any), ``value_min..value_max`` the velocity or controller value, inclusive; a
    program change has no value, so its range must stay 0..127.
    """

    kind: MessageKind
    channel: int | None = None
    number: int | None = None
    value_min: int = 1
    value_max: int = 127

    def __post_init__(self) -> None:
        if self.kind not in MESSAGE_KINDS:
            raise ValueError(
                f"message must be one of {', '.join(MESSAGE_KINDS)}, "
                f"got {self.kind!r}{did_you_mean(str(self.kind), MESSAGE_KINDS)}"
            )
        if self.channel is not None:
            _check_int(self.channel, "channel", 1, 16)
        if self.number is not None:
            _check_int(self.number, "number", 0, 127)
        _check_int(self.value_min, "value (low end)", 0, 127)
        _check_int(self.value_max, "value (high end)", 0, 127)
        if self.value_min > self.value_max:
            raise ValueError(
                f"value range {self.value_min}..{self.value_max} is empty; write [low, high]"
            )
        if self.kind == "program_change" and (self.value_min, self.value_max) != (0, 127):
            raise ValueError("a program change has no value; use number for the program")

    def matches(self, message: mido.Message) -> bool:
        if message.type != self.kind:
            return False
        if self.channel is not None and message.channel + 1 != self.channel:
            return False
        number, value = _number_and_value(message)
        if self.number is not None and number != self.number:
            return False
        return value is None or self.value_min <= value <= self.value_max


def _number_and_value(message: mido.Message) -> tuple[int, int | None]:
    if message.type == "note_on":
        return message.note, message.velocity
    if message.type == "control_change":
        return message.control, message.value
    return message.program, None


@dataclass(frozen=True)
class MidiAction:
    """What a binding does: ``run`` (a preset on the last job's inputs), ``cancel`` (the
    running job), ``choose_preset`` or ``choose_backend`` (for the jobs that follow)."""

    kind: ActionKind
    preset: str | None = None
    backend: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ValueError(
                f"action must be one of {', '.join(ACTION_KINDS)}, "
                f"got {self.kind!r}{did_you_mean(str(self.kind), ACTION_KINDS)}"
            )
        for what, value in (("preset", self.preset), ("backend", self.backend)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise TypeError(f"{what} must be a non-empty string")
        if self.kind == "choose_preset" and self.preset is None:
            raise ValueError('choose_preset needs preset = "<name>"')
        if self.kind == "choose_backend" and self.backend not in BACKEND_NAMES:
            raise ValueError(f"choose_backend needs backend = one of {', '.join(BACKEND_NAMES)}")
        if self.kind != "choose_backend" and self.backend is not None:
            raise ValueError(f"{self.kind} takes no backend (only choose_backend does)")
        if self.kind in ("cancel", "choose_backend") and self.preset is not None:
            raise ValueError(f"{self.kind} takes no preset")


@dataclass(frozen=True)
class MidiBinding:
    trigger: MidiTrigger
    action: MidiAction


@dataclass(frozen=True)
class MidiMapping:
    """Bindings in file order (the first match wins) and the port named in the file."""

    bindings: tuple[MidiBinding, ...]
    port: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bindings, tuple) or not all(
            isinstance(b, MidiBinding) for b in self.bindings
        ):
            raise TypeError("MidiMapping.bindings must be a tuple of MidiBinding")

    def action_for(self, message: mido.Message) -> MidiAction | None:
        """The action of the first binding ``message`` fires, or None."""
        return next((b.action for b in self.bindings if b.trigger.matches(message)), None)

    def preset_names(self) -> tuple[str, ...]:
        """Every preset the mapping names, to check against the library at start."""
        return tuple(sorted({b.action.preset for b in self.bindings if b.action.preset}))


_BINDING_KEYS = ("message", "channel", "number", "value", "action", "preset", "backend")


def _value_range(value: object, kind: str) -> tuple[int, int]:
    if value is None:
        return (0, 127) if kind == "program_change" else (1, 127)
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list) and len(value) == 2:
        return value[0], value[1]
    raise ValueError("value must be a number or [low, high], e.g. [1, 127]")


def binding_from_dict(entry: Mapping[str, Any]) -> MidiBinding:
    """One binding from its TOML table; TypeError/ValueError say what is wrong."""
    unknown = [key for key in entry if key not in _BINDING_KEYS]
    if unknown:
        raise ValueError(
            f"unknown key {unknown[0]!r}{did_you_mean(unknown[0], _BINDING_KEYS)}; "
            f"known: {', '.join(_BINDING_KEYS)}"
        )
    for required in ("message", "action"):
        if required not in entry:
            raise ValueError(f"{required} is missing")
    kind = entry["message"]
    if kind == "program_change" and "value" in entry:
        raise ValueError("a program change has no value; use number for the program")
    low, high = _value_range(entry.get("value"), kind)
    trigger = MidiTrigger(kind, entry.get("channel"), entry.get("number"), low, high)
    action = MidiAction(entry["action"], entry.get("preset"), entry.get("backend"))
    return MidiBinding(trigger, action)


def mapping_from_dict(document: Mapping[str, Any], source: str) -> MidiMapping:
    """A mapping from a parsed TOML document; MidiMapError naming ``source`` and the field."""
    unknown = [key for key in document if key not in ("port", "bindings")]
    if unknown:
        raise MidiMapError(f"{source}: unknown key {unknown[0]!r}; known: port, bindings")
    port = document.get("port")
    if port is not None and not isinstance(port, str):
        raise MidiMapError(f"{source}: port must be a port name (text)")
    entries = document.get("bindings", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MidiMapError(f"{source}: bindings must be [[bindings]] tables")
    bindings = []
    for index, entry in enumerate(entries):
        try:
            bindings.append(binding_from_dict(entry))
        except (TypeError, ValueError) as error:
            raise MidiMapError(f"{source}: bindings[{index}]: {error}") from None
    if not bindings:
        raise MidiMapError(f"{source}: no [[bindings]]; `samaudio-daw midi learn` prints some")
    return MidiMapping(tuple(bindings), port)


def load_mapping(path: Path) -> MidiMapping:
    """Read and check a mapping file."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise MidiMapError(f"{path}: no such MIDI mapping file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MidiMapError(f"{path}: cannot be read ({error})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MidiMapError(f"{path}: not valid TOML ({error})") from None
    return mapping_from_dict(document, str(path))


def learn_line(message: mido.Message, action: str = "run") -> str | None:
    """A ``bindings = [...]`` line matching ``message``, or None for messages not mappable.

    Note-ons match any velocity; controllers match the exact value seen (edit the range
    for a knob); note-offs and note-ons with velocity 0 are releases and give None.
    """
    if message.type not in MESSAGE_KINDS or (message.type == "note_on" and message.velocity == 0):
        return None
    number, value = _number_and_value(message)
    fields = [
        f'message = "{message.type}"',
        f"channel = {message.channel + 1}",
        f"number = {number}",
    ]
    if message.type == "note_on":
        fields.append("value = [1, 127]")
    elif value is not None:
        fields.append(f"value = [{value}, {value}]")
    fields.append(f'action = "{action}"')
    return "  { " + ", ".join(fields) + " },"


LEARN_HEADER = "# paste inside:  bindings = [ ... ]  (then set each action)"


def learn(
    port: Any,
    action: str = "run",
    count: int | None = None,
    seconds: float | None = None,
    poll_s: float = 0.01,
) -> Iterator[str]:
    """Mapping lines for messages arriving on ``port``, until ``count`` lines or ``seconds``."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    printed = 0
    while (count is None or printed < count) and (deadline is None or time.monotonic() < deadline):
        message = port.receive(block=False)
        if message is None:
            time.sleep(poll_s)
            continue
        line = learn_line(message, action)
        if line is not None:
            printed += 1
            yield line


@contextmanager
def _midi_system() -> Iterator[None]:
    """Turns a missing backend or sound system into MidiUnavailable with a fix."""
    try:
        yield
    except ImportError as error:
        raise MidiUnavailable(f"no MIDI backend ({error}); {RTMIDI_HINT}") from None
    except (OSError, SystemError, RuntimeError) as error:
        raise MidiUnavailable(
            f"MIDI system not available ({error}); on Linux the ALSA sequencer "
            "(/dev/snd/seq, module snd-seq) is needed"
        ) from None


def input_port_names() -> list[str]:
    """The names of the MIDI input ports on this machine."""
    with _midi_system():
        return list(mido.get_input_names())


def open_input(
    name: str | None,
    callback: Callable[[mido.Message], None] | None = None,
    virtual: bool = False,
) -> Any:
    """An input port (a context manager, ``close()`` safe twice); ``virtual`` creates it."""
    with _midi_system():
        try:
            return mido.open_input(name, virtual=virtual, callback=callback)
        except OSError as error:
            known = ", ".join(mido.get_input_names()) or "(none)"
            raise MidiUnavailable(
                f"cannot open MIDI input {name!r} ({error}); ports: {known}"
            ) from None


def mapping_callback(
    mapping: MidiMapping,
    on_action: Callable[[MidiAction, mido.Message], None],
    on_failure: Callable[[mido.Message, Exception], None],
) -> Callable[[mido.Message], None]:
    """A port callback: fired bindings go to ``on_action``; its errors to ``on_failure``."""

    def receive(message: mido.Message) -> None:
        action = mapping.action_for(message)
        if action is None:
            return
        try:
            on_action(action, message)
        except Exception as error:  # runs on the MIDI thread: report, never raise there
            on_failure(message, error)

    return receive
