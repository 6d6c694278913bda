"""Every option that more than one command takes, declared once, and what they turn into.

Commands stack these decorators; the values come back as plain keyword arguments,
and the helpers below turn them into library values (a preset library, backend
options, a progress target), so no command spells the same option twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from samaudio_daw.separation.backends import BACKEND_NAMES, BackendOptions

F = TypeVar("F", bound=Callable[..., Any])


def _stack(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


presets_option = click.option(
    "--presets",
    "preset_folders",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A folder of user presets (also SAMAUDIO_PRESETS; repeatable).",
)
media_dir_option = click.option(
    "--media-dir",
    "media_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Also look for missing media here (and in its subfolders), after REAPER's own "
    "search (project folder, record path, subfolders); repeatable.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
status_file_option = click.option(
    "--status-file",
    type=click.Path(path_type=Path),
    help="Write progress as JSON here (for REAPER); <file>.cancel cancels the run.",
)
no_wait_option = click.option(
    "--no-wait",
    is_flag=True,
    help="If another run is writing the output folder, stop (exit 2) instead of waiting.",
)
jobs_option = click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Items separated at once (worker processes, or Ray workers with --engine ray).",
)

model_options = _stack(
    [
        click.option(
            "--backend",
            type=click.Choice(BACKEND_NAMES),
            default="dsp",
            show_default=True,
            help="Separation backend.",
        ),
        click.option(
            "--model",
            metavar="PATH_OR_ID",
            help="SAM-Audio checkpoint folder or hub id (or set SAMAUDIO_MODEL).",
        ),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto"),
        click.option(
            "--dtype",
            type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
            default="auto",
            help="auto: bf16 on GPU, fp32 on CPU.",
        ),
        click.option(
            "--steps",
            type=click.IntRange(1, 256),
            default=16,
            show_default=True,
            help="ODE steps (sam-audio).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Makes sam-audio output reproducible.",
        ),
        click.option(
            "--chunk",
            type=click.FloatRange(1.0, 60.0),
            default=10.0,
            show_default=True,
            help="Model chunk length in seconds (sam-audio).",
        ),
        click.option(
            "--output",
            type=click.Choice(["masked", "generated"]),
            default="masked",
            show_default=True,
            help="sam-audio: masked stems (stereo, exact null) or the model's own audio.",
        ),
        click.option(
            "--candidates",
            type=click.IntRange(1, 16),
            default=1,
            show_default=True,
            help="sam-audio: noise draws per clip and prompt; the best by --rank-by is kept.",
        ),
        click.option(
            "--rank-by",
            type=click.Choice(["ranker", "presence", "consensus"]),
            default="ranker",
            show_default=True,
            help="sam-audio: ranker keeps the text ranker's choice (CLAP, the judge, sound "
            "activity or their weighted ensemble, as the model's config.json names; without "
            "their files: presence, with a warning), presence the least invented candidate, "
            "consensus the most typical.",
        ),
        click.option(
            "--presence-threshold",
            type=click.FloatRange(0.0, 1.0),
            default=0.0,
            show_default=True,
            help="sam-audio: clips where the prompt scores below this are silent (0 = off; "
            "try 0.3).",
        ),
        click.option(
            "--predict-spans",
            is_flag=True,
            help="sam-audio: prompts without regions or a time selection get the spans where "
            "the span predictor named in the model's config.json hears them (fetch it with "
            "`model pull --with-rankers`; without it: a warning, spans as before).",
        ),
        click.option(
            "--compile",
            "compile_mode",
            # compiled.COMPILE_MODES; spelled out so the command line does not import torch.
            type=click.Choice(["auto", "on", "off"]),
            default="auto",
            show_default=True,
            help="sam-audio: torch.compile the model (auto: on CUDA only); the first batch "
            "then takes a minute or two longer.",
        ),
    ]
)
"""--backend, --model, --device, --dtype, --steps, --seed, --chunk, --output,
--candidates, --rank-by, --presence-threshold, --predict-spans and --compile."""

output_options = _stack(
    [
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
            "--report",
            is_flag=True,
            help="Also write report.html (spectrograms, loudness, null test) next to result.json.",
        ),
    ]
)
"""--format, --bit-depth and --report: what the stems and the run's report look like."""

engine_options = _stack(
    [
        click.option(
            "--engine",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help="local: this machine; ray: a Ray cluster (pip install samaudio-daw[cluster]).",
        ),
        click.option(
            "--address",
            metavar="auto|HOST:PORT|ray://HOST:PORT",
            help="The Ray cluster to use (default: a local Ray for this command only).",
        ),
        click.option(
            "--gpus-per-job",
            type=click.FloatRange(0.0, 64.0),
            help="GPUs each sam-audio worker asks Ray for (default 1; 0.5 shares a GPU; dsp: none).",
        ),
        jobs_option,
    ]
)
"""--engine, --address, --gpus-per-job and --jobs: where and how widely items run."""


def separating_options(command: F) -> F:
    """Everything a command that writes stems takes: model, output, engine, presets, status."""
    for option in (
        no_wait_option,
        status_file_option,
        presets_option,
        engine_options,
        output_options,
    ):
        command = option(command)
    return model_options(command)


def backend_options(params: dict[str, Any]) -> BackendOptions:
    """BackendOptions from the model options (``--model`` falls back to SAMAUDIO_MODEL)."""
    return BackendOptions(
        model=params.get("model") or os.environ.get("SAMAUDIO_MODEL"),
        device=params.get("device") or "auto",
        dtype=params.get("dtype") or "auto",
        steps=params.get("steps") or 16,
        seed=params.get("seed") or 0,
        chunk_s=params.get("chunk") or 10.0,
        output=params.get("output") or "masked",
        extra=_sam_audio_extra(params),
    )


def _sam_audio_extra(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """--candidates, --rank-by, --presence-threshold, --predict-spans and --compile as
    sam-audio options, when not default."""
    extra: list[tuple[str, str]] = []
    if (params.get("candidates") or 1) > 1:
        extra += [
            ("candidates", str(params["candidates"])),
            ("rank_by", params.get("rank_by") or "ranker"),
        ]
    if params.get("presence_threshold"):
        extra.append(("presence_threshold", str(params["presence_threshold"])))
    if params.get("predict_spans"):
        extra.append(("predict_spans", "1"))
    if params.get("compile_mode") not in (None, "auto"):
        extra.append(("compile", params["compile_mode"]))
    return tuple(extra)


def library(preset_folders: Sequence[Path]) -> Any:
    """The shipped presets, SAMAUDIO_PRESETS and the ``--presets`` folders (later wins)."""
    from samaudio_daw.presets import default_library

    return default_library([Path(p) for p in preset_folders])


def executor(ctx: click.Context, params: dict[str, Any]) -> Any:
    """The executor ``--engine`` and ``--jobs`` ask for: serial, a process pool, or Ray.

    With ``--engine ray``, ``--jobs`` caps the Ray workers only when it is given;
    otherwise the cluster's room does.
    """
    from click.core import ParameterSource

    if params["engine"] != "ray":
        if params["address"] is not None or params["gpus_per_job"] is not None:
            raise click.UsageError("--address and --gpus-per-job need --engine ray")
        from samaudio_daw.jobs.process_pool import ProcessPool
        from samaudio_daw.jobs.serial import SerialExecutor

        return ProcessPool(params["jobs"]) if params["jobs"] > 1 else SerialExecutor()
    from samaudio_daw.jobs.ray_engine import RayEngine

    jobs_given = ctx.get_parameter_source("jobs") != ParameterSource.DEFAULT
    gpus = params["gpus_per_job"]
    try:
        return RayEngine(
            address=params["address"],
            gpus_per_job=1.0 if gpus is None else gpus,
            max_workers=params["jobs"] if jobs_given else None,
        )
    except ValueError as error:  # only the address is not already checked by click
        raise click.BadParameter(str(error), param_hint="--address") from None


def run_control(status_file: Path | None) -> Any:
    """A bar on the terminal, plus the status file (and cancel file) REAPER uses if asked."""
    from samaudio_daw.jobs.progress import TerminalBar
    from samaudio_daw.jobs.run_control import RunControl

    return RunControl(progress=TerminalBar(), status_file=status_file)
