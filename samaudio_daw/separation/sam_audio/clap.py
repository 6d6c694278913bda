"""The CLAP text ranker: how well a candidate's audio matches the prompt's text.

Official SAM-Audio ranks its noise candidates with LAION-CLAP (``text_ranker: {"kind":
"clap"}`` in config.json; checkpoint ``630k-best.pt`` of ``lukewys/laion_clap`` unless the
config names one): both embeddings are projected to a joint space, L2-normalised, and the
candidate with the highest dot product (cosine) wins. This module keeps that interface and
the checkpoint layout (``{"state_dict": {"module.…": …}}``, ``audio_branch``/``text_branch``
encoders, two-layer ``audio_projection``/``text_projection`` heads, ``logit_scale_a/t``)
and the audio preparation (48 kHz, int16 round trip, 10 s with repeat-padding), with
small encoders in place of LAION-CLAP's:

- audio_branch: a 64-band log-mel (HTK scale, 50 Hz-14 kHz, 1024/480 STFT, as LAION's
  audio config) → per-frame ``mel_proj`` linear + GELU → mean over time, instead of the
  HTSAT-tiny Swin transformer;
- text_branch: a mean of UTF-8 byte embeddings → ``pooler`` linear + tanh, instead of
  RoBERTa and its tokenizer;
- clips over 10 s: the first 10 s, where LAION takes a random 10 s crop.

So the released 630k-best.pt does not load here (it is refused with one line and ranking
falls back); checkpoints in this layout with these encoders do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError
from samaudio_daw.separation.sam_audio.rankers import named_rankers, raw_config, span_predictor_line

SAMPLE_RATE = 48_000
CLIP_SAMPLES = 480_000
"""LAION-CLAP hears 10 s at 48 kHz."""
N_FFT, HOP, MELS, F_MIN, F_MAX = 1024, 480, 64, 50.0, 14_000.0
_AUDIO_KEY = "audio_branch.mel_proj.weight"
_TEXT_KEY = "text_branch.byte_embedding.weight"


class _Projection(torch.nn.Sequential):
    """LAION-CLAP's projection head: Linear → ReLU → Linear (keys ``0.*`` and ``2.*``)."""

    def __init__(self, width: int, joint: int) -> None:
        super().__init__(
            torch.nn.Linear(width, joint), torch.nn.ReLU(), torch.nn.Linear(joint, joint)
        )


class _AudioBranch(torch.nn.Module):
    mel_filters: torch.Tensor

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mel_proj = torch.nn.Linear(MELS, width)
        self.register_buffer("mel_filters", mel_filters(), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, CLIP_SAMPLES) → (n, width)."""
        window = torch.hann_window(N_FFT, device=audio.device)
        spec = torch.stft(audio, N_FFT, HOP, window=window, center=True, return_complex=True)
        power = spec.abs().square().transpose(1, 2)  # (n, frames, bins)
        log_mel = 10.0 * torch.log10((power @ self.mel_filters).clamp(min=1e-10))
        return torch.nn.functional.gelu(self.mel_proj(log_mel)).mean(dim=1)


class _TextBranch(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.byte_embedding = torch.nn.Embedding(256, width)
        self.pooler = torch.nn.Linear(width, width)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """n texts → (n, width)."""
        device = self.byte_embedding.weight.device
        rows = []
        for text in texts:
            ids = torch.tensor(list(text.strip().lower().encode("utf-8")) or [32], device=device)
            rows.append(self.byte_embedding(ids).mean(dim=0))
        return torch.tanh(self.pooler(torch.stack(rows)))


class ClapRanker(torch.nn.Module):
    """Scores (K candidates × N pairs) of audio against N texts: cosine in the joint space."""

    def __init__(self, audio_width: int, text_width: int, joint: int) -> None:
        super().__init__()
        self.audio_branch = _AudioBranch(audio_width)
        self.text_branch = _TextBranch(text_width)
        self.audio_projection = _Projection(audio_width, joint)
        self.text_projection = _Projection(text_width, joint)
        self.logit_scale_a = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_scale_t = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def audio_embedding(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) at 48 kHz → (n, joint), unit length."""
        embedded = self.audio_projection(self.audio_branch(prepare_audio(audio)))
        return torch.nn.functional.normalize(embedded, dim=-1)

    def text_embedding(self, texts: Sequence[str]) -> torch.Tensor:
        """n texts → (n, joint), unit length."""
        embedded = self.text_projection(self.text_branch(texts))
        return torch.nn.functional.normalize(embedded, dim=-1)

    def score(self, waves: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """waves: (K, N, samples) at 48 kHz, texts: N → (K, N) cosine similarities in [-1, 1]."""
        k, n, samples = waves.shape
        device = self.logit_scale_a.device
        audio = self.audio_embedding(waves.reshape(k * n, samples).to(device, torch.float32))
        text = self.text_embedding(texts)
        return (audio.reshape(k, n, -1) * text[None]).sum(dim=-1)


def prepare_audio(audio: torch.Tensor) -> torch.Tensor:
    """(n, samples) → (n, CLIP_SAMPLES): int16 round trip, repeat-padded or cut to 10 s."""
    quantised = (audio.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).float() / 32767.0
    samples = quantised.shape[-1]
    if samples >= CLIP_SAMPLES:
        return quantised[:, :CLIP_SAMPLES]
    repeated = quantised.repeat(1, CLIP_SAMPLES // max(samples, 1))
    return torch.nn.functional.pad(repeated, (0, CLIP_SAMPLES - repeated.shape[-1]))


def mel_filters() -> torch.Tensor:
    """(bins, MELS) triangular HTK-scale filters from F_MIN to F_MAX."""

    def to_mel(hz: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    edges = torch.linspace(
        float(to_mel(torch.tensor(F_MIN))), float(to_mel(torch.tensor(F_MAX))), MELS + 2
    )
    hz = 700.0 * (10.0 ** (edges / 2595.0) - 1.0)
    freqs = torch.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    low, mid, high = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (freqs[None] - low) / (mid - low)
    falling = (high - freqs[None]) / (high - mid)
    return torch.minimum(rising, falling).clamp(min=0.0).T.contiguous()


def load_clap(path: Path, device: torch.device) -> ClapRanker:
    """A ranker from a CLAP checkpoint in LAION's layout; CheckpointMismatchError (one line)
    for anything else, including the full LAION-CLAP model this build does not implement."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointMismatchError(
            f"{path}: not a readable CLAP checkpoint ({error})"
        ) from error
    state = raw.get("state_dict", raw) if isinstance(raw, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f"{path}: no state_dict in the CLAP checkpoint")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state.pop("text_branch.embeddings.position_ids", None)
    if _AUDIO_KEY not in state or _TEXT_KEY not in state:
        kind = "HTSAT + RoBERTa" if any(k.startswith("audio_branch.") for k in state) else "unknown"
        raise CheckpointMismatchError(
            f"{path}: a CLAP checkpoint with {kind} encoders, which this build does not "
            f"implement (it runs the small CLAP layout: {_AUDIO_KEY}, {_TEXT_KEY})"
        )
    audio_width = state[_AUDIO_KEY].shape[0]
    text_width = state[_TEXT_KEY].shape[1]
    joint = state["audio_projection.2.weight"].shape[0]
    ranker = ClapRanker(audio_width, text_width, joint)
    try:
        ranker.load_state_dict(state)
        ranker.requires_grad_(False)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise CheckpointMismatchError(f"{path}: CLAP weights do not fit ({first})") from error
    return ranker.to(device).eval()


def load_text_ranker(model_dir: Path, device: torch.device) -> tuple[ClapRanker | None, list[str]]:
    """(the first CLAP text ranker named in config.json whose checkpoint is here, or None;
    one line for each named ranker or predictor that is not used, and why)."""
    from samaudio_daw.separation.sam_audio.store import ranker_checkpoint

    raw = raw_config(model_dir)
    ranker = None
    notes: list[str] = []
    for spec in named_rankers(raw):
        if not spec.runnable:
            why = "needs the video" if spec.field == "visual_ranker" else "is not implemented"
            notes.append(f"{spec.label} is not used: it {why} in this audio-only build")
            continue
        path = ranker_checkpoint(spec, model_dir)
        if path is None:
            notes.append(
                f"{spec.label}: checkpoint not on this machine (fetch it with "
                "`samaudio-daw model pull --with-rankers`)"
            )
        elif ranker is None:
            try:
                ranker = load_clap(path, device)
            except CheckpointMismatchError as error:
                notes.append(str(error))
        else:
            notes.append(f"{spec.label} is not used: only the first CLAP ranker runs")
    line = span_predictor_line(raw)
    return ranker, notes + ([line] if line else [])
