"""Stem tracks added to a project: folder structure, verbatim lines, and the null test."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from samaudio_daw.project import rpp
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.project.model import Project, Track, project_from_tree, read_project
from samaudio_daw.project.stem_tracks import (
    add_stem_takes,
    add_stem_tracks,
    add_track_stems,
    peakcol,
)
from samaudio_daw.project.timeline import (
    render_folder,
    render_item_source,
    render_track,
    skip_reason,
    track_span,
)

RATE = 48000
FIXTURES = Path(__file__).parent / "fixtures"
WriteAudio = Callable[..., Path]


def _project(folder: Path, *tracks: TrackSpec) -> Project:
    path = folder / "song.rpp"
    path.write_text(new_project(RATE, 120.0, list(tracks)))
    return read_project(path)


def _one_item(name: str, delta: int = 0) -> TrackSpec:
    return TrackSpec(name, (ItemSpec(f"{name}.wav", 1.0, 2.0),), folder_delta=delta)


def _stems(folder: Path, track: Track, names: tuple[str, ...] = ("voc", "residual")) -> dict:
    return {
        item.index: {
            name: folder / "stems" / f"{track.name}-{item.index}-{name}.wav" for name in names
        }
        for item in track.items
    }


def _with_stems(tmp_path: Path, project: Project, name: str, **options: bool) -> Project:
    track = project.track_named(name)
    out = tmp_path / "out" / "song-stems.rpp"
    out.parent.mkdir(exist_ok=True)
    tree = add_stem_tracks(
        project.tree, track, _stems(out.parent, track), new_project_path=out, **options
    )
    rpp.dump(tree, out)
    return read_project(out)


def _assert_folders_valid(project: Project) -> None:
    assert sum(track.folder_delta for track in project.tracks) == 0
    level = 0
    for track in project.tracks:
        assert track.folder_depth == level
        level += track.folder_delta
        assert level >= 0
        assert track.folder_state == (
            1 if track.folder_delta > 0 else 2 if track.folder_delta < 0 else 0
        )


def _layout(project: Project) -> list[tuple[str, int, bool]]:
    return [(t.name, t.folder_depth, t.mute) for t in project.tracks]


def test_plain_track_inside_a_folder(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        TrackSpec("Band", folder_delta=1),
        _one_item("A"),
        _one_item("Gtr"),
        _one_item("B", -1),
        _one_item("After"),
    )
    new = _with_stems(tmp_path, project, "Gtr")
    _assert_folders_valid(new)
    assert _layout(new) == [
        ("Band", 0, False),
        ("A", 1, False),
        ("Gtr", 1, True),
        ("Gtr stems", 1, False),
        ("voc", 2, False),
        ("residual", 2, False),
        ("B", 1, False),
        ("After", 0, False),
    ]
    assert new.descendants(new.track_named("Gtr stems")) == new.tracks[4:6]


def test_last_track_of_a_folder_hands_its_folder_end_to_the_stems(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        TrackSpec("Outer", folder_delta=1),
        TrackSpec("Inner", folder_delta=1),
        _one_item("Gtr", -2),
        _one_item("After"),
    )
    new = _with_stems(tmp_path, project, "Gtr")
    _assert_folders_valid(new)
    assert _layout(new) == [
        ("Outer", 0, False),
        ("Inner", 1, False),
        ("Gtr", 2, True),
        ("Gtr stems", 2, False),
        ("voc", 3, False),
        ("residual", 3, False),
        ("After", 0, False),
    ]
    assert (new.tracks[2].folder_state, new.tracks[2].folder_delta) == (0, 0)
    assert (new.tracks[5].folder_state, new.tracks[5].folder_delta) == (2, -3)


def test_folder_parent_gets_its_stems_after_its_last_child(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        TrackSpec("Outer", folder_delta=1),
        _one_item("Drums", 1),
        _one_item("Kick"),
        _one_item("Snare", -2),
        _one_item("After"),
    )
    new = _with_stems(tmp_path, project, "Drums")
    _assert_folders_valid(new)
    assert _layout(new) == [
        ("Outer", 0, False),
        ("Drums", 1, True),
        ("Kick", 2, False),
        ("Snare", 2, False),
        ("Drums stems", 1, False),
        ("voc", 2, False),
        ("residual", 2, False),
        ("After", 0, False),
    ]
    drums = new.track_named("Drums")
    assert [t.name for t in new.descendants(drums)] == ["Kick", "Snare"]
    assert new.track_named("Snare").folder_delta == -1
    assert new.track_named("residual").folder_delta == -2


def test_last_track_of_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path, _one_item("A"), _one_item("Gtr"))
    new = _with_stems(tmp_path, project, "Gtr", mute_original=False)
    _assert_folders_valid(new)
    assert [t.name for t in new.tracks] == ["A", "Gtr", "Gtr stems", "voc", "residual"]
    assert not new.track_named("Gtr").mute


def test_the_input_tree_is_not_changed(tmp_path: Path) -> None:
    project = _project(tmp_path, _one_item("Gtr", 0))
    before = rpp.dumps(project.tree)
    _with_stems(tmp_path, project, "Gtr")
    assert rpp.dumps(project.tree) == before


def test_stem_items_copy_lines_verbatim_and_nothing_else_changes(tmp_path: Path) -> None:
    original_text = (FIXTURES / "with-external-files.rpp").read_bytes().decode()
    project = project_from_tree(rpp.loads(original_text), tmp_path / "song.rpp")
    track = project.tracks[6]  # "Left", 6 WavPack items, inside a folder
    out = tmp_path / "song-stems.rpp"
    tree = add_stem_tracks(project.tree, track, _stems(tmp_path, track), new_project_path=out)
    new_text = rpp.dumps(tree)
    old_lines, new_lines = original_text.split("\r\n"), new_text.split("\r\n")
    ops = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes()
    changes = [
        (tag, old_lines[i1:i2], new_lines[j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"
    ]
    assert [tag for tag, _, _ in changes] == ["replace", "insert"]
    assert changes[0][1:] == (["    MUTESOLO 0 0 0"], ["    MUTESOLO 1 0 0"])
    inserted = "\r\n".join(changes[1][2])
    assert "\n" not in inserted.replace("\r\n", "")
    assert inserted.count("<TRACK") == 3 and inserted.count("<ITEM") == 12
    for item in track.items:
        for key in ("POSITION", "LENGTH", "FADEIN", "FADEOUT", "VOLPAN", "SNAPOFFS", "MUTE"):
            line = item.node.line(key)
            assert line is not None and line.raw is not None
            assert inserted.count(line.raw + "\r\n") >= 2, key
    new = project_from_tree(rpp.loads(new_text), out)
    _assert_folders_valid(new)
    stems = new.track_named("Left stems")
    assert stems.index == 7 and stems.volume == track.volume and stems.pan == track.pan
    voc = new.tracks[8]
    assert voc.name == "voc" and len(voc.items) == len(track.items)
    for old, stem_item in zip(track.items, voc.items, strict=True):
        assert (stem_item.position_s, stem_item.length_s) == (old.position_s, old.length_s)
        assert (stem_item.fade_in, stem_item.fade_out) == (old.fade_in, old.fade_out)
        assert stem_item.loop is False
        take = stem_item.active_take
        assert take is not None and take.start_offset_s == 0.0 and take.source is not None
        assert take.source.kind == "WAVE"
        assert take.source.file == f"stems/Left-{old.index}-voc.wav"


def test_stem_takes_are_added_inside_the_items_and_nothing_else_changes(tmp_path: Path) -> None:
    original_text = (FIXTURES / "with-external-files.rpp").read_bytes().decode()
    project = project_from_tree(rpp.loads(original_text), tmp_path / "song.rpp")
    track = project.tracks[6]  # "Left", 6 WavPack items, inside a folder
    out = tmp_path / "song-stems.rpp"
    names = {"voc": "voc - Left", "residual": "residual - Left"}
    tree = add_stem_takes(
        project.tree, track, _stems(tmp_path, track), new_project_path=out, names=names
    )
    new_text = rpp.dumps(tree)
    old_lines, new_lines = original_text.split("\r\n"), new_text.split("\r\n")
    ops = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes()
    changes = [(tag, new_lines[j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]
    assert {tag for tag, _ in changes} == {"insert"}  # no line changed, none removed
    inserted = "\r\n".join(line for _, lines in changes for line in lines)
    assert "<TRACK" not in inserted and "MUTESOLO" not in inserted
    assert inserted.count("TAKE\r\n") == 2 * len(track.items)
    new = project_from_tree(rpp.loads(new_text), out)
    assert [t.name for t in new.tracks] == [t.name for t in project.tracks]
    for old, item in zip(track.items, new.tracks[6].items, strict=True):
        assert len(item.takes) == len(old.takes) + 2
        assert item.active_take_index == old.active_take_index
        assert [t.name for t in item.takes[-2:]] == ["voc - Left", "residual - Left"]
        for take, stem in zip(item.takes[-2:], ("voc", "residual"), strict=True):
            assert take.source is not None and take.source.kind == "WAVE"
            assert take.source.file == f"stems/Left-{old.index}-{stem}.wav"


def test_stem_takes_of_an_item_whose_active_take_is_not_the_first(tmp_path: Path) -> None:
    text = new_project(RATE, 120.0, [_one_item("Gtr")])
    root = rpp.loads(text)
    item = root.find("TRACK").find("ITEM")  # type: ignore[union-attr]
    assert item is not None
    item.set_values("VOLPAN", ["0.5", "0.1", "0.9", "-1"])
    for tokens in (["TAKE", "SEL"], ["NAME", "second"], ["TAKEVOLPAN", "-0.25", "0.75", "-1"]):
        item.append(rpp.RppLine.new(tokens))
    item.append(rpp.RppNode.new("SOURCE", ["WAVE"], [rpp.RppLine.new(["FILE", "b.wav"])]))
    project = project_from_tree(root, tmp_path / "song.rpp")
    gtr = project.tracks[0]
    out = tmp_path / "x.rpp"
    tree = add_stem_takes(project.tree, gtr, _stems(tmp_path, gtr), new_project_path=out)
    new = project_from_tree(tree, out).tracks[0].items[0]
    assert [t.name for t in new.takes][1:] == ["second", "voc", "residual"]
    assert new.active_take_index == 1 and new.volume == 0.5
    for take in new.takes[2:]:  # the active take's pan and volume, not the first take's
        assert (take.volume, take.pan) == (0.75, -0.25)


def test_stem_tracks_get_their_names_and_colours(tmp_path: Path) -> None:
    assert peakcol("#3A7BD5") == 0x1000000 | 0xD57B3A  # red in the low byte
    assert peakcol("#ff0000") == 0x10000FF and peakcol("#000000") == 0x1000000
    project = _project(tmp_path, _one_item("Gtr"))
    gtr = project.tracks[0]
    out = tmp_path / "x.rpp"
    tree = add_stem_tracks(
        project.tree,
        gtr,
        _stems(tmp_path, gtr),
        new_project_path=out,
        names={"voc": "voc - Gtr"},
        colors={"voc": "#3A7BD5", "residual": "#B4B9BF"},
    )
    tracks = {t.values("NAME")[0]: t for t in tree.find_all("TRACK")}  # type: ignore[index]
    assert list(tracks) == ["Gtr", "Gtr stems", "voc - Gtr", "residual"]
    colours = {name: track.values("PEAKCOL") for name, track in tracks.items()}
    assert colours == {
        "Gtr": ("16576",),
        "Gtr stems": ("16576",),  # REAPER's default: no colour of its own
        "voc - Gtr": (str(0x1D57B3A),),
        "residual": (str(0x1BFB9B4),),
    }


def test_receives_pointing_past_the_new_tracks_are_renumbered(tmp_path: Path) -> None:
    text = new_project(RATE, 120.0, [_one_item("Gtr"), _one_item("Src"), _one_item("Bus")])
    root = rpp.loads(text)
    bus = root.find_all("TRACK")[2]
    bus.set_values(
        "AUXRECV", ["0", "0", "1", "0", "0", "0", "0", "0", "0", "-1:U", "0", "-1", "''"]
    )
    bus.append(rpp.RppLine.new(["AUXRECV", "1", "0", "1", "0", "0", "0", "0", "0", "0", "-1:U"]))
    project = project_from_tree(root, tmp_path / "song.rpp")
    gtr = project.track_named("Gtr")
    tree = add_stem_tracks(
        project.tree, gtr, _stems(tmp_path, gtr), new_project_path=tmp_path / "x.rpp"
    )
    receives = [line.values[0] for line in tree.find_all("TRACK")[-1].lines("AUXRECV")]
    assert receives == ["0", "4"]


def test_active_take_that_is_not_the_first(tmp_path: Path) -> None:
    text = new_project(RATE, 120.0, [_one_item("Gtr")])
    root = rpp.loads(text)
    item = root.find("TRACK").find("ITEM")  # type: ignore[union-attr]
    assert item is not None
    item.set_values("VOLPAN", ["0.5", "0.1", "0.9", "-1"])
    for tokens in (["TAKE", "SEL"], ["NAME", "second"], ["TAKEVOLPAN", "-0.25", "0.75", "-1"]):
        item.append(rpp.RppLine.new(tokens))
    source = rpp.RppNode.new("SOURCE", ["WAVE"], [rpp.RppLine.new(["FILE", "b.wav"])])
    item.append(source)
    project = project_from_tree(root, tmp_path / "song.rpp")
    gtr = project.tracks[0]
    assert gtr.items[0].active_take_index == 1
    out = tmp_path / "x.rpp"
    tree = add_stem_tracks(project.tree, gtr, _stems(tmp_path, gtr), new_project_path=out)
    new = project_from_tree(tree, out)
    stem_item = new.track_named("voc").items[0]
    assert stem_item.volume == 0.5
    take = stem_item.active_take
    assert take is not None and (take.volume, take.pan) == (0.75, -0.25)
    assert take.name == "voc - second"


def test_track_mode_items_span_the_range(tmp_path: Path) -> None:
    project = _project(tmp_path, _one_item("Gtr"))
    out = tmp_path / "out" / "x.rpp"
    stems = {"voc": tmp_path / "out" / "v.flac", "residual": tmp_path / "out" / "r.wav"}
    tree = add_track_stems(project.tree, project.tracks[0], stems, 0.5, 3.5, new_project_path=out)
    new = project_from_tree(tree, out)
    _assert_folders_valid(new)
    items = [new.track_named(name).items for name in ("voc", "residual")]
    assert [(i[0].position_s, i[0].length_s) for i in items] == [(0.5, 3.0), (0.5, 3.0)]
    sources = [i[0].active_take.source for i in items]  # type: ignore[union-attr]
    assert [(s.kind, s.file) for s in sources if s] == [("FLAC", "v.flac"), ("WAVE", "r.wav")]
    with pytest.raises(ValueError, match="stem range ends"):
        add_track_stems(project.tree, project.tracks[0], stems, 2.0, 1.0, new_project_path=out)


def test_bad_input_is_reported(tmp_path: Path) -> None:
    project = _project(tmp_path, _one_item("Gtr"))
    gtr = project.tracks[0]
    out = tmp_path / "x.rpp"
    with pytest.raises(ValueError, match="no stems to add for track 'Gtr'"):
        add_stem_tracks(project.tree, gtr, {}, new_project_path=out)
    with pytest.raises(IndexError, match="track 'Gtr' has 1 items; no item 3"):
        add_stem_tracks(project.tree, gtr, {3: {"a": out}}, new_project_path=out)
    stranger = Track(5, "Elsewhere", guid="{00000000-0000-0000-0000-000000000000}")
    with pytest.raises(ValueError, match="track 6 'Elsewhere'.* is not in this project"):
        add_stem_tracks(project.tree, stranger, {0: {"a": out}}, new_project_path=out)


def _null_test_project(tmp_path: Path, write_audio: WriteAudio) -> Project:
    rng = np.random.default_rng(7)
    write_audio(
        tmp_path / "media" / "st.wav", rng.uniform(-0.5, 0.5, (2, RATE)).astype(np.float32), RATE
    )
    write_audio(
        tmp_path / "media" / "mono.flac",
        rng.uniform(-0.5, 0.5, (1, 30000)).astype(np.float32),
        RATE,
    )
    write_audio(
        tmp_path / "media" / "cd.wav", rng.uniform(-0.5, 0.5, (2, 44100)).astype(np.float32), 44100
    )
    items = (
        ItemSpec(
            "media/st.wav",
            0.5,
            1.7,
            source_offset_s=0.3,
            loop=True,
            fade_in_s=0.2,
            fade_in_shape=1,
            fade_out_s=0.4,
            fade_out_shape=6,
            volume=0.7,
            take_volume=-0.8,
            take_pan=0.4,
        ),
        ItemSpec(
            "media\\mono.flac",
            1.1,
            0.9,
            reversed=True,
            section_start_s=0.05,
            section_length_s=0.3,
            loop=True,
            take_pan=-1.0,
            fade_in_s=0.05,
        ),
        ItemSpec("media/cd.wav", 2.0, 0.8, source_offset_s=0.1, channel_mode=2, volume=1.3),
        ItemSpec("media/st.wav", 2.5, 0.5, mute=True),
        ItemSpec("media/gone.wav", 3.0, 0.5),
    )
    return _project(
        tmp_path,
        TrackSpec("Band", folder_delta=1),
        TrackSpec("Gtr", items, volume=0.5, pan=-0.2),
        _one_item("After", -1),
    )


def test_stems_folder_sounds_like_the_original_track(
    tmp_path: Path, write_audio: WriteAudio
) -> None:
    """The acceptance check: render the stems folder and the original track; they null."""
    project = _null_test_project(tmp_path, write_audio)
    gtr = project.track_named("Gtr")
    out = tmp_path / "out" / "song-stems.rpp"
    stems_by_item = {}
    for item in gtr.items:
        if skip_reason(item) is not None:
            continue
        audio = render_item_source(item, project.sample_rate)
        time_gain = np.linspace(0.0, 1.0, audio.shape[1], dtype=np.float32)
        stems = {"voc": audio * 0.3, "gtr": audio * time_gain * 0.5}
        stems["residual"] = audio - stems["voc"] - stems["gtr"]
        paths = {}
        for name, stem in stems.items():
            paths[name] = write_audio(out.parent / "stems" / f"{item.index}-{name}.wav", stem, RATE)
        stems_by_item[item.index] = paths
    rpp.dump(add_stem_tracks(project.tree, gtr, stems_by_item, new_project_path=out), out)
    new = read_project(out)
    _assert_folders_valid(new)
    start_s, end_s = track_span(gtr)
    for with_fader in (False, True):
        original = render_track(gtr, project, start_s, end_s, with_fader=with_fader)
        folder = render_folder(
            new.track_named("Gtr stems"), new, start_s, end_s, with_fader=with_fader
        )
        assert original.shape == folder.shape and np.abs(original).max() > 0.1
        error_db = 20 * np.log10(np.abs(folder - original).max() / np.abs(original).max())
        assert error_db < -90
    assert new.track_named("Gtr").mute
    assert len(new.track_named("voc").items) == 4  # the missing file was skipped


def test_track_mode_stems_sound_like_the_original_track(
    tmp_path: Path, write_audio: WriteAudio
) -> None:
    project = _null_test_project(tmp_path, write_audio)
    gtr = project.track_named("Gtr")
    out = tmp_path / "out" / "song-stems.rpp"
    start_s, end_s = track_span(gtr)
    mix = render_track(gtr, project, start_s, end_s)
    voc = mix * np.linspace(0.0, 0.6, mix.shape[1], dtype=np.float32)
    paths = {
        "voc": write_audio(out.parent / "voc.wav", voc, RATE),
        "residual": write_audio(out.parent / "residual.wav", mix - voc, RATE),
    }
    rpp.dump(add_track_stems(project.tree, gtr, paths, start_s, end_s, new_project_path=out), out)
    new = read_project(out)
    _assert_folders_valid(new)
    folder = render_folder(new.track_named("Gtr stems"), new, start_s, end_s)
    error_db = 20 * np.log10(np.abs(folder - mix).max() / np.abs(mix).max())
    assert error_db < -90
