"""SAM-Audio clip seams per overlap: the level and tone steps where clips meet.

Runs the sam-audio backend (the tiny reference checkpoint by default, or any model with
``--model``) on a steady stereo 44.1 kHz mixture of tones and noise, whose stems should
be steady too, cut into short clips so the track has many seams. Per overlap it measures,
in 50 ms windows of the stem, the step of the short-term energy (dB) and of the spectral
centroid (Hz) across each seam (mean over 0.25 s after minus mean over 0.25 s before),
and prints the largest step at the seams and the largest away from every seam.

    python benchmarks/sam_audio_seams.py                 # 6 s, 2 s clips, overlaps 0.25 .. 0.05
    python benchmarks/sam_audio_seams.py --seconds 12 --seeds 4   # more seams, mean of 4 seeds

The smallest overlap whose seam figures stay at or below those at 0.25 is printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator
from samaudio_daw.separation.sam_audio.cache import ModelCache
from samaudio_daw.separation.sam_audio.chunks import plan_chunks

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / ".." / "shared" / "sam_audio_reference"
RATE_HZ = 44100
FRAME_S = 1920 / 48000
WINDOW_S = 0.05
SIDE_S = 0.25
BASELINE_OVERLAP = 0.25


def steady_mix(seconds: float) -> np.ndarray:
    """Steady tones and noise, stereo: its stems should be steady too."""
    rng = np.random.default_rng(3)
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1760 * t)
    mono = mono + 0.05 * rng.standard_normal(t.size)
    return np.stack([mono, 0.8 * mono]).astype(np.float32)


def clip_boundaries_s(seconds: float, chunk_s: float, overlap: float) -> list[float]:
    """Where clips start and end (except the track's own ends), in seconds."""
    plan = plan_chunks(round(seconds / FRAME_S), round(chunk_s / FRAME_S), overlap)
    starts = [s * FRAME_S for s in plan.starts[1:]]
    ends = [(s + plan.chunk_frames) * FRAME_S for s in plan.starts[:-1]]
    return sorted(starts + ends)


def short_term_measures(stem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy (dB) and spectral centroid (Hz) of channel 0 per 50 ms window."""
    size = round(WINDOW_S * RATE_HZ)
    count = stem.shape[-1] // size
    frames = stem[0, : count * size].reshape(count, size) * np.hanning(size)
    energy_db = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    spectrum = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(size, 1 / RATE_HZ)
    return energy_db, (spectrum * freqs).sum(axis=1) / (spectrum.sum(axis=1) + 1e-12)


def steps(series: np.ndarray, positions: list[int], side: int) -> np.ndarray:
    """|mean over ``side`` windows after − mean over ``side`` before| at each position."""
    return np.array(
        [abs(series[i : i + side].mean() - series[i - side : i].mean()) for i in positions]
    )


@dataclass(frozen=True)
class SeamSteps:
    """The largest steps at the seams and away from them (windows ≥ 0.25 s from any seam)."""

    overlap: float
    seams: int
    energy_db: float
    centroid_hz: float
    energy_db_away: float
    centroid_hz_away: float
    wall_s: float = 0.0


def seam_steps(stem: np.ndarray, boundaries_s: list[float], overlap: float) -> SeamSteps:
    energy_db, centroid_hz = short_term_measures(stem)
    side = round(SIDE_S / WINDOW_S)
    seams = [round(b / WINDOW_S) for b in boundaries_s]
    seams = [i for i in seams if side <= i <= len(energy_db) - side]
    away = [i for i in range(side, len(energy_db) - side) if all(abs(i - s) > side for s in seams)]
    return SeamSteps(
        overlap,
        len(seams),
        float(steps(energy_db, seams, side).max()),
        float(steps(centroid_hz, seams, side).max()),
        float(steps(energy_db, away, side).max()) if away else 0.0,
        float(steps(centroid_hz, away, side).max()) if away else 0.0,
    )


def measure(
    model: str,
    overlap: float,
    seconds: float,
    chunk_s: float,
    steps_: int,
    seeds: int,
    cache: ModelCache,
) -> SeamSteps:
    """The figures of ``seam_steps`` averaged over ``seeds`` noise seeds (0, 1, ...)."""
    started = time.perf_counter()
    found = []
    for seed in range(seeds):
        options = BackendOptions(
            model=model,
            chunk_s=chunk_s,
            steps=steps_,
            seed=seed,
            extra=(("overlap", str(overlap)),),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stem = SamAudioSeparator(options, cache=cache).separate(
                steady_mix(seconds), RATE_HZ, [Prompt("sine tone")]
            )[0]
        found.append(seam_steps(stem, clip_boundaries_s(seconds, chunk_s, overlap), overlap))
    mean = {
        key: float(np.mean([getattr(f, key) for f in found]))
        for key in ("energy_db", "centroid_hz", "energy_db_away", "centroid_hz_away")
    }
    return SeamSteps(
        overlap, found[0].seams, **mean, wall_s=(time.perf_counter() - started) / seeds
    )


def smallest_allowed(rows: list[SeamSteps]) -> SeamSteps:
    """The smallest overlap whose seam steps are at or below the baseline overlap's."""
    base = next(r for r in rows if r.overlap == BASELINE_OVERLAP)
    fine = [r for r in rows if r.energy_db <= base.energy_db and r.centroid_hz <= base.centroid_hz]
    return min(fine, key=lambda r: r.overlap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REFERENCE))
    parser.add_argument("--overlaps", default="0.25,0.2,0.15,0.1,0.05")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--chunk", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=1, help="figures averaged over seeds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    overlaps = sorted({float(o) for o in args.overlaps.split(",")} | {BASELINE_OVERLAP})
    cache = ModelCache()
    rows = []
    print(
        "| overlap | seams | energy step dB | centroid step Hz | away: dB / Hz | wall s per seed |"
    )
    print("|---|---|---|---|---|---|")
    for overlap in sorted(overlaps, reverse=True):
        r = measure(args.model, overlap, args.seconds, args.chunk, args.steps, args.seeds, cache)
        rows.append(r)
        print(
            f"| {r.overlap:.2f} | {r.seams} | {r.energy_db:.2f} | {r.centroid_hz:.0f} | "
            f"{r.energy_db_away:.2f} / {r.centroid_hz_away:.0f} | {r.wall_s:.0f} |",
            flush=True,
        )
    best = smallest_allowed(rows)
    print(f"smallest overlap within the {BASELINE_OVERLAP} figures: {best.overlap}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
