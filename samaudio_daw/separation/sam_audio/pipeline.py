"""Separate one track of any rate and channel count with a loaded SamAudio, in clips.

Flow: downmix and resample to the model's 48 kHz mono view → cut into equal, overlapping,
hop-aligned clips → for every (clip, prompt) pair, batched: encode, integrate the ODE,
decode the target (beside the next batch's ODE on CUDA) → per clip either a ratio mask against the model's view of the mixture
(``masked``) or the decoded audio (``generated``) → blend clips with crossfades → masked:
normalise the masks across prompts and apply them to every input channel at its own rate.

Prompts without spans of their own may get anchors from the span predictor (spans.py):
computed once per (clip, prompt) from the clip's latents, before the first batch.

Every clip shares one noise draw for the whole track (sliced at the clip's frames), so
neighbouring clips start the ODE from the same noise where they overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal

import torch

from samaudio_daw.separation.base import ProgressCallback, Prompt
from samaudio_daw.separation.sam_audio.anchors import Anchor
from samaudio_daw.separation.sam_audio.chunks import (
    DEFAULT_OVERLAP,
    ChunkPlan,
    OverlapAdd,
    frames_for_seconds,
    plan_chunks,
)
from samaudio_daw.separation.sam_audio.codec import WATERMARK_BITS
from samaudio_daw.separation.sam_audio.device import in_batches, out_of_memory_error
from samaudio_daw.separation.sam_audio.masks import (
    StftGrid,
    apply_masks,
    normalise_masks,
    project_masks,
    ratio_mask,
)
from samaudio_daw.separation.sam_audio.model import SamAudio
from samaudio_daw.separation.sam_audio.overlapped import Beside
from samaudio_daw.separation.sam_audio.presence import ChunkPresence, presence_scores
from samaudio_daw.separation.sam_audio.processor import label_frames
from samaudio_daw.separation.sam_audio.ranking import (
    RANK_BY,
    RankBy,
    pick_candidates,
    ranker_presence,
)
from samaudio_daw.separation.sam_audio.resample import resample
from samaudio_daw.separation.sam_audio.sound_activity import Span
from samaudio_daw.separation.sam_audio.text import TextFeatures

if TYPE_CHECKING:
    from samaudio_daw.separation.sam_audio.ensemble import EnsembleRanker
    from samaudio_daw.separation.sam_audio.spans import SpanPredictor

OutputMode = Literal["masked", "generated"]


@dataclass(frozen=True)
class TrackSettings:
    """What changes the output besides the model, the audio and the prompts.

    chunk_s: clip length (rounded to whole latent frames of 40 ms); overlap: fraction of a
    clip shared with the next; batch_size: (clip, prompt) pairs per forward pass.
    """

    steps: int = 16
    seed: int = 0
    chunk_s: float = 10.0
    overlap: float = DEFAULT_OVERLAP
    output: OutputMode = "masked"
    batch_size: int = 8
    presence_threshold: float = 0.0
    """Clips whose presence score (presence.py) is below this become silence; 0 = off."""
    candidates: int = 1
    """Noise draws per (clip, prompt); the best by ``rank_by`` is kept (ranking.py)."""
    rank_by: RankBy = "ranker"
    predict_spans: bool = False
    """Prompts without spans of their own get the span predictor's ``+`` anchors (spans.py)."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0.04 <= self.chunk_s <= 400.0:
            raise ValueError(f"chunk_s must be between 0.04 and 400 seconds, got {self.chunk_s}")
        if not 0.0 <= self.overlap <= 0.75:
            raise ValueError(f"overlap must be between 0 and 0.75, got {self.overlap}")
        if self.output not in ("masked", "generated"):
            raise ValueError(f"output must be 'masked' or 'generated', got {self.output!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 1 <= self.candidates <= 16:
            raise ValueError(f"candidates must be between 1 and 16, got {self.candidates}")
        if self.rank_by not in RANK_BY:
            raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}, got {self.rank_by!r}")
        if not 0.0 <= self.presence_threshold <= 1.0:
            raise ValueError(
                f"presence threshold must be between 0 and 1, got {self.presence_threshold}"
            )


@dataclass(frozen=True)
class ModelView:
    """The track as the model hears it: mono, 48 kHz, padded to whole frames.

    mono: (frames·hop,) float32 on the model's device; samples: length before padding.
    """

    mono: torch.Tensor
    samples: int


Item = tuple[int, int]
"""(clip index, prompt index)."""


@dataclass(frozen=True)
class ClipInputs:
    """Per-track constants shared by every batch: clip audio (clips, L) and latents
    (clips, C, frames), text features (prompts, S, ·), noise (candidates, total_frames, 2C),
    bits (16,), and the span predictor's anchors per (clip, prompt) it ran for."""

    clips: torch.Tensor
    latents: torch.Tensor
    text: TextFeatures
    noise: torch.Tensor
    bits: torch.Tensor
    predicted: Mapping[Item, tuple[Anchor, ...]] = field(default_factory=dict)


def model_view(audio: torch.Tensor, sample_rate: int, model: SamAudio) -> ModelView:
    """(channels, samples) at ``sample_rate`` → the 48 kHz mono view, padded to a hop multiple.

    Padding is reflected, as the official codec pads, unless the clip is too short for it.
    """
    mono = resample(audio.mean(dim=0), sample_rate, model.sample_rate)
    samples = mono.shape[-1]
    extra = -samples % model.hop_samples
    mode = "reflect" if samples > extra else "constant"
    padded = torch.nn.functional.pad(mono[None, None], (0, extra), mode=mode)[0, 0]
    return ModelView(padded.to(model.device), samples)


def clip_anchors(prompt: Prompt, start_s: float, length_s: float) -> tuple[Anchor, ...]:
    """The prompt's time spans that touch the clip, in seconds from the clip's start."""
    anchors = []
    for span in prompt.spans:
        start, end = max(0.0, span.start_s - start_s), min(length_s, span.end_s - start_s)
        if end > start:
            anchors.append(Anchor(span.sign, start, end))
    return tuple(anchors)


def predict_anchors(
    predictor: SpanPredictor, latents: torch.Tensor, prompts: Sequence[Prompt], batch_size: int
) -> dict[Item, tuple[Anchor, ...]]:
    """The predictor's ``+`` anchors for every clip of ``latents`` (clips, C, frames) and
    every prompt without spans of its own (official SAM-Audio predicts only for a batch
    without anchors); items where no frame is active get none."""
    asking = [p for p, prompt in enumerate(prompts) if not prompt.spans]
    items = [(c, p) for c in range(latents.shape[0]) for p in asking]
    found: dict[Item, tuple[Anchor, ...]] = {}
    for first in range(0, len(items), batch_size):
        batch = items[first : first + batch_size]
        texts = [prompts[p].text for _, p in batch]
        anchors = predictor.predict(latents[[c for c, _ in batch]], texts)
        found |= dict(zip(batch, anchors, strict=True))
    return found


def prepare_inputs(
    model: SamAudio,
    view: ModelView,
    plan: ChunkPlan,
    prompts: Sequence[Prompt],
    settings: TrackSettings,
    spans: SpanPredictor | None = None,
) -> ClipInputs:
    """Cut the clips, encode them and the prompts, and draw the seeded noise and watermark;
    with a span predictor, predict anchors for the prompts without spans."""
    length = plan.chunk_frames * model.hop_samples
    clips = torch.stack([view.mono[s * model.hop_samples :][:length] for s in plan.starts])
    encoded = in_batches(
        range(len(plan.starts)),
        settings.batch_size,
        lambda batch, _: model.encode_audio(clips[list(batch), None]),
        lambda error: out_of_memory_error(model, settings.chunk_s, error),
        model.device,
    )
    latents = torch.cat([latent for _, latent in encoded])
    generator = torch.Generator().manual_seed(settings.seed)
    channels = 2 * model.config.latent_channels
    noise = torch.randn((plan.total_frames, channels), generator=generator)
    bits = torch.randint(0, 2, (WATERMARK_BITS,), generator=generator)
    # Further candidates are drawn after the first: one candidate gives the same audio as before.
    more = [
        torch.randn((plan.total_frames, channels), generator=generator)
        for _ in range(settings.candidates - 1)
    ]
    noise = torch.stack([noise, *more])
    text = model.encode_text([prompt.text for prompt in prompts])
    predicted = (
        {} if spans is None else predict_anchors(spans, latents, prompts, settings.batch_size)
    )
    return ClipInputs(
        clips, latents, text, noise.to(model.device), bits.to(model.device), predicted
    )


def item_anchors(
    model: SamAudio,
    items: Sequence[Item],
    plan: ChunkPlan,
    prompts: Sequence[Prompt],
    inputs: ClipInputs,
) -> list[tuple[Anchor, ...]]:
    """Each (clip, prompt) pair's anchors, in seconds from the clip's start: the prompt's
    own spans, else the span predictor's."""
    frame_s = model.hop_samples / model.sample_rate
    return [
        clip_anchors(prompts[p], plan.starts[c] * frame_s, plan.chunk_frames * frame_s)
        if prompts[p].spans
        else inputs.predicted.get((c, p), ())
        for c, p in items
    ]


def solve_targets(
    model: SamAudio,
    items: Sequence[Item],
    plan: ChunkPlan,
    prompts: Sequence[Prompt],
    inputs: ClipInputs,
    steps: int,
    on_step: Callable[[int], None] | None = None,
    candidate: int = 0,
) -> torch.Tensor:
    """Target latents (len(items), C, clip frames) float32 for a batch of (clip, prompt)
    pairs, integrated from the noise of ``candidate``."""
    clip_ids = [c for c, _ in items]
    prompt_ids = torch.tensor([p for _, p in items])
    anchors = item_anchors(model, items, plan, prompts, inputs)
    labels = label_frames(
        anchors, [plan.chunk_frames] * len(items), model.sample_rate, model.hop_samples
    )
    text = TextFeatures(
        inputs.text.features[prompt_ids.to(inputs.text.features.device)],
        inputs.text.mask[prompt_ids.to(inputs.text.mask.device)],
    )
    cond = model.condition(inputs.latents[clip_ids], labels, text)
    track_noise = inputs.noise[candidate]
    noise = torch.stack([track_noise[plan.starts[c] :][: plan.chunk_frames] for c in clip_ids])
    final = model.solve(noise, cond, steps, on_step)
    # Only the target half (the first C channels) is decoded: masks need nothing else.
    return final[..., : model.config.latent_channels].transpose(1, 2).contiguous()


def decode_targets(
    model: SamAudio,
    items: Sequence[Item],
    targets: torch.Tensor,
    inputs: ClipInputs,
    settings: TrackSettings,
    texts: Sequence[str],
    ranker: EnsembleRanker | None = None,
    spans: Sequence[Sequence[Span]] = (),
) -> torch.Tensor:
    """Target latents (K candidates, n pairs, C, frames) → the kept waveforms (n, clip
    samples) float32: decoded, and with several candidates the best by ``rank_by``
    (``spans``: each pair's anchors as (start, end) seconds, for the sound_activity ranker)."""
    waves = torch.stack([_decode(model, target, inputs.bits, settings) for target in targets])
    if waves.shape[0] == 1:
        return waves[0]
    mixtures = inputs.clips[[c for c, _ in items]]
    grid = StftGrid(model.sample_rate)
    return pick_candidates(waves, mixtures, settings.rank_by, grid, ranker, texts, spans)


def _decode(
    model: SamAudio, target: torch.Tensor, bits: torch.Tensor, settings: TrackSettings
) -> torch.Tensor:
    """(n, C, frames) latents → (n, samples); out of memory is retried in halves, as the
    ODE's batches are."""

    def run(rows: Sequence[int], _: int) -> torch.Tensor:
        return model.decode(target[list(rows)], bits.expand(len(rows), -1))[:, 0]

    parts = in_batches(
        range(target.shape[0]),
        target.shape[0],
        run,
        lambda error: out_of_memory_error(model, settings.chunk_s, error),
        model.device,
    )
    return torch.cat([part for _, part in parts])


def _accumulate(
    blend: OverlapAdd,
    items: Sequence[Item],
    waves: torch.Tensor,
    plan: ChunkPlan,
    inputs: ClipInputs,
    settings: TrackSettings,
    model: SamAudio,
    texts: Sequence[str],
    ranker: EnsembleRanker | None = None,
) -> list[ChunkPresence]:
    """Blend a batch's decoded targets (n, clip samples) as masks or as audio, silencing
    the pairs whose presence score (the text ranker's when loaded) is below the threshold;
    their scores."""
    grid = StftGrid(model.sample_rate)
    output = settings.output
    mixtures = inputs.clips[[c for c, _ in items]]
    if ranker is not None:
        scores = ranker_presence(ranker, waves, mixtures, texts, grid).tolist()
    else:
        scores = presence_scores(waves, mixtures, grid).tolist()
    silenced = [score < settings.presence_threshold for score in scores]
    values = ratio_mask(waves, mixtures, grid) if output == "masked" else waves
    for row, off in enumerate(silenced):
        if off:
            values[row] = 0.0
    frame_s = model.hop_samples / model.sample_rate
    found = [
        ChunkPresence(
            p, plan.starts[c] * frame_s, (plan.starts[c] + plan.chunk_frames) * frame_s, s, off
        )
        for (c, p), s, off in zip(items, scores, silenced, strict=True)
    ]
    # Clip starts are whole latent frames, i.e. whole STFT hops (1920 = 2 × 960 samples).
    unit = grid.hop if output == "masked" else 1
    for (clip, prompt), value in zip(items, values, strict=True):
        blend.add(prompt, plan.starts[clip] * model.hop_samples // unit, value)
    return found


def _blend_shape(
    model: SamAudio, view: ModelView, n_prompts: int, output: OutputMode
) -> tuple[int, ...]:
    if output == "generated":
        return (n_prompts, view.mono.shape[-1])
    grid = StftGrid(model.sample_rate)
    return (n_prompts, grid.n_fft // 2 + 1, grid.frames(view.mono.shape[-1]))


def blend_clips(
    model: SamAudio,
    view: ModelView,
    plan: ChunkPlan,
    prompts: Sequence[Prompt],
    settings: TrackSettings,
    progress: ProgressCallback | None = None,
    presence: list[ChunkPresence] | None = None,
    ranker: EnsembleRanker | None = None,
    decode_beside: bool | None = None,
    spans: SpanPredictor | None = None,
    predicted: list[tuple[int, Anchor]] | None = None,
) -> torch.Tensor:
    """Run every (clip, prompt) pair and blend: masks (P, bins, frames) on the 48 kHz grid
    when ``settings.output`` is masked, else audio (P, padded samples). Each pair's
    presence score is appended to ``presence`` when given. ``decode_beside``: decode a
    batch in a worker while the next batch's ODE runs (None: on CUDA only). ``spans``: the
    span predictor; its anchors are appended to ``predicted`` as (prompt, anchor in
    seconds from the track's start)."""
    inputs = prepare_inputs(model, view, plan, prompts, settings, spans)
    if predicted is not None:
        frame_s = model.hop_samples / model.sample_rate
        for (clip, prompt), anchors in sorted(inputs.predicted.items()):
            start = plan.starts[clip] * frame_s
            predicted += [
                (prompt, Anchor(a.sign, start + a.start_s, start + a.end_s)) for a in anchors
            ]
    if progress is not None:
        progress(0.05)
    items = [(c, p) for c in range(len(plan.starts)) for p in range(len(prompts))]
    blend = OverlapAdd(_blend_shape(model, view, len(prompts), settings.output), model.device)

    def solve(batch: Sequence[Item], done: int) -> torch.Tensor:
        k = settings.candidates
        drawn = []
        for candidate in range(k):
            report = _step_reporter(progress, done, len(batch), len(items), settings.steps, candidate, k)  # fmt: skip
            drawn.append(
                solve_targets(
                    model, batch, plan, prompts, inputs, settings.steps, report, candidate
                )
            )
        return torch.stack(drawn)

    def finish(batch: Sequence[Item]) -> None:
        texts = [prompts[p].text for _, p in batch]
        waves = decoder.result()
        found = _accumulate(blend, batch, waves, plan, inputs, settings, model, texts, ranker)
        if presence is not None:
            presence.extend(found)

    # Batch i is decoded while batch i+1's ODE runs (CUDA by default; see overlapped.py).
    use_thread = model.device.type == "cuda" if decode_beside is None else decode_beside
    decoder: Beside[torch.Tensor] = Beside(model.device, use_thread)
    previous: Sequence[Item] | None = None
    try:
        for batch, targets in in_batches(
            items,
            settings.batch_size,
            solve,
            lambda error: out_of_memory_error(model, settings.chunk_s, error),
            model.device,
        ):
            if previous is not None:
                finish(previous)
            texts = [prompts[p].text for _, p in batch]
            pair_spans = [
                [(a.start_s, a.end_s) for a in anchors]
                for anchors in item_anchors(model, batch, plan, prompts, inputs)
            ]
            decode = partial(
                decode_targets, model, batch, targets, inputs, settings, texts, ranker, pair_spans
            )
            decoder.submit(decode, (targets,))
            previous = batch
        if previous is not None:
            finish(previous)
    finally:
        decoder.close()
    return blend.result()


def _step_reporter(
    progress: ProgressCallback | None,
    done: int,
    size: int,
    total: int,
    steps: int,
    candidate: int = 0,
    candidates: int = 1,
) -> Callable[[int], None] | None:
    """Progress after each ODE step: 5 % for preparation, 90 % for the pairs, 5 % to finish."""
    if progress is None:
        return None
    callback = progress

    def report(step: int) -> None:
        fraction = (candidate * steps + step) / (candidates * steps)
        callback(0.05 + 0.9 * (done + size * fraction) / total)

    return report


def separate_track(
    model: SamAudio,
    audio: torch.Tensor,
    sample_rate: int,
    prompts: Sequence[Prompt],
    settings: TrackSettings,
    progress: ProgressCallback | None = None,
    presence: list[ChunkPresence] | None = None,
    ranker: EnsembleRanker | None = None,
    decode_beside: bool | None = None,
    spans: SpanPredictor | None = None,
    predicted: list[tuple[int, Anchor]] | None = None,
) -> torch.Tensor:
    """audio: (channels, samples) float32 at ``sample_rate`` → targets (P, channels, samples).

    Masked output keeps every channel and the full band, and the targets never add up to
    more than the mixture in any time-frequency cell; generated output is the model's own
    audio, resampled and copied to every channel. Float32 on the CPU.
    """
    with torch.inference_mode():
        view = model_view(audio, sample_rate, model)
        total_frames = view.mono.shape[-1] // model.hop_samples
        chunk = frames_for_seconds(settings.chunk_s, model.sample_rate, model.hop_samples)
        plan = plan_chunks(total_frames, chunk, settings.overlap)
        blended = blend_clips(
            model, view, plan, prompts, settings, progress, presence, ranker, decode_beside,
            spans, predicted,
        )  # fmt: skip
        if settings.output == "generated":
            targets = _finish_generated(blended, view, audio.shape, sample_rate, model)
        else:
            targets = _finish_masked(blended, audio, sample_rate, model)
    if progress is not None:
        progress(1.0)
    return targets.cpu()


def _finish_masked(
    masks: torch.Tensor, audio: torch.Tensor, sample_rate: int, model: SamAudio
) -> torch.Tensor:
    """Normalised 48 kHz masks (P, bins, frames) → targets (P, channels, samples) at the input rate."""
    grid = StftGrid(sample_rate)
    frames = grid.frames(audio.shape[-1])
    projected = project_masks(
        normalise_masks(masks), StftGrid(model.sample_rate), grid, frames, sample_rate
    )
    return apply_masks(audio.to(model.device, torch.float32), projected, grid)


def _finish_generated(
    waves: torch.Tensor,
    view: ModelView,
    shape: torch.Size,
    sample_rate: int,
    model: SamAudio,
) -> torch.Tensor:
    """Blended 48 kHz audio (P, padded samples) → (P, channels, samples) at the input rate."""
    channels, samples = shape
    at_rate = resample(waves[:, : view.samples], model.sample_rate, sample_rate)
    at_rate = torch.nn.functional.pad(at_rate, (0, max(0, samples - at_rate.shape[-1])))
    return at_rate[:, None, :samples].expand(-1, channels, -1).contiguous()
