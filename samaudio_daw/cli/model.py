"""``model pull|list|verify|path|remove`` and ``doctor``: getting SAM-Audio and knowing the machine.

Thin commands over separation.sam_audio.store, checkup and the doctor report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click

from samaudio_daw.cli.options import json_option
from samaudio_daw.cli.shell import EXIT_SKIPPED, run_command

_REVISION = click.option("--revision", help="Branch, tag or commit on the hub (default: main).")


def _run(ctx: click.Context, action: Callable[[], int]) -> None:
    run_command(ctx, action)


@click.group()
def model() -> None:
    """Get SAM-Audio from the Hugging Face hub and manage the local copies."""


@model.command("pull")
@click.argument("source", metavar="ID_OR_URL")
@_REVISION
@click.option(
    "--with-rankers",
    is_flag=True,
    help="Also fetch the text rankers config.json names that are run: a CLAP checkpoint with "
    "roberta-base's tokenizer files, the judge (its hub model at revision sam_audio), and the "
    "span predictor it names.",
)
@click.pass_context
def model_pull(ctx: click.Context, source: str, revision: str | None, with_rankers: bool) -> None:
    """Download the files the backend needs (config, checkpoint, T5 encoder, licence).

    The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT names another hub.
    """

    def action() -> int:
        from samaudio_daw.separation.sam_audio import store

        def announce(name: str, size_bytes: int) -> None:
            click.echo(f"fetching {name} ({store.format_size(size_bytes)})", err=True)

        path = store.pull(source, revision, with_rankers=with_rankers, on_file=announce)
        click.echo(str(path))
        return 0

    _run(ctx, action)


@model.command("list")
@json_option
@click.pass_context
def model_list(ctx: click.Context, as_json: bool) -> None:
    """The pulled models: hub id, revision, size and folder."""

    def action() -> int:
        from samaudio_daw.separation.sam_audio import store

        found = store.installed()
        if as_json:
            rows = [asdict(m) | {"path": str(m.path)} for m in found]
            click.echo(json.dumps(rows, indent=2))
            return 0
        if not found:
            click.echo(
                f"no models in {store.hub_cache_dir()}; samaudio-daw model pull facebook/sam-audio-small"
            )
            return 0
        for m in found:
            refs = ",".join(m.refs) or m.revision[:12]
            click.echo(
                f"{m.repo_id:<32} {refs:<12} {store.format_size(m.size_bytes):>10}  {m.path}"
            )
        return 0

    _run(ctx, action)


@model.command("verify")
@click.argument("source", metavar="ID_OR_DIR")
@_REVISION
@click.pass_context
def model_verify(ctx: click.Context, source: str, revision: str | None) -> None:
    """Check the files: complete, checksums as the hub gave them, config matching the checkpoint."""

    def action() -> int:
        from samaudio_daw.separation.sam_audio import checkup

        result = checkup.verify(source, revision)
        for problem in result.problems:
            click.echo(f"samaudio-daw: {result.path}: {problem}", err=True)
        if result.problems:
            return EXIT_SKIPPED
        click.echo(f"{result.path}: ok ({len(result.checked)} checks: {', '.join(result.checked)})")
        return 0

    _run(ctx, action)


@model.command("path")
@click.argument("source", metavar="ID_OR_DIR")
@_REVISION
@click.pass_context
def model_path(ctx: click.Context, source: str, revision: str | None) -> None:
    """Print the folder that holds the model's files (for --model or SAMAUDIO_MODEL)."""

    def action() -> int:
        from samaudio_daw.separation.sam_audio import store

        click.echo(str(store.local_path(source, revision)))
        return 0

    _run(ctx, action)


@model.command("remove")
@click.argument("source", metavar="ID")
@click.pass_context
def model_remove(ctx: click.Context, source: str) -> None:
    """Delete a pulled model from the hub cache (never a folder of yours)."""

    def action() -> int:
        from samaudio_daw.separation.sam_audio import store

        click.echo(f"removed {store.remove(source)}")
        return 0

    _run(ctx, action)


@click.command()
@click.option("--model", metavar="PATH_OR_ID", help="The model to check (default: SAMAUDIO_MODEL).")
@click.option(
    "--no-measure", is_flag=True, help="Skip the speed measurement (a few seconds to a minute)."
)
@click.option("--resource-path", type=click.Path(path_type=Path), help="REAPER's resource folder.")
@json_option
@click.pass_context
def doctor(
    ctx: click.Context,
    model: str | None,
    no_measure: bool,
    resource_path: Path | None,
    as_json: bool,
) -> None:
    """What this machine has, whether SAM-Audio runs here, and the settings to use."""

    def action() -> int:
        from samaudio_daw.doctor import run_doctor

        report = run_doctor(model, measure=not no_measure, reaper_path=resource_path)
        if as_json:
            click.echo(json.dumps(asdict(report), indent=2, default=str))
        else:
            click.echo("\n".join(report.lines()))
        return 0

    _run(ctx, action)
