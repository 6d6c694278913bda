"""The ``samaudio-daw`` group: global options, and every command group registered once."""

from __future__ import annotations

import os

import click

from samaudio_daw import __version__
from samaudio_daw.cli.model import doctor, model
from samaudio_daw.cli.presets import backends, presets, prompts, resolve
from samaudio_daw.cli.queue import queue
from samaudio_daw.cli.reaper import reaper
from samaudio_daw.cli.render import inspect, render
from samaudio_daw.cli.report import report
from samaudio_daw.cli.separate import run_manifest, separate
from samaudio_daw.cli.serve import midi, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="samaudio-daw")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
def main(debug: bool) -> None:
    """Pull any sound out of a mix by describing it: files, REAPER projects, jobs."""
    # The command line owns the process: one progress bar (ours); see shell for warnings.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


for command in (separate, run_manifest, backends, prompts, presets, resolve, inspect, render):
    main.add_command(command)
for command in (reaper, serve, midi, report, model, doctor, queue):
    main.add_command(command)
