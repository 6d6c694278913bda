"""The model flags every separating entrance shares (``separate``, ``render``, ``serve``).

One definition, so the commands cannot drift apart in names, ranges or defaults.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from samaudio_daw.separation.backends import BACKEND_NAMES, BackendOptions

MODEL_FLAGS = [
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
        type=click.Choice(["presence", "consensus"]),
        default="presence",
        show_default=True,
        help="sam-audio: presence keeps the least invented candidate, consensus the most typical.",
    ),
    click.option(
        "--presence-threshold",
        type=click.FloatRange(0.0, 1.0),
        default=0.0,
        show_default=True,
        help="sam-audio: clips where the prompt scores below this are silent (0 = off; try 0.3).",
    ),
]


def model_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --backend, --model, --device, --dtype, --steps, --seed, --chunk, --output,
    --candidates, --rank-by and --presence-threshold."""
    for flag in reversed(MODEL_FLAGS):
        command = flag(command)
    return command


def backend_options(params: dict[str, Any]) -> BackendOptions:
    """BackendOptions from the shared model flags (``--model`` falls back to SAMAUDIO_MODEL)."""
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
    """--candidates, --rank-by and --presence-threshold as sam-audio options, when not default."""
    extra: list[tuple[str, str]] = []
    if (params.get("candidates") or 1) > 1:
        extra += [("candidates", str(params["candidates"])), ("rank_by", params.get("rank_by") or "presence")]  # fmt: skip
    if params.get("presence_threshold"):
        extra.append(("presence_threshold", str(params["presence_threshold"])))
    return tuple(extra)
