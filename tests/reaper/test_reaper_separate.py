"""The separate actions under the emulation, with the real samaudio-daw on real audio.

The runs that start samaudio-daw happen together in the ``bridge_runs`` fixture; the
error paths that stop before it are separate, quick scenarios.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.audio.wav import read_time_reference
from samaudio_daw.jobs.manifest import load_job, validate

_RESOLVE = '"resolve" "--json" "--from"'

Dump = dict[str, Any]


def _tracks(dump: Dump) -> list[tuple[str, int, int]]:
    return [(t["name"], t["depth"], t["mute"]) for t in dump["tracks"]]


def _track(dump: Dump, name: str) -> dict[str, Any]:
    return next(t for t in dump["tracks"] if t["name"] == name)


def assert_unchanged(dump: Dump) -> None:
    """Nothing in the project changed, no undo point, nothing left half done."""
    assert dump["tracks"] == dump["initial"]
    assert dump["undo"] == [] and dump["changes_outside_undo"] == []
    assert dump["undo_depth"] == 0 and dump["prevent_ui_refresh"] == 0
    assert dump["errors"] == [] and dump["open_accessors"] == 0


def assert_clean(dump: Dump) -> None:
    assert dump["errors"] == [], "\n".join(dump["errors"])
    assert dump["changes_outside_undo"] == [] and dump["undo_depth"] == 0
    assert dump["prevent_ui_refresh"] == 0 and dump["open_accessors"] == 0


# --- success -----------------------------------------------------------------------------


def test_stems_come_back_as_folders_under_each_source_track(bridge_runs: dict) -> None:
    dump = bridge_runs["ok"].dump
    assert_clean(dump)
    assert dump["message_boxes"] == []
    assert _tracks(dump) == [
        ("Band", 1, 0),
        ("Vox [lead-vocal]", 0, 1),
        ("Vox [lead-vocal] stems", 1, 0),
        ("vocal - Vox", 0, 0),
        ("instrumental - Vox", -1, 0),
        ("Gtr", 0, 1),  # it closed the Band folder; its stems folder does now
        ("Gtr stems", 1, 0),
        ("bass - Gtr", 0, 0),
        ("no-bass - Gtr", -2, 0),
        ("Keys", 0, 0),
    ]
    assert [(u["desc"], u["flags"]) for u in dump["undo"]] == [("samaudio: lead-vocal, bass", -1)]
    assert dump["undo"][0]["changes"] > 0
    assert dump["gfx"]["inits"] == 1 and dump["gfx"]["quits"] >= 1 and not dump["gfx"]["open"]


def test_stem_items_keep_position_length_fades_and_volume(bridge_runs: dict) -> None:
    run = bridge_runs["ok"]
    for stem in ("vocal", "instrumental"):
        (stem_item,) = _track(run.dump, f"{stem} - Vox")["items"]
        values, (take,) = stem_item["values"], stem_item["takes"]
        assert values["D_POSITION"] == 1.0 and values["D_LENGTH"] == 1.5
        assert values["D_FADEINLEN"] == 0.1 and values["D_FADEOUTLEN"] == 0.2
        assert values["C_FADEINSHAPE"] == 2 and values["D_VOL"] == 0.8 and values["B_LOOPSRC"] == 0
        assert take["values"]["D_VOL"] == 0.9 and take["values"]["D_PAN"] == -0.5
        assert take["values"]["D_STARTOFFS"] == 0 and take["name"] == stem
        assert take["source"] == str(run.job_dir / "stems" / f"01-vox-lead-vocal.{stem}.wav")
        info = sf.info(take["source"])
        assert info.samplerate == 48000 and info.frames == 72000
    originals = [t for t in run.dump["initial"] if t["name"] == "Vox [lead-vocal]"]
    assert _track(run.dump, "Vox [lead-vocal]")["items"] == originals[0]["items"]


def test_the_manifest_validates_and_says_what_to_separate(bridge_runs: dict) -> None:
    run = bridge_runs["ok"]
    document = json.loads((run.job_dir / "job.json").read_text(encoding="utf-8"))
    validate(document, "job", "job.json written by the REAPER script")
    vox, gtr = document["items"]
    assert vox["preset"] == "lead-vocal" and "prompts" not in vox
    assert gtr["preset"] == "bass"  # the user's answer to the question
    assert (vox["track_guid"], vox["item_guid"]) == (
        "{11111111-0000-4000-8000-000000000002}",
        "{22222222-0000-4000-8000-000000000001}",
    )
    assert vox["position_s"] == 1.0 and vox["length_s"] == 1.5
    assert "spans" not in vox, "the dsp backend takes no time spans"
    assert document["status_file"] == "status.json" and document["backend"] == "dsp"
    assert document["project"] == run.scenario["project_file"]
    job = load_job(run.job_dir / "job.json")
    assert [item.audio.name for item in job.items] == ["01-vox-lead-vocal.wav", "02-gtr.wav"]
    status = json.loads((run.job_dir / "status.json").read_text(encoding="utf-8"))
    assert status["state"] == "done"
    assert run.dump["dialogs"][0]["title"] == "samaudio: what to separate from 'Gtr'"
    assert run.dump["ext_state"] == {"samaudio-daw": {"last_answer": "bass"}}


def test_the_item_is_rendered_as_reaper_plays_it(bridge_runs: dict) -> None:
    run = bridge_runs["ok"]
    rendered, rate = sf.read(run.job_dir / "input" / "01-vox-lead-vocal.wav", dtype="float32")
    source, _ = sf.read(run.scenario["tracks"][1]["items"][0]["takes"][0]["file"], dtype="float32")
    start = int(0.25 * rate)  # the take's start offset
    assert rate == 48000 and rendered.shape == (72000, 2)
    np.testing.assert_array_equal(rendered, source[start : start + 72000])
    assert read_time_reference(run.job_dir / "input" / "01-vox-lead-vocal.wav") == 48000


# --- failures and cancelling: the project stays as it was -------------------------------


def test_a_failed_run_shows_the_bridges_one_line_error(bridge_runs: dict) -> None:
    dump = bridge_runs["failed"].dump
    assert_unchanged(dump)
    (box,) = dump["message_boxes"]
    assert box["title"] == "samaudio: separation failed"
    assert "no preset named 'no-such-preset'" in box["msg"] and "\n" not in box["msg"]


def test_a_run_that_ends_without_a_status_shows_its_last_error_line(bridge_runs: dict) -> None:
    dump = bridge_runs["no_status"].dump
    assert_unchanged(dump)
    (box,) = dump["message_boxes"]
    assert box["msg"].startswith("samaudio-daw: error: ") and "no such presets" in box["msg"]


def test_time_selection_and_regions_become_spans_for_backends_that_take_them(
    bridge_runs: dict,
) -> None:
    run = bridge_runs["spans"]
    document = json.loads((run.job_dir / "job.json").read_text(encoding="utf-8"))
    validate(document, "job", "job.json")
    assert document["backend"] == "sam-audio"
    # item at 0 s, 1 s long: the time selection 0.25-0.5, the region from 0.75 (clipped)
    assert document["items"][0]["spans"] == [["+", 0.25, 0.5], ["+", 0.75, 1]]


def test_cancel_stops_the_run_and_imports_nothing(bridge_runs: dict) -> None:
    run = bridge_runs["cancelled"]
    assert_unchanged(run.dump)
    assert run.dump["message_boxes"] == []
    assert "cancelled; the project was not changed" in run.dump["console"]
    status = json.loads((run.job_dir / "status.json").read_text(encoding="utf-8"))
    assert status["state"] == "cancelled"
    assert not list((run.job_dir / "stems").glob("*.wav"))


def test_selected_tracks_mode_takes_only_items_in_the_time_selection(bridge_runs: dict) -> None:
    run = bridge_runs["cancelled"]
    document = json.loads((run.job_dir / "job.json").read_text(encoding="utf-8"))
    validate(document, "job", "job.json")
    assert [(item["track"], item["position_s"]) for item in document["items"]] == [
        ("Vox [lead-vocal]", 0)
    ]


# --- stopping before samaudio-daw starts --------------------------------------------------


@pytest.fixture
def project(kit: types.SimpleNamespace, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """A scenario for one item on `track`, with scripts installed (or not) in tmp_path."""
    audio = tmp_path / "a.wav"
    kit.write_wav(audio, 1.0, seed=3)

    def make(
        track: str = "Vox [lead-vocal]",
        *,
        script: str | None = None,
        installed: bool = True,
        item: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        if installed:
            scripts = kit.install_scripts(tmp_path / "resource")
        else:
            scripts = tmp_path / "bare"
            scripts.mkdir(exist_ok=True)
            for path in kit.SCRIPTS.glob("*.lua"):
                (scripts / path.name).write_bytes(path.read_bytes())
        media = tmp_path / "media"
        media.mkdir(exist_ok=True)
        return {
            "script": str(scripts / (script or kit.SEPARATE_ITEMS)),
            "tick_s": 0,
            "resource_path": str(tmp_path / "resource"),
            "media_path": str(media),
            "tracks": [{"name": track, "items": [item or kit.item(0.0, 1.0, audio)]}],
            **extra,
        }

    return make


def _jobs_started(dump: Dump) -> list[dict]:
    """The bridge runs other than questions to ``samaudio-daw resolve`` (which change nothing)."""
    return [run for run in dump["exec"] if _RESOLVE not in run["cmdline"]]


def _only_message(dump: Dump) -> str:
    assert_unchanged(dump)
    assert _jobs_started(dump) == []
    (box,) = dump["message_boxes"]
    return str(box["msg"])


def test_no_selected_item(lua_run: Callable, project: Callable, kit: types.SimpleNamespace) -> None:
    scenario = project()
    scenario["tracks"][0]["items"][0]["selected"] = False
    assert _only_message(lua_run("none", scenario)) == "Select one or more items first."
    tracks_mode = project(script=kit.SEPARATE_TRACKS)
    assert "Select one or more tracks" in _only_message(lua_run("none_tracks", tracks_mode))


def test_bridge_not_installed(lua_run: Callable, project: Callable) -> None:
    message = _only_message(lua_run("missing", project(installed=False)))
    assert "samaudio-daw is not set up for REAPER" in message
    assert "samaudio-daw reaper install" in message


def test_bridge_program_gone(lua_run: Callable, project: Callable, tmp_path: Path) -> None:
    scenario = project()
    config = Path(scenario["resource_path"]) / "Scripts" / "samaudio-daw" / "samaudio-config.json"
    document = json.loads(config.read_text())
    document["command"] = [str(tmp_path / "gone" / "samaudio-daw")]
    config.write_text(json.dumps(document))
    message = _only_message(lua_run("gone", scenario))
    assert message.startswith(f"samaudio-daw not found at {tmp_path / 'gone'}")


def test_ambiguous_track_name(lua_run: Callable, project: Callable) -> None:
    message = _only_message(lua_run("ambiguous", project("Gtr [drums] {the guitar}")))
    assert message == "track 'Gtr [drums] {the guitar}': both a preset tag and a {prompt}; keep one"


def test_user_cancels_the_question(lua_run: Callable, project: Callable) -> None:
    dump = lua_run("asked", project("Gtr", answers={"user_inputs": [{"ok": False}]}))
    assert_unchanged(dump)
    assert dump["message_boxes"] == [] and _jobs_started(dump) == [] and len(dump["dialogs"]) == 1


def test_midi_items_are_refused(lua_run: Callable, project: Callable) -> None:
    midi = {"selected": True, "values": {"D_LENGTH": 2.0}, "takes": [{"midi": True}]}
    message = _only_message(lua_run("midi", project(item=midi)))
    assert "has no audio (MIDI or empty)" in message


def test_take_fx_are_pointed_out_and_the_user_can_stop(
    lua_run: Callable, project: Callable, kit: types.SimpleNamespace, tmp_path: Path
) -> None:
    scenario = project(answers={"message_box": [2]})  # Cancel
    scenario["tracks"][0]["items"][0]["takes"][0]["fx"] = 1
    message = _only_message(lua_run("take_fx", scenario))
    assert "has take FX" in message
    assert not list((tmp_path / "media").glob("samaudio/*"))
