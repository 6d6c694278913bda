"""`samaudio-daw render` on sessions as producers make them: every kind of audio item.

One project made in code holds items at rate 0.5 and 1.5 with and without preserve
pitch, pitch shifts of +-7 semitones, stretch markers, a reversed item, an item
looped past its source's end and an item with take FX, with media in four kinds of
places (a subfolder, next to the project, an absolute path elsewhere, the RECORD_PATH
folder). Rendered through the real CLI with the dsp backend.

Checked here: every audio item is rendered; each stem take carries its original's
PLAYRATE line, take FX and stretch markers that point at the same sound; stems plus
residual null against the source span below -90 dB; the stems folder played through
the project's own renderer nulls against the original track; the stems project finds
every file. Not covered: REAPER's own time-stretching and pitch shifting (REAPER
cannot run here); the renderer models play rate by resampling on both sides.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.metrics import null_db
from samaudio_daw.project import rpp
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.project.model import Item, Project, read_project
from samaudio_daw.project.timeline import (
    render_folder,
    render_item_source,
    render_track,
    source_span,
)

RATE = 48000
TAKE_FX = """<TAKEFX
  WNDRECT 24 52 655 408
  SHOW 0
  LASTSEL 0
  DOCKED 0
  BYPASS 0 0 0
  <JS "Utility/volume" ""
    -3 0 - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
  >
  FLOATPOS 0 0 0 0
  FXID {A1B2C3D4-0000-4000-8000-000000000001}
  WAK 0 0
>"""


def _music(seconds: float, channels: int, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t + seed) for f in (110.0, 247.0, 392.0)) * 0.15
    hum = 0.05 * np.sin(2 * np.pi * 50 * t)
    rows = [tone + hum + 0.02 * rng.standard_normal(t.size) for _ in range(channels)]
    return np.array(rows, dtype=np.float32)


def _write(path: Path, audio: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, rate, subtype="PCM_24")


@pytest.fixture
def session(tmp_path: Path) -> Path:
    folder = tmp_path / "session"
    library = tmp_path / "sample library"
    _write(folder / "media" / "sub.wav", _music(3.0, 2, RATE, 1), RATE)
    _write(folder / "next.flac", _music(3.0, 1, RATE, 2), RATE)
    _write(library / "abs.wav", _music(3.0, 2, 44100, 3), 44100)
    _write(folder / "Audio Files" / "rec.wav", _music(3.0, 2, RATE, 4), RATE)
    sub, nxt, absolute, rec = "media/sub.wav", "next.flac", str(library / "abs.wav"), "rec.wav"
    items = (
        ItemSpec(sub, 0.0, 2.0, source_offset_s=0.5, play_rate=0.5, name="slow keep pitch"),
        ItemSpec(nxt, 3.0, 2.0, play_rate=0.5, preserve_pitch=False, name="slow tape"),
        ItemSpec(absolute, 6.0, 1.5, source_offset_s=0.3, play_rate=1.5, name="fast keep"),
        ItemSpec(rec, 8.0, 1.5, play_rate=1.5, preserve_pitch=False, name="fast tape"),
        ItemSpec(sub, 10.0, 2.0, source_offset_s=0.2, pitch_semitones=7.0, name="up 7"),
        ItemSpec(nxt, 12.5, 2.0, pitch_semitones=-7.0, name="down 7"),
        ItemSpec(
            sub,
            15.0,
            2.0,
            source_offset_s=0.2,
            stretch_markers=((0.0, 0.2), (0.8, 1.4), (2.0, 2.3)),
            name="stretched",
        ),
        ItemSpec(absolute, 18.0, 2.0, reversed=True, name="reversed"),
        ItemSpec(rec, 21.0, 7.0, source_offset_s=1.0, loop=True, name="looped"),
        ItemSpec(nxt, 29.0, 2.0, source_offset_s=0.4, name="with take fx"),
    )
    text = new_project(RATE, 120.0, [TrackSpec("Keys [de-hum]", items)], record_path="Audio Files")
    tree = rpp.loads(text)
    track = tree.find("TRACK")
    assert track is not None
    with_fx = track.find_all("ITEM")[-1]
    indented = "\n".join("      " + line for line in TAKE_FX.splitlines())
    take_fx = rpp.loads(f"<ITEM\n{indented}\n>").find("TAKEFX")
    assert take_fx is not None
    with_fx.insert(with_fx.index_of(with_fx.find("SOURCE")), take_fx)  # type: ignore[arg-type]
    project = folder / "session.rpp"
    rpp.dump(tree, project)
    return project


def _stem_sum(folder: Path, result: dict, item: Item) -> np.ndarray:  # type: ignore[type-arg]
    files = [folder / s["file"] for s in result["stems"] if s["item_guid"] == item.guid]
    assert len(files) == 2  # hum and the residual, clean
    return sum(sf.read(f, dtype="float32", always_2d=True)[0].T for f in files)  # type: ignore[return-value]


def _stem_items(stems: Project, original: Item) -> list[Item]:
    return [
        item
        for track in stems.tracks
        if track.name in ("hum - Keys", "clean - Keys")
        for item in track.items
        if item.position_s == original.position_s
    ]


def test_every_audio_item_renders_and_the_stems_play_like_the_original(
    session: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    before = session.read_bytes()
    done = cli("render", session)
    assert done.returncode == 0, done.stdout + done.stderr  # nothing skipped
    assert "non-linear FX" in done.stdout
    out = session.parent / "session-stems"
    result = json.loads((out / "result.json").read_text())
    original = read_project(session)
    stems = read_project(out / "session-stems.rpp")
    assert session.read_bytes() == before
    items = original.tracks[0].items
    assert len(result["stems"]) == 2 * len(items) and result["skipped"] == []
    for item in items:
        # stems + residual give back exactly the part of the source the item plays
        assert null_db(render_item_source(item, RATE), _stem_sum(out, result, item)) < -90.0
        take = item.active_take
        assert take is not None
        span = source_span(item)
        for stem in _stem_items(stems, item):
            stem_take = stem.active_take
            assert stem_take is not None
            assert (stem_take.play_rate, stem_take.preserve_pitch, stem_take.pitch_semitones) == (
                take.play_rate,
                take.preserve_pitch,
                take.pitch_semitones,
            )
            assert stem_take.start_offset_s == pytest.approx(take.start_offset_s - span.start_s)
            assert not stem.loop and stem_take.has_take_fx == take.has_take_fx
            moved = [
                v for m in take.stretch_markers for v in (m.position_s, m.source_s - span.start_s)
            ]
            got = [v for m in stem_take.stretch_markers for v in (m.position_s, m.source_s)]
            assert got == pytest.approx(moved)
    # soloing the stems folder sounds like the original track (rate, markers, loops...)
    reference = render_track(original.tracks[0], original, 0.0, 32.0)
    rendered = render_folder(stems.tracks[1], stems, 0.0, 32.0)
    assert null_db(reference, rendered) < -90.0
    # the stems project, in its own folder, finds every file
    report = json.loads(cli("inspect", out / "session-stems.rpp", "--json").stdout)
    assert report["missing_media"] == []
    assert all(i["found"] for t in report["tracks"] for i in t["items"])


def _with_active_take(tree: rpp.RppNode, prefix: str) -> rpp.RppNode:
    """A copy of ``tree`` where every item's take named ``prefix...`` is the active one."""
    copy = tree.copy()
    for item in (node for node in copy.walk() if node.tag == "ITEM"):
        children = item.children
        for index, child in enumerate(children):
            if isinstance(child, rpp.RppLine) and child.key == "TAKE":
                name = children[index + 1]
                chosen = isinstance(name, rpp.RppLine) and name.values[0].startswith(prefix)
                child.set_values(["SEL"] if chosen else [])
    return copy


def test_render_as_takes_adds_one_take_per_stem_and_keeps_the_original_active(
    session: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    before = session.read_bytes()
    done = cli("render", session, "--as", "takes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert session.read_bytes() == before
    out = session.parent / "session-stems"
    stems_path = out / "session-stems.rpp"
    original, stems = read_project(session), read_project(stems_path)
    # no stems folder: the same tracks, the original unmuted
    assert [t.name for t in stems.tracks] == [t.name for t in original.tracks]
    assert "MUTESOLO 0" in rpp.dumps(rpp.load(stems_path).find("TRACK"))  # type: ignore[arg-type]
    for old, new in zip(original.tracks[0].items, stems.tracks[0].items, strict=True):
        assert [t.name for t in new.takes] == [
            *(t.name for t in old.takes),
            "hum - Keys",
            "clean - Keys",
        ]
        assert new.active_take is not None and old.active_take is not None
        assert new.active_take.index == old.active_take.index
        assert new.active_take.name == old.active_take.name
        for take in new.takes[len(old.takes) :]:  # each plays its stem file from the span
            assert take.source is not None and take.source.media is not None
            assert take.source.media.path is not None and take.source.media.path.is_file()
            assert take.source.media.path.parent == out
            span = source_span(old)
            assert take.start_offset_s == pytest.approx(
                old.active_take.start_offset_s - span.start_s
            )
            assert take.play_rate == old.active_take.play_rate
            assert take.pitch_semitones == old.active_take.pitch_semitones
            assert take.has_take_fx == old.active_take.has_take_fx
    report = json.loads(cli("inspect", stems_path, "--json").stdout)
    assert report["missing_media"] == []
    result = json.loads((out / "result.json").read_text())
    looks = {(s["name"], s["track_name"], s["color"]) for s in result["stems"]}
    assert looks == {("hum", "hum - Keys", "#8C7A6B"), ("clean", "clean - Keys", "#B4B9BF")}
    # as found, the stems project plays like the original
    reference = render_track(original.tracks[0], original, 0.0, 32.0)
    assert null_db(reference, render_track(stems.tracks[0], stems, 0.0, 32.0)) < -90.0
    # the hum takes played with the clean takes sound like the original track
    tree = rpp.load(stems_path)
    played = []
    for prefix in ("hum - ", "clean - "):
        path = out / f"only {prefix.strip(' -')}.rpp"
        rpp.dump(_with_active_take(tree, prefix), path)
        project = read_project(path)
        assert {i.active_take.name for i in project.tracks[0].items} == {prefix + "Keys"}  # type: ignore[union-attr]
        played.append(render_track(project.tracks[0], project, 0.0, 32.0))
    assert null_db(reference, played[0] + played[1]) < -90.0


def test_takes_need_item_mode(session: Path, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("render", session, "--as", "takes", "--mode", "track")
    assert done.returncode == 2 and "--as takes needs --mode item" in done.stderr
    assert not (session.parent / "session-stems").exists()


def test_stem_takes_keep_the_playrate_line_and_take_fx_verbatim(session: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("render", session).returncode == 0
    tree = rpp.load(session.parent / "session-stems" / "session-stems.rpp")
    tracks = {t.values("NAME")[0]: t for t in tree.find_all("TRACK")}  # type: ignore[index]
    originals = tracks["Keys [de-hum]"].find_all("ITEM")
    for stem_track in ("hum - Keys", "clean - Keys"):
        copies = tracks[stem_track].find_all("ITEM")
        assert len(copies) == len(originals)
        for original, copy in zip(originals, copies, strict=True):
            assert copy.line("PLAYRATE").raw == original.line("PLAYRATE").raw  # type: ignore[union-attr]
            fx = [rpp.dumps(n) for n in original.find_all("TAKEFX")]
            assert [rpp.dumps(n) for n in copy.find_all("TAKEFX")] == fx


def test_stretch_markers_point_at_the_same_sound(session: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("render", session).returncode == 0
    out = session.parent / "session-stems"
    result = json.loads((out / "result.json").read_text())
    original = read_project(session)
    item = next(i for i in original.tracks[0].items if i.active_take.has_stretch_markers)  # type: ignore[union-attr]
    source, _ = sf.read(session.parent / "media" / "sub.wav", dtype="float32", always_2d=True)
    total = _stem_sum(out, result, item)
    stems = read_project(out / "session-stems.rpp")
    for stem in _stem_items(stems, item):
        for marker, moved in zip(
            item.active_take.stretch_markers,  # type: ignore[union-attr]
            stem.active_take.stretch_markers,  # type: ignore[union-attr]
            strict=True,
        ):
            at_source, at_stem = round(marker.source_s * RATE), round(moved.source_s * RATE)
            back = max(at_stem + 256 - total.shape[1], 0)  # a marker at the end: look before it
            window = source.T[:, at_source - back : at_source - back + 256]
            heard = total[:, at_stem - back : at_stem - back + 256]
            assert window.shape == heard.shape == (2, 256)
            assert np.abs(heard - window).max() < 1e-4


def test_track_mode_models_play_rate_and_says_what_is_approximate(
    session: Path,
    cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    out = tmp_path / "track-mode"
    done = cli("render", session, "--mode", "track", "--report", "-o", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "only approximately" in done.stdout
    original = read_project(session)
    stems = read_project(out / "session-stems.rpp")
    reference = render_track(original.tracks[0], original, 0.0, 32.0)
    assert null_db(reference, render_folder(stems.tracks[1], stems, 0.0, 32.0)) < -90.0
    page = (out / "report.html").read_text()
    assert "approximate: it has" in page and "preserve pitch" in page
