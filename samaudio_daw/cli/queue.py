"""``samaudio-daw queue run DIR``: run the jobs REAPER's actions queue under DIR."""

from __future__ import annotations

from pathlib import Path

import click

from samaudio_daw.cli.options import library, presets_option
from samaudio_daw.cli.shell import run_command


@click.group()
def queue() -> None:
    """A queue of job folders that one process runs (REAPER's actions use it)."""


@queue.command("run")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@presets_option
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs at once on the CPU (on a GPU always one).",
)
@click.option(
    "--idle",
    "idle_s",
    type=click.FloatRange(0.0),
    default=10.0,
    show_default=True,
    help="Seconds with nothing queued before the runner ends.",
)
@click.pass_context
def run_queue_command(
    ctx: click.Context, folder: Path, preset_folders: tuple[Path, ...], jobs: int, idle_s: float
) -> None:
    """Run every queued job folder under FOLDER, then wait --idle seconds for more.

    A second runner on the same FOLDER ends at once (exit 0): the first one runs the jobs.
    """

    def action() -> int:
        from samaudio_daw.errors import OutputError
        from samaudio_daw.jobs.queue_folder import run_queue

        if not folder.is_dir():
            raise OutputError(f"{folder}: no such jobs folder")
        try:
            summary = run_queue(
                folder, library(preset_folders), jobs, idle_s, say=lambda line: click.echo(line)
            )
        except OutputError as error:
            if "another" not in str(error):
                raise
            click.echo(f"{folder}: a queue runner already runs these jobs")
            return 0
        click.echo(f"queue ended: {len(summary.ended)} job(s) run")
        return 0

    run_command(ctx, action)
