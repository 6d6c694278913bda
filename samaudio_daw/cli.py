"""The ``samaudio-daw`` command line: parse, check, report; the library does the work.

Exit codes: 0 done; 2 bad usage or bad input (one line naming the file and the
problem); 3 done but something was skipped; 1 an internal error (traceback only
with ``--debug``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from samaudio_daw import __version__
from samaudio_daw.model_flags import backend_options, model_flags

if TYPE_CHECKING:
    from samaudio_daw.jobs.ray_engine import RayEngine

EXIT_BAD_INPUT = 2
EXIT_SKIPPED = 3
EXIT_INTERNAL = 1


def fail(message: str) -> NoReturn:
    """Print one error line and exit 2."""
    click.echo(f"samaudio-daw: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def run_command(ctx: click.Context, action: Callable[[], int | None]) -> None:
    """Run ``action`` mapping user errors to exit 2 and bugs to exit 1."""
    from samaudio_daw.errors import user_error_types
    from samaudio_daw.jobs.progress import JobCancelled

    try:
        code = action()
    except user_error_types() as error:
        fail(str(error))
    except JobCancelled as error:
        click.echo(f"samaudio-daw: {error}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("samaudio-daw: interrupted; no partial files were kept", err=True)
        sys.exit(130)
    except Exception as error:  # anything else is our bug: say so, trace on request
        if ctx.find_root().params.get("debug"):
            traceback.print_exc()
        click.echo(
            f"samaudio-daw: internal error: {type(error).__name__}: {error} "
            "(rerun with --debug for a traceback)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code or 0)


def preset_dirs(presets: Sequence[Path]) -> list[Path]:
    return [Path(p) for p in presets]


no_wait_flag = click.option(
    "--no-wait",
    is_flag=True,
    help="If another run is writing the output folder, stop (exit 2) instead of waiting.",
)


def backend_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every separating command shares: backend, model and output format."""
    flags = [
        click.option(
            "--format",
            "file_format",
            type=click.Choice(["wav", "flac"]),
            default="wav",
            show_default=True,
        ),
        click.option(
            "--bit-depth",
            type=click.Choice(["16", "24", "32", "float"]),
            help="Default: the input's bit depth.",
        ),
        click.option(
            "--presets",
            "presets",
            multiple=True,
            type=click.Path(path_type=Path),
            help="A folder of user presets (also SAMAUDIO_PRESETS).",
        ),
        click.option(
            "--jobs",
            type=click.IntRange(1, 64),
            default=1,
            show_default=True,
            help="Items separated in parallel.",
        ),
        click.option(
            "--report",
            is_flag=True,
            help="Also write report.html (spectrograms, loudness, null test) next to result.json.",
        ),
        click.option(
            "--status-file",
            type=click.Path(path_type=Path),
            help="Write progress as JSON here (for REAPER).",
        ),
        no_wait_flag,
    ]
    for flag in reversed(flags):
        command = flag(command)
    return model_flags(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="samaudio-daw")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
def main(debug: bool) -> None:
    """Pull any sound out of a mix by describing it: files, REAPER projects, jobs."""
    # The command line owns the process: one progress bar (ours), one-line warnings.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not debug:
        warnings.formatwarning = _one_line_warning


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"samaudio-daw: warning: {message}\n"


def _progress(status_file: Path | None) -> Any:
    from samaudio_daw.jobs.progress import FanOut, StatusFile, TerminalBar

    targets: list[Any] = [TerminalBar()]
    if status_file:
        targets.append(StatusFile(status_file))
    return FanOut(targets)


def write_listening_report(output_dir: Path) -> Path:
    """report.html beside ``output_dir/result.json`` (``--report``)."""
    from samaudio_daw.report import write_report

    return write_report(output_dir / "result.json")


def _library(presets: Sequence[Path]) -> Any:
    from samaudio_daw.presets import default_library

    return default_library(preset_dirs(presets))


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prompt", "prompts", multiple=True, help="What to pull out (repeatable).")
@click.option("--preset", help="A preset name (see `samaudio-daw presets list`).")
@click.option(
    "-o",
    "--out",
    "output_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the stems and result.json.",
)
@click.option("--no-residual", is_flag=True, help="Do not write the residual stem.")
@backend_flags
@click.pass_context
def separate(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    prompts: tuple[str, ...],
    preset: str | None,
    output_dir: Path,
    no_residual: bool,
    **params: Any,
) -> None:
    """Separate INPUT files by --prompt or --preset into OUTDIR/<input>.<stem>.<ext>."""
    if bool(prompts) == bool(preset):
        raise click.UsageError("give either --prompt TEXT (one or more) or --preset NAME")

    def action() -> int:
        from samaudio_daw.jobs.manifest import Job, JobItem
        from samaudio_daw.jobs.runner import run_job

        items = tuple(
            JobItem(audio=path, name=path.stem, preset=preset, prompts=prompts) for path in inputs
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
        result = run_job(
            job,
            _library(params["presets"]),
            progress=_progress(params["status_file"]),
            jobs=params["jobs"],
            wait=not params["no_wait"],
        )
        for stem in result["stems"]:
            click.echo(f"{stem['kind']:>8}  {output_dir / stem['file']}")
        click.echo(f"wrote {output_dir / 'result.json'}")
        if params["report"]:
            click.echo(f"wrote {write_listening_report(output_dir)}")
        return 0

    run_command(ctx, action)


@main.command("run")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--presets", "presets", multiple=True, type=click.Path(path_type=Path))
@click.option("--jobs", type=click.IntRange(1, 64), default=1)
@click.option(
    "--status-file", type=click.Path(path_type=Path), help="Overrides the manifest's status_file."
)
@no_wait_flag
@click.pass_context
def run_manifest(
    ctx: click.Context,
    manifest: Path,
    presets: tuple[Path, ...],
    jobs: int,
    status_file: Path | None,
    no_wait: bool,
) -> None:
    """Run a job manifest (JSON, see samaudio_daw/schemas/job.schema.json)."""

    def action() -> int:
        from samaudio_daw.jobs.manifest import load_job
        from samaudio_daw.jobs.runner import run_job_with_status

        job = load_job(manifest)
        result = run_job_with_status(
            job, _library(presets), status_file or job.status_file, jobs, wait=not no_wait
        )
        click.echo(f"wrote {job.output_dir / 'result.json'} ({len(result['stems'])} stems)")
        return 0

    run_command(ctx, action)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
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


@main.command()
def prompts() -> None:
    """Every prompt the dsp backend understands, stem by stem, with examples."""
    from samaudio_daw.separation.prompt_words import vocabulary_text

    click.echo(vocabulary_text())


@main.group()
def presets() -> None:
    """List, show and check presets (shipped, SAMAUDIO_PRESETS, --presets DIR)."""


def presets_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--presets",
        "preset_folders",
        multiple=True,
        type=click.Path(path_type=Path),
        help="A folder of user presets (also SAMAUDIO_PRESETS).",
    )(command)


@presets.command("list")
@presets_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (for REAPER scripts).")
@click.pass_context
def presets_list(ctx: click.Context, preset_folders: tuple[Path, ...], as_json: bool) -> None:
    """Every preset by name, with its stems and where it comes from."""

    def action() -> int:
        from samaudio_daw.presets import preset_to_dict

        library = _library(preset_folders)
        for broken in library.broken:  # listed, not fatal: only runs that use it fail
            click.echo(f"samaudio-daw: warning: {broken.error} (see presets check)", err=True)
        if as_json:
            click.echo(json.dumps([preset_to_dict(p) for p in library], indent=2))
            return 0
        for preset in library:
            stems = ", ".join(preset.stem_names)
            click.echo(f"{preset.name:<20} {stems:<32} {preset.description}")
        return 0

    run_command(ctx, action)


@presets.command("show")
@click.argument("name")
@presets_dir_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def presets_show(
    ctx: click.Context, name: str, preset_folders: tuple[Path, ...], as_json: bool
) -> None:
    """Everything one preset does."""

    def action() -> int:
        from samaudio_daw.presets import describe_preset, preset_to_dict

        preset = _library(preset_folders).get(name)
        click.echo(
            json.dumps(preset_to_dict(preset), indent=2) if as_json else describe_preset(preset)
        )
        return 0

    run_command(ctx, action)


@presets.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@presets_dir_option
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


media_dir_option = click.option(
    "--media-dir",
    "media_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Also look for missing media here (and in its subfolders), after REAPER's own "
    "search (project folder, record path, subfolders); repeatable.",
)


@main.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@media_dir_option
@presets_dir_option
@click.pass_context
def inspect(
    ctx: click.Context,
    project: Path,
    as_json: bool,
    media_dirs: tuple[Path, ...],
    preset_folders: tuple[Path, ...],
) -> None:
    """Show a project's tracks, items, media and the preset each track would use."""

    def action() -> int:
        from samaudio_daw.jobs.render import inspect_project

        report = inspect_project(project, _library(preset_folders), media_dirs)
        if as_json:
            click.echo(json.dumps(report, indent=2))
        else:
            click.echo(format_inspection(report))
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
    lines = [f"{report['project']}  ({report['sample_rate']} Hz, {report['tempo_bpm']:g} BPM)"]
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
    return "\n".join(lines)


@main.command()
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
@click.option("--keep-original-unmuted", is_flag=True, help="Leave the original track unmuted.")
@media_dir_option
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this machine; ray: a Ray cluster (pip install samaudio-daw[cluster]).",
)
@click.option(
    "--address",
    metavar="auto|HOST:PORT|ray://HOST:PORT",
    help="The Ray cluster to use (default: a local Ray for this command only).",
)
@click.option(
    "--gpus-per-job",
    type=click.FloatRange(0.0, 64.0),
    help="GPUs each sam-audio worker asks Ray for (default 1; 0.5 shares a GPU; dsp: none).",
)
@backend_flags
@click.pass_context
def render(
    ctx: click.Context,
    projects: tuple[Path, ...],
    output_dir: Path | None,
    track_patterns: tuple[str, ...],
    mode: str,
    keep_original_unmuted: bool,
    media_dirs: tuple[Path, ...],
    engine: str,
    address: str | None,
    gpus_per_job: float | None,
    **params: Any,
) -> None:
    """Separate the tracks of REAPER PROJECTS and write <project>-stems.rpp with stem tracks.

    With --engine ray the items run on Ray workers, --jobs N caps them at N, and the
    output folder must be shared storage at the same path on every node.
    """
    if engine != "ray" and (address is not None or gpus_per_job is not None):
        fail("--address and --gpus-per-job need --engine ray")
    ray_engine = _ray_engine(ctx, address, gpus_per_job) if engine == "ray" else None

    def action() -> int:
        from samaudio_daw.jobs.render import RenderSettings, render_projects

        settings = RenderSettings(
            output_dir=output_dir,
            track_patterns=track_patterns,
            backend=params["backend"],
            backend_options=backend_options(params),
            mode=mode,  # type: ignore[arg-type]
            jobs=params["jobs"],
            mute_original=not keep_original_unmuted,
            file_format=params["file_format"],
            bit_depth=params["bit_depth"],
            engine=ray_engine,
            media_dirs=media_dirs,
            wait=not params["no_wait"],
        )
        outcomes = render_projects(
            list(projects),
            _library(params["presets"]),
            settings,
            progress=_progress(params["status_file"]),
        )
        click.echo(format_render_summary(outcomes))
        if params["report"]:
            for outcome in outcomes:
                click.echo(f"listening report: {write_listening_report(outcome.output_dir)}")
        skipped = any(outcome.skipped for outcome in outcomes)
        return EXIT_SKIPPED if skipped else 0

    run_command(ctx, action)


def _ray_engine(ctx: click.Context, address: str | None, gpus_per_job: float | None) -> RayEngine:
    """``render --engine ray``'s RayEngine; ``--jobs`` caps the workers only when it is given."""
    from click.core import ParameterSource

    from samaudio_daw.jobs.ray_engine import RayEngine

    jobs_given = ctx.get_parameter_source("jobs") != ParameterSource.DEFAULT
    try:
        return RayEngine(
            address=address,
            gpus_per_job=1.0 if gpus_per_job is None else gpus_per_job,
            max_workers=ctx.params["jobs"] if jobs_given else None,
        )
    except ValueError as error:  # only the address is not already checked by click
        raise click.BadParameter(str(error), param_hint="--address") from None


def format_render_summary(outcomes: Sequence[Any]) -> str:
    """The table printed after a render: per track, items and stems; skipped with reasons."""
    lines = [f"{'track':<32} {'items':>5} {'stems':>5}  preset"]
    for outcome in outcomes:
        stems = outcome.result["stems"]
        for plan in outcome.plans:
            for track_plan in plan.tracks:
                own = [
                    s
                    for s in stems
                    if s.get("track_guid") == track_plan.track.guid
                    and s.get("project") == str(plan.project.path)
                ]
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
        lines.extend(f"note: {note}" for note in outcome.result.get("notes", []))
        result = outcome.result
        reused = sum(1 for s in stems if s.get("reused"))
        lines.append(
            f"{len(stems)} stem files ({reused} up to date) in {outcome.output_dir}, "
            f"{result.get('elapsed_s', 0):.1f} s"
        )
        for path in outcome.stems_projects:
            lines.append(f"open in REAPER: {path}")
    return "\n".join(lines)


def _register_subcommands() -> None:
    """Commands that live with their part of the library: REAPER, OSC server, MIDI, report,
    model and doctor."""
    from samaudio_daw.control.commands import midi, serve
    from samaudio_daw.model_commands import doctor, model
    from samaudio_daw.reaper.commands import reaper
    from samaudio_daw.report.command import report

    main.add_command(reaper)
    main.add_command(serve)
    main.add_command(midi)
    main.add_command(report)
    main.add_command(model)
    main.add_command(doctor)


_register_subcommands()
