"""Importing a real result manifest, and choosing presets from the real preset list."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Dump = dict[str, Any]
VOX_TRACK, GTR_TRACK = (
    "{11111111-0000-4000-8000-000000000002}",
    "{11111111-0000-4000-8000-000000000003}",
)
VOX_ITEM = "{22222222-0000-4000-8000-000000000001}"


@pytest.fixture
def result_file(bridge_runs: dict) -> Path:
    """The result.json the successful separate run got from samaudio-daw."""
    path: Path = bridge_runs["ok"].job_dir / "stems" / "result.json"
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1
    return path


def _import_scenario(
    bridge_runs: dict,
    result: Path,
    tracks: list[dict[str, Any]],
    answer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ok = bridge_runs["ok"].scenario
    scripts = Path(ok["script"]).parent
    return {
        "script": str(scripts / "samaudio - Import stems from result.lua"),
        "tick_s": 0,
        "resource_path": ok["resource_path"],
        "media_path": ok["media_path"],
        "tracks": tracks,
        "answers": {"file_dialog": [answer or {"ok": True, "path": str(result)}]},
    }


def _names(dump: Dump) -> list[tuple[str, int, int]]:
    return [(t["name"], t["depth"], t["mute"]) for t in dump["tracks"]]


def test_import_puts_stems_under_the_tracks_found_by_guid(
    lua_run: Callable, bridge_runs: dict, result_file: Path
) -> None:
    vox = bridge_runs["ok"].scenario["tracks"][1]["items"][0]
    moved_fades = {**vox, "values": {**vox["values"], "D_FADEINLEN": 0.3, "D_VOL": 0.5}}
    tracks = [
        {"name": "Lead (renamed)", "guid": VOX_TRACK, "items": [moved_fades]},
        {"name": "Drums"},
        {"name": "Gtr", "guid": GTR_TRACK, "items": []},
    ]
    dump = lua_run("import", _import_scenario(bridge_runs, result_file, tracks))
    assert dump["errors"] == [] and dump["message_boxes"] == []
    assert _names(dump) == [
        ("Lead (renamed)", 0, 1),
        ("Lead (renamed) stems", 1, 0),
        ("vocal - Vox", 0, 0),
        ("instrumental - Vox", -1, 0),
        ("Drums", 0, 0),
        ("Gtr", 0, 1),
        ("Gtr stems", 1, 0),
        ("bass - Gtr", 0, 0),
        ("no-bass - Gtr", -1, 0),
    ]
    (vocal,) = next(t for t in dump["tracks"] if t["name"] == "vocal - Vox")["items"]
    assert vocal["values"]["D_FADEINLEN"] == 0.3 and vocal["values"]["D_VOL"] == 0.5
    (bass,) = next(t for t in dump["tracks"] if t["name"] == "bass - Gtr")["items"]
    assert bass["values"]["D_POSITION"] == 0.5 and bass["values"]["D_LENGTH"] == 2.0
    assert bass["values"]["D_FADEINLEN"] == 0, "the original item is gone: plain stem item"
    assert [u["desc"] for u in dump["undo"]] == ["samaudio: lead-vocal, bass"]
    assert dump["changes_outside_undo"] == [] and dump["prevent_ui_refresh"] == 0
    assert dump["dialogs"][0]["defext"] == "json"
    assert "imported 4 stem item(s)" in dump["console"]


def test_import_without_the_source_tracks_adds_folders_at_the_end(
    lua_run: Callable, bridge_runs: dict, result_file: Path
) -> None:
    dump = lua_run("import_end", _import_scenario(bridge_runs, result_file, [{"name": "Other"}]))
    assert dump["errors"] == [] and dump["message_boxes"] == []
    assert _names(dump) == [
        ("Other", 0, 0),
        ("Vox [lead-vocal] stems", 1, 0),
        ("vocal - Vox", 0, 0),
        ("instrumental - Vox", -1, 0),
        ("Gtr stems", 1, 0),
        ("bass - Gtr", 0, 0),
        ("no-bass - Gtr", -1, 0),
    ]


def test_a_missing_stem_file_changes_nothing(
    lua_run: Callable, bridge_runs: dict, result_file: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "stems"
    shutil.copytree(result_file.parent, copy)
    (copy / "02-gtr.no-bass.wav").unlink()
    scenario = _import_scenario(
        bridge_runs, copy / "result.json", [{"name": "Gtr", "guid": GTR_TRACK}]
    )
    dump = lua_run("import_missing", scenario)
    assert dump["tracks"] == dump["initial"] and dump["undo"] == [] and dump["errors"] == []
    (box,) = dump["message_boxes"]
    assert box["msg"] == f"{copy / '02-gtr.no-bass.wav'}: stem file missing"


def test_not_a_result_manifest(lua_run: Callable, bridge_runs: dict, tmp_path: Path) -> None:
    job = bridge_runs["ok"].job_dir / "job.json"
    dump = lua_run("import_job", _import_scenario(bridge_runs, job, [{"name": "a"}]))
    assert dump["tracks"] == dump["initial"] and dump["undo"] == []
    assert "not a samaudio-daw result manifest" in dump["message_boxes"][0]["msg"]


def test_closing_the_file_dialog_does_nothing(lua_run: Callable, bridge_runs: dict) -> None:
    scenario = _import_scenario(bridge_runs, Path("x"), [{"name": "a"}], answer={"ok": False})
    dump = lua_run("import_none", scenario)
    assert dump["tracks"] == dump["initial"] and dump["undo"] == [] and dump["message_boxes"] == []


def test_choose_preset_writes_the_tag_into_the_selected_tracks(
    bridge_runs: dict, preset_names: list[str]
) -> None:
    dump = bridge_runs["choose"].dump
    assert dump["errors"] == [] and dump["message_boxes"] == []
    assert [t["name"] for t in dump["tracks"]] == ["Vox [lead-vocal]", "Gtr [lead-vocal]", "Keys"]
    assert [u["desc"] for u in dump["undo"]] == ["samaudio: preset lead-vocal"]
    entries = dump["menus"][0]["menu"].split("|")
    assert [entry.split("  -  ")[0] for entry in entries] == [*preset_names, "Clear preset tag"]
    assert dump["exec"][0]["timeout_ms"] > 0 and "presets" in dump["exec"][0]["cmdline"]
    assert dump["gfx"]["inits"] == 1 and dump["gfx"]["quits"] == 1


def test_choose_preset_can_clear_the_tag(bridge_runs: dict) -> None:
    dump = bridge_runs["clear"].dump
    assert dump["errors"] == []
    assert [t["name"] for t in dump["tracks"]] == ["Vox"]
    assert [u["desc"] for u in dump["undo"]] == ["samaudio: clear preset tag"]


def test_choose_preset_needs_a_selected_track(lua_run: Callable, bridge_runs: dict) -> None:
    ok = bridge_runs["ok"].scenario
    scenario = {
        "script": str(
            Path(ok["script"]).parent / "samaudio - Choose preset for selected tracks.lua"
        ),
        "tick_s": 0,
        "resource_path": ok["resource_path"],
        "tracks": [{"name": "Vox"}],
    }
    dump = lua_run("choose_none", scenario)
    assert dump["tracks"] == dump["initial"] and dump["exec"] == []
    assert dump["message_boxes"][0]["msg"] == "Select one or more tracks first."
