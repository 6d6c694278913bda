"""``reaper install``: set up the REAPER actions (a thin shell over ``reaper.install``)."""

from __future__ import annotations

from pathlib import Path

import click

from samaudio_daw.cli.options import presets_option
from samaudio_daw.cli.shell import run_command

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
@presets_option
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
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Queued jobs run at once on the CPU (on a GPU always one).",
)
@click.pass_context
def install_command(
    ctx: click.Context,
    resource_path: Path | None,
    executable: Path | None,
    backend: str,
    preset_folders: tuple[Path, ...],
    config_only: bool,
    done_file: Path | None,
    jobs: int,
) -> None:
    """Copy the ReaScripts into REAPER's Scripts folder and write their config."""

    def action() -> int:
        from samaudio_daw.reaper.install import (
            default_bridge_command,
            explicit_bridge_command,
            install,
        )
        from samaudio_daw.reaper.install import (
            resource_path as find_resource_path,
        )

        command = explicit_bridge_command(executable) if executable else default_bridge_command()
        report = install(
            find_resource_path(resource_path),
            command,
            backend=backend,
            preset_folders=preset_folders,
            config_only=config_only,
            done_file=done_file,
            jobs=jobs,
        )
        for script in report.scripts:
            click.echo(f"installed {script}")
        click.echo(f"wrote {report.config} (runs: {' '.join(report.command)})")
        if report.scripts:
            click.echo(
                "next: in REAPER, Actions > Show action list > New action > Load ReaScript..., "
                f"and pick the 'samaudio - ...' scripts in {report.scripts_dir}"
            )
        return 0

    run_command(ctx, action)
