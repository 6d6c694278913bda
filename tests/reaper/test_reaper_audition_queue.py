"""Audition, Discard, Commit and the queue window under the emulation, with the real
samaudio-daw queue runner as a background process on real audio (dsp backend: what
SAM-Audio would sound like is not covered here, only the flow around it)."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

AUDITION = "samaudio - Audition preset on selection.lua"
DISCARD = "samaudio - Discard audition.lua"
COMMIT = "samaudio - Commit audition.lua"
FOLDER = "AUDITION \u2013 lead-vocal"

Dump = dict[str, Any]


@pytest.fixture(scope="module")
def setup(kit: types.SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("audition")
    scripts = kit.install_scripts(base / "resource")
    audio = {"vox": base / "vox.wav", "gtr": base / "gtr.wav"}
    kit.write_wav(audio["vox"], 30.0, seed=1)
    kit.write_wav(audio["gtr"], 30.0, seed=2)
    return {"base": base, "scripts": scripts, "audio": audio}


def _scenario(kit: types.SimpleNamespace, setup: dict, name: str, **extra: Any) -> dict:
    media = setup["base"] / name / "media"
    media.mkdir(parents=True)
    vox = kit.item(2.0, 25.0, setup["audio"]["vox"], guid="{22222222-0000-4000-8000-00000000000A}")
    return {
        "media_path": str(media),
        "resource_path": str(setup["base"] / "resource"),
        "tick_s": 0.2,
        "tracks": [{"name": "Vox [lead-vocal]", "items": [vox]}],
        **extra,
    }


def _script(setup: dict, name: str) -> str:
    return str(setup["scripts"] / name)


def _names(dump: Dump) -> list[tuple[str, int]]:
    return [(t["name"], t["depth"]) for t in dump["tracks"]]


def _jobs(media: Path) -> list[Path]:
    return sorted(p.parent for p in media.glob("samaudio/*/job.json"))


def _status(job: Path) -> dict:
    return json.loads((job / "status.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _clean(dump: Dump) -> None:
    assert dump["errors"] == [], "\n".join(dump["errors"])
    assert dump["message_boxes"] == [], dump["message_boxes"]
    assert dump["changes_outside_undo"] == [] and dump["undo_depth"] == 0
    assert dump["prevent_ui_refresh"] == 0 and dump["open_accessors"] == 0


def test_audition_of_the_time_selection_then_commit_with_the_same_settings(
    kit: types.SimpleNamespace, setup: dict, lua_run: Any
) -> None:
    scenario = _scenario(
        kit,
        setup,
        "commit",
        script=_script(setup, AUDITION),
        time_selection=[5.0, 8.0],
        scripts=[{"script": _script(setup, COMMIT)}],
    )
    dump = lua_run("commit", scenario)
    _clean(dump)
    assert _names(dump) == [
        ("Vox [lead-vocal]", 0),
        ("Vox [lead-vocal] stems", 1),
        ("vocal - Vox", 0),
        ("instrumental - Vox", -1),
        (FOLDER, 1),
        ("vocal", 0),
        ("instrumental", -1),
    ]
    assert [u["desc"] for u in dump["undo"]] == [
        "samaudio: audition lead-vocal",
        "samaudio: lead-vocal",
    ]
    # The audition: only the time selection, rendered as REAPER plays it, placed there.
    audition_job, commit_job = _jobs(Path(scenario["media_path"]))
    rendered, rate = sf.read(next((audition_job / "input").glob("*.wav")), dtype="float32")
    source, _ = sf.read(setup["audio"]["vox"], dtype="float32")
    assert rendered.shape == (3 * rate, 2)
    np.testing.assert_array_equal(rendered, source[3 * rate : 6 * rate])  # 5 s - item at 2 s
    (stem_item,) = dump["tracks"][5]["items"]
    assert stem_item["values"]["D_POSITION"] == 5.0 and stem_item["values"]["D_LENGTH"] == 3.0
    # The bridge said how long it took and what the whole would take; the Lua shows it.
    heard = _status(audition_job)
    assert heard["audio_s"] == 3.0
    assert heard["estimate_full_s"] == round(heard["audition_s"] / 3.0 * 25.0, 1)
    assert "the full separation would take about" in dump["console"]
    # The commit: the whole item, same preset, in the same runner with the model loaded.
    document = json.loads((commit_job / "job.json").read_text(encoding="utf-8"))
    assert [(i["preset"], i["length_s"]) for i in document["items"]] == [("lead-vocal", 25.0)]
    committed = _status(commit_job)
    assert committed["state"] == "done" and committed["warm_model"] is True
    assert dump["gfx"]["inits"] == 2 and not dump["gfx"]["open"]
    assert "queue_jobs" not in dump["ext_state"].get("samaudio-daw", {})


def test_a_second_audition_replaces_the_first(
    kit: types.SimpleNamespace, setup: dict, lua_run: Any
) -> None:
    scenario = _scenario(
        kit,
        setup,
        "again",
        script=_script(setup, AUDITION),
        scripts=[{"script": _script(setup, AUDITION)}],
    )
    dump = lua_run("again", scenario)
    _clean(dump)
    assert _names(dump) == [
        ("Vox [lead-vocal]", 0),
        (FOLDER, 1),
        ("vocal", 0),
        ("instrumental", -1),
    ]
    assert [u["desc"] for u in dump["undo"]] == ["samaudio: audition lead-vocal"] * 2
    # No time selection: the first 20 s of the item.
    for job in _jobs(Path(scenario["media_path"])):
        assert sf.info(next((job / "input").glob("*.wav"))).duration == 20.0
    assert dump["tracks"][0]["items"] == dump["initial"][0]["items"]


def test_discard_removes_the_audition_in_one_undo_step(
    kit: types.SimpleNamespace, setup: dict, lua_run: Any
) -> None:
    scenario = _scenario(
        kit,
        setup,
        "discard",
        script=_script(setup, AUDITION),
        time_selection=[3.0, 4.0],
        scripts=[{"script": _script(setup, DISCARD)}, {"script": _script(setup, COMMIT)}],
    )
    dump = lua_run("discard", scenario)
    assert dump["errors"] == []
    assert dump["tracks"] == dump["initial"]
    assert [u["desc"] for u in dump["undo"]] == [
        "samaudio: audition lead-vocal",
        "samaudio: discard audition",
    ]
    assert dump["undo"][1]["changes"] == 3  # the folder and its two stem tracks
    # After a discard there is nothing to commit: said, nothing queued.
    (box,) = dump["message_boxes"]
    assert "no audition to commit" in box["msg"]
    assert len(_jobs(Path(scenario["media_path"]))) == 1


def test_three_jobs_in_a_row_one_cancelled_the_others_imported(
    kit: types.SimpleNamespace, setup: dict, lua_run: Any
) -> None:
    gtr = kit.item(0.0, 30.0, setup["audio"]["gtr"], selected=False)
    scenario = _scenario(
        kit,
        setup,
        "queue",
        script=_script(setup, kit.SEPARATE_ITEMS),
        scripts=[
            {"script": _script(setup, kit.SEPARATE_TRACKS), "cycle": 2},
            {"script": _script(setup, AUDITION), "cycle": 4},
        ],
        # Right after the second job is queued: the first one (25 s) still holds the runner.
        events=[{"cycle": 3, "click": "Cancel #2"}],
    )
    scenario["tracks"].append({"name": "Gtr [bass]", "selected": True, "items": [gtr]})
    dump = lua_run("queue", scenario)
    _clean(dump)
    separate_job, tracks_job, audition_job = _jobs(Path(scenario["media_path"]))
    assert [_status(j)["state"] for j in (separate_job, tracks_job, audition_job)] == [
        "done",
        "cancelled",
        "done",
    ]
    assert _names(dump) == [
        ("Vox [lead-vocal]", 0),
        ("Vox [lead-vocal] stems", 1),
        ("vocal - Vox", 0),
        ("instrumental - Vox", -1),
        ("Gtr [bass]", 0),
        (FOLDER, 1),
        ("vocal", 0),
        ("instrumental", -1),
    ]
    assert "separate 1 item(s): cancelled; the project was not changed" in dump["console"]
    assert dump["gfx"]["inits"] == 1  # one window followed the three jobs
    assert len([e for e in dump["exec"] if "queue-run" in e["cmdline"]]) == 1
    launcher = (Path(scenario["media_path"]) / "samaudio" / "queue-run.sh").read_text()
    assert "'queue' 'run'" in launcher and "'--jobs' '1'" in launcher
