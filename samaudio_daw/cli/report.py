"""``report RESULT.json``: write the listening report for a finished run."""

from __future__ import annotations

from pathlib import Path

import click

from samaudio_daw.cli.shell import run_command


@click.command("report")
@click.argument("result", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "output",
    type=click.Path(path_type=Path),
    help="Where to write the page (default: report.html next to RESULT).",
)
@click.pass_context
def report(ctx: click.Context, result: Path, output: Path | None) -> None:
    """Write a listening report for RESULT (a result.json): one self-contained HTML page."""

    def action() -> int:
        from samaudio_daw.report import write_report

        click.echo(f"wrote {write_report(result, output)}")
        return 0

    run_command(ctx, action)
