"""``serve`` (jobs over OSC and MIDI) and ``midi ports|learn``: parse, check, report."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from samaudio_daw.cli.options import (
    backend_options,
    engine_options,
    executor,
    model_options,
    presets_option,
)
from samaudio_daw.cli.shell import run_command
from samaudio_daw.control.lifecycle import DEFAULT_DONE_FILE

if TYPE_CHECKING:
    from samaudio_daw.control.lifecycle import ServeSettings

PORT = click.IntRange(0, 65535)
ABANDONED = (
    "stopped at once; the running job was abandoned "
    "(its temporary .part files are removed by the next run)"
)


def _logger(verbose: bool) -> logging.Logger:
    """The server's log: one line per event on stderr, with the time."""
    log = logging.getLogger("samaudio_daw.serve")
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s serve %(levelname)s: %(message)s"))
        log.addHandler(handler)
    return log


def _settings(params: dict[str, Any]) -> ServeSettings:
    """ServeSettings from the options; a ValueError in any part is a bad setting (exit 2)."""
    from samaudio_daw.control.lifecycle import ServeError

    try:
        return _checked_settings(params)
    except ServeError:
        raise
    except ValueError as error:
        raise ServeError(str(error)) from None


def _checked_settings(params: dict[str, Any]) -> ServeSettings:
    from samaudio_daw.control import osc_messages
    from samaudio_daw.control.lifecycle import ServeSettings
    from samaudio_daw.control.midi import load_mapping
    from samaudio_daw.control.osc_server import ReaperTarget, ReplyPolicy
    from samaudio_daw.control.paths import Roots

    roots = Roots.from_folders(params["roots"] or [Path.cwd()])
    reaper = None
    if params["on_done_action"] is not None or params["reaper_port"] is not None:
        if params["on_done_action"] is None or params["reaper_port"] is None:
            raise ValueError("--reaper-port and --on-done-action go together")
        action = osc_messages.reaper_action(params["on_done_action"])
        reaper = ReaperTarget(params["reaper_host"], params["reaper_port"], action)
    mapping = load_mapping(params["midi_map"]) if params["midi_map"] else None
    midi_port = params["midi_in"] or (mapping.port if mapping else None)
    return ServeSettings(
        roots=roots,
        host=params["osc_host"],
        port=params["osc_port"],
        token=params["token"],
        replies=ReplyPolicy(params["reply_host"], params["reply_port"]),
        reaper=reaper,
        done_file=(params["done_file"] or DEFAULT_DONE_FILE) if reaper else None,
        midi_port=midi_port,
        midi_mapping=mapping,
        backend=params["backend"],
        backend_options=backend_options(params),
        preset_dirs=tuple(params["preset_folders"]),
        max_waiting=params["max_queued"],
        allow_model=params["allow_model"],
    )


@click.command()
@click.option(
    "--osc-host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback needs --token.",
)
@click.option(
    "--osc-port",
    type=PORT,
    default=9010,
    show_default=True,
    help="UDP port to listen on (0: any free port, printed at start).",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder messages may name files in (repeatable; default: this folder).",
)
@click.option("--reply-host", help="Send replies here instead of to the sender's address.")
@click.option(
    "--reply-port",
    type=click.IntRange(1, 65535),
    help="Send replies to this port instead of the sender's port.",
)
@click.option(
    "--reaper-host",
    default="127.0.0.1",
    show_default=True,
    help="REAPER's OSC control surface address.",
)
@click.option(
    "--reaper-port",
    type=click.IntRange(1, 65535),
    help="REAPER's OSC listen port (with --on-done-action).",
)
@click.option(
    "--on-done-action",
    metavar="COMMAND_ID",
    help="REAPER action to run when a job is done (e.g. _RS7d3c... or 40001).",
)
@click.option(
    "--done-file",
    type=click.Path(path_type=Path),
    help=f"Where the last finished job's result path is written for REAPER "
    f"[default: {DEFAULT_DONE_FILE}].",
)
@click.option("--midi-in", metavar="PORT", help="MIDI input port (see `samaudio-daw midi ports`).")
@click.option("--midi-map", type=click.Path(path_type=Path), help="MIDI mapping TOML file.")
@click.option(
    "--token",
    envvar="SAMAUDIO_OSC_TOKEN",
    help="Shared secret, the first argument of every message (or SAMAUDIO_OSC_TOKEN).",
)
@click.option(
    "--max-queued",
    type=click.IntRange(1, 10_000),
    default=16,
    show_default=True,
    help="Jobs that may wait; more are refused.",
)
@presets_option
@click.option(
    "--allow-model",
    is_flag=True,
    help="Let job manifests choose the model (a folder inside a --root, or a hub id, "
    "which may start a download). Off: only the server's --model is used.",
)
@model_options
@engine_options
@click.option("-v", "--verbose", is_flag=True, help="Log every refused message too.")
@click.pass_context
def serve(ctx: click.Context, **params: Any) -> None:
    """Run separation jobs sent over OSC (and MIDI), one at a time, until Ctrl-C.

    Address space, REAPER set-up and the MIDI mapping format: docs/osc.md.
    """

    chosen = executor(ctx, params)

    def action() -> int:
        from samaudio_daw.control.lifecycle import run_server

        settings = dataclasses.replace(_settings(params), executor=chosen)
        return run_server(settings, _logger(params["verbose"]))

    run_command(ctx, action, interrupted=ABANDONED)


@click.group()
def midi() -> None:
    """MIDI ports and mapping lines for `serve --midi-map`."""


@midi.command("ports")
@click.pass_context
def midi_ports(ctx: click.Context) -> None:
    """List the MIDI input ports."""

    def action() -> int:
        from samaudio_daw.control.midi import input_port_names

        names = input_port_names()
        for name in names:
            click.echo(name)
        if not names:
            click.echo("(no MIDI input ports)", err=True)
        return 0

    run_command(ctx, action)


@midi.command("learn")
@click.option("--port", "port_name", help="Input port (default: the system's first).")
@click.option(
    "--action",
    type=click.Choice(["run", "cancel", "choose_preset", "choose_backend"]),
    default="run",
    show_default=True,
    help="Action written into each line.",
)
@click.option("--count", type=click.IntRange(1, 10_000), help="Stop after this many lines.")
@click.option(
    "--seconds",
    type=click.FloatRange(0.1, 86_400.0),
    help="Stop after this long (default: Ctrl-C).",
)
@click.pass_context
def midi_learn(
    ctx: click.Context,
    port_name: str | None,
    action: str,
    count: int | None,
    seconds: float | None,
) -> None:
    """Print each incoming note, CC or program change as a line for `bindings = [...]`."""

    def learn_lines() -> int:
        from samaudio_daw.control.midi import LEARN_HEADER, learn, open_input

        port = open_input(port_name)
        click.echo(LEARN_HEADER)
        with port:
            try:
                for line in learn(port, action, count, seconds):
                    click.echo(line)
            except KeyboardInterrupt:  # Ctrl-C is how learning normally ends
                click.echo("# stopped", err=True)
        return 0

    run_command(ctx, learn_lines)
