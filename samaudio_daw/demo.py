"""``make demo``: the main job on a demo song, end to end, with the embedded CPU backend.

Writes the demo song as a REAPER project (``examples/demo/demo.rpp``, media made in
code, track names tagged with presets and an inline prompt), renders it with
``samaudio-daw render``, and prints the summary, the SDR improvement of each stem
against the known sources, and which project to open in REAPER.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from samaudio_daw.audio.io import read_audio, write_audio
from samaudio_daw.demo_song import SAMPLE_RATE, TEMPO_BPM, DemoTrack, demo_tracks
from samaudio_daw.metrics import sdr_improvement_db
from samaudio_daw.project.builder import new_project

DEMO_DIR = Path("examples/demo")


def write_demo_project(folder: Path, tracks: list[DemoTrack]) -> Path:
    """Media files and ``demo.rpp`` in ``folder``; returns the project path."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    specs = []
    for index, track in enumerate(tracks, start=1):
        file = media / f"track{index}.wav"
        write_audio(file, track.mix, SAMPLE_RATE, "24")
        length_s = track.mix.shape[1] / SAMPLE_RATE
        specs.append((track.name, [(f"media/{file.name}", 0.0, length_s)]))
    project = folder / "demo.rpp"
    project.write_text(new_project(SAMPLE_RATE, TEMPO_BPM, specs), encoding="utf-8")
    return project


def score_stems(result_dir: Path, tracks: list[DemoTrack]) -> list[tuple[str, str, float]]:
    """(track, stem, SDR improvement in dB) for every stem with a known source."""
    from samaudio_daw.jobs.results import load_result

    result = load_result(result_dir / "result.json")
    scores = []
    for track in tracks:
        for stem in result.stems:
            if stem.track != track.name or stem.name not in track.parts:
                continue
            estimate, _ = read_audio(result_dir / stem.file)
            reference = track.parts[stem.name]
            scores.append(
                (track.name, stem.name, sdr_improvement_db(reference, estimate, track.mix))
            )
    return scores


def main() -> int:
    tracks = demo_tracks()
    project = write_demo_project(DEMO_DIR, tracks)
    print(f"demo project: {project} ({len(tracks)} tracks, {SAMPLE_RATE} Hz)")
    command = [sys.executable, "-m", "samaudio_daw", "render", str(project)]
    print("$ samaudio-daw render", project, flush=True)
    finished = subprocess.run(command, check=False)
    if finished.returncode not in (0, 3):
        return finished.returncode
    out = DEMO_DIR / "demo-stems"
    print("\nSDR improvement per stem (against the known sources):")
    for track_name, stem, gain_db in score_stems(out, tracks):
        print(f"  {track_name:<32} {stem:<14} {gain_db:+6.1f} dB")
    print(f"\nOpen in REAPER: {out / 'demo-stems.rpp'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
