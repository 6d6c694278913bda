"""Media paths found as REAPER finds them, with real files in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from samaudio_daw.project.media import (
    MediaLookup,
    relative_media_path,
    resolve_media,
    split_written_path,
)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_relative_to_the_project_folder(tmp_path: Path) -> None:
    file = _touch(tmp_path / "media" / "take.wav")
    assert resolve_media("media/take.wav", tmp_path).path == file


def test_windows_separators(tmp_path: Path) -> None:
    file = _touch(tmp_path / "media" / "sub" / "take.wav")
    assert resolve_media("media\\sub\\take.wav", tmp_path).path == file
    assert resolve_media(".\\media\\sub\\take.wav", tmp_path).path == file


def test_relative_to_the_record_path(tmp_path: Path) -> None:
    file = _touch(tmp_path / "Audio" / "take.wav")
    assert resolve_media("take.wav", tmp_path, ["Audio", ""]).path == file


def test_absolute_record_path(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    file = _touch(tmp_path / "elsewhere" / "take.wav")
    lookup = resolve_media("take.wav", project, ["", str(tmp_path / "elsewhere")])
    assert lookup.path == file


def test_absolute_path_that_exists(tmp_path: Path) -> None:
    file = _touch(tmp_path / "abs" / "take.wav")
    assert resolve_media(str(file), tmp_path / "project").path == file


@pytest.mark.parametrize(
    "written",
    [
        "D:\\OneDrive\\Muziek\\Versie 2\\media\\06-Links.wav",
        "/Users/someone/Music/song/media/06-Links.wav",
        "\\\\server\\share\\media\\06-Links.wav",
    ],
)
def test_absolute_path_from_another_computer_is_found_by_file_name(
    tmp_path: Path, written: str
) -> None:
    file = _touch(tmp_path / "media" / "06-Links.wav")
    lookup = resolve_media(written, tmp_path, ["media", ""])
    assert lookup.found and lookup.path == file


def test_found_in_a_project_subfolder(tmp_path: Path) -> None:
    file = _touch(tmp_path / "Audio Files" / "old" / "take.wav")
    assert resolve_media("D:\\x\\take.wav", tmp_path).path == file


def test_shallowest_match_wins(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "b" / "take.wav")
    shallow = _touch(tmp_path / "z" / "take.wav")
    assert resolve_media("C:\\take.wav", tmp_path).path == shallow


def test_file_name_case_differs(tmp_path: Path) -> None:
    file = _touch(tmp_path / "media" / "Take.WAV")
    assert resolve_media("media\\take.wav", tmp_path, ["media"]).path == file


def test_missing_media_says_where_it_looked(tmp_path: Path) -> None:
    lookup = resolve_media("media\\gone.wav", tmp_path, ["media", ""])
    assert not lookup.found and lookup.path is None
    assert lookup.reason is not None
    assert "'gone.wav'" in lookup.reason and str(tmp_path) in lookup.reason
    assert "copy the file" in lookup.reason


def test_empty_file_entry(tmp_path: Path) -> None:
    assert resolve_media("", tmp_path).reason == "the take names no media file (empty FILE)"


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "take.wav").mkdir()
    assert not resolve_media("take.wav", tmp_path).found


def test_lookup_is_checked_when_made() -> None:
    with pytest.raises(ValueError, match="exactly one of path or reason"):
        MediaLookup("x", None, None)


def test_split_written_path() -> None:
    assert split_written_path("C:\\a\\b.wav") == (True, ("C:", "a", "b.wav"))
    assert split_written_path("media\\b.wav") == (False, ("media", "b.wav"))
    assert split_written_path("/x/./y.wav") == (True, ("x", "y.wav"))


def test_relative_media_path(tmp_path: Path) -> None:
    assert relative_media_path(tmp_path / "stems" / "a.wav", tmp_path) == "stems/a.wav"
    assert relative_media_path(tmp_path / "a.wav", tmp_path / "out") == "../a.wav"
