"""A project written to another folder still finds every media file it found before.

Media sits in the four kinds of places producers keep it: a subfolder of the project,
next to the project, an absolute path elsewhere, and the project's RECORD_PATH folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from samaudio_daw.project import rpp
from samaudio_daw.project.builder import new_project
from samaudio_daw.project.model import read_project
from samaudio_daw.project.relocate import relocate_media

FIXTURES = Path(__file__).parent / "fixtures"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    return path


def _four_places(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path / "song"
    elsewhere = tmp_path / "library" / "loops"
    files = {
        "media/sub.wav": _touch(folder / "media" / "sub.wav"),
        "next.wav": _touch(folder / "next.wav"),
        str(elsewhere / "abs.wav"): _touch(elsewhere / "abs.wav"),
        "rec.wav": _touch(folder / "Audio Files" / "rec.wav"),  # found through RECORD_PATH
        "D:\\Old PC\\song\\media\\moved.wav": _touch(folder / "media" / "moved.wav"),
        "media/gone.wav": folder / "media" / "gone.wav",  # missing in the original too
    }
    tracks = [("T", [(written, float(i), 1.0) for i, written in enumerate(files)])]
    project = folder / "song.rpp"
    project.write_text(new_project(48000, 120.0, tracks, record_path="Audio Files"))
    return project, files


def _found(project: Path) -> list[Path | None]:
    items = read_project(project).tracks[0].items
    return [item.active_take.source.path for item in items]  # type: ignore[union-attr]


def test_moved_project_finds_the_same_files(tmp_path: Path) -> None:
    project, files = _four_places(tmp_path)
    before = project.read_bytes()
    for new_folder in (tmp_path / "song" / "song-stems", tmp_path / "other" / "deep" / "out"):
        new_folder.mkdir(parents=True)
        target = new_folder / "song-stems.rpp"
        rpp.dump(relocate_media(rpp.load(project), project, target), target)
        original, moved = _found(project), _found(target)
        assert [p and p.resolve() for p in moved] == [p and p.resolve() for p in original]
        assert original[-1] is None and all(original[:-1])
        text = target.read_text()
        assert str(files[str(tmp_path / "library" / "loops" / "abs.wav")]) in text  # as written
        assert "D:\\" not in text  # found elsewhere: rewritten to where it was found
    assert project.read_bytes() == before


def test_missing_relative_media_still_points_at_the_original_folder(tmp_path: Path) -> None:
    project, _ = _four_places(tmp_path)
    target = tmp_path / "out" / "song-stems.rpp"
    target.parent.mkdir()
    rpp.dump(relocate_media(rpp.load(project), project, target), target)
    assert 'FILE "../song/media/gone.wav"' in target.read_text()
    _touch(tmp_path / "song" / "media" / "gone.wav")  # the file turns up again
    assert all(_found(target))


def test_real_project_with_windows_paths(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "with-external-files.rpp", tmp_path / "song.rpp")
    project = tmp_path / "song.rpp"
    _touch(tmp_path / "media" / "12-Left-180616_2119.wv")
    target = tmp_path / "song-stems" / "song-stems.rpp"
    target.parent.mkdir()
    tree = relocate_media(rpp.load(project), project, target)
    text = rpp.dumps(tree)
    assert 'FILE "../media/12-Left-180616_2119.wv"' in text
    # missing relative files point at the same place; another machine's paths stay as written
    assert "media\\12-Left-180616_2119.wv" not in text
    assert "../media/13-Right-180616_2118.wv" in text
    assert "D:\\OneDrive\\Coral Springs" in text
    assert (
        rpp.load(project).children
        and project.read_bytes() == (FIXTURES / "with-external-files.rpp").read_bytes()
    )


def test_media_dirs_are_searched_after_the_project(tmp_path: Path) -> None:
    folder = tmp_path / "song"
    folder.mkdir()
    (folder / "song.rpp").write_text(
        new_project(48000, 120.0, [("T", [("D:\\Other PC\\takes\\vox.wav", 0.0, 1.0)])])
    )
    assert _found(folder / "song.rpp") == [None]
    moved = _touch(tmp_path / "drive" / "takes" / "2024" / "vox.wav")
    project = read_project(folder / "song.rpp", media_dirs=[tmp_path / "drive"])
    assert project.tracks[0].items[0].active_take.source.path == moved  # type: ignore[union-attr]
    local = _touch(folder / "media" / "vox.wav")  # REAPER's own rules win
    project = read_project(folder / "song.rpp", media_dirs=[tmp_path / "drive"])
    assert project.tracks[0].items[0].active_take.source.path == local  # type: ignore[union-attr]


def test_real_fixtures_find_after_moving_what_they_found_before(tmp_path: Path) -> None:
    for name in ("with-external-files.rpp", "vst.RPP"):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        project = folder / name
        shutil.copy(FIXTURES / name, project)
        tree = rpp.load(project)
        written = [
            n.values("FILE")[0] for n in tree.walk() if n.tag == "SOURCE" and n.values("FILE")
        ]  # type: ignore[index]
        for number, path in enumerate(sorted(set(written))):
            if number % 2 == 0:  # half the media came along, moved into media/ by name
                _touch(folder / "media" / path.replace("\\", "/").split("/")[-1])
        target = folder / "out" / "deeper" / "moved.rpp"
        target.parent.mkdir(parents=True)
        rpp.dump(relocate_media(tree, project, target), target)
        before = [
            i.active_take.source.media.path  # type: ignore[union-attr]
            for t in read_project(project).tracks
            for i in t.items
            if i.active_take and i.active_take.source
        ]
        after = [
            i.active_take.source.media.path  # type: ignore[union-attr]
            for t in read_project(target).tracks
            for i in t.items
            if i.active_take and i.active_take.source
        ]
        assert [p and p.resolve() for p in after] == [p and p.resolve() for p in before]
        assert any(before) == (name != "vst.RPP")  # vst.RPP names no media at all
        assert project.read_bytes() == (FIXTURES / name).read_bytes()
