"""`samaudio-daw render` on real .rpp files with real media, through the real CLI.

The acceptance check for the stems project: rendering its stems folder with the
project's own timeline renderer sounds like rendering the original track (within
-90 dB). REAPER itself cannot run here; that the written project opens in REAPER is
covered only by the reader accepting it and by the structure checks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.audio.wav import read_time_reference
from samaudio_daw.jobs.manifest import load_schema
from samaudio_daw.metrics import null_db
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.project.model import read_project
from samaudio_daw.project.timeline import render_folder, render_track

RATE = 48000


def _noisy_chord(seconds: float, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 330.0)) * 0.15
    hum = 0.05 * np.sin(2 * np.pi * 50 * t)
    rows = [tone + hum + 0.01 * rng.standard_normal(t.size) for _ in range(channels)]
    return np.array(rows, dtype=np.float32)


def _write(path: Path, audio: np.ndarray, subtype: str = "PCM_24") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, RATE, subtype=subtype)
    return f"media/{path.name}"


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """A project with loops, offsets, fades, volumes, a MIDI item and missing media."""
    folder = tmp_path / "song"
    a = _write(folder / "media" / "a.wav", _noisy_chord(3.0, 2, 1))
    b = _write(folder / "media" / "b.wav", _noisy_chord(1.0, 1, 2), "PCM_16")
    tracks = [
        TrackSpec(
            "Keys [de-hum]",
            (
                ItemSpec(
                    a,
                    0.5,
                    2.0,
                    source_offset_s=0.25,
                    fade_in_s=0.1,
                    fade_out_s=0.3,
                    fade_out_shape=1,
                    volume=0.8,
                    take_volume=0.7,
                    take_pan=-0.3,
                ),
                ItemSpec(b, 3.0, 2.5, loop=True, fade_in_s=0.05),
                ItemSpec("media/gone.wav", 6.0, 1.0),
                ItemSpec("media/notes.mid", 7.0, 1.0, kind="MIDI"),
            ),
        ),
        TrackSpec("Untagged"),
        TrackSpec(
            "Field rec {remove the mains hum}",
            (ItemSpec(a, 1.0, 1.5, play_rate=1.5), ItemSpec(b, 2.0, 1.0)),
        ),
    ]
    project = folder / "song.rpp"
    project.write_text(new_project(RATE, 120.0, tracks), encoding="utf-8")
    return project


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_render_writes_stems_project_that_sounds_like_the_original(song: Path, cli) -> None:  # type: ignore[no-untyped-def]
    before = _tree_digest(song.parent)
    done = cli("render", song)
    assert done.returncode == 3, done.stderr  # something was skipped
    assert "missing media" in done.stdout and "MIDI item" in done.stdout
    assert "play rate" not in done.stdout  # the 1.5x item is rendered, its stems keep the rate
    out = song.parent / "song-stems"
    # Inputs untouched: the project and its media are byte-identical, only OUTDIR is new.
    after = _tree_digest(song.parent)
    assert {k: v for k, v in after.items() if not k.startswith("song-stems/")} == before

    original = read_project(song)
    stems_project = read_project(out / "song-stems.rpp")
    names = [t.name for t in stems_project.tracks]
    keys = names.index("Keys [de-hum]")
    assert names[keys + 1 : keys + 4] == ["Keys [de-hum] stems", "hum - Keys", "clean - Keys"]
    assert stems_project.tracks[keys].mute
    folder = stems_project.tracks[keys + 1]
    assert sum(t.folder_delta for t in stems_project.tracks) == 0
    for track_name in ("Keys [de-hum]", "Field rec {remove the mains hum}"):
        track = original.track_named(track_name)
        start, end = 0.0, 9.0
        reference = render_track(track, original, start, end)
        folder = stems_project.tracks[names.index(track_name) + 1]
        rendered = render_folder(folder, stems_project, start, end)
        assert null_db(reference, rendered) < -90.0, track_name
    # The stems project, in its own folder, finds every file the original found.
    found = cli("inspect", out / "song-stems.rpp", "--json")
    report = json.loads(found.stdout)
    missing = ["../media/gone.wav", "../media/notes.mid"]
    assert [m["file"] for m in report["missing_media"]] == missing
    before = json.loads(cli("inspect", song, "--json").stdout)["missing_media"]
    assert [m["file"] for m in before] == ["media/gone.wav", "media/notes.mid"]


def test_stem_files_carry_position_rate_depth_and_manifest(song: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("render", song)
    out = song.parent / "song-stems"
    result = json.loads((out / "result.json").read_text())
    jsonschema.validate(result, load_schema("result"))
    project = read_project(song)
    keys = project.track_named("Keys [de-hum]")
    by_item = {item.guid: item for item in keys.items}
    entries = [s for s in result["stems"] if s["track_guid"] == keys.guid]
    assert {s["name"] for s in entries} == {"hum", "clean"} and len(entries) == 4
    for entry in entries:
        item = by_item[entry["item_guid"]]
        info = sf.info(out / entry["file"])
        assert info.samplerate == RATE
        assert info.frames == round(item.length_s * RATE)
        assert read_time_reference(out / entry["file"]) == round(item.position_s * RATE)
        assert entry["position_s"] == pytest.approx(item.position_s)
        source = item.active_take.source.media.path  # type: ignore[union-attr]
        assert info.subtype == sf.info(source).subtype  # the source's bit depth
    skipped = {(s["track"], s["reason"].split(":")[0]) for s in result["skipped"]}
    assert ("Keys [de-hum]", "missing media") in skipped
    assert [(m["file"], m["items"], m["tracks"]) for m in result["missing_media"]] == [
        ("media/gone.wav", 1, 1)
    ]


def test_rerun_skips_up_to_date_items_and_redoes_changed_ones(song: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("render", song)
    out = song.parent / "song-stems"
    first = json.loads((out / "result.json").read_text())
    again = cli("render", song)
    second = json.loads((out / "result.json").read_text())
    assert again.returncode == 3
    assert all(s["reused"] for s in second["stems"])
    assert [s["cache_key"] for s in first["stems"]] == [s["cache_key"] for s in second["stems"]]
    cli("render", song, "--bit-depth", "float")
    third = json.loads((out / "result.json").read_text())
    assert not any(s["reused"] for s in third["stems"])


def test_track_mode_imports_one_item_per_stem(song: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "track-mode"
    done = cli(
        "render",
        "--report",
        song,
        "--mode",
        "track",
        "-o",
        out,
        "--tracks",
        "keys*",
        "--keep-original-unmuted",
    )
    assert done.returncode == 3, done.stderr
    original = read_project(song)
    stems = read_project(out / "song-stems.rpp")
    names = [t.name for t in stems.tracks]
    index = names.index("Keys [de-hum]")
    assert not stems.tracks[index].mute
    assert (out / "report.html").is_file() and f"listening report: {out}" in done.stdout
    assert [len(t.items) for t in stems.tracks[index + 2 : index + 4]] == [1, 1]
    reference = render_track(original.tracks[index], original, 0.0, 9.0)
    rendered = render_folder(stems.tracks[index + 1], stems, 0.0, 9.0)
    assert null_db(reference, rendered) < -90.0
    assert "Field rec" not in " ".join(names[index + 1 :]).split("stems")[0]


def test_bad_project_file_names_the_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.rpp"
    bad.write_text('<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    NAME "x"\n')
    done = cli("render", bad)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "bad.rpp:" in done.stderr
    assert not (tmp_path / "bad-stems").exists()


def test_output_folder_may_not_be_the_media_folder(song: Path, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("render", song, "-o", song.parent / "media")
    assert done.returncode == 2 and "media" in done.stderr
    assert sorted(p.name for p in (song.parent / "media").iterdir()) == ["a.wav", "b.wav"]


def test_inspect_lists_presets_media_and_reasons(song: Path, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("inspect", song, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    tracks = {t["name"]: t for t in report["tracks"]}
    assert tracks["Keys [de-hum]"]["preset"] == "de-hum"
    assert tracks["Field rec {remove the mains hum}"]["choice"] == "inline"
    assert tracks["Untagged"]["preset"] is None
    items = tracks["Keys [de-hum]"]["items"]
    assert items[2]["found"] is None and items[2]["missing_reason"]
    assert items[3]["skip_reason"] == "MIDI item"
    text = cli("inspect", song)
    assert "MISSING" in text.stdout and "de-hum" in text.stdout


def test_missing_media_is_listed_once_per_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "moved"
    here = _write(folder / "media" / "here.wav", _noisy_chord(1.0, 1, 3))
    gone = "C:\\Users\\someone\\Music\\song\\media\\gone.wav"
    tracks = [
        TrackSpec("Drums [drums]", tuple(ItemSpec(gone, i * 0.5, 0.5) for i in range(30))),
        TrackSpec(
            "Perc [drums]", (*(ItemSpec(gone, i, 0.5) for i in range(8)), ItemSpec(here, 9, 1))
        ),
    ]
    project = folder / "song.rpp"
    project.write_text(new_project(RATE, 120.0, tracks))
    shown = cli("inspect", project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("missing media (38 items on 2 tracks): media file 'C:\\") == 1
    assert shown.stdout.count("not found") == 1
    rendered = cli("render", project)
    assert rendered.returncode == 3, rendered.stderr
    assert rendered.stdout.count("missing media (38 items on 2 tracks)") == 1
    assert [line for line in rendered.stdout.splitlines() if "gone.wav" in line] != []
    assert len([line for line in rendered.stdout.splitlines() if "gone.wav" in line]) == 1
    # the file turns up in another folder: --media-dir finds it
    _write(tmp_path / "backup" / "2023" / "gone.wav", _noisy_chord(0.5, 1, 4))
    found = cli("inspect", project, "--json", "--media-dir", tmp_path / "backup")
    assert json.loads(found.stdout)["missing_media"] == []
    again = cli("render", project, "--media-dir", tmp_path / "backup", "-o", tmp_path / "out")
    assert again.returncode == 0, again.stdout + again.stderr
    stems = cli("inspect", tmp_path / "out" / "song-stems.rpp", "--json")
    assert json.loads(stems.stdout)["missing_media"] == []
