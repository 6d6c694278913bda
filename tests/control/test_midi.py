"""MIDI mapping: TOML to values, mido messages to actions, learn lines, real ports."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import mido
import pytest

from samaudio_daw.control.midi import (
    LEARN_HEADER,
    MidiAction,
    MidiMapError,
    MidiMapping,
    MidiTrigger,
    learn,
    learn_line,
    load_mapping,
    mapping_callback,
    mapping_from_dict,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "midi-map.toml"
NO_SEQUENCER = "no ALSA sequencer (/dev/snd/seq) on this machine: virtual MIDI ports cannot exist"


def _mapping(*bindings: dict[str, object]) -> MidiMapping:
    return mapping_from_dict({"bindings": list(bindings)}, "test.toml")


def test_note_cc_and_program_change_map_to_actions() -> None:
    mapping = _mapping(
        {"message": "note_on", "channel": 10, "number": 36, "action": "run", "preset": "drums"},
        {"message": "control_change", "number": 42, "value": [64, 127], "action": "cancel"},
        {"message": "program_change", "number": 1, "action": "choose_backend", "backend": "dsp"},
    )
    note = mido.Message("note_on", channel=9, note=36, velocity=100)
    assert mapping.action_for(note) == MidiAction("run", preset="drums")
    assert mapping.action_for(note.copy(channel=0)) is None  # channel 10 only
    assert mapping.action_for(note.copy(velocity=0)) is None  # a release
    assert mapping.action_for(note.copy(note=37)) is None
    press = mido.Message("control_change", channel=3, control=42, value=127)
    assert mapping.action_for(press) == MidiAction("cancel")  # any channel
    assert mapping.action_for(press.copy(value=0)) is None
    program = mido.Message("program_change", channel=0, program=1)
    assert mapping.action_for(program) == MidiAction("choose_backend", backend="dsp")
    assert mapping.action_for(mido.Message("note_off", note=36)) is None
    assert mapping.action_for(mido.Message("clock")) is None


def test_first_matching_binding_wins() -> None:
    mapping = _mapping(
        {"message": "control_change", "number": 1, "value": [0, 63], "action": "cancel"},
        {"message": "control_change", "number": 1, "action": "run"},
    )
    assert mapping.action_for(mido.Message("control_change", control=1, value=10)).kind == "cancel"  # type: ignore[union-attr]
    assert mapping.action_for(mido.Message("control_change", control=1, value=90)).kind == "run"  # type: ignore[union-attr]


def test_values_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="within 1..16"):
        MidiTrigger("note_on", channel=0)
    with pytest.raises(TypeError, match="whole number"):
        MidiTrigger("note_on", number=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is empty"):
        MidiTrigger("control_change", value_min=100, value_max=10)
    with pytest.raises(ValueError, match="did you mean 'note_on'"):
        MidiTrigger("note-on")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs preset"):
        MidiAction("choose_preset")
    with pytest.raises(ValueError, match="choose_backend needs backend"):
        MidiAction("choose_backend", backend="gpu")
    with pytest.raises(ValueError, match="takes no preset"):
        MidiAction("cancel", preset="drums")
    trigger = MidiTrigger("note_on", 1, 36)
    assert {trigger: "x"}[MidiTrigger("note_on", 1, 36)] == "x"  # frozen, equal by value


@pytest.mark.parametrize(
    "document, problem",
    [
        (
            {"bindings": [{"message": "note_on", "action": "run", "velocity": 3}]},
            "bindings[0]: unknown key 'velocity'",
        ),
        ({"bindings": [{"message": "note_on"}]}, "bindings[0]: action is missing"),
        (
            {"bindings": [{"message": "note_on", "action": "run", "value": [1, 2, 3]}]},
            "value must be a number or [low, high]",
        ),
        (
            {"bindings": [{"message": "program_change", "action": "run", "value": 3}]},
            "a program change has no value",
        ),
        (
            {"bindings": [{"message": "note_on", "action": "run", "channel": "10"}]},
            "channel must be a whole number",
        ),
        ({"bindings": []}, "no [[bindings]]"),
        ({"binding": []}, "unknown key 'binding'"),
        ({"port": 3, "bindings": []}, "port must be"),
    ],
)
def test_mapping_errors_name_file_and_field(document: dict[str, object], problem: str) -> None:
    with pytest.raises(MidiMapError) as caught:
        mapping_from_dict(document, "map.toml")
    assert str(caught.value).startswith("map.toml: ") and problem in str(caught.value)


def test_mapping_files(tmp_path: Path) -> None:
    example = load_mapping(EXAMPLE)
    assert len(example.bindings) >= 5 and "de-hum" in example.preset_names()
    tables = tmp_path / "tables.toml"
    tables.write_text(
        'port = "Pads"\n[[bindings]]\nmessage = "note_on"\nnumber = 1\naction = "run"\n'
    )
    expected = _mapping({"message": "note_on", "number": 1, "action": "run"})
    assert load_mapping(tables) == MidiMapping(expected.bindings, "Pads")
    (tmp_path / "broken.toml").write_text("bindings = [")
    with pytest.raises(MidiMapError, match="not valid TOML"):
        load_mapping(tmp_path / "broken.toml")
    with pytest.raises(MidiMapError, match="no such MIDI mapping file"):
        load_mapping(tmp_path / "missing.toml")


def test_learn_lines_paste_into_a_mapping() -> None:
    messages = [
        mido.Message("note_on", channel=9, note=36, velocity=77),
        mido.Message("note_on", channel=9, note=36, velocity=0),
        mido.Message("note_off", channel=9, note=36),
        mido.Message("control_change", channel=0, control=41, value=127),
        mido.Message("program_change", channel=2, program=5),
        mido.Message("pitchwheel", pitch=100),
    ]
    lines = [line for m in messages if (line := learn_line(m)) is not None]
    assert lines == [
        '  { message = "note_on", channel = 10, number = 36, value = [1, 127], action = "run" },',
        '  { message = "control_change", channel = 1, number = 41, value = [127, 127], action = "run" },',
        '  { message = "program_change", channel = 3, number = 5, action = "run" },',
    ]
    pasted = tomllib.loads("bindings = [\n" + "\n".join(lines) + "\n]\n")
    mapping = mapping_from_dict(pasted, "pasted")
    assert all(mapping.action_for(m) is not None for m in (messages[0], messages[3], messages[4]))
    assert LEARN_HEADER.startswith("#")


def test_learn_reads_a_port_until_count() -> None:
    port = mido.ports.EchoPort()  # mido's loop-back port: what is sent is received
    for note in (36, 38):
        port.send(mido.Message("note_on", note=note, velocity=64))
    port.send(mido.Message("clock"))
    lines = list(learn(port, action="cancel", count=2, seconds=5))
    assert len(lines) == 2 and all('action = "cancel"' in line for line in lines)
    assert list(learn(port, seconds=0.05)) == []  # stops by itself when nothing comes
    port.close()
    port.close()  # safe twice


def test_callback_reports_failures_instead_of_raising() -> None:
    mapping = _mapping({"message": "note_on", "number": 36, "action": "cancel"})
    fired: list[str] = []
    failures: list[str] = []

    def on_action(action: MidiAction, message: mido.Message) -> None:
        fired.append(action.kind)
        raise RuntimeError("queue closed")

    receive = mapping_callback(mapping, on_action, lambda m, e: failures.append(str(e)))
    receive(mido.Message("note_on", note=36, velocity=1))
    receive(mido.Message("note_on", note=37, velocity=1))
    assert fired == ["cancel"] and failures == ["queue closed"]


@pytest.mark.skipif(not os.path.exists("/dev/snd/seq"), reason=NO_SEQUENCER)
def test_virtual_port_delivers_mapped_actions() -> None:
    pytest.importorskip("rtmidi", reason="python-rtmidi is not installed")
    from samaudio_daw.control.midi import open_input

    mapping = _mapping({"message": "note_on", "number": 60, "action": "cancel"})
    fired: list[MidiAction] = []
    callback = mapping_callback(mapping, lambda a, m: fired.append(a), lambda m, e: None)
    with open_input("samaudio-test-in", callback, virtual=True):
        # A virtual input is an output for every other program.
        name = next(n for n in mido.get_output_names() if "samaudio-test-in" in n)
        with mido.open_output(name) as output:
            output.send(mido.Message("note_on", note=60, velocity=100))
            deadline = time.monotonic() + 5
            while not fired and time.monotonic() < deadline:
                time.sleep(0.01)
    assert fired == [MidiAction("cancel")]
