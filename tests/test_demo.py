"""`make demo`'s main job, run as a user would: a REAPER project rendered and scored."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from samaudio_daw.project.model import read_project


def test_demo_renders_the_song_and_scores_every_stem(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "samaudio_daw.demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    scores = dict(re.findall(r"^\s+(.+?\S)\s+([+-]\d+\.\d) dB$", done.stdout, re.MULTILINE))
    assert len(scores) == 11, done.stdout
    stems = tmp_path / "examples" / "demo" / "demo-stems" / "demo-stems.rpp"
    assert f"Open in REAPER: {stems.relative_to(tmp_path)}" in done.stdout
    project = read_project(stems)
    names = [track.name for track in project.tracks]
    assert "Interview [dialogue-cleanup] stems" in names and "dialogue - Interview" in names
    # Opened from its own folder, the stems project finds every original and every stem.
    sources = [item.active_take.source for t in project.tracks for item in t.items]
    assert sources and all(s is not None and s.media.path is not None for s in sources)
    # The cleaned dialogue and the extracted lead are better than the mixture.
    assert float(scores["Interview [dialogue-cleanup]     dialogue"]) > 0
    assert float(scores["Lead vocal bus [lead-vocal]      vocal"]) > 10
