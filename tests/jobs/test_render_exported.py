"""`samaudio-daw render FOLDER`: exported tracks (WAVs with BWF time references) rendered
through the real CLI to stems with the same references, a `.rpp` and a `.dawproject`.

The sessions are checked by this project's readers (`inspect` on the `.rpp`, the
DAWproject reader) and against the official Project.xsd; neither was opened in
REAPER, Bitwig, Studio One or Cubase here.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from samaudio_daw.audio.io import write_audio
from samaudio_daw.audio.wav import read_time_reference
from samaudio_daw.metrics import null_db
from samaudio_daw.project.dawproject import read_dawproject
from samaudio_daw.project.model import read_project
from samaudio_daw.project.stem_tracks import peakcol
from samaudio_daw.project.timeline import render_folder, render_track

RATE = 48000
REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "fixtures" / "dawproject" / "Project.xsd"
# file name -> BWF time reference in frames (None: no bext chunk)
EXPORTS = {
    "Dialog 1 [de-hum]": 10 * RATE,
    "Bass DI": 3 * RATE + 123,
    "Vox {remove the hum}": None,
    "Room tone": 0,  # asks for nothing: left alone and listed
}


def _tone(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.05 * np.sin(2 * np.pi * 50 * t)
    return np.stack([tone + 0.01 * rng.standard_normal(t.size) for _ in range(2)]).astype(
        np.float32
    )


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "Export"
    folder.mkdir()
    for seed, (name, reference) in enumerate(EXPORTS.items()):
        write_audio(folder / f"{name}.wav", _tone(1.5, seed), RATE, "24", "wav", reference)
    (folder / "notes.txt").write_text("not a track")
    return folder


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_folder_renders_to_stems_at_the_same_time_references(exports: Path, cli) -> None:  # type: ignore[no-untyped-def]
    before = _digest(exports)
    done = cli("render", exports)
    assert done.returncode == 3, done.stderr  # Room tone was listed as left alone
    assert "skipped: Room tone: no preset matches" in done.stdout
    assert _digest(exports) == before  # inputs byte-identical, nothing added beside them
    out = exports.parent / "Export-stems"
    result = json.loads((out / "result.json").read_text())
    assert result["projects"][0]["stems_dawproject"] == "Export-stems.dawproject"
    assert [s["track"] for s in result["skipped"]] == ["Room tone"]
    stems = result["stems"]
    assert {s["track"] for s in stems} == {"Dialog 1 [de-hum]", "Bass DI", "Vox {remove the hum}"}
    for stem in stems:
        expected = EXPORTS[stem["track"]] or 0
        assert read_time_reference(out / stem["file"]) == expected, stem["file"]

    # The .rpp opens whole and plays each stem group like its original file.
    stems_rpp = out / "Export-stems.rpp"
    report = json.loads(cli("inspect", stems_rpp, "--json").stdout)
    assert report["missing_media"] == []
    project = read_project(stems_rpp)
    names = [t.name for t in project.tracks]
    dialog = names.index("Dialog 1 [de-hum]")
    assert names[dialog + 1 : dialog + 4] == [
        "Dialog 1 [de-hum] stems",
        "hum - Dialog 1",
        "clean - Dialog 1",
    ]
    assert project.tracks[dialog].mute and not project.tracks[names.index("Room tone")].mute
    for name, reference in EXPORTS.items():
        track = project.track_named(name)
        assert track.items[0].position_s == pytest.approx((reference or 0) / RATE)
        if name == "Room tone":
            continue
        original = render_track(track, project, 0.0, 12.0)
        rendered = render_folder(project.tracks[names.index(name) + 1], project, 0.0, 12.0)
        assert null_db(original, rendered) < -90.0, name

    # The .dawproject: valid, the same tracks and groups, clips at the same times.
    session = out / "Export-stems.dawproject"
    xmlschema = pytest.importorskip("xmlschema")  # the test extra installs it
    with zipfile.ZipFile(session) as archive:
        assert sorted(archive.namelist()) == ["metadata.xml", "project.xml"]
        xmlschema.XMLSchema(SCHEMA).validate(archive.read("project.xml").decode())
    read = read_dawproject(session)
    tracks = [(t.name, t.folder_depth, t.mute) for t in read.tracks]
    assert tracks[:4] == [
        ("Bass DI", 0, True),
        ("Bass DI stems", 0, False),
        ("bass - Bass DI", 1, False),
        ("no-bass - Bass DI", 1, False),
    ]
    assert ("Room tone", 0, False) in tracks
    for track in read.tracks:
        for clip in track.clips:
            assert clip.skip_reason is None, (track.name, clip.skip_reason)
            assert clip.audio is not None and clip.audio.external
    bass_stem = next(t for t in read.tracks if t.name == "bass - Bass DI")
    assert bass_stem.clips[0].time_s == pytest.approx(EXPORTS["Bass DI"] / RATE)
    assert bass_stem.clips[0].duration_s == pytest.approx(1.5)

    # One source of names and colours: the .dawproject's stem tracks and clips are named
    # as the .rpp's stem tracks and takes; its colours are the ones the .rpp's PEAKCOL holds.
    rpp_stems = {t.name: t for t in project.tracks if " - " in t.name}
    dawproject_stems = {t.name: t for t in read.tracks if " - " in t.name}
    assert set(dawproject_stems) == set(rpp_stems)
    for name, track in dawproject_stems.items():
        takes = [item.active_take.name for item in rpp_stems[name].items if item.active_take]
        assert [clip.name for clip in track.clips] == takes, name
    with zipfile.ZipFile(session) as archive:
        root = ElementTree.fromstring(archive.read("project.xml"))
    colors = {t.get("name"): t.get("color") for t in root.iter("Track") if t.get("color")}
    assert colors["bass - Bass DI"] == "#8E5BD0" and colors["no-bass - Bass DI"] == "#B4B9BF"
    peakcols = {t.name: (t.node.values("PEAKCOL") or ("",))[0] for t in project.tracks}
    for name, color in colors.items():
        assert peakcols[name] == str(peakcol(color)), name


def test_inspect_reads_a_folder_of_exported_tracks(exports: Path, cli) -> None:  # type: ignore[no-untyped-def]
    before = _digest(exports)
    done = cli("inspect", "--json", exports)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == "files" and report["project"] == str(exports)
    tracks = {t["name"]: t for t in report["tracks"]}
    assert set(tracks) == set(EXPORTS)
    assert tracks["Bass DI"]["preset"] == "bass" and tracks["Room tone"]["preset"] is None
    (item,) = tracks["Bass DI"]["items"]  # at its time reference, the whole file
    assert item["position_s"] == pytest.approx(EXPORTS["Bass DI"] / RATE)
    assert item["length_s"] == pytest.approx(1.5) and item["skip_reason"] is None
    assert [Path(p).name for p in report["writes"]] == [
        "Export-stems.rpp",
        "Export-stems.dawproject",
    ]
    text = cli("inspect", exports / "Bass DI.wav")  # one exported file is a session too
    assert text.returncode == 0, text.stderr
    assert "exported tracks" in text.stdout and "Bass DI  [pattern: bass" in text.stdout
    assert _digest(exports) == before


def test_a_list_of_files_is_one_session(exports: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    done = cli("render", exports / "Bass DI.wav", exports / "Room tone.wav", "-o", out)
    assert done.returncode == 3, done.stderr
    assert (out / "tracks-stems.rpp").is_file() and (out / "tracks-stems.dawproject").is_file()
    assert {s["track"] for s in json.loads((out / "result.json").read_text())["stems"]} == {
        "Bass DI"
    }


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_link_or_fifo_in_the_folder_is_one_line_exit_2(exports: Path, kind: str, cli) -> None:  # type: ignore[no-untyped-def]
    bad = exports / "Sneaky.wav"
    if kind == "symlink":
        bad.symlink_to(exports / "Bass DI.wav")
    else:
        os.mkfifo(bad)
    done = cli("render", exports)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Sneaky.wav" in done.stderr and ("symbolic link" in done.stderr or "FIFO" in done.stderr)
    assert not (exports.parent / "Export-stems").exists()


def test_a_folder_without_audio_is_one_line_exit_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty").mkdir()
    done = cli("render", tmp_path / "empty")
    assert done.returncode == 2 and "no audio files" in done.stderr


def test_a_mono_vocal_the_backend_cannot_serve_is_skipped_and_the_rest_renders(
    exports: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """dsp pulls a lead vocal from the centre of a stereo mix; a mono vocal export cannot
    give it one. That track is listed with the reason and every other track still renders."""
    mono = _tone(1.5, 9)[:1]
    write_audio(exports / "Lead Vocal.wav", mono, RATE, "24", "wav", None)
    before = _digest(exports)
    done = cli("render", exports)
    assert done.returncode == 3, done.stderr
    out = exports.parent / "Export-stems"
    result = json.loads((out / "result.json").read_text())
    assert {s["track"] for s in result["stems"]} == {
        "Dialog 1 [de-hum]",
        "Bass DI",
        "Vox {remove the hum}",
    }
    (vocal,) = [s for s in result["skipped"] if s["track"] == "Lead Vocal"]
    assert "stereo" in vocal["reason"] and "1 channel" in vocal["reason"]
    assert "Lead Vocal" in done.stdout and "1 channel" in done.stdout
    assert not any("Lead Vocal" in p.name or "lead-vocal" in p.name for p in out.iterdir())
    assert _digest(exports) == before


def test_separate_refuses_a_mono_vocal_for_dsp_before_writing_anything(
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    source = tmp_path / "vocal.wav"
    write_audio(source, _tone(1.0, 3)[:1], RATE, "24", "wav", None)
    done = cli("separate", source, "--preset", "lead-vocal", "-o", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "1 channel" in done.stderr
    assert not (tmp_path / "out").exists()
