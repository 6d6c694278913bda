"""``render`` (REAPER projects to stem tracks) and ``inspect`` (what a render would do)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from samaudio_daw.cli.options import (
    backend_options,
    executor,
    json_option,
    library,
    media_dir_option,
    presets_option,
    run_control,
    separating_options,
)
from samaudio_daw.cli.separate import write_listening_report
from samaudio_daw.cli.shell import EXIT_SKIPPED, run_command


@click.command()
@click.argument("projects", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "output_dir",
    type=click.Path(path_type=Path),
    help="Default: <project folder>/<project name>-stems/.",
)
@click.option(
    "--tracks",
    "track_patterns",
    multiple=True,
    metavar="PATTERN",
    help="Only tracks whose name matches (glob, case-insensitive; repeatable).",
)
@click.option(
    "--mode",
    type=click.Choice(["item", "track"]),
    default="item",
    show_default=True,
    help="item: each item's source section; track: the whole track timeline.",
)
@click.option(
    "--as",
    "stems_as",
    type=click.Choice(["tracks", "takes"]),
    default=None,
    help="Stems as new tracks in a '<track> stems' folder, or as takes of the original "
    "items (item mode; the original take stays active). Default: each preset's stems_as.",
)
@click.option("--keep-original-unmuted", is_flag=True, help="Leave the original track unmuted.")
@click.option(
    "--reference-audio",
    is_flag=True,
    help="DAWproject sessions: reference the stems beside <name>-stems.dawproject "
    "instead of embedding them in it.",
)
@media_dir_option
@separating_options
@click.pass_context
def render(
    ctx: click.Context,
    projects: tuple[Path, ...],
    output_dir: Path | None,
    track_patterns: tuple[str, ...],
    mode: str,
    stems_as: str | None,
    keep_original_unmuted: bool,
    reference_audio: bool,
    media_dirs: tuple[Path, ...],
    **params: Any,
) -> None:
    """Separate the tracks of REAPER PROJECTS and write <project>-stems.rpp with stem tracks.

    A DAWproject session (song.dawproject) gets song-stems.dawproject: the session with a
    stems group after each processed track, the stems embedded (or --reference-audio).
    An AAF or .otio timeline (the [otio] extra) gets <name>-stems.otio and .aaf.

    A folder of exported tracks (or audio files) is a session too: each file is a track
    named by its file name, placed at its BWF time reference; besides the .rpp it gets
    a <folder>-stems.dawproject.

    With --engine ray the items run on Ray workers, --jobs N caps them at N, and the
    output folder must be shared storage at the same path on every node.
    """
    chosen = executor(ctx, params)
    if stems_as == "takes" and mode == "track":
        raise click.UsageError("--as takes needs --mode item: track mode renders no items")

    def action() -> int:
        from samaudio_daw.jobs.render import RenderSettings, render_projects

        settings = RenderSettings(
            output_dir=output_dir,
            track_patterns=track_patterns,
            backend=params["backend"],
            backend_options=backend_options(params),
            mode=mode,  # type: ignore[arg-type]
            mute_original=not keep_original_unmuted,
            stems_as=stems_as,  # type: ignore[arg-type]
            file_format=params["file_format"],
            bit_depth=params["bit_depth"],
            executor=chosen,
            media_dirs=media_dirs,
            wait=not params["no_wait"],
            reference_audio=reference_audio,
        )
        outcomes = render_projects(
            list(projects),
            library(params["preset_folders"]),
            settings,
            control=run_control(params["status_file"]),
        )
        click.echo(format_render_summary(outcomes))
        if params["report"]:
            for outcome in outcomes:
                click.echo(f"listening report: {write_listening_report(outcome.output_dir)}")
        skipped = any(outcome.skipped for outcome in outcomes)
        return EXIT_SKIPPED if skipped else 0

    run_command(ctx, action)


def format_render_summary(outcomes: Sequence[Any]) -> str:
    """The table printed after a render: per track, items and stems; skipped with reasons."""
    lines = [f"{'track':<32} {'items':>5} {'stems':>5}  preset"]
    for outcome in outcomes:
        result = outcome.result
        for plan in outcome.plans:
            for track_plan in plan.tracks:
                own = result.stems_of_track(plan.project.path, track_plan.track.guid or None)
                preset = track_plan.choice.preset.name if track_plan.choice.preset else "-"
                lines.append(
                    f"{track_plan.track.name[:32]:<32} {len(track_plan.items):>5} "
                    f"{len(own):>5}  {preset}"
                )
        for skip in outcome.skipped:
            if skip.missing_file is not None:
                continue  # listed once per file below
            where = f"{skip.track}" + (f", {skip.item}" if skip.item else "")
            lines.append(f"skipped: {where}: {skip.reason}")
        for plan in outcome.plans:
            lines.extend(f"skipped: {m.describe()}" for m in plan.missing_media)
        lines.extend(f"note: {note}" for note in result.other.get("notes", []))
        reused = sum(1 for s in result.stems if s.reused)
        lines.append(
            f"{len(result.stems)} stem files ({reused} up to date) in {outcome.output_dir}, "
            f"{result.elapsed_s or 0:.1f} s"
        )
        for path in outcome.stems_projects:
            daw = {
                ".dawproject": "Bitwig, Studio One, Cubase",
                ".otio": "an OpenTimelineIO tool (Resolve, ...)",
                ".aaf": "Pro Tools, Logic, Nuendo, Resolve",
            }.get(path.suffix, "REAPER")
            lines.append(f"open in {daw}: {path}")
    return "\n".join(lines)


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@json_option
@media_dir_option
@presets_option
@click.pass_context
def inspect(
    ctx: click.Context,
    project: Path,
    as_json: bool,
    media_dirs: tuple[Path, ...],
    preset_folders: tuple[Path, ...],
) -> None:
    """Show a project's tracks, items, media and the preset each track would use.

    PROJECT is a REAPER project, a DAWproject session, an AAF or .otio timeline, a
    folder of exported tracks or one exported audio file.
    """

    def action() -> int:
        from samaudio_daw.jobs.render import inspect_project

        report = inspect_project(project, library(preset_folders), media_dirs)
        click.echo(json.dumps(report, indent=2) if as_json else format_inspection(report))
        return 0

    run_command(ctx, action)


def format_missing(missing: dict[str, Any]) -> str:
    """One line for a missing media file: how many items and tracks use it, and why."""
    from samaudio_daw.jobs.render import describe_missing

    return describe_missing(missing["items"], missing["tracks"], missing["reason"])


def _playback(item: dict[str, Any]) -> str:
    """What REAPER does to an item's take, briefly: `` x0.85 (keep pitch) -4 st 3 SM take FX``."""
    parts = []
    if item.get("play_rate", 1.0) != 1.0:
        keep = " (keep pitch)" if item.get("preserve_pitch") else ""
        parts.append(f"x{item['play_rate']:g}{keep}")
    if item.get("pitch_semitones"):
        parts.append(f"{item['pitch_semitones']:+g} st")
    if item.get("stretch_markers"):
        parts.append(f"{item['stretch_markers']} SM")
    if item.get("take_fx"):
        parts.append("take FX")
    return "".join(f" {part}" for part in parts)


def format_inspection(report: dict[str, Any]) -> str:
    """The human-readable form of ``inspect_project``'s report."""
    kind = {"files": "exported tracks", "rpp": ""}.get(
        report.get("format", ""), report.get("format")
    )
    tempo = f"{report['tempo_bpm']:g} BPM"
    if report.get("tempo_changes"):
        tempo += f", tempo automation of {report['tempo_changes']} points"
    about = ", ".join(part for part in (kind, f"{report['sample_rate']} Hz", tempo) if part)
    lines = [f"{report['project']}  ({about})"]
    for track in report["tracks"]:
        indent = "  " * track["folder_depth"]
        if track["preset"]:
            what = f"{track['choice']}: {track['preset']} -> " + "; ".join(track["prompts"])
        else:
            what = track["reason"]
        lines.append(f"{indent}{track['index']:>3}. {track['name']}  [{what}]")
        for item in track["items"]:
            where = item["found"] or f"MISSING {item['file']!r}" if item["file"] else "-"
            missing = item["file"] and not item["found"]
            reason = None if missing else item["skip_reason"]
            note = f"  skipped: {reason}" if reason else ""
            lines.append(
                f"{indent}       item {item['index']} @ {item['position_s']:.3f}s "
                f"len {item['length_s']:.3f}s{_playback(item)}  {item['source_kind']} {where}{note}"
            )
    for missing in report["missing_media"]:
        lines.append(format_missing(missing))
    lines.append(f"stems would go to {report['output_dir']}")
    if report.get("writes"):
        lines.append(f"sessions it would write: {', '.join(report['writes'])}")
    return "\n".join(lines)
