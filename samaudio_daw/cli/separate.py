"""``separate`` (files by prompt or preset) and ``run`` (a job manifest from REAPER)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from samaudio_daw.cli.options import (
    backend_options,
    engine_options,
    executor,
    library,
    no_wait_option,
    presets_option,
    run_control,
    separating_options,
)
from samaudio_daw.cli.shell import run_command


def write_listening_report(output_dir: Path) -> Path:
    """report.html beside ``output_dir/result.json`` (``--report``)."""
    from samaudio_daw.report import write_report

    return write_report(output_dir / "result.json")


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prompt", "prompts", multiple=True, help="What to pull out (repeatable).")
@click.option("--preset", help="A preset name (see `samaudio-daw presets list`).")
@click.option(
    "--request",
    "request_text",
    metavar="TEXT",
    help="Read as REAPER and OSC read it: a preset name, [tag], {prompt}, a word a "
    "preset's patterns match, or else a prompt (see `samaudio-daw resolve`).",
)
@click.option(
    "-o",
    "--out",
    "output_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the stems and result.json.",
)
@click.option("--no-residual", is_flag=True, help="Do not write the residual stem.")
@separating_options
@click.pass_context
def separate(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    prompts: tuple[str, ...],
    preset: str | None,
    request_text: str | None,
    output_dir: Path,
    no_residual: bool,
    **params: Any,
) -> None:
    """Separate INPUT files by --prompt or --preset into OUTDIR/<input>.<stem>.<ext>."""
    if [bool(prompts), bool(preset), bool(request_text)].count(True) != 1:
        raise click.UsageError(
            "give one of --prompt TEXT (one or more), --preset NAME or --request TEXT"
        )
    chosen = executor(ctx, params)

    def action() -> int:
        from samaudio_daw.jobs.manifest import Job, JobItem
        from samaudio_daw.jobs.requests import read_request
        from samaudio_daw.jobs.runner import run_job

        presets = library(params["preset_folders"])
        if request_text is not None:
            asked = read_request(request_text, presets)
            assert asked is not None  # unmatched words are prompts here
            items = tuple(asked.job_item(path, path.stem) for path in inputs)
        else:
            items = tuple(
                JobItem(audio=path, name=path.stem, preset=preset, prompts=prompts)
                for path in inputs
            )
        job = Job(
            items=items,
            output_dir=output_dir,
            backend=params["backend"],
            backend_options=backend_options(params),
            file_format=params["file_format"],
            bit_depth=params["bit_depth"],
            keep_residual=False if no_residual else None,
        )
        control = run_control(params["status_file"])
        result = run_job(job, presets, control, chosen, wait=not params["no_wait"])
        for stem in result.stems:
            click.echo(f"{stem.kind:>8}  {output_dir / stem.file}")
        click.echo(f"wrote {output_dir / 'result.json'}")
        if params["report"]:
            click.echo(f"wrote {write_listening_report(output_dir)}")
        return 0

    run_command(ctx, action)


@click.command("run")
@click.argument("manifest", type=click.Path(path_type=Path))
@presets_option
@engine_options
@click.option(
    "--status-file", type=click.Path(path_type=Path), help="Overrides the manifest's status_file."
)
@no_wait_option
@click.pass_context
def run_manifest(
    ctx: click.Context,
    manifest: Path,
    preset_folders: tuple[Path, ...],
    status_file: Path | None,
    no_wait: bool,
    **params: Any,
) -> None:
    """Run a job manifest (JSON, see samaudio_daw/schemas/job.schema.json)."""
    chosen = executor(ctx, params)

    def action() -> int:
        from samaudio_daw.jobs.manifest import load_job
        from samaudio_daw.jobs.runner import run_job

        job = load_job(manifest)
        control = run_control(status_file or job.status_file)
        result = run_job(job, library(preset_folders), control, chosen, wait=not no_wait)
        click.echo(f"wrote {job.output_dir / 'result.json'} ({len(result.stems)} stems)")
        return 0

    run_command(ctx, action)
