"""The click shells: refused starts and the `midi` commands, without starting a server."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from samaudio_daw.cli.serve import midi, serve

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "midi-map.toml"


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--osc-host", "0.0.0.0"], "give --token"),
        (["--token", "short"], "at least 16 characters"),
        (["--token", " " * 40], "at least 16 characters"),
        (["--token", "a b c d e f g h i j k l m n o"], "besides spaces"),
        (["--reaper-port", "8000"], "--reaper-port and --on-done-action go together"),
        (["--reaper-port", "8000", "--on-done-action", "rm -rf"], "command id"),
        (["--midi-map", str(EXAMPLE)], "MIDI needs both a port"),
        (["--midi-in", "Pads"], "MIDI needs both a port"),
        (["--midi-map", "missing.toml", "--midi-in", "x"], "no such MIDI mapping file"),
        (["--root", "no-such-folder"], "--root folder does not exist"),
    ],
)
def test_serve_refuses_bad_settings_before_loading_anything(args: list[str], problem: str) -> None:
    result = CliRunner().invoke(serve, args)
    assert result.exit_code == 2, result.output
    assert problem in result.output


def test_serve_refuses_a_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(serve, ["--osc-port", port])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_serve_help_names_the_flags() -> None:
    result = CliRunner().invoke(serve, ["--help"])
    assert result.exit_code == 0
    for flag in (
        "--osc-host",
        "--osc-port",
        "--root",
        "--reply-host",
        "--reply-port",
        "--reaper-host",
        "--reaper-port",
        "--on-done-action",
        "--midi-in",
        "--midi-map",
        "--token",
    ):
        assert flag in result.output


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has MIDI")
def test_midi_commands_explain_a_missing_midi_system() -> None:
    for args in (["ports"], ["learn", "--seconds", "0.1"]):
        result = CliRunner().invoke(midi, args)
        assert result.exit_code == 2
        assert "samaudio-daw: error:" in result.output
        assert "ALSA sequencer" in result.output or "python-rtmidi" in result.output
