"""The `dsp` backend: CPU signal processing, no model weights.

Each prompt is read as one target kind (see ``prompt_words``). Hum is estimated
in the time domain and taken out first; every other kind is a soft
time-frequency mask on what is left. When several prompts are separated at once
their masks are scaled so that in every time-frequency cell they sum to at most 1:
no energy is counted twice (two prompts that both claim a cell share it), and the
residual (input minus all targets, computed by the caller) keeps the rest. Two
prompts of the same kind share their target equally.

Time spans on prompts are hints for the model and are ignored here: the output
does not depend on them.

Channel counts: any number of channels for every kind except centre and sides,
which are defined for stereo only (anything else fails with a clear message
rather than returning a made-up stem).

Long files: every analysis is local in time (``context_s_for`` says how many
seconds either side of a moment it looks at), so block-wise processing with that
much real context, block starts on ``frame_alignment`` and a crossfade (see
``samaudio_daw.separation.chunking``) gives the same output as one block, to
float rounding. The noise floor is learned from a sliding window of
``floor_window_s`` seconds around each moment, never from another block. The one
per-block decision is the hum's fundamental (found from the block and its
context, about 22 s); its harmonics are then followed frame by frame. Blocks are
``block_s`` = 15 s: a 30-minute stereo file stays near 400 MB.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from samaudio_daw.separation.backends import BackendInfo, BackendOptions
from samaudio_daw.separation.base import (
    ProgressCallback,
    Prompt,
    PromptNotSupportedError,
    SeparationError,
    check_input,
)
from samaudio_daw.separation.dsp.hum import HumSettings, detect_hum, hum_signal
from samaudio_daw.separation.dsp.masks import (
    HpssParts,
    MaskSettings,
    band_mask,
    centre_mask,
    drum_hit_nearby,
    drum_parts,
    hpss_parts,
    lowpass_curve,
    percussive_share,
    snare_in_kit,
    steady_share,
    sustained_share,
)
from samaudio_daw.separation.dsp.noise import NoiseSettings, noise_mask
from samaudio_daw.separation.dsp.noise import context_s as noise_context_s
from samaudio_daw.separation.dsp.stft import StftSettings, analyse, synthesise
from samaudio_daw.separation.prompt_words import CAPABILITIES, TargetKind, read_prompt

ALGORITHM_VERSION = "dsp-2.5"

_HPSS_KINDS = frozenset({"drums", "kick", "snare", "toms", "cymbals", "bass", "sustained", "lead"})
_KIT_KINDS = frozenset({"kick", "snare", "toms", "cymbals"})
_STEREO_KINDS = frozenset({"centre", "sides"})


@dataclass(frozen=True)
class DspSettings:
    """Every parameter of the dsp backend (all of them change the output)."""

    masks: MaskSettings = field(default_factory=MaskSettings)
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    hum: HumSettings = field(default_factory=HumSettings)
    hum_hop_stft_hops: int = 16  # hum frames every 16 STFT hops (about 0.17 s)
    block_s: float = 15.0


class DspSeparator:
    """Separates hum, noise, drums, sustained parts, centre/sides and frequency regions.

    ``separate(audio, sample_rate, prompts)`` takes (channels, frames) float32 audio
    and returns one (channels, frames) float32 target per prompt; ``audio`` is not
    changed. The residual, ``audio - sum(targets)``, is left to the caller.
    """

    name = "dsp"

    def __init__(self, options: BackendOptions | None = None, dsp: DspSettings | None = None):
        # BackendOptions holds model settings; dsp has none of its own to take from it.
        self._options = options or BackendOptions()
        self._dsp = dsp or DspSettings()
        self.block_s: float | None = self._dsp.block_s

    @classmethod
    def describe(cls) -> BackendInfo:
        """What `samaudio-daw backends` shows for dsp: always available."""
        return BackendInfo(
            name="dsp",
            available=True,
            summary="CPU signal processing, no model weights: hum, noise, hiss, drums and "
            "kit pieces, keys/pads, bass line, lead line, centre/sides of a stereo mix, "
            "frequency regions (all words: `samaudio-daw prompts`)",
            capabilities=CAPABILITIES,
        )

    def check_prompts(self, prompts: Sequence[Prompt]) -> None:
        """PromptNotSupportedError for the first prompt dsp cannot serve (no audio needed)."""
        _read_prompts(prompts)

    def check_channels(self, prompts: Sequence[Prompt], channels: int) -> None:
        """PromptNotSupportedError when a prompt needs a stereo mix and the audio has
        ``channels`` (known from the file's header, before any sample is read)."""
        _check_channels(prompts, _read_prompts(prompts), channels)

    def context_s_for(self, prompts: Sequence[Prompt], sample_rate: int) -> float:
        """Seconds of real audio needed either side of a block for these prompts.

        With this much context around each block (see ``chunking``), block-wise
        output equals whole-file output: every analysis here is local in time.
        """
        kinds = set(_read_prompts(prompts))
        masks, noise = self._dsp.masks, self._dsp.noise
        spans_s = [
            noise_context_s(noise) if kinds & {"noise", "hiss"} else 0.0,
            max(masks.drum_span_s, masks.drum_low_span_s, masks.sustain_span_s, masks.kick_span_s)
            / 2
            if kinds & _HPSS_KINDS
            else 0.0,
            masks.centre_span_s / 2 if kinds & (_STEREO_KINDS | {"lead"}) else 0.0,
            masks.hit_baseline_s / 2 + masks.hit_hold_s if "bass" in kinds else 0.0,
            masks.snare_window_s / 2 if "snare" in kinds else 0.0,
            masks.keys_steady_s / 2 if "sustained" in kinds else 0.0,
        ]
        frame_s = StftSettings.for_sample_rate(sample_rate).n_fft / sample_rate
        hum_s = 0.0
        if "hum" in kinds:
            hum, hop_s = self._dsp.hum, self.frame_alignment(sample_rate) / sample_rate
            hum_s = (hum.window_hops // 2 + hum.steady_frames // 2 + 1) * hop_s
        # Masks are computed on the audio with the hum taken out: their reach adds up.
        return hum_s + max(spans_s) + frame_s

    def frame_alignment(self, sample_rate: int) -> int:
        """Block starts should be multiples of this many frames (the hum frame hop)."""
        return StftSettings.for_sample_rate(sample_rate).hop * self._dsp.hum_hop_stft_hops

    def settings(self) -> dict[str, object]:
        """Everything besides audio and prompts that changes the output (for cache keys)."""
        return {
            "backend": self.name,
            "algorithm_version": ALGORITHM_VERSION,
            "stft_frame_s": "2**round(log2(0.0427 * sample_rate)) samples, hop 1/4",
            "masks": _plain(asdict(self._dsp.masks)),
            "noise": _plain(asdict(self._dsp.noise)),
            "hum": _plain(asdict(self._dsp.hum)),
            "hum_hop_stft_hops": self._dsp.hum_hop_stft_hops,
            "block_s": self._dsp.block_s,
        }

    def separate(
        self,
        audio: np.ndarray,
        sample_rate: int,
        prompts: Sequence[Prompt],
        progress: ProgressCallback | None = None,
    ) -> list[np.ndarray]:
        """One (channels, frames) float32 target per prompt; see the module docstring."""
        kinds = _read_prompts(prompts)
        _check_audio(audio, sample_rate, prompts, kinds)
        if audio.shape[1] == 0:
            return [np.zeros(audio.shape, dtype=np.float32) for _ in prompts]
        pad = self._edge_pad(sample_rate)
        padded = np.zeros((audio.shape[0], audio.shape[1] + 2 * pad), dtype=np.float32)
        padded[:, pad:-pad] = audio
        with single_threaded():
            targets = _separate_padded(padded, sample_rate, kinds, self._dsp, progress)
        if progress is not None:
            progress(1.0)
        return [np.ascontiguousarray(t[:, pad:-pad], dtype=np.float32) for t in targets]

    def _edge_pad(self, sample_rate: int) -> int:
        """Zeros added at both ends so every analysis frame touching the audio exists."""
        stft = StftSettings.for_sample_rate(sample_rate)
        align = self.frame_alignment(sample_rate)
        reach = max(stft.n_fft, (self._dsp.hum.window_hops // 2 + 1) * align)
        return align * math.ceil(reach / align)


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the DSP on one thread, then restore the thread pools as they were.

    Measured on this backend: extra BLAS/torch threads bring no speed (the work is
    many small FFTs and filters), burn CPU spinning, and make results depend on the
    thread count. One thread per separation keeps stems bit-identical whether items
    run one after another or in parallel workers (``--jobs``, Ray).
    """
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(torch_threads)


def _plain(settings: dict[str, object]) -> dict[str, object]:
    """Settings as JSON has them (tuples become lists), so cache keys compare equal."""
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in settings.items()
    }


def _read_prompts(prompts: Sequence[Prompt]) -> list[TargetKind]:
    if not prompts:
        raise SeparationError("no prompts given; give at least one, e.g. 'extract the drums'")
    # Time spans are hints for the model; dsp's analysis does not use them.
    return [read_prompt(prompt.text) for prompt in prompts]


def _check_audio(
    audio: np.ndarray, sample_rate: int, prompts: Sequence[Prompt], kinds: list[TargetKind]
) -> None:
    check_input("dsp", audio, sample_rate, 8000, 384000, any_float=True)
    _check_channels(prompts, kinds, audio.shape[0])


def _check_channels(prompts: Sequence[Prompt], kinds: list[TargetKind], channels: int) -> None:
    for prompt, kind in zip(prompts, kinds, strict=True):
        if kind in _STEREO_KINDS and channels != 2:
            raise PromptNotSupportedError(
                f"dsp serves {prompt.text!r} as the {kind} of a stereo mix, but this audio "
                f"has {channels} channel(s); give it a stereo source, or use "
                "--backend sam-audio for mono or multichannel audio"
            )


def _separate_padded(
    audio: np.ndarray,
    sample_rate: int,
    kinds: list[TargetKind],
    dsp: DspSettings,
    progress: ProgressCallback | None,
) -> list[np.ndarray]:
    """Targets for zero-padded ``audio``: hum first (subtracted), then masks on the rest."""
    stft = StftSettings.for_sample_rate(sample_rate)
    targets: list[np.ndarray | None] = [None] * len(kinds)
    rest = audio
    if "hum" in kinds:
        hum = _hum_of(audio, sample_rate, stft.hop * dsp.hum_hop_stft_hops, dsp.hum)
        share = hum / kinds.count("hum")
        targets = [share if kind == "hum" else None for kind in kinds]
        rest = audio - hum
    if progress is not None:
        progress(0.2)
    mask_kinds = [kind for kind in kinds if kind != "hum"]
    if mask_kinds:
        spec = analyse(rest, stft)
        masks = iter(_normalised_masks(mask_kinds, spec, sample_rate, stft, dsp.masks, dsp.noise))
        for index, kind in enumerate(kinds):
            if kind != "hum":
                targets[index] = synthesise(spec, stft, audio.shape[1], next(masks))
                if progress is not None:
                    progress(0.3 + 0.7 * (index + 1) / len(kinds))
    return [t if t is not None else np.zeros_like(audio) for t in targets]


def _hum_of(audio: np.ndarray, sample_rate: int, hop: int, hum: HumSettings) -> np.ndarray:
    found = detect_hum(audio.mean(axis=0), sample_rate, hum)
    if found is None:
        return np.zeros_like(audio)
    return hum_signal(audio, sample_rate, found, hop, hum)


def _power(spec: np.ndarray) -> np.ndarray:
    """Power summed over channels: (channels, frames, bins) complex64 -> (frames, bins) float32."""
    total = np.zeros(spec.shape[1:], dtype=np.float32)
    for channel in spec:
        magnitude = np.abs(channel)
        total += np.multiply(magnitude, magnitude, out=magnitude)
    return total


def _normalised_masks(
    kinds: Sequence[TargetKind],
    spec: np.ndarray,
    sample_rate: int,
    stft: StftSettings,
    masks: MaskSettings,
    noise: NoiseSettings,
) -> list[np.ndarray]:
    """One mask per kind (in order), scaled so that in every cell they sum to at most 1."""
    power = _power(spec)
    unique = set(kinds)
    parts = _Parts(power, spec, sample_rate, stft, masks)
    # Kit pieces asked for together split a drum bus: everything there is drums, so the
    # snare and cymbals are their bands; the kick and toms still need the percussive
    # share to tell them from each other's ringing and from the bass.
    parts.kit_split = len(unique) > 1 and unique <= _KIT_KINDS
    by_kind = {kind: _kind_mask(kind, parts, noise) for kind in unique}
    # Prompts of the same kind share its mask equally; then no cell gives out more than 1.
    chosen = [by_kind[kind] / kinds.count(kind) for kind in kinds]
    if len(unique) == 1:
        return chosen
    total = np.zeros(power.shape, dtype=np.float32)
    for mask in chosen:
        total += mask
    scale = 1.0 / np.maximum(total, 1.0, out=total)
    return [mask * scale for mask in chosen]


class _Parts:
    """The analyses masks are built from, each computed once, when first needed."""

    def __init__(
        self,
        power: np.ndarray,
        spec: np.ndarray,
        sample_rate: int,
        stft: StftSettings,
        masks: MaskSettings,
    ) -> None:
        self.power, self.spec, self.sample_rate, self.stft, self.masks = (
            power,
            spec,
            sample_rate,
            stft,
            masks,
        )
        self._drum: HpssParts | None = None
        self._sustain: HpssParts | None = None
        self._kick: HpssParts | None = None
        self._bass: HpssParts | None = None
        self.kit_split = False
        self._centre: np.ndarray | None = None
        self._panned: np.ndarray | None = None

    @property
    def drum(self) -> HpssParts:
        if self._drum is None:
            self._drum = drum_parts(self.power, self.stft, self.sample_rate, self.masks)
        return self._drum

    @property
    def sustain(self) -> HpssParts:
        if self._sustain is None:
            spans = (self.masks.sustain_span_s, self.masks.sustain_span_hz)
            self._sustain = hpss_parts(self.power, self.stft, self.sample_rate, *spans)
        return self._sustain

    @property
    def bass(self) -> HpssParts:
        if self._bass is None:
            spans = (self.masks.bass_span_s, self.masks.bass_span_hz)
            self._bass = hpss_parts(self.power, self.stft, self.sample_rate, *spans)
        return self._bass

    @property
    def kick(self) -> HpssParts:
        if self._kick is None:
            spans = (self.masks.kick_span_s, self.masks.kick_span_hz)
            self._kick = hpss_parts(self.power, self.stft, self.sample_rate, *spans)
        return self._kick

    @property
    def centre(self) -> np.ndarray:
        if self._centre is None:
            self._centre = centre_mask(self.spec, self.stft, self.sample_rate, self.masks)
        return self._centre

    @property
    def panned(self) -> np.ndarray:
        """Like ``centre``, but sounds whose channels are in opposite phase count too."""
        if self._panned is None:
            self._panned = centre_mask(
                self.spec, self.stft, self.sample_rate, self.masks, either_phase=True
            )
        return self._panned

    def band(self, above_hz: float | None, below_hz: float | None) -> np.ndarray:
        order = self.masks.crossover_order
        return band_mask(self.stft, self.sample_rate, above_hz, below_hz, order)


def _kind_mask(kind: TargetKind, parts: _Parts, noise: NoiseSettings) -> np.ndarray:
    """The raw mask in [0, 1] for one kind, broadcastable to (frames, bins)."""
    masks, power = parts.masks, parts.power
    drum_regions: dict[str, tuple[float | None, float | None]] = {
        "drums": (None, None),
        "kick": (None, masks.kick_below_hz),
        "toms": (masks.kick_below_hz, masks.toms_below_hz),
        "snare": (masks.kick_below_hz, masks.cymbals_above_hz),
        "cymbals": (masks.cymbals_above_hz, None),
    }
    regions: dict[str, tuple[float | None, float | None]] = {
        "sub": (None, masks.sub_below_hz),
        "lows": (None, masks.bass_below_hz),
        "highs": (masks.highs_above_hz, None),
    }
    if kind in ("noise", "hiss"):
        return noise_mask(power, parts.stft, parts.sample_rate, noise, hiss=kind == "hiss")
    if kind == "centre":
        return parts.centre
    if kind == "sides":
        return 1.0 - parts.centre
    if kind == "snare" and parts.kit_split:
        return snare_in_kit(power, parts.stft, parts.sample_rate, masks)
    if kind == "cymbals" and parts.kit_split:
        return parts.band(*drum_regions[kind])
    if kind == "toms" and parts.kit_split:
        # Against the snare's body, a tom must be clearly (toms_margin x) hit-like.
        toms = sustained_share(parts.drum, masks.hpss_power, 1.0 / masks.toms_margin)
        return (1.0 - toms) * parts.band(*drum_regions[kind])
    if kind in drum_regions:
        hits = percussive_share(parts.kick if kind == "kick" else parts.drum, masks.hpss_power)
        return hits if kind == "drums" else hits * parts.band(*drum_regions[kind])
    if kind == "sustained":
        held = sustained_share(parts.sustain, masks.hpss_power, masks.sustained_margin)
        # In the low end the keys are what stays steady; the notes there are the bass's.
        steady = steady_share(power, parts.stft, parts.sample_rate, masks.keys_steady_s)
        low = lowpass_curve(
            parts.stft, parts.sample_rate, masks.keys_steady_below_hz, masks.crossover_order
        )
        return held * (1.0 - low) + low * np.minimum(held, steady)
    if kind == "bass":
        # The bass line is sustained and low: the kick's body is low but not sustained.
        # Only near a drum hit is that test needed; elsewhere the whole low band (note
        # attacks included) is the bass.
        held = sustained_share(parts.bass, masks.hpss_power, masks.bass_margin)
        hit = drum_hit_nearby(power, parts.stft, parts.sample_rate, masks)
        return (1.0 - hit * (1.0 - held)) * parts.band(None, masks.bass_line_below_hz)
    if kind == "lead":
        # A lead line is held notes above the bass, in the centre of a stereo mix (or
        # spread wide with its sides in opposite phase, as many synth leads are).
        held = sustained_share(parts.sustain, masks.hpss_power, masks.lead_margin)
        lead = held * parts.band(masks.bass_below_hz, None)
        return lead * parts.panned if parts.spec.shape[0] == 2 else lead
    assert kind in regions, f"no mask defined for kind {kind!r}"
    return parts.band(*regions[kind])
