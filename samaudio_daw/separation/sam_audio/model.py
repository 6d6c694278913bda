"""SamAudio: text-prompted separation, audio only (SPEC §3).

``separate`` follows the official ``SAMAudio.separate`` end to end; the pieces it is made of
(``encode_audio``, ``condition``, ``velocity``, ``solve``, ``decode``) are public so the
chunked backend and the golden tests can use them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from samaudio_daw.separation.sam_audio.anchors import Anchor, AnchorEmbedding
from samaudio_daw.separation.sam_audio.codec import WATERMARK_BITS, DacVae
from samaudio_daw.separation.sam_audio.config import SamAudioConfig
from samaudio_daw.separation.sam_audio.dit import DiT, timestep_sinusoid
from samaudio_daw.separation.sam_audio.ode import integrate_midpoint
from samaudio_daw.separation.sam_audio.processor import AudioBatch, FrameLabels, prepare_batch
from samaudio_daw.separation.sam_audio.text import TextEncoder, TextFeatures

DEFAULT_STEPS = 16
AnchorSpec = tuple[str, float, float]
"""(sign, start_s, end_s) as the official API takes it."""


@dataclass(frozen=True)
class Conditioning:
    """Everything the vector field needs besides the noisy state and the time.

    audio_features: (B, T, 2C) mixture latent, duplicated; frame_mask: (B, T) bool;
    anchor_term: (B, T, D) gated anchor embedding; memory: (B, S, D) = memory_proj(text);
    memory_mask: (B, S) bool. Tensors are in the model's compute dtype (masks bool).
    """

    audio_features: torch.Tensor
    frame_mask: torch.Tensor
    anchor_term: torch.Tensor
    memory: torch.Tensor
    memory_mask: torch.Tensor


@dataclass(frozen=True)
class SeparationResult:
    """Per item 1-D waveforms of ceil(len/hop)·hop samples at 48 kHz, and the noise used."""

    target: list[torch.Tensor]
    residual: list[torch.Tensor]
    noise: torch.Tensor


class SamAudio(nn.Module):
    """The audio-only SAM-Audio model; load one with ``loader.load_model``.

    The codec runs in float32 (as the official code); the DiT and the small top-level
    layers run in ``compute_dtype``. ``video_term`` (D,) is the constant the video branch
    reduces to for audio-only input: tanh(gate)·LayerNorm(conv bias).
    """

    def __init__(self, config: SamAudioConfig, text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        dim = config.transformer.dim
        self.config = config
        self.proj = nn.Linear(config.in_channels, dim)
        self.memory_proj = nn.Linear(config.text.dim, dim)
        self.video_term = nn.Parameter(torch.zeros(dim))
        self.embed_anchors = AnchorEmbedding(config.num_anchors, config.anchor_embedding_dim, dim)
        self.transformer = DiT(config.transformer)
        self.audio_codec = DacVae(config.codec)
        # A plain attribute, not a submodule: its weights come from transformers, not checkpoint.pt.
        self.text_encoder = text_encoder
        self.compiled = False
        """Set by ``compiled.compile_model`` once the DiT and codec are compiled."""

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.proj.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.proj.weight.device

    @property
    def hop_samples(self) -> int:
        return self.config.codec.hop_samples

    @property
    def sample_rate(self) -> int:
        return self.config.codec.sample_rate

    @torch.inference_mode()
    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, 1, L) 48 kHz → latent mean (B, C, ceil(L/hop)), float32."""
        return self.audio_codec.encode(audio.to(self.device, torch.float32))

    def encode_text(self, prompts: Sequence[str]) -> TextFeatures:
        if self.text_encoder is None:
            raise RuntimeError("this SamAudio has no text encoder; load it with loader.load_model")
        return self.text_encoder.encode(prompts)

    @torch.inference_mode()
    def condition(
        self, latent: torch.Tensor, labels: FrameLabels, text: TextFeatures
    ) -> Conditioning:
        """Precompute the per-call constants from the mixture latent (B, C, T), frame labels
        and the text features."""
        dtype, device = self.compute_dtype, self.device
        features = latent.transpose(1, 2).to(device, dtype)
        ids, alignment = labels.anchor_ids.to(device), labels.anchor_alignment.to(device)
        return Conditioning(
            audio_features=torch.cat([features, features], dim=-1),
            frame_mask=labels.frame_mask.to(device),
            anchor_term=self.embed_anchors(ids, alignment),
            memory=self.memory_proj(text.features.to(device, dtype)),
            memory_mask=text.mask.to(device),
        )

    @torch.inference_mode()
    def velocity(self, state: torch.Tensor, time: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """state: (B, T, 2C) float32; time: (B,) float32 in [0, 1]. Returns (B, T, 2C) float32."""
        features = cond.audio_features
        # Input order: noisy state ‖ zeros ‖ mixture (SPEC pitfall 4).
        x_in = torch.cat([state.to(features.dtype), torch.zeros_like(features), features], -1)
        h = self.proj(x_in) + self.video_term
        h = h + cond.anchor_term
        memory = (
            cond.memory + timestep_sinusoid(time, self.config.transformer.dim).to(h.dtype)[:, None]
        )
        out = self.transformer(h, time, cond.frame_mask, memory, cond.memory_mask)
        return out.float()

    @torch.inference_mode()
    def solve(
        self,
        noise: torch.Tensor,
        cond: Conditioning,
        steps: int = DEFAULT_STEPS,
        on_step: Callable[[int], None] | None = None,
    ) -> torch.Tensor:
        """Integrate from ``noise`` (B, T, 2C) to the separated latents (B, T, 2C), float32."""

        def field(time: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            return self.velocity(state, time.expand(state.shape[0]), cond)

        return integrate_midpoint(field, noise.to(self.device, torch.float32), steps, on_step)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """latents: (N, C, T) → waveforms (N, 1, T·hop) float32; bits: (N, 16) watermark."""
        return self.audio_codec.decode(
            latents.to(self.device, torch.float32), bits.to(self.device, torch.float32)
        )

    def separate(
        self,
        audios: Sequence[torch.Tensor],
        prompts: Sequence[str],
        anchors: Sequence[Sequence[AnchorSpec]] | None = None,
        noise: torch.Tensor | None = None,
        watermark_bits: torch.Tensor | None = None,
        steps: int = DEFAULT_STEPS,
        generator: torch.Generator | None = None,
    ) -> SeparationResult:
        """Separate each (channels, samples) 48 kHz item with its prompt, as the official API.

        anchors: per item a list of (sign, start_s, end_s); noise: (B, T, 2C) initial state;
        watermark_bits: (2B, 16) in {0, 1} (rows 2b target, 2b+1 residual). Missing noise
        and bits are drawn from ``generator`` (the global RNG when None).
        """
        if len(prompts) != len(audios):
            raise ValueError(f"got {len(prompts)} prompts for {len(audios)} audio items")
        parsed = None if anchors is None else [[Anchor(*a) for a in item] for item in anchors]  # type: ignore[arg-type]
        batch = prepare_batch(audios, parsed, self.sample_rate, self.hop_samples)
        latent = self.encode_audio(batch.audio)
        cond = self.condition(latent, batch.labels, self.encode_text(prompts))
        channels = 2 * self.config.latent_channels
        if noise is None:
            noise = torch.randn((len(audios), latent.shape[-1], channels), generator=generator)
        final = self.solve(noise, cond, steps)
        if watermark_bits is None:
            watermark_bits = torch.randint(
                0, 2, (2 * len(audios), WATERMARK_BITS), generator=generator
            )
        return self._trimmed(
            self.decode(split_target_residual(final), watermark_bits), batch, noise
        )

    def _trimmed(
        self, waves: torch.Tensor, batch: AudioBatch, noise: torch.Tensor
    ) -> SeparationResult:
        """(2B, 1, L) decoded rows → per item target/residual cut to frame_counts·hop samples."""
        pairs = waves.reshape(-1, 2, waves.shape[-1])
        lengths = (batch.frame_counts * self.hop_samples).tolist()
        target = [pairs[b, 0, :n].cpu() for b, n in enumerate(lengths)]
        residual = [pairs[b, 1, :n].cpu() for b, n in enumerate(lengths)]
        return SeparationResult(target, residual, noise)


def split_target_residual(final: torch.Tensor) -> torch.Tensor:
    """(B, T, 2C) ODE solution → (2B, C, T) decoder input; row 2b target, 2b+1 residual."""
    batch, frames, channels = final.shape
    return final.transpose(1, 2).reshape(2 * batch, channels // 2, frames)
