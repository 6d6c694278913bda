"""``presets list|show|check`` and ``backends``: what the tool can separate with."""

from __future__ import annotations

import json
from pathlib import Path

import click

from samaudio_daw.cli.options import json_option, library, presets_option
from samaudio_daw.cli.shell import EXIT_BAD_INPUT, fail, run_command
from samaudio_daw.errors import UserError


@click.command()
@json_option
def backends(as_json: bool) -> None:
    """List the separation backends, whether each runs here, and what it can do."""
    from dataclasses import asdict

    from samaudio_daw.separation.backends import describe_backends

    infos = describe_backends()
    if as_json:
        click.echo(json.dumps([asdict(info) for info in infos], indent=2))
        return
    for info in infos:
        state = "available" if info.available else f"not available: {info.why_unavailable}"
        click.echo(f"{info.name}  ({state})\n  {info.summary}")
        for capability in info.capabilities:
            click.echo(f"  - {capability}")


@click.command()
def prompts() -> None:
    """Every prompt the dsp backend understands, stem by stem, with examples."""
    from samaudio_daw.separation.prompt_words import vocabulary_text

    click.echo(vocabulary_text())


@click.group()
def presets() -> None:
    """List, show and check presets (shipped, SAMAUDIO_PRESETS, --presets DIR)."""


@presets.command("list")
@presets_option
@json_option
@click.pass_context
def presets_list(ctx: click.Context, preset_folders: tuple[Path, ...], as_json: bool) -> None:
    """Every preset by name, with its stems and where it comes from."""

    def action() -> int:
        from samaudio_daw.presets import preset_to_dict

        found = library(preset_folders)
        for broken in found.broken:  # listed, not fatal: only runs that use it fail
            click.echo(f"samaudio-daw: warning: {broken.error} (see presets check)", err=True)
        if as_json:
            click.echo(json.dumps([preset_to_dict(p) for p in found], indent=2))
            return 0
        for preset in found:
            stems = ", ".join(preset.stem_names)
            click.echo(f"{preset.name:<20} {stems:<32} {preset.description}")
        return 0

    run_command(ctx, action)


@presets.command("show")
@click.argument("name")
@presets_option
@json_option
@click.pass_context
def presets_show(
    ctx: click.Context, name: str, preset_folders: tuple[Path, ...], as_json: bool
) -> None:
    """Everything one preset does."""

    def action() -> int:
        from samaudio_daw.presets import describe_preset, preset_to_dict

        preset = library(preset_folders).get(name)
        click.echo(
            json.dumps(preset_to_dict(preset), indent=2) if as_json else describe_preset(preset)
        )
        return 0

    run_command(ctx, action)


@presets.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@presets_option
@click.pass_context
def presets_check(
    ctx: click.Context, files: tuple[Path, ...], preset_folders: tuple[Path, ...]
) -> None:
    """Check preset FILES (default: every preset folder); one line per problem."""

    def action() -> int:
        from samaudio_daw.presets import check_preset_files, preset_dirs

        paths = list(files) or [p for p in preset_dirs(preset_folders) if p.is_dir()]
        errors = check_preset_files(paths)
        for error in errors:
            click.echo(f"samaudio-daw: error: {error}", err=True)
        if not errors:
            click.echo(f"ok: {', '.join(str(p) for p in paths)}")
        return EXIT_BAD_INPUT if errors else 0

    run_command(ctx, action)


@click.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--from",
    "texts_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also read texts from this JSON list of strings (no shell quoting needed).",
)
@click.option(
    "--track-names",
    is_flag=True,
    help="Read TEXTS as track names: one that selects no preset asks for nothing.",
)
@presets_option
@json_option
@click.pass_context
def resolve(
    ctx: click.Context,
    texts: tuple[str, ...],
    texts_file: Path | None,
    track_names: bool,
    preset_folders: tuple[Path, ...],
    as_json: bool,
) -> None:
    """What each of TEXTS asks for: a preset (by [tag], name or pattern) or prompts.

    The rule every entrance uses (REAPER, OSC, `separate --request`). With --json one
    entry per text; a text that is not clear gets an "error" instead.
    """

    def action() -> int:
        from samaudio_daw.jobs.requests import UnclearRequest, read_request

        asked = [*texts, *(_texts_from(texts_file) if texts_file else ())]
        if not asked:
            fail("give the texts to read (TEXTS... or --from FILE)")
        try:
            found = library(preset_folders)
        except UserError as error:
            if not as_json:
                raise
            # The REAPER scripts read stdout only: the one-line error goes there too.
            click.echo(json.dumps({"error": str(error)}))
            return EXIT_BAD_INPUT
        entries: list[dict[str, object]] = []
        for text in asked:
            try:
                request = read_request(text, found, "nothing" if track_names else "prompt")
            except UnclearRequest as error:
                entries.append(
                    {"text": text, "kind": "error", "error": str(error), "reason": error.reason}
                )
                continue
            entries.append(request.to_json() if request else {"text": text, "kind": "nothing"})
        if as_json:
            click.echo(json.dumps(entries, indent=2))
        else:
            for entry in entries:
                click.echo(_resolved_line(entry))
        unclear = any(entry["kind"] == "error" for entry in entries)
        return EXIT_BAD_INPUT if unclear and not as_json else 0

    run_command(ctx, action)


def _texts_from(path: Path) -> list[str]:
    """The JSON list of strings in ``path``; a UsageError naming the file otherwise."""
    try:
        texts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"{path}: not a readable JSON file ({error})")
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        fail(f"{path}: expected a JSON list of strings")
    return texts


def _resolved_line(entry: dict[str, object]) -> str:
    if entry["kind"] == "error":
        return f"{entry['text']}: error: {entry['error']}"
    if entry["kind"] == "nothing":
        return f"{entry['text']}: nothing (no preset matches)"
    what = f"preset {entry['preset']}" if entry["preset"] else f"prompts {entry['prompts']}"
    stems = ", ".join(str(s) for s in entry["stems"])  # type: ignore[attr-defined]
    return f"{entry['text']}: {entry['kind']}: {what} -> {stems}"
