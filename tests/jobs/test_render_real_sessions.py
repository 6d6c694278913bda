"""`render` on projects written the way REAPER writes them, moved to another machine.

The two projects in ``sessions/`` are written by hand in REAPER's own style (not
saved by REAPER): ``moved-from-windows.RPP`` (CRLF, REAPER 7 on Windows, media on
``C:\\Users\\...`` and ``D:\\`` paths, the media now in the RECORD_PATH folder ``Audio``,
``PLAYRATE 0.99999999999978``, a -4 semitone second take, an elastique-stretched item,
stretch markers with a slope, a reversed item with a ReaEQ take FX, a MIDI item and a
file left on the other machine) and ``mac-record-path.rpp`` (macOS paths, file names
differing in case, a tape-speed loop, a +7 semitone take, a 44.1 kHz file, a video
clip without decodable audio). The tests write stand-in WAV/FLAC media where the
projects now look for it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.metrics import null_db
from samaudio_daw.project import rpp
from samaudio_daw.project.model import read_project
from samaudio_daw.project.timeline import render_folder, render_track

SESSIONS = Path(__file__).parent / "sessions"


def _media(path: Path, seconds: float, rate: int = 48000, channels: int = 2, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    rows = [
        0.2 * np.sin(2 * np.pi * (150 + 40 * seed + 3 * c) * t)
        + 0.04 * np.sin(2 * np.pi * 60 * t)
        + 0.02 * rng.standard_normal(t.size)
        for c in range(channels)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.array(rows, dtype=np.float32).T, rate, subtype="PCM_24")


def _copy(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / "session"
    folder.mkdir()
    shutil.copy(SESSIONS / name, folder / name)
    return folder / name


def _nulls(project: Path, stems_project: Path, track_names: list[str], end_s: float) -> None:
    original, stems = read_project(project), read_project(stems_project)
    names = [t.name for t in stems.tracks]
    for name in track_names:
        track = original.track_named(name)
        folder = stems.tracks[names.index(f"{name} stems")]
        reference = render_track(track, original, 0.0, end_s)
        assert null_db(reference, render_folder(folder, stems, 0.0, end_s)) < -90.0, name


def test_windows_project_moved_here(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    project = _copy("moved-from-windows.RPP", tmp_path)
    audio = project.parent / "Audio"
    for number, name in enumerate(["Vox-01", "Vox-02", "Vox-03", "Vox-04", "GtrDI-01"]):
        _media(audio / f"{name}.wav", 8.0, seed=number)
    before = project.read_bytes()
    shown = cli("inspect", project).stdout
    for what in ("-4 st", "x0.85 (keep pitch)", "4 SM", "take FX"):
        assert what in shown, shown
    done = cli("render", project)
    assert done.returncode == 3, done.stdout + done.stderr  # GtrDI-02 stayed on drive D:
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skipped")]
    assert skipped[0] == "skipped: Keys, item 1 at 0.000 s: MIDI item"  # Keys: keys-pads preset
    assert len(skipped) == 2 and "missing media (1 item on 1 track)" in skipped[1]
    assert "GtrDI-02.wav" in skipped[1] and "non-linear FX" in done.stdout
    assert project.read_bytes() == before
    out = project.parent / "moved-from-windows-stems"
    result = json.loads((out / "result.json").read_text())
    assert len({s["item_guid"] for s in result["stems"]}) == 6  # 5 vocal items, 1 guitar
    stems_project = out / "moved-from-windows-stems.rpp"
    report = json.loads(cli("inspect", stems_project, "--json").stdout)
    assert [m["file"] for m in report["missing_media"]] == [
        "D:\\Sessions\\Ballad\\Audio\\GtrDI-02.wav"
    ]
    tree = rpp.load(stems_project)
    text = rpp.dumps(tree)
    assert "PLAYRATE 1 1 -4 589824 0 0.0025" in text.split('NAME "Lead Vox [lead-vocal] stems"')[1]
    stems = read_project(stems_project)
    vox4 = [i for t in stems.tracks[1:] for i in t.items if i.position_s == 10.5]
    assert len(vox4) >= 2  # one per stem; the original sits on track 1
    for item in vox4:
        take = item.active_take
        assert take is not None and take.start_offset_s == 0.0  # SOFFS 0.4 - span start 0.4
        found = [v for m in take.stretch_markers for v in (m.position_s, m.source_s, m.slope)]
        moved = [0.0, 0.0, 0.0, 0.6, 0.5, 0.2, 1.4, 1.45, 0.0, 2.0, 2.0, 0.0]
        assert found == pytest.approx(moved)
    _nulls(project, stems_project, ["Lead Vox [lead-vocal]", "Gtr DI [de-hum]"], 16.0)


def test_mac_project_with_record_path_and_case_changes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    project = _copy("mac-record-path.rpp", tmp_path)
    media = project.parent / "Media"
    _media(media / "Break 128.wav", 3.75, seed=1)
    _media(media / "shaker.flac", 4.0, channels=1, seed=2)  # the project says Shaker.FLAC
    _media(media / "Conga 44k.wav", 2.0, rate=44100, seed=3)
    (project.parent / "clip.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(64))
    shown = cli("inspect", project)
    assert "MISSING" not in shown.stdout, shown.stdout
    done = cli("render", project)
    assert done.returncode == 3, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "video item without audio" in skipped[0], skipped
    out = project.parent / "mac-record-path-stems"
    stems_project = out / "mac-record-path-stems.rpp"
    report = json.loads(cli("inspect", stems_project, "--json").stdout)
    assert report["missing_media"] == []
    result = json.loads((out / "result.json").read_text())
    looped = [s for s in result["stems"] if s["track"] == "Drum Loop [drums]"]
    # 15 s at 1.0667x of a 3.75 s loop: 16 s of the source, unrolled from 0.46875 s
    assert {sf.info(out / s["file"]).frames for s in looped} == {16 * 48000}
    _nulls(project, stems_project, ["Drum Loop [drums]", "Percussion {extract the hi-hat}"], 12.0)


def test_windows_project_as_takes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    project = _copy("moved-from-windows.RPP", tmp_path)
    audio = project.parent / "Audio"
    for number, name in enumerate(["Vox-01", "Vox-02", "Vox-03", "Vox-04", "GtrDI-01"]):
        _media(audio / f"{name}.wav", 8.0, seed=number)
    before = project.read_bytes()
    done = cli("render", project, "--as", "takes", "-o", project.parent / "takes")
    assert done.returncode == 3, done.stdout + done.stderr  # GtrDI-02 stayed on drive D:
    assert project.read_bytes() == before
    stems_project = project.parent / "takes" / "moved-from-windows-stems.rpp"
    result = json.loads((project.parent / "takes" / "result.json").read_text())
    original, stems = read_project(project), read_project(stems_project)
    assert [t.name for t in stems.tracks] == [t.name for t in original.tracks]
    separated = {s["item_guid"]: s for s in result["stems"]}
    assert len(separated) == 6  # 5 vocal items, 1 guitar
    for old_track, new_track in zip(original.tracks, stems.tracks, strict=True):
        for old, new in zip(old_track.items, new_track.items, strict=True):
            added = 2 if old.guid in separated else 0
            assert len(new.takes) == len(old.takes) + added, (old_track.name, old.index)
            assert new.active_take_index == old.active_take_index
    # the -4 semitone take is the active second take of Vox-02: its stems keep its PLAYRATE
    text = rpp.dumps(rpp.load(stems_project))
    assert text.count("PLAYRATE 1 1 -4 589824 0 0.0025") == 3
    report = json.loads(cli("inspect", stems_project, "--json").stdout)
    assert [m["file"] for m in report["missing_media"]] == [
        "D:\\Sessions\\Ballad\\Audio\\GtrDI-02.wav"
    ]
