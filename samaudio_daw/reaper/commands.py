"""``samaudio-daw reaper ...``: set up the REAPER actions (a thin shell over ``install``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from samaudio_daw.reaper.install import (
    InstallError,
    default_bridge_command,
    explicit_bridge_command,
    install,
)
from samaudio_daw.reaper.install import resource_path as find_resource_path

EXIT_BAD_INPUT = 2
BACKEND_CHOICES = ("dsp", "sam-audio")


@click.group()
def reaper() -> None:
    """Use samaudio-daw from inside REAPER (actions, ReaPack, config)."""


@reaper.command("install")
@click.option(
    "--resource-path",
    type=click.Path(path_type=Path, file_okay=False),
    help="REAPER's resource folder (default: the usual place for this system).",
)
@click.option(
    "--executable",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The samaudio-daw the scripts run (default: this one).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    default="dsp",
    show_default=True,
    help="Separation backend the REAPER actions use.",
)
@click.option(
    "--presets",
    "preset_folders",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A folder of user presets the actions should also see (repeatable).",
)
@click.option(
    "--config-only",
    is_flag=True,
    help="Only write the config (for scripts installed with ReaPack).",
)
@click.option(
    "--done-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The --done-file `samaudio-daw serve` writes, for the 'Import last OSC result' "
    "action (default: the server's default, <temp>/samaudio-daw/last-result.json).",
)
def install_command(
    resource_path: Path | None,
    executable: Path | None,
    backend: str,
    preset_folders: tuple[Path, ...],
    config_only: bool,
    done_file: Path | None,
) -> None:
    """Copy the ReaScripts into REAPER's Scripts folder and write their config."""
    try:
        command = explicit_bridge_command(executable) if executable else default_bridge_command()
        report = install(
            find_resource_path(resource_path),
            command,
            backend=backend,
            preset_folders=preset_folders,
            config_only=config_only,
            done_file=done_file,
        )
    except InstallError as error:
        click.echo(f"samaudio-daw: error: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for script in report.scripts:
        click.echo(f"installed {script}")
    click.echo(f"wrote {report.config} (runs: {' '.join(report.command)})")
    if report.scripts:
        click.echo(
            "next: in REAPER, Actions > Show action list > New action > Load ReaScript..., "
            f"and pick the 'samaudio - ...' scripts in {report.scripts_dir}"
        )
