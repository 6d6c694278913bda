"""Quality of the dsp backend against the free tools a producer would reach for (issue 14).

Usage: python benchmarks/quality.py [--seeds 1 2 3] [--seconds 14] [--jobs drums,bass]

For each seed it renders a song (benchmarks/quality_material.py: FluidSynth, the
FluidR3 General MIDI soundfont, instruments and style drawn from the seed) and a
piece of espeak-ng dialogue, adds hum, room noise or tape hiss, and runs every
job on the same input with dsp and with the peers: librosa HPSS at margins 1, 2
and 3, noisereduce (stationary with a hand-picked noise clip, and non-stationary),
scipy notch/comb filters, Butterworth filters, mid/side. It prints one table:

- SDR improvement (dB) of each method's estimate over the unprocessed input,
  per seed and averaged (higher is better);
- a sanity figure per job, for dsp and the best peer (what it measures is in the
  row's note: e.g. the drum stem's energy under 100 Hz against the true drums,
  0 dB is right);
- time as a fraction of the audio's length (0.033 is 30x real time).

Peers are benchmark-only dependencies (`pip install .[bench]`); the material
needs the Debian packages fluidsynth, fluid-soundfont-gm and espeak-ng. Results
also go to benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import butter, iirnotch, sosfiltfilt, tf2sos

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import quality_material as material  # noqa: E402

from samaudio_daw.metrics import sdr_improvement_db  # noqa: E402
from samaudio_daw.separation.base import Prompt  # noqa: E402
from samaudio_daw.separation.dsp import DspSeparator  # noqa: E402

RATE = material.SAMPLE_RATE


@dataclass
class Case:
    """One input of one job: the mix, the true target, and what a peer may be handed."""

    mix: np.ndarray
    target: np.ndarray
    interferer: np.ndarray  # the loudest thing that should not be in the target
    noise_clip: np.ndarray | None = None  # a noise-only recording, for noisereduce
    mains_hz: float = 50.0
    pauses: np.ndarray | None = None  # (frames,) bool: where the dialogue is silent


Method = Callable[[Case], np.ndarray]


@dataclass
class Job:
    name: str
    build: Callable[[int], Case]
    dsp: Method
    peers: dict[str, Method]
    sanity: Callable[[Case, np.ndarray], float]
    sanity_note: str
    results: dict[str, list[float]] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)
    sanities: dict[str, list[float]] = field(default_factory=dict)


# --- material, cached per seed ------------------------------------------------------

_songs: dict[int, material.Song] = {}
_speech: dict[int, np.ndarray] = {}
SECONDS = 14.0


def song(seed: int) -> material.Song:
    if seed not in _songs:
        made = material.make_song(seed, SECONDS)
        # Mixed as a producer balances them: drums and bass forward, keys and lead under.
        drums_rms = np.sqrt(np.mean(made.drums**2))
        bass_rms = np.sqrt(np.mean(made.stems["bass"] ** 2))
        gain = {name: bass_rms / drums_rms * 1.4 for name in ("kick", "snare", "hats", "toms")}
        stems = {name: s * gain.get(name, 1.0) for name, s in made.stems.items()}
        peak = np.abs(sum(stems.values())).max()
        stems = {name: (s * 0.7 / peak).astype(np.float32) for name, s in stems.items()}
        _songs[seed] = material.Song(stems, made.description)
    return _songs[seed]


def speech(seed: int) -> np.ndarray:
    if seed not in _speech:
        _speech[seed] = material.make_speech(seed, SECONDS)
    return _speech[seed]


def _pauses(voice: np.ndarray) -> np.ndarray:
    """Frames at least 60 ms from any speech sample above -50 dB of the peak."""
    loud = np.abs(voice).max(axis=0) > np.abs(voice).max() * 10 ** (-50 / 20)
    reach = int(0.06 * RATE)
    near = np.convolve(loud.astype(np.float32), np.ones(2 * reach + 1), mode="same") > 0
    return ~near


def case_hum_dialogue(seed: int) -> Case:
    voice = speech(seed)
    hum = material.make_hum(seed, voice.shape[1], 1)
    hum = material.at_level(hum, voice, 10.0)
    mains = _mains_of(seed)
    return Case(voice + hum, voice, hum, hum[:, :RATE], mains, _pauses(voice))


def _mains_of(seed: int) -> float:
    return 50.0 if np.random.default_rng(seed).integers(2) else 60.0


def case_dialogue_cleanup(seed: int) -> Case:
    voice = speech(seed)
    frames = voice.shape[1]
    room = material.at_level(material.make_room_noise(seed + 1000, frames + RATE, 1), voice, 8.0)
    hum = material.at_level(material.make_hum(seed, frames + RATE, 1), voice, 16.0)
    noise = room + hum
    # The hand-picked clip: one second of the same room, recorded apart from the take.
    return Case(
        voice + noise[:, :frames],
        voice,
        noise[:, :frames],
        noise[:, frames:],
        _mains_of(seed),
        _pauses(voice),
    )


def case_drums_band(seed: int) -> Case:
    s = song(seed)
    rest = s.stems["bass"] + s.stems["keys"] + s.stems["lead"]
    return Case(s.drums + rest, s.drums, s.stems["bass"])


def case_drums_bass(seed: int) -> Case:
    s = song(seed)
    return Case(s.drums + s.stems["bass"], s.drums, s.stems["bass"])


def case_keys_band(seed: int) -> Case:
    s = song(seed)
    return Case(s.drums + s.stems["bass"] + s.stems["keys"], s.stems["keys"], s.stems["bass"])


def case_bass_drums(seed: int) -> Case:
    s = song(seed)
    return Case(s.drums + s.stems["bass"], s.stems["bass"], s.stems["kick"])


def case_bass_band(seed: int) -> Case:
    s = song(seed)
    mix = s.drums + s.stems["bass"] + s.stems["keys"] + s.stems["lead"]
    return Case(mix, s.stems["bass"], s.stems["kick"])


def case_hiss_song(seed: int) -> Case:
    s = song(seed)
    mix = s.drums + s.stems["bass"] + s.stems["keys"] + s.stems["lead"]
    frames = mix.shape[1]
    hiss = material.at_dbfs(material.make_hiss(seed + 2000, frames + RATE, 2), -30.0)
    return Case(mix + hiss[:, :frames], mix, hiss[:, :frames], hiss[:, frames:])


def _kit_case(piece: str) -> Callable[[int], Case]:
    def build(seed: int) -> Case:
        s = song(seed)
        others = [name for name in ("kick", "snare", "hats", "toms") if name != piece]
        loudest = max(others, key=lambda name: float(np.sum(s.stems[name] ** 2)))
        return Case(s.drums, s.stems[piece], s.stems[loudest])

    return build


# --- methods --------------------------------------------------------------------------


def dsp_target(*prompts: str) -> Method:
    """The first prompt's stem, separated together with the others (as a preset does)."""

    def run(case: Case) -> np.ndarray:
        return DspSeparator().separate(case.mix, RATE, [Prompt(p) for p in prompts])[0]

    return run


def dsp_clean(*prompts: str) -> Method:
    """What is left once every prompt's stem is taken out (a removal preset's product)."""

    def run(case: Case) -> np.ndarray:
        stems = DspSeparator().separate(case.mix, RATE, [Prompt(p) for p in prompts])
        return case.mix - sum(stems)

    return run


def _filtered(sos: np.ndarray) -> Method:
    return lambda case: sosfiltfilt(sos, case.mix, axis=1).astype(np.float32)


def butter_lowpass(hz: float, order: int = 4) -> Method:
    return _filtered(butter(order, hz, "lowpass", fs=RATE, output="sos"))


def butter_highpass(hz: float, order: int = 4) -> Method:
    return _filtered(butter(order, hz, "highpass", fs=RATE, output="sos"))


def butter_bandpass(low_hz: float, high_hz: float, order: int = 4) -> Method:
    return _filtered(butter(order, (low_hz, high_hz), "bandpass", fs=RATE, output="sos"))


def comb_notch(harmonics: int, q: float = 30.0) -> Method:
    """Zero-phase notches at every harmonic of the (given) mains frequency."""

    def run(case: Case) -> np.ndarray:
        out = case.mix.astype(np.float64)
        for k in range(1, harmonics + 1):
            if case.mains_hz * k < RATE / 2 - 100:
                b, a = iirnotch(case.mains_hz * k, q, fs=RATE)
                out = sosfiltfilt(tf2sos(b, a), out, axis=1)
        return out.astype(np.float32)

    return run


def _hpss(mix: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    harmonic, percussive = [], []
    for channel in mix:
        spec = librosa.stft(channel, n_fft=2048, hop_length=512)
        h, p = librosa.decompose.hpss(spec, margin=margin)
        harmonic.append(librosa.istft(h, hop_length=512, length=channel.size))
        percussive.append(librosa.istft(p, hop_length=512, length=channel.size))
    return np.array(harmonic, np.float32), np.array(percussive, np.float32)


def hpss_percussive(margin: float) -> Method:
    return lambda case: _hpss(case.mix, margin)[1]


def hpss_harmonic(
    margin: float, highpass_hz: float | None = None, lowpass_hz: float | None = None
) -> Method:
    def run(case: Case) -> np.ndarray:
        harmonic = _hpss(case.mix, margin)[0]
        if highpass_hz:
            harmonic = sosfiltfilt(
                butter(4, highpass_hz, "highpass", fs=RATE, output="sos"), harmonic, axis=1
            )
        if lowpass_hz:
            harmonic = sosfiltfilt(
                butter(4, lowpass_hz, "lowpass", fs=RATE, output="sos"), harmonic, axis=1
            )
        return harmonic.astype(np.float32)

    return run


def noisereduce_with_clip(stationary: bool = True, before: Method | None = None) -> Method:
    def run(case: Case) -> np.ndarray:
        import noisereduce

        mix = before(case) if before else case.mix
        clip = case.noise_clip
        if before is not None and clip is not None:
            clip = before(Case(clip, clip, clip, mains_hz=case.mains_hz))
        out = noisereduce.reduce_noise(
            y=mix, sr=RATE, y_noise=clip, stationary=stationary, n_jobs=1
        )
        return np.asarray(out, np.float32).reshape(mix.shape)

    return run


def noisereduce_blind(stationary: bool) -> Method:
    def run(case: Case) -> np.ndarray:
        import noisereduce

        out = noisereduce.reduce_noise(y=case.mix, sr=RATE, stationary=stationary, n_jobs=1)
        return np.asarray(out, np.float32).reshape(case.mix.shape)

    return run


def mid_only(case: Case) -> np.ndarray:
    mid = case.mix.mean(axis=0, keepdims=True)
    return np.repeat(mid, case.mix.shape[0], axis=0)


# --- sanity figures --------------------------------------------------------------------


def _band_energy(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio, axis=1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[1], 1.0 / RATE)
    return float(spectrum[:, (freqs >= low_hz) & (freqs < high_hz)].sum())


def lows_vs_truth(case: Case, estimate: np.ndarray) -> float:
    """Estimate's energy under 100 Hz against the true target's, dB (0 is right)."""
    return 10 * np.log10(_band_energy(estimate, 20, 100) / _band_energy(case.target, 20, 100))


def interferer_leak(case: Case, estimate: np.ndarray) -> float:
    """Energy of the estimate along the interferer, dB under the target (lower is better)."""
    weight = float(np.sum(estimate * case.interferer) / np.sum(case.interferer**2))
    leak = weight**2 * float(np.sum(case.interferer**2))
    return 10 * np.log10(max(leak, 1e-20) / float(np.sum(case.target**2)))


def noise_left_in_pauses(case: Case, estimate: np.ndarray) -> float:
    """Noise left where nobody speaks, dB under the noise that was there (lower is better)."""
    assert case.pauses is not None
    left = np.sum((estimate - case.target)[:, case.pauses] ** 2)
    was = np.sum((case.mix - case.target)[:, case.pauses] ** 2)
    return float(10 * np.log10(max(left, 1e-20) / was))


def tones_kept(case: Case, estimate: np.ndarray) -> float:
    """Energy 200 Hz-2 kHz (sustained notes, little hiss) against the clean song's, dB."""
    return 10 * np.log10(_band_energy(estimate, 200, 2000) / _band_energy(case.target, 200, 2000))


# --- the jobs --------------------------------------------------------------------------


def jobs() -> list[Job]:
    margins = (1.0, 2.0, 3.0)
    # Both bass rows face the same peers: a plain low-pass, and HPSS's harmonic part low-passed.
    bass_peers = {
        "butterworth low-pass 250 Hz": butter_lowpass(250.0),
        **{
            f"HPSS harmonic m{m:g} + low-pass 250": hpss_harmonic(m, lowpass_hz=250.0)
            for m in margins
        },
    }
    return [
        Job(
            "mains hum out of dialogue",
            case_hum_dialogue,
            dsp_clean("the mains hum"),
            {
                "scipy comb notch Q30 x20": comb_notch(20),
                "scipy comb notch Q60 x40": comb_notch(40, 60.0),
                "butterworth high-pass 120 Hz": butter_highpass(120.0),
            },
            noise_left_in_pauses,
            "hum left in pauses, dB",
        ),
        Job(
            "dialogue out of room noise + hum",
            case_dialogue_cleanup,
            dsp_clean("the mains hum", "the steady background noise"),
            {
                "noisereduce stationary + clip": noisereduce_with_clip(True),
                "noisereduce non-stationary": noisereduce_blind(False),
                "comb notch + noisereduce + clip": noisereduce_with_clip(True, comb_notch(20)),
                "high-pass 80 + notch + nr + clip": noisereduce_with_clip(
                    True,
                    lambda c: comb_notch(20)(
                        Case(butter_highpass(80.0)(c), c.target, c.interferer, mains_hz=c.mains_hz)
                    ),
                ),
            },
            noise_left_in_pauses,
            "noise left in pauses, dB",
        ),
        Job(
            "drums out of a full band",
            case_drums_band,
            dsp_target("the drums"),
            {f"librosa HPSS margin {m:g}": hpss_percussive(m) for m in margins},
            lows_vs_truth,
            "drum lows <100 Hz vs truth, dB",
        ),
        Job(
            "drums out of drums + bass",
            case_drums_bass,
            dsp_target("the drums"),
            {f"librosa HPSS margin {m:g}": hpss_percussive(m) for m in margins},
            lows_vs_truth,
            "drum lows <100 Hz vs truth, dB",
        ),
        Job(
            "keys out of drums + bass + keys",
            case_keys_band,
            dsp_target("the keys"),
            {
                **{f"librosa HPSS harmonic margin {m:g}": hpss_harmonic(m) for m in margins},
                **{
                    f"HPSS harmonic m{m:g} + high-pass 150": hpss_harmonic(m, highpass_hz=150.0)
                    for m in margins
                },
            },
            interferer_leak,
            "bass leak, dB under keys",
        ),
        Job(
            "bass out of drums + bass",
            case_bass_drums,
            dsp_target("the bass"),
            bass_peers,
            interferer_leak,
            "kick leak, dB under bass",
        ),
        Job(
            "bass out of a full band",
            case_bass_band,
            dsp_target("the bass"),
            bass_peers,
            interferer_leak,
            "kick leak, dB under bass",
        ),
        Job(
            "kick out of the drum kit",
            _kit_case("kick"),
            dsp_target("the kick drum", "the snare drum", "the hi-hats", "the toms"),
            {
                "butterworth low-pass 100 Hz": butter_lowpass(100.0),
                "butterworth low-pass 150 Hz": butter_lowpass(150.0),
            },
            interferer_leak,
            "leak of the loudest other piece, dB",
        ),
        Job(
            "snare out of the drum kit",
            _kit_case("snare"),
            dsp_target("the snare drum", "the kick drum", "the hi-hats", "the toms"),
            {
                "butterworth band-pass 150-5000": butter_bandpass(150.0, 5000.0),
                "butterworth band-pass 200-8000": butter_bandpass(200.0, 8000.0),
            },
            interferer_leak,
            "leak of the loudest other piece, dB",
        ),
        Job(
            "hats out of the drum kit",
            _kit_case("hats"),
            dsp_target("the hi-hats", "the kick drum", "the snare drum", "the toms"),
            {
                "butterworth high-pass 5 kHz": butter_highpass(5000.0),
                "butterworth high-pass 8 kHz": butter_highpass(8000.0),
            },
            interferer_leak,
            "leak of the loudest other piece, dB",
        ),
        Job(
            "toms out of the drum kit",
            _kit_case("toms"),
            dsp_target("the toms", "the kick drum", "the snare drum", "the hi-hats"),
            {
                "butterworth band-pass 70-400": butter_bandpass(70.0, 400.0),
                "butterworth band-pass 100-800": butter_bandpass(100.0, 800.0),
            },
            interferer_leak,
            "leak of the loudest other piece, dB",
        ),
        Job(
            "song under tape hiss, cleaned",
            case_hiss_song,
            dsp_clean("the tape hiss"),
            {
                "noisereduce stationary + clip": noisereduce_with_clip(True),
                "noisereduce stationary blind": noisereduce_blind(True),
                "noisereduce non-stationary": noisereduce_blind(False),
                "butterworth low-pass 8 kHz": butter_lowpass(8000.0),
            },
            tones_kept,
            "200 Hz-2 kHz kept vs clean, dB",
        ),
        Job(
            "lead (centre) out of a band",
            lambda seed: Case(
                sum(song(seed).stems.values()), song(seed).stems["lead"], song(seed).stems["keys"]
            ),
            dsp_target("the lead"),
            {
                "mid (mid/side)": mid_only,
                **{
                    f"HPSS harmonic m{m:g} + high-pass 250": hpss_harmonic(m, highpass_hz=250.0)
                    for m in (2.0,)
                },
            },
            interferer_leak,
            "keys leak, dB under lead",
        ),
    ]


def _timed(method: Method, case: Case) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    estimate = method(case)
    return estimate, (time.perf_counter() - start) / (case.mix.shape[1] / RATE)


def main() -> None:
    global SECONDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument(
        "--jobs", default="", help="comma-separated words; run jobs whose name has one"
    )
    args = parser.parse_args()
    SECONDS = args.seconds
    wanted = [w.strip() for w in args.jobs.split(",") if w.strip()]
    selected = [j for j in jobs() if not wanted or any(w in j.name for w in wanted)]
    for seed in args.seeds:
        if any("dialogue" not in j.name for j in selected):
            print(f"seed {seed}: {song(seed).description}", file=sys.stderr)
    for job in selected:
        for seed in args.seeds:
            case = job.build(seed)
            for name, method in [("dsp", job.dsp), *job.peers.items()]:
                estimate, fraction = _timed(method, case)
                job.results.setdefault(name, []).append(
                    sdr_improvement_db(case.target, estimate, case.mix)
                )
                job.times.setdefault(name, []).append(fraction)
                job.sanities.setdefault(name, []).append(job.sanity(case, estimate))
        print(f"done: {job.name}", file=sys.stderr)
    _print_table(selected, args.seeds)
    _write_json(selected, args.seeds)


def _best_peer(job: Job) -> str:
    return max(job.peers, key=lambda name: float(np.mean(job.results[name])))


def _print_table(selected: list[Job], seeds: list[int]) -> None:
    seed_list = " / ".join(str(s) for s in seeds)
    print(
        f"SDR improvement in dB, per seed ({seed_list}) and mean; time = processing / audio length"
    )
    print()
    print(
        "| job | dsp | best free tool | dsp - best | sanity: dsp / best (what) | time: dsp / best |"
    )
    print("|---|---|---|---|---|---|")
    for job in selected:
        best = _best_peer(job)
        dsp, peer = job.results["dsp"], job.results[best]

        def fmt(values: list[float]) -> str:
            return " / ".join(f"{v:+.1f}" for v in values) + f" (mean {np.mean(values):+.1f})"

        margin = float(np.mean(dsp) - np.mean(peer))
        sanity = f"{np.mean(job.sanities['dsp']):+.1f} / {np.mean(job.sanities[best]):+.1f} ({job.sanity_note})"
        speed = f"{np.mean(job.times['dsp']):.3f} / {np.mean(job.times[best]):.3f}"
        print(
            f"| {job.name} | {fmt(dsp)} | {best}: {fmt(peer)} | {margin:+.1f} | {sanity} | {speed} |"
        )


def _write_json(selected: list[Job], seeds: list[int]) -> None:
    out = Path(__file__).resolve().parent / "results" / "quality.json"
    out.parent.mkdir(exist_ok=True)
    data = {
        "seeds": seeds,
        "seconds": SECONDS,
        "jobs": {
            job.name: {
                name: {
                    "sdr_improvement_db": job.results[name],
                    "time_fraction": job.times[name],
                    "sanity": job.sanities[name],
                }
                for name in job.results
            }
            for job in selected
        },
    }
    out.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
