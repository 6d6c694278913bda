"""Importing stems as takes or tracks, named and coloured: the real result.json of a real
bridge run, imported by the real Lua on the REAPER emulation.

Not covered: REAPER itself (its take lanes, how it draws I_CUSTOMCOLOR); the emulation
makes a new take the active one, as REAPER's AddTakeToMediaItem does, so a script that
does not restore the original active take fails here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

VOX_TRACK, GTR_TRACK = (
    "{11111111-0000-4000-8000-000000000002}",
    "{11111111-0000-4000-8000-000000000003}",
)
CUSTOM = 0x1000000
# presets/*.toml: lead-vocal's vocal and instrumental, bass's bass and no-bass
VOCAL, REST, BASS = (0x3A, 0x7B, 0xD5), (0xB4, 0xB9, 0xBF), (0x8E, 0x5B, 0xD0)


def _windows(rgb: tuple[int, int, int]) -> int:
    return CUSTOM | rgb[0] | rgb[1] << 8 | rgb[2] << 16


def _mac(rgb: tuple[int, int, int]) -> int:
    return CUSTOM | rgb[0] << 16 | rgb[1] << 8 | rgb[2]


@pytest.fixture
def result_file(bridge_runs: dict) -> Path:
    path: Path = bridge_runs["ok"].job_dir / "stems" / "result.json"
    return path


def _tracks(bridge_runs: dict, gtr_items: bool = True) -> list[dict[str, Any]]:
    """The project the stems came from; the vocal item has a second take, the active one."""
    ok = bridge_runs["ok"].scenario["tracks"]
    vox = copy.deepcopy(ok[1]["items"][0])
    vox["takes"].append({**vox["takes"][0], "name": "comp"})
    vox["values"]["I_CURTAKE"] = 1
    gtr = copy.deepcopy(ok[2]["items"]) if gtr_items else []
    return [
        {"name": "Vox [lead-vocal]", "guid": VOX_TRACK, "items": [vox]},
        {"name": "Gtr", "guid": GTR_TRACK, "items": gtr},
    ]


def _scenario(
    bridge_runs: dict,
    result: Path,
    tracks: list[dict[str, Any]],
    settings: dict[str, str] | None = None,
    os: str = "windows",
) -> dict[str, Any]:
    ok = bridge_runs["ok"].scenario
    return {
        "script": str(Path(ok["script"]).parent / "samaudio - Import stems from result.lua"),
        "tick_s": 0,
        "resource_path": ok["resource_path"],
        "media_path": ok["media_path"],
        "tracks": tracks,
        "answers": {"file_dialog": [{"ok": True, "path": str(result)}]},
        "ext_state": {"samaudio-daw": settings or {}},
        "os": os,
    }


def _one_undo_block(dump: dict[str, Any]) -> None:
    assert dump["errors"] == [] and dump["message_boxes"] == []
    assert [u["desc"] for u in dump["undo"]] == ["samaudio: lead-vocal, bass"]
    assert dump["undo"][0]["changes"] > 0
    assert dump["changes_outside_undo"] == [] and dump["prevent_ui_refresh"] == 0


def _check_takes(dump: dict[str, Any], result: Path, os: str = "windows") -> None:
    colour = _windows if os == "windows" else _mac
    folder = result.parent
    (vox,) = dump["tracks"][0]["items"]
    names = [t["name"] for t in vox["takes"]]
    assert names[1:] == ["comp", "vocal - Vox", "instrumental - Vox"]
    assert vox["values"]["I_CURTAKE"] == 1  # the original active take stays active
    vocal, rest = vox["takes"][2:]
    assert Path(vocal["source"]).parent == folder and vocal["source"].endswith(".vocal.wav")
    assert rest["source"].endswith(".instrumental.wav")
    assert vocal["values"]["I_CUSTOMCOLOR"] == colour(VOCAL)
    assert rest["values"]["I_CUSTOMCOLOR"] == colour(REST)
    comp = vox["takes"][1]
    assert (vocal["values"]["D_VOL"], vocal["values"]["D_PAN"]) == (
        comp["values"]["D_VOL"],
        comp["values"]["D_PAN"],
    )
    assert comp["values"]["I_CUSTOMCOLOR"] == 0  # the originals keep their colours


def test_stems_as_takes_by_the_reaper_setting(
    lua_run: Callable, bridge_runs: dict, result_file: Path
) -> None:
    tracks = _tracks(bridge_runs)
    dump = lua_run("takes", _scenario(bridge_runs, result_file, tracks, {"stems_as": "takes"}))
    _one_undo_block(dump)
    # no new tracks, nothing muted: the project plays as before
    assert [(t["name"], t["mute"]) for t in dump["tracks"]] == [
        ("Vox [lead-vocal]", 0),
        ("Gtr", 0),
    ]
    _check_takes(dump, result_file)
    (gtr,) = dump["tracks"][1]["items"]
    assert [t["name"] for t in gtr["takes"]][1:] == ["bass - Gtr", "no-bass - Gtr"]
    assert gtr["values"]["I_CURTAKE"] == 0
    assert [t["values"]["I_CUSTOMCOLOR"] for t in gtr["takes"]] == [
        0,
        _windows(BASS),
        _windows(REST),
    ]
    assert "imported 4 stem item(s)" in dump["console"]


def test_stems_as_takes_by_the_preset(
    lua_run: Callable, bridge_runs: dict, result_file: Path, tmp_path: Path
) -> None:
    document = json.loads(result_file.read_text(encoding="utf-8"))
    for stem in document["stems"]:
        assert stem["stems_as"] == "tracks"  # what the shipped presets say
        stem["stems_as"] = "takes"
    result = result_file.parent / "takes-result.json"
    result.write_text(json.dumps(document), encoding="utf-8")
    dump = lua_run("preset_takes", _scenario(bridge_runs, result, _tracks(bridge_runs), os="mac"))
    _one_undo_block(dump)
    assert len(dump["tracks"]) == 2
    _check_takes(dump, result, os="mac")
    # the REAPER setting overrides the preset
    dump = lua_run(
        "override",
        _scenario(bridge_runs, result, _tracks(bridge_runs), {"stems_as": "tracks"}),
    )
    _one_undo_block(dump)
    assert [t["name"] for t in dump["tracks"]][:4] == [
        "Vox [lead-vocal]",
        "Vox [lead-vocal] stems",
        "vocal - Vox",
        "instrumental - Vox",
    ]


def test_takes_fall_back_to_tracks_when_the_items_are_gone(
    lua_run: Callable, bridge_runs: dict, result_file: Path
) -> None:
    tracks = _tracks(bridge_runs, gtr_items=False)
    dump = lua_run("gone", _scenario(bridge_runs, result_file, tracks, {"stems_as": "takes"}))
    _one_undo_block(dump)
    assert [(t["name"], t["depth"], t["mute"]) for t in dump["tracks"]] == [
        ("Vox [lead-vocal]", 0, 0),
        ("Gtr", 0, 1),
        ("Gtr stems", 1, 0),
        ("bass - Gtr", 0, 0),
        ("no-bass - Gtr", -1, 0),
    ]
    assert "the items of 'Gtr' are gone; its stems go on new tracks" in dump["console"]
    assert len(dump["tracks"][0]["items"][0]["takes"]) == 4


@pytest.mark.parametrize(("os", "colour"), [("windows", _windows), ("mac", _mac)])
def test_stem_tracks_are_coloured_in_the_os_order(
    lua_run: Callable,
    bridge_runs: dict,
    result_file: Path,
    os: str,
    colour: Callable[[tuple[int, int, int]], int],
) -> None:
    dump = lua_run(
        f"colours_{os}", _scenario(bridge_runs, result_file, _tracks(bridge_runs), os=os)
    )
    _one_undo_block(dump)
    colours = {t["name"]: t["color"] for t in dump["tracks"]}
    assert colours == {
        "Vox [lead-vocal]": 0,
        "Vox [lead-vocal] stems": 0,
        "vocal - Vox": colour(VOCAL),
        "instrumental - Vox": colour(REST),
        "Gtr": 0,
        "Gtr stems": 0,
        "bass - Gtr": colour(BASS),
        "no-bass - Gtr": colour(REST),
    }
    assert _windows(VOCAL) == 0x1D57B3A  # the PEAKCOL value render writes (stem_tracks.py)


def test_a_name_pattern_set_in_reaper(
    lua_run: Callable, bridge_runs: dict, result_file: Path
) -> None:
    settings = {"stem_track_name": "{track}: {stem}"}
    dump = lua_run("pattern", _scenario(bridge_runs, result_file, _tracks(bridge_runs), settings))
    _one_undo_block(dump)
    assert [t["name"] for t in dump["tracks"]] == [
        "Vox [lead-vocal]",
        "Vox [lead-vocal] stems",
        "Vox: vocal",
        "Vox: instrumental",
        "Gtr",
        "Gtr stems",
        "Gtr: bass",
        "Gtr: no-bass",
    ]
