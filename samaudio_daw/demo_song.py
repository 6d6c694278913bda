"""A small deterministic multitrack song made in code, with its known sources.

Each track is a mixture whose parts are known, so the demo can score the stems
(SDR improvement) without any recordings: drums over sustained keys, a bass under
string noise, a lead over a wide stereo pad, dialogue with mains hum and noise, and
a room mic with hiss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 48000
TEMPO_BPM = 120.0


@dataclass(frozen=True)
class DemoTrack:
    """One track of the demo song: its name (which picks the preset) and its known parts.

    ``parts`` maps a stem name to its (channels, frames) float32 source; ``mix`` is
    their sum, the audio on the track.
    """

    name: str
    parts: dict[str, np.ndarray]

    @property
    def mix(self) -> np.ndarray:
        return np.sum(list(self.parts.values()), axis=0).astype(np.float32)


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _beats(seconds: float, per_beat: int = 1) -> np.ndarray:
    step = 60.0 / TEMPO_BPM / per_beat
    return np.arange(0.0, seconds - 0.25, step)


def _hit(signal: np.ndarray, at_s: float, sound: np.ndarray) -> None:
    start = int(at_s * SAMPLE_RATE)
    end = min(start + sound.size, signal.size)
    signal[start:end] += sound[: end - start]


def drums(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Kick on every beat, snare on 2 and 4, closed hats on eighths; mono (1, frames)."""
    out = np.zeros(int(seconds * SAMPLE_RATE))
    t = _time(0.25)
    kick = np.sin(2 * np.pi * np.cumsum(50 + 70 * np.exp(-t * 30)) / SAMPLE_RATE) * np.exp(-t * 14)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.15
    hat = (
        np.diff(rng.standard_normal(int(0.04 * SAMPLE_RATE) + 1)) * np.exp(-_time(0.04) * 90) * 0.15
    )
    for index, beat in enumerate(_beats(seconds)):
        _hit(out, beat, kick * 0.6)
        if index % 2:
            _hit(out, beat, snare)
    for beat in _beats(seconds, 2):
        _hit(out, beat, hat)
    return out[None].astype(np.float32)


def harmonic_tone(freqs_hz: np.ndarray, harmonics: int, rolloff: float) -> np.ndarray:
    """A tone following ``freqs_hz`` per sample, with decaying harmonics."""
    phase = 2 * np.pi * np.cumsum(freqs_hz) / SAMPLE_RATE
    return sum(np.sin(k * phase) * rolloff ** (k - 1) for k in range(1, harmonics + 1))  # type: ignore[return-value]


def chords(seconds: float) -> np.ndarray:
    """Sustained keys: three-note chords changing every two bars; mono."""
    t = _time(seconds)
    out = np.zeros(t.size)
    for root in (220.0, 277.2, 329.6):
        out += np.sin(2 * np.pi * root * t) + 0.3 * np.sin(4 * np.pi * root * t)
    return (0.08 * out)[None].astype(np.float32)


def bass_line(seconds: float) -> np.ndarray:
    """A bass line of 41-82 Hz notes, one per beat, softly enveloped; mono."""
    notes = np.array([41.2, 55.0, 61.7, 49.0, 82.4, 55.0, 73.4, 41.2])
    freqs = np.repeat(notes, int(60 / TEMPO_BPM * SAMPLE_RATE))
    freqs = np.resize(freqs, int(seconds * SAMPLE_RATE))
    envelope = 0.6 + 0.4 * np.cos(2 * np.pi * TEMPO_BPM / 60 * _time(seconds))
    return (0.3 * envelope * harmonic_tone(freqs, 4, 0.35))[None].astype(np.float32)


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Voiced syllables: gliding 120-220 Hz harmonics, syllable envelopes, pauses; mono."""
    t = _time(seconds)
    pitch = 160 + 50 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 3.1 * t)
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * t), 0, None) ** 0.7
    phrases = (np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 1)) > -0.3).astype(float)
    return (0.25 * syllables * phrases * harmonic_tone(pitch, 12, 0.7))[None].astype(np.float32)


def plucked_melody(seconds: float) -> np.ndarray:
    """A guitar-like line: a new note every half second, each decaying; mono."""
    note_frames = SAMPLE_RATE // 2
    notes = np.resize([196.0, 246.9, 293.7, 392.0, 329.6, 246.9], int(seconds * 2) + 1)
    freqs = np.repeat(notes, note_frames)[: int(seconds * SAMPLE_RATE)]
    decay = np.tile(np.exp(-np.arange(note_frames) / SAMPLE_RATE * 5), notes.size)
    return (0.3 * decay[: freqs.size] * harmonic_tone(freqs, 5, 0.5))[None].astype(np.float32)


def mains_hum(seconds: float, base_hz: float = 50.0) -> np.ndarray:
    t = _time(seconds)
    hum = np.sum([np.sin(2 * np.pi * base_hz * k * t) / k for k in (1, 2, 3, 4, 5)], axis=0)
    return (0.05 * hum)[None].astype(np.float32)


def noise(seconds: float, rng: np.random.Generator, level: float) -> np.ndarray:
    return (level * rng.standard_normal(int(seconds * SAMPLE_RATE)))[None].astype(np.float32)


def centre_and_sides(centre: np.ndarray, sides: np.ndarray) -> dict[str, np.ndarray]:
    """A mono lead in the middle and a pad with opposite phase on the two sides."""
    lead = np.repeat(centre, 2, axis=0)
    pad = np.concatenate([sides, -sides], axis=0)
    return {"vocal": lead, "instrumental": pad}


def _peak_normalised(parts: dict[str, np.ndarray], peak: float = 0.8) -> dict[str, np.ndarray]:
    """Scale all parts together so their mix peaks at ``peak`` (no clipping in 16-bit files)."""
    scale = peak / float(np.abs(np.sum(list(parts.values()), axis=0)).max())
    return {name: (part * scale).astype(np.float32) for name, part in parts.items()}


def demo_tracks(seconds: float = 12.0, seed: int = 7) -> list[DemoTrack]:
    """The demo song's tracks, the same every time for the same arguments.

    Part names are the stem names the track's preset (or inline prompt) writes, so
    each stem can be scored against its known source.
    """
    rng = np.random.default_rng(seed)
    t = _time(seconds)
    lead_pitch = np.resize(np.repeat([440.0, 494.0, 523.3, 587.3], SAMPLE_RATE // 2), t.size)
    lead = (0.2 * harmonic_tone(lead_pitch, 6, 0.5))[None].astype(np.float32)
    pad = (0.1 * np.sin(2 * np.pi * 196 * t) * np.sin(2 * np.pi * 0.2 * t))[None].astype(np.float32)
    tracks = [
        DemoTrack(
            "Drums and keys [drums]", {"drums": drums(seconds, rng), "no-drums": chords(seconds)}
        ),
        DemoTrack(
            "Bass DI [bass]", {"bass": bass_line(seconds), "no-bass": noise(seconds, rng, 0.02)}
        ),
        DemoTrack("Lead vocal bus [lead-vocal]", centre_and_sides(lead, pad)),
        DemoTrack(
            "Interview [dialogue-cleanup]",
            {
                "dialogue": speech_like(seconds, rng),
                "hum": mains_hum(seconds),
                "noise": noise(seconds, rng, 0.03),
            },
        ),
        DemoTrack(
            "Room mic {remove the hiss}",
            {"hiss": noise(seconds, rng, 0.03), "clean": plucked_melody(seconds)},
        ),
    ]
    return [DemoTrack(t.name, _peak_normalised(t.parts)) for t in tracks]
