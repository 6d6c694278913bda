"""Realistic test material with known stems, made in code (issue 14).

Songs are MIDI written here from a seed (tempo, key, chord progression, drum
pattern, instruments drawn from General MIDI sets) and rendered part by part with
FluidSynth and the FluidR3 General MIDI soundfont, so every stem of the mix is
known exactly: kick, snare, hats and cymbals, toms, bass, keys, lead. Dialogue is
espeak-ng speech with pauses. Hum, room noise and tape hiss are synthesised.

Needs the Debian packages fluidsynth, fluid-soundfont-gm and espeak-ng.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

SAMPLE_RATE = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

# General MIDI programs (0-based) a producer would call bass, keys and lead.
BASSES = {"finger bass": 33, "pick bass": 34, "fretless": 35, "synth bass": 38, "slap bass": 36}
KEYS = {
    "piano": 0,
    "rhodes": 4,
    "electric piano 2": 5,
    "organ": 16,
    "strings": 48,
    "warm pad": 89,
    "clean guitar": 27,
}
LEADS = {"flute": 73, "alto sax": 65, "trumpet": 56, "saw lead": 81, "clarinet": 71}

# GM drum notes, grouped as a drum-kit preset splits them.
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 42, 46, 49, 51
TOMS = (45, 47, 50)

PROGRESSIONS = (
    ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
    ((2, "min"), (7, "maj"), (0, "maj"), (0, "maj")),
    ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),
    ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),
)
CHORD_STEPS = {"maj": (0, 4, 7), "min": (0, 3, 7)}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


@dataclass(frozen=True)
class Song:
    """Stems (channels, frames) float32 at SAMPLE_RATE, and what was played."""

    stems: dict[str, np.ndarray]  # kick snare hats toms bass keys lead
    description: str

    @property
    def drums(self) -> np.ndarray:
        return sum(self.stems[name] for name in ("kick", "snare", "hats", "toms"))  # type: ignore[return-value]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise SystemExit(f"quality benchmark: {tool} is not installed (apt-get install {tool})")


def _track(
    events: list[tuple[float, int, int, int]], channel: int, program: int | None, bpm: float
):
    """A MIDI track from (beat, note, velocity, length in beats) events."""
    ticks = 480
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    if program is not None:
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    messages = []
    for beat, note, velocity, length in events:
        messages.append((round(beat * ticks), 1, note, velocity))
        messages.append((round((beat + length) * ticks), 0, note, 0))
    messages.sort(key=lambda m: (m[0], m[1]))
    now = 0
    for tick, on, note, velocity in messages:
        kind = "note_on" if on else "note_off"
        track.append(
            mido.Message(kind, channel=channel, note=note, velocity=velocity, time=tick - now)
        )
        now = tick
    return track


def _render(track: mido.MidiTrack, seconds: float, folder: Path, name: str) -> np.ndarray:
    """FluidSynth render of one track: (2, frames) float32, exactly ``seconds`` long."""
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    path, wav = folder / f"{name}.mid", folder / f"{name}.wav"
    midi.save(path)
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.6",
            "-r",
            str(SAMPLE_RATE),
            "-F",
            str(wav),
            str(SOUNDFONT),
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE
    frames = int(seconds * SAMPLE_RATE)
    out = np.zeros((2, frames), dtype=np.float32)
    part = audio.T[:, :frames]
    out[:, : part.shape[1]] = part
    return out


def make_song(seed: int, seconds: float = 14.0) -> Song:
    """A short song: drums, bass, keys and lead, instruments and style drawn from ``seed``."""
    _need("fluidsynth")
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(84, 132))
    key = int(rng.integers(0, 12))
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    bass_name = str(rng.choice(list(BASSES)))
    keys_name = str(rng.choice(list(KEYS)))
    lead_name = str(rng.choice(list(LEADS)))
    sixteenths = bool(rng.integers(2))
    beats = int(seconds * bpm / 60) + 1
    bars = beats // 4 + 1

    def vel(base: int) -> int:
        return int(np.clip(base + rng.normal(0, 8), 30, 127))

    kick, snare, hats, toms = [], [], [], []
    for bar in range(bars):
        b = bar * 4.0
        fill = bar % 4 == 3
        kick_beats = (
            [0.0, 2.0]
            + ([1.5] if rng.random() < 0.5 else [])
            + ([3.5] if rng.random() < 0.3 else [])
        )
        kick += [(b + t, KICK, vel(105), 0.25) for t in kick_beats]
        snare += [(b + t, SNARE, vel(100), 0.25) for t in (1.0, 3.0) if not (fill and t == 3.0)]
        step = 0.25 if sixteenths else 0.5
        for t in np.arange(0.0, 4.0 if not fill else 3.0, step):
            note = OPEN_HAT if (t % 2 == 1.5 and rng.random() < 0.4) else CLOSED_HAT
            hats.append((b + t, note, vel(70 if t % 1 else 85), step))
        if bar % 4 == 0:
            hats.append((b, CRASH, vel(95), 1.0))
        if fill:
            for i, t in enumerate(np.arange(3.0, 4.0, 0.25)):
                toms.append((b + t, TOMS[2 - min(i, 2)], vel(100), 0.25))

    bass, keys, lead = [], [], []
    for bar in range(bars):
        root_step, quality = progression[bar % len(progression)]
        root = 36 + (key + root_step) % 12  # C2 .. B2
        b = bar * 4.0
        pattern = [0.0, 1.5, 2.0, 3.0, 3.5] if sixteenths else [0.0, 1.0, 2.0, 2.5, 3.0]
        for t in pattern:
            note = root + (12 if rng.random() < 0.15 else 0) + (7 if rng.random() < 0.15 else 0)
            bass.append((b + t, note - 12 if note > 47 else note, vel(95), 0.45))
        chord = [
            60 + (key + root_step) % 12 - 12 * ((key + root_step) % 12 > 7) + s
            for s in CHORD_STEPS[quality]
        ]
        if keys_name in ("strings", "warm pad", "organ") or rng.random() < 0.5:
            keys += [(b, n, vel(75), 3.9) for n in chord]
        else:
            for t in (0.0, 1.5, 2.5):
                keys += [(b + t, n, vel(78), 0.9) for n in chord]
        t = 0.0
        while t < 4.0:
            length = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
            degree = int(rng.integers(0, 7))
            note = 72 + key % 12 + MAJOR_SCALE[degree] - 12 * (key % 12 > 5)
            if rng.random() < 0.8:
                lead.append((b + t, note, vel(88), min(length, 4.0 - t) * 0.95))
            t += length

    folder = Path(tempfile.mkdtemp(prefix="quality-song-"))
    try:
        parts = {
            "kick": _track(kick, 9, None, bpm),
            "snare": _track(snare, 9, None, bpm),
            "hats": _track(hats, 9, None, bpm),
            "toms": _track(toms, 9, None, bpm),
            "bass": _track(bass, 0, BASSES[bass_name], bpm),
            "keys": _track(keys, 1, KEYS[keys_name], bpm),
            "lead": _track(lead, 2, LEADS[lead_name], bpm),
        }
        stems = {name: _render(track, seconds, folder, name) for name, track in parts.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # A little stereo: keys left of centre, the lead a touch right (both stay correlated).
    stems["keys"] = stems["keys"] * np.array([[1.15], [0.8]], dtype=np.float32)
    stems["lead"] = stems["lead"] * np.array([[0.9], [1.1]], dtype=np.float32)
    style = "16ths" if sixteenths else "8ths"
    description = f"{bpm:.0f} bpm {style}, {bass_name}, {keys_name}, {lead_name}"
    return Song(stems, description)


SENTENCES = (
    "So the first thing we did was move the microphone closer to the window.",
    "Honestly, I did not expect the recording to sound this good.",
    "We checked every cable twice, and the buzz was still there.",
    "Tell me about the day you started working in the studio.",
    "It was late, the rain had stopped, and the street was quiet again.",
    "Could you say that once more, a little slower this time?",
    "The interview ran for almost two hours before anyone noticed.",
)
VOICES = ("en-us+m3", "en-gb+f2", "en-us+f4", "en+m1", "en-us+m7")


def make_speech(seed: int, seconds: float = 14.0) -> np.ndarray:
    """espeak-ng dialogue with pauses between sentences: (1, frames) float32 at SAMPLE_RATE."""
    _need("espeak-ng")
    rng = np.random.default_rng(seed)
    voice = VOICES[int(rng.integers(len(VOICES)))]
    frames = int(seconds * SAMPLE_RATE)
    out = np.zeros(frames, dtype=np.float32)
    position = int(rng.uniform(0.8, 1.4) * SAMPLE_RATE)  # a pause first, as recordings have
    with tempfile.TemporaryDirectory(prefix="quality-speech-") as folder:
        wav = Path(folder) / "speech.wav"
        while position < frames - SAMPLE_RATE:
            text = SENTENCES[int(rng.integers(len(SENTENCES)))]
            speed = str(int(rng.uniform(140, 175)))
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", speed, "-w", str(wav), text], check=True
            )
            audio, rate = sf.read(wav, dtype="float32")
            audio = resample_poly(audio, SAMPLE_RATE, rate).astype(np.float32)
            part = audio[: frames - position]
            out[position : position + part.size] += 0.5 * part
            position += part.size + int(rng.uniform(0.5, 1.5) * SAMPLE_RATE)
    return out[np.newaxis, :]


def make_hum(seed: int, frames: int, channels: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz (off by up to 0.2 Hz) with a random, slowly wobbling series."""
    rng = np.random.default_rng(seed)
    mains = (50.0 if rng.integers(2) else 60.0) + rng.uniform(-0.2, 0.2)
    t = np.arange(frames) / SAMPLE_RATE
    wobble = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
    out = np.zeros(frames)
    buzz = rng.random() < 0.5  # a buzz has strong odd harmonics far up
    for k in range(1, 40 if buzz else 8):
        amplitude = (1.0 / k if buzz and k % 2 else 0.3 / k**1.5) * rng.uniform(0.3, 1.0)
        out += amplitude * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    out *= wobble
    return np.repeat(out[np.newaxis, :], channels, axis=0).astype(np.float32)


def make_room_noise(seed: int, frames: int, channels: int) -> np.ndarray:
    """Room tone: pinkish air noise, ventilation around 100-400 Hz and rumble under 40 Hz."""
    rng = np.random.default_rng(seed)
    out = np.empty((channels, frames), dtype=np.float32)
    for c in range(channels):
        white = rng.standard_normal(frames)
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(frames, 1.0 / SAMPLE_RATE)
        spectrum /= np.sqrt(np.maximum(freqs, 20.0) / 20.0)  # pink
        pink = np.fft.irfft(spectrum, frames)
        vent = sosfilt(butter(2, (100, 400), "bandpass", fs=SAMPLE_RATE, output="sos"), white)
        rumble = sosfilt(butter(2, 40, "lowpass", fs=SAMPLE_RATE, output="sos"), white)
        out[c] = pink / pink.std() + 0.5 * vent / vent.std() + 0.8 * rumble / rumble.std()
    return out


def make_hiss(seed: int, frames: int, channels: int) -> np.ndarray:
    """Tape hiss: white noise tilted up towards the highs, independent per channel."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((channels, frames))
    tilt = sosfilt(butter(1, 2000, "highpass", fs=SAMPLE_RATE, output="sos"), white, axis=1)
    return (0.5 * white + tilt).astype(np.float32)


def at_level(signal: np.ndarray, reference: np.ndarray, below_db: float) -> np.ndarray:
    """``signal`` scaled to ``below_db`` dB under ``reference``'s RMS."""
    scale = np.sqrt(np.mean(reference**2) / np.mean(signal**2) / 10 ** (below_db / 10))
    return (signal * scale).astype(np.float32)


def at_dbfs(signal: np.ndarray, rms_dbfs: float) -> np.ndarray:
    """``signal`` scaled to an RMS of ``rms_dbfs``."""
    return (signal * 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(signal**2))).astype(np.float32)
