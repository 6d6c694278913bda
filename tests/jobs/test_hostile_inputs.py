"""Hostile and broken inputs end in exit 2 with one line (or the bad item skipped, exit 3),
never an internal error: through the real CLI, on real files."""

from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project

RATE = 44100


def _one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("samaudio-daw: error:"), done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def _media(path: Path, seconds: float = 1.0, nan_at_s: float | None = None) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 60 * t)).astype(
        np.float32
    )
    if nan_at_s is not None:
        audio[int(nan_at_s * RATE)] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.array([audio, audio]).T, RATE, subtype="FLOAT")
    return path


def _write_project(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    project = folder / "song.rpp"
    header = "" if "SAMPLERATE" in body else f"  SAMPLERATE {RATE} 0 0\n"
    project.write_text(f'<REAPER_PROJECT 0.1 "7.0" 1\n{header}{body}>\n')
    return project


@pytest.mark.parametrize(
    "body, words",
    [
        ('  MARKER 1 inf "x" 0\n', ["MARKER", ":3:"]),
        ('  MARKER 1 1e400 "x" 1\n', ["MARKER"]),
        ("  MARKER nan 3 x 0\n", ["MARKER"]),
        ("  TEMPO -5 4 4\n", ["tempo"]),
        ("  SAMPLERATE 1e300 0 0\n", ["SAMPLERATE"]),
        ("  SAMPLERATE 1e12 0 0\n", ["sample_rate"]),
        ("  <TRACK\n    <ITEM\n      POSITION 1\n      LENGTH 1e300\n    >\n  >\n", ["length_s"]),
        ("  <TRACK\n    NAME a\n    ISBUS 1 100000000\n  >\n  <TRACK\n  >\n", ["ISBUS"]),
        ("  <TRACK\n  >\n  >\n", ["text after the end"]),
        ("  <TRACK\n    <ITEM\n      POSITION -3\n      LENGTH 1\n    >\n  >\n", ["negative"]),
        ("  <TRACK\n    <ITEM\n      POSITION 1\n      LENGTH nan\n    >\n  >\n", ["LENGTH"]),
        ("<A\n" * 950 + ">\n" * 950, ["nested more than"]),
    ],
)
def test_malformed_projects_are_one_line_for_inspect_and_render(
    tmp_path: Path, cli, body: str, words: list[str]
) -> None:  # type: ignore[no-untyped-def]
    project = _write_project(tmp_path / "p", body)
    _one_error_line(cli("inspect", project), str(project), *words)
    _one_error_line(cli("render", project), str(project), *words)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["song.rpp"]


def test_a_project_that_is_a_fifo_a_folder_or_missing_is_one_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import os

    os.mkfifo(tmp_path / "fifo.rpp")
    (tmp_path / "folder.rpp").mkdir()
    for name, word in (("fifo.rpp", "FIFO"), ("folder.rpp", "folder"), ("gone.rpp", "")):
        _one_error_line(cli("inspect", tmp_path / name), name, word)


def _limited(command: list[str], memory_bytes: int) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, preexec_fn=limit, check=False
    )


@pytest.mark.parametrize(
    "piece, count",
    [
        ("  <TRACK\n  >\n", 1_000_000),
        ("  <TRACK\n    NAME t\n  >\n", 1_000_000),
        ("  <TRACK\n  >\n", 20_000),  # few lines, but more tracks than any session
        ("  <A\n  >\n", 200_000),  # blocks of any kind
        ("  NAME " + "x " * 5000 + "\n", 2000),  # few lines, ten million values
    ],
    ids=["million tracks", "million named tracks", "20k tracks", "200k blocks", "10M values"],
)
def test_an_absurd_project_is_refused_quickly_in_bounded_memory(
    tmp_path: Path, piece: str, count: int
) -> None:
    project = _write_project(tmp_path, piece * count)
    started = time.monotonic()
    # 1.5 GB of address space: the interpreter and numpy take ~1 GB of it before reading.
    done = _limited(
        [sys.executable, "-m", "samaudio_daw", "inspect", str(project)], 1536 * 1024 * 1024
    )
    assert time.monotonic() - started < 30  # 10 s on a quiet machine; CI shares cores
    _one_error_line(done, "over the limit")


def test_a_short_bext_chunk_is_one_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _media(tmp_path / "song.wav")
    data = song.read_bytes()
    bext = b"bext" + struct.pack("<I", 10) + b"0123456789"
    patched = data[:12] + bext + data[12:]
    patched = patched[:4] + struct.pack("<I", len(patched) - 8) + patched[8:]
    song.write_bytes(patched)
    assert sf.info(song).frames == RATE  # still a readable WAV
    manifest = tmp_path / "job.json"
    manifest.write_text(
        json.dumps(
            {
                "version": 1,
                "output_dir": "out",
                "items": [{"audio": "song.wav", "preset": "de-hum"}],
            }
        )
    )
    _one_error_line(cli("run", manifest), str(song), "bext")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_nan_media_file_or_empty_item_in_a_batch_is_skipped_and_the_rest_renders(
    tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "p"
    _media(folder / "media" / "good.wav")
    _media(folder / "media" / "bad.wav", nan_at_s=0.5)
    tracks = [
        TrackSpec("Good [de-hum]", (ItemSpec("media/good.wav", 0.0, 1.0),)),
        TrackSpec(
            "Broken [de-hum]",
            (ItemSpec("media/bad.wav", 0.0, 1.0), ItemSpec("media/good.wav", 2.0, 0.25)),
        ),
    ]
    project = folder / "song.rpp"
    text = new_project(RATE, 120.0, tracks)
    assert text.count("LENGTH 0.25") == 1
    project.write_text(text.replace("LENGTH 0.25", "LENGTH 0"), encoding="utf-8")
    out = tmp_path / "out"
    done = cli("render", project, "-o", out)
    assert done.returncode == 3, done.stderr
    assert "bad.wav" in done.stdout and "NaN" in done.stdout, done.stdout
    assert ".samaudio-work" not in done.stdout + done.stderr  # never the internal work file
    result = json.loads((out / "result.json").read_text())
    reasons = {(s["track"], s["reason"]) for s in result["skipped"]}
    assert any(track == "Broken [de-hum]" and "NaN" in why for track, why in reasons)
    assert any(track == "Broken [de-hum]" and "zero-length" in why for track, why in reasons)
    assert {s["track"] for s in result["stems"]} == {"Good [de-hum]"}
    for stem in result["stems"]:
        assert sf.info(out / stem["file"]).frames == RATE
    assert (out / "song-stems.rpp").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_broken_preset_affects_only_the_runs_that_use_it(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "nanny.toml").write_text(
        '[[stems]]\nname = "v"\nprompt = "voice"\n'
        '[[stems.post_chain]]\nplugin = "Gain"\ngain_db = nan\n'
    )
    song = _media(tmp_path / "song.wav")
    listed = cli("presets", "list", "--presets", presets)
    assert listed.returncode == 0 and "nanny.toml" in listed.stderr and "de-hum" in listed.stdout
    fine = cli("separate", song, "--preset", "de-hum", "-o", tmp_path / "ok", "--presets", presets)
    assert fine.returncode == 0, fine.stderr
    broken = cli("separate", song, "--preset", "nanny", "-o", tmp_path / "no", "--presets", presets)
    _one_error_line(broken, "nanny.toml", "gain_db", "finite")
    assert not (tmp_path / "no").exists()
    checked = cli("presets", "check", presets / "nanny.toml")
    assert checked.returncode == 2 and "gain_db" in checked.stdout + checked.stderr
