"""The ``sam-audio`` separator backend: SAM-Audio behind the project's Separator interface.

Importing this module is cheap (no torch): the registry imports it to call ``describe()``.
torch, transformers and the model load when a separator is built and first used.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from samaudio_daw.separation.backends import BackendInfo, BackendOptions
from samaudio_daw.separation.base import (
    ProgressCallback,
    Prompt,
    PromptNotSupportedError,
    SeparationError,
    check_input,
)

if TYPE_CHECKING:
    from samaudio_daw.separation.sam_audio.anchors import Anchor
    from samaudio_daw.separation.sam_audio.cache import ModelCache
    from samaudio_daw.separation.sam_audio.ensemble import EnsembleRanker
    from samaudio_daw.separation.sam_audio.machine import Speed
    from samaudio_daw.separation.sam_audio.model import SamAudio
    from samaudio_daw.separation.sam_audio.pipeline import TrackSettings
    from samaudio_daw.separation.sam_audio.presence import ChunkPresence
    from samaudio_daw.separation.sam_audio.spans import SpanPredictor

MODEL_ENV = "SAMAUDIO_MODEL"
IMPLEMENTATION_VERSION = 1
"""Bumped whenever a change here changes the audio, so cached results are not reused."""
_EXTRA_KEYS = (
    "overlap", "batch_size", "presence_threshold", "candidates", "rank_by", "compile",
    "predict_spans",
)  # fmt: skip


def configured_model(option: str | None) -> str:
    """The model folder or hub id: ``--model``, else $SAMAUDIO_MODEL, else a ModelNotFoundError."""
    from samaudio_daw.separation.sam_audio.errors import ACCESS_HELP, ModelNotFoundError

    model = option or os.environ.get(MODEL_ENV, "").strip()
    if not model:
        raise ModelNotFoundError(
            f"the sam-audio backend needs a model: pass --model DIR_OR_HUB_ID or set {MODEL_ENV}. "
            + ACCESS_HELP
        )
    # A folder is named by its absolute path, so cache keys do not depend on the working dir.
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def _extra_settings(extra: tuple[tuple[str, str], ...]) -> dict[str, float | int | str]:
    """``overlap`` (fraction), ``batch_size``, ``presence_threshold`` (0..1), ``candidates``,
    ``rank_by`` and ``predict_spans`` (1/0) from BackendOptions.extra; other keys are not ours."""
    values: dict[str, float | int | str] = {}
    for key, raw in extra:
        if key not in _EXTRA_KEYS:
            continue
        if key == "predict_spans":
            if raw not in ("0", "1"):
                raise SeparationError(f"sam-audio option predict_spans={raw!r} is not 0 or 1")
            values[key] = int(raw)
            continue
        if key in ("rank_by", "compile"):
            values[key] = raw
            continue
        try:
            values[key] = int(raw) if key in ("batch_size", "candidates") else float(raw)
        except ValueError as error:
            raise SeparationError(f"sam-audio option {key}={raw!r} is not a number") from error
    return values


class SamAudioSeparator:
    """Text-prompted separation with SAM-Audio; one target per prompt, same shape as the input.

    ``cache`` keeps loaded models between jobs; by default the process-wide one.
    """

    name = "sam-audio"
    block_s: float | None = 60.0

    def __init__(self, options: BackendOptions, cache: ModelCache | None = None) -> None:
        from samaudio_daw.separation.sam_audio.compiled import should_compile
        from samaudio_daw.separation.sam_audio.device import resolve_device, resolve_dtype
        from samaudio_daw.separation.sam_audio.pipeline import TrackSettings

        self.model_id = configured_model(options.model)
        extra = _extra_settings(options.extra)
        try:
            self.device = resolve_device(options.device)
            self.dtype = resolve_dtype(options.dtype, self.device)
            self.track_settings: TrackSettings = TrackSettings(
                steps=options.steps,
                seed=options.seed,
                chunk_s=options.chunk_s,
                overlap=float(extra.get("overlap", TrackSettings.overlap)),
                output=options.output,
                batch_size=int(extra.get("batch_size", TrackSettings.batch_size)),
                presence_threshold=float(extra.get("presence_threshold", 0.0)),
                candidates=int(extra.get("candidates", 1)),
                rank_by=str(extra.get("rank_by", "ranker")),  # type: ignore[arg-type]
                predict_spans=bool(extra.get("predict_spans", 0)),
            )
            self.compile_mode = str(extra.get("compile", "auto"))
            should_compile(self.compile_mode, self.device)  # checks the mode
        except ValueError as error:
            raise SeparationError(f"sam-audio: {error}") from error
        self._cache = cache
        self._batch_size_set = "batch_size" in extra
        self._speed: Speed | None = None
        self.last_presence: list[ChunkPresence] = []
        """Per (clip, prompt) presence scores of the last ``separate`` call."""
        self._spans: tuple[SpanPredictor | None] | None = None
        self._ranker: tuple[EnsembleRanker | None] | None = None

    @classmethod
    def describe(cls) -> BackendInfo:
        """Whether torch and transformers are installed and a model is configured; loads nothing."""
        missing = [
            name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None
        ]
        found, note = model_status()
        why = f"missing Python packages: {', '.join(missing)}" if missing else ""
        if not found:
            why = f"{why}; {note}" if why else note
        return BackendInfo(
            name="sam-audio",
            available=not missing and found,
            summary="Meta SAM-Audio, any text prompt, GPU recommended"
            + (f"; {note}" if found else ""),
            capabilities=("text prompts", "time spans", "stereo masks", "any sample rate"),
            why_unavailable=why,
        )

    def check_prompts(self, prompts: Sequence[Prompt]) -> None:
        """Any non-empty text is a valid SAM-Audio prompt."""
        for prompt in prompts:
            if not isinstance(prompt, Prompt) or not prompt.text.strip():
                raise PromptNotSupportedError(f"sam-audio needs a text prompt, got {prompt!r}")

    def settings(self) -> dict[str, object]:
        from samaudio_daw.separation.sam_audio.device import dtype_name

        s = self.track_settings
        return (
            {
                "backend": self.name,
                "implementation": IMPLEMENTATION_VERSION,
                "model": self.model_id,
                "dtype": dtype_name(self.dtype),
                "steps": s.steps,
                "seed": s.seed,
                "chunk_s": s.chunk_s,
                "overlap": s.overlap,
                "output": s.output,
            }
            | _optional_settings(s)
            | self._ranker_setting()
            | self._span_setting()
        )

    def _ranker_setting(self) -> dict[str, object]:
        """The text rankers' checkpoints that are on this machine: they change the ranking
        and the presence scores, so results made without them are not reused."""
        from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError
        from samaudio_daw.separation.sam_audio.rankers import named_rankers, raw_config
        from samaudio_daw.separation.sam_audio.store import ranker_checkpoint

        try:
            folder = self._model_dir()
        except ModelNotFoundError:
            return {}
        found = []
        for spec in named_rankers(raw_config(folder)):
            if spec.runnable and spec.kind == "sound_activity":
                found.append(f"sound_activity:{dict(spec.options)}")
                continue
            path = ranker_checkpoint(spec, folder) if spec.runnable else None
            if path is not None:
                found.append(f"{spec.kind}:{path.name}:{path.stat().st_size}")
        return {"ranker": ",".join(found)} if found else {}

    def _span_predictor_folder(self) -> tuple[str | None, Path | None]:
        """(the span predictor config.json names, its folder here), without network."""
        from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError
        from samaudio_daw.separation.sam_audio.rankers import raw_config
        from samaudio_daw.separation.sam_audio.store import span_predictor_folder

        try:
            name = raw_config(self._model_dir()).get("span_predictor")
        except ModelNotFoundError:
            return None, None
        return (str(name), span_predictor_folder(str(name))) if name else (None, None)

    def _span_setting(self) -> dict[str, object]:
        """With --predict-spans, the predictor's weights when they are here (they change the
        anchors); without them the output is as without the option, and so is the key."""
        if not self.track_settings.predict_spans:
            return {}
        name, folder = self._span_predictor_folder()
        if folder is None:
            return {}
        weights = folder / "model.safetensors"
        size = weights.stat().st_size if weights.is_file() else 0
        return {"span_predictor": f"{name}:{size}"}

    def span_predictor(self, model: SamAudio) -> SpanPredictor | None:
        """With --predict-spans, the span predictor config.json names, loaded once when its
        files are here; else one warning and None (spans come from the prompts only)."""
        from samaudio_daw.separation.sam_audio.spans import load_span_predictor

        if not self.track_settings.predict_spans:
            return None
        if self._spans is None:
            name, folder = self._span_predictor_folder()
            predictor = None if folder is None else load_span_predictor(folder, model.device)
            self._spans = (predictor,)
            if predictor is None:
                why = (
                    f"span predictor {name!r} is not on this machine (fetch it with "
                    "`samaudio-daw model pull --with-rankers`)"
                    if name
                    else "config.json names no span predictor"
                )
                warnings.warn(
                    f"sam-audio: --predict-spans: {why}; spans come from regions and the "
                    "time selection, as without the option",
                    stacklevel=3,
                )
        return self._spans[0]

    def _model_dir(self) -> Path:
        """The model's folder on this machine, without network (hub ids: the cached copy)."""
        from samaudio_daw.separation.sam_audio import store

        return store.local_path(self.model_id)

    def text_ranker(self, model: SamAudio) -> EnsembleRanker | None:
        """The text ranker named in config.json (CLAP, the judge or both), loaded once, of
        the members whose files are here; one warning names what is not used (and the
        fallback when ranking by it)."""
        from samaudio_daw.separation.sam_audio.ensemble import load_text_ranker

        if self._ranker is None:
            ranker, notes = load_text_ranker(self._model_dir(), model.device)
            self._ranker = (ranker,)
            s = self.track_settings
            if ranker is None and s.rank_by == "ranker" and s.candidates > 1:
                notes.insert(0, "no text ranker loaded: candidates are ranked by presence")
            # Without candidates or a presence threshold the rankers change nothing.
            if notes and (s.candidates > 1 or s.presence_threshold > 0):
                warnings.warn("sam-audio: " + "; ".join(notes), stacklevel=3)
        return self._ranker[0]

    def model(self) -> SamAudio:
        """The loaded model, from the cache (loads it on first use), compiled on CUDA unless
        the option compile=off says otherwise (the cached model stays compiled)."""
        from samaudio_daw.separation.sam_audio.cache import process_cache
        from samaudio_daw.separation.sam_audio.compiled import compile_model

        cache = self._cache if self._cache is not None else process_cache()
        model = cache.get(self.model_id, self.device, self.dtype)
        compile_model(model, self.compile_mode)
        return model

    def separate(
        self,
        audio: np.ndarray,
        sample_rate: int,
        prompts: Sequence[Prompt],
        progress: ProgressCallback | None = None,
    ) -> list[np.ndarray]:
        """audio: (channels, frames) float32 at ``sample_rate`` → one (channels, frames) per prompt."""
        import torch

        from samaudio_daw.separation.sam_audio.pipeline import separate_track

        check_input(self.name, audio, sample_rate)
        self.check_prompts(prompts)
        if not prompts or audio.shape[1] == 0:
            return [np.zeros_like(audio, dtype=np.float32) for _ in prompts]
        model = self.model()
        if model.device.type == "cpu":
            self._warn_cpu(model, audio.shape[1] / sample_rate, len(prompts))
        # A private float32 copy: the caller's array is never changed.
        samples = torch.from_numpy(np.array(audio, dtype=np.float32, copy=True))
        presence: list[ChunkPresence] = []
        ranker = self.text_ranker(model)
        spans = self.span_predictor(model)
        settings = self._settings_for(model)
        predicted: list[tuple[int, Anchor]] = []
        targets = separate_track(
            model, samples, sample_rate, prompts, settings, progress, presence, ranker,
            spans=spans, predicted=predicted,
        )  # fmt: skip
        self.last_presence = presence
        _warn_silenced(presence, prompts)
        if spans is not None:
            _note_predicted(predicted, prompts, audio.shape[1] / sample_rate)
        return [target.numpy() for target in targets]

    def _settings_for(self, model: SamAudio) -> TrackSettings:
        """The settings, with the batch size fitted to the GPU's free memory unless set."""
        import dataclasses

        from samaudio_daw.separation.sam_audio.machine import auto_batch, free_memory_bytes

        s = self.track_settings
        if self._batch_size_set or model.device.type not in ("cuda", "mps"):
            return s
        free = free_memory_bytes(model.device)
        batch = auto_batch(model.config, free, model.compute_dtype, s.chunk_s, loaded=True)
        return dataclasses.replace(s, batch_size=batch)

    def _warn_cpu(self, model: SamAudio, audio_s: float, n_prompts: int) -> None:
        """Warn with the time this run will take, from a short measurement of the loaded
        model on this machine (a DiT call and the codec on 2 s; kept for later calls)."""
        from samaudio_daw.separation.sam_audio.device import CpuSlowWarning, format_duration
        from samaudio_daw.separation.sam_audio.machine import estimate_s, measure_model

        s = self.track_settings
        if self._speed is None:
            self._speed = measure_model(model, s.chunk_s)
        eta = s.candidates * estimate_s(
            self._speed, model.config, audio_s, n_prompts, s.steps, s.overlap
        )
        warnings.warn(
            CpuSlowWarning(
                f"SAM-Audio is running on the CPU: expect roughly {format_duration(eta)} for "
                f"{format_duration(audio_s)} of audio with {n_prompts} prompt(s) and {s.steps} "
                "steps. On a CUDA GPU (--device cuda) it runs faster than real time."
            ),
            stacklevel=3,
        )


def _optional_settings(s: TrackSettings) -> dict[str, object]:
    """Settings that are only listed when used, so older cache keys stay valid."""
    found: dict[str, object] = {}
    if s.presence_threshold:
        found["presence_threshold"] = s.presence_threshold
    if s.candidates > 1:
        found |= {"candidates": s.candidates, "rank_by": s.rank_by}
    return found


def _warn_silenced(presence: Sequence[ChunkPresence], prompts: Sequence[Prompt]) -> None:
    """One warning per prompt that was silenced in some clips, naming the times and scores."""
    for index, prompt in enumerate(prompts):
        off = [c for c in presence if c.prompt == index and c.silenced]
        if off:
            spans = ", ".join(f"{c.start_s:.1f}-{c.end_s:.1f} s ({c.score:.2f})" for c in off[:6])
            more = f" and {len(off) - 6} more" if len(off) > 6 else ""
            warnings.warn(
                f"sam-audio: {prompt.text!r} not found (presence below the threshold) in "
                f"{spans}{more}; those clips are silent in its stem",
                stacklevel=3,
            )


def _note_predicted(
    predicted: Sequence[tuple[int, Anchor]], prompts: Sequence[Prompt], duration_s: float
) -> None:
    """One line per prompt the span predictor ran for: where it heard the sound (spans of
    overlapping clips merged, cut at the end of the audio), or that it heard it nowhere."""
    for index, prompt in enumerate(prompts):
        if prompt.spans:
            continue
        merged: list[list[float]] = []
        found = sorted((a.start_s, min(a.end_s, duration_s)) for p, a in predicted if p == index)
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        where = ", ".join(f"{s:.2f}-{e:.2f} s" for s, e in merged[:8])
        more = f" and {len(merged) - 8} more" if len(merged) > 8 else ""
        warnings.warn(
            f"sam-audio: span predictor heard {prompt.text!r} at {where}{more} (used as '+' spans)"
            if merged
            else f"sam-audio: span predictor heard {prompt.text!r} nowhere (no spans used)",
            stacklevel=3,
        )


def model_status() -> tuple[bool, str]:
    """(found, one line): whether ``$SAMAUDIO_MODEL`` names a model that is on this machine.

    A folder must hold config.json and checkpoint.pt; a hub id must be downloaded
    already. Reads no weights and uses no network.
    """
    from samaudio_daw.separation.sam_audio import store
    from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError

    model = os.environ.get(MODEL_ENV, "").strip()
    if not model:
        return False, (
            f"no model set: pass --model DIR_OR_HUB_ID or set ${MODEL_ENV} "
            "(weights: request access to facebook/sam-audio-large on Hugging Face)"
        )
    try:
        where = store.parse_source(model)
    except ModelNotFoundError as error:
        return False, f"model {model!r} (from ${MODEL_ENV}) not found: {error}"
    if isinstance(where, Path):
        needed = (store.CONFIG_FILE, store.CHECKPOINT_FILE)
        lacking = [name for name in needed if not (where / name).is_file()]
        if lacking:
            return False, f"model folder {where} (from ${MODEL_ENV}) lacks {', '.join(lacking)}"
        return True, f"model: {where} (from ${MODEL_ENV}), found"
    snapshot = store.installed_path(where)
    if snapshot is None:
        return False, (
            f"model {model} (from ${MODEL_ENV}) is not downloaded on this machine yet; "
            "it is fetched on first use"
        )
    return True, f"model: {model} (from ${MODEL_ENV}), downloaded at {snapshot}"
