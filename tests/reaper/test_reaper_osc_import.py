"""The "Import last OSC result" action: imports what `samaudio-daw serve` finished last.

The result manifest comes from the real `samaudio-daw separate`, and the done file is
written by the server's own ``write_done_file``, so both are in their real formats.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from samaudio_daw.control.job_queue import JobFinished, QueuedJob
from samaudio_daw.control.osc_server import write_done_file
from samaudio_daw.jobs.manifest import Job, JobItem

Dump = dict[str, Any]
TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")
TITLE = "samaudio: import last OSC result"


@dataclass(frozen=True)
class SeparatedTake:
    """A take separated by the real CLI: the input and its result manifest."""

    audio: Path
    result: Path


@pytest.fixture(scope="module")
def separated(
    tmp_path_factory: pytest.TempPathFactory, kit: types.SimpleNamespace
) -> SeparatedTake:
    base = tmp_path_factory.mktemp("osc-result")
    audio = base / "take.wav"
    kit.write_wav(audio, 1.0, seed=3)
    stems = base / "stems"
    command = [str(kit.SAMAUDIO), "separate", str(audio), "--preset", "lead-vocal"]
    done = subprocess.run([*command, "-o", str(stems)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return SeparatedTake(audio, stems / "result.json")


def finish_job(done_file: Path, take: SeparatedTake, job_id: str) -> dict[str, Any]:
    """What the server does when a job is done, before it sends REAPER the action."""
    job = Job((JobItem(take.audio, take.audio.stem, preset="lead-vocal"),), take.result.parent)
    queued = QueuedJob(job_id, job, None, f"{take.audio.name}: preset lead-vocal")
    write_done_file(done_file, JobFinished(queued, take.result))
    return json.loads(done_file.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def scenario(scripts: Path, media: Path, ext_state: dict[str, Any] | None = None) -> dict:
    return {
        "script": str(scripts / "samaudio - Import last OSC result.lua"),
        "tick_s": 0,
        "resource_path": str(scripts.parents[1]),
        "media_path": str(media),
        "tracks": [{"name": "Take"}],
        "ext_state": ext_state or {},
    }


def _names(dump: Dump) -> list[tuple[str, int, int]]:
    return [(t["name"], t["depth"], t["mute"]) for t in dump["tracks"]]


def _unchanged(dump: Dump) -> bool:
    return dump["tracks"] == dump["initial"] and dump["undo"] == [] and dump["errors"] == []


def test_the_last_result_is_imported_once_without_a_dialog(
    kit: types.SimpleNamespace, lua_run: Callable, separated: SeparatedTake, tmp_path: Path
) -> None:
    done_file = tmp_path / "osc" / "last.json"
    scripts = kit.install_scripts(tmp_path / "resource", done_file=done_file)
    finish_job(done_file, separated, "3f9c2a1b")

    first = lua_run("first", scenario(scripts, tmp_path))
    assert first["errors"] == [] and first["message_boxes"] == [] and first["dialogs"] == []
    assert _names(first) == [
        ("Take", 0, 0),
        ("take.wav stems", 1, 0),
        ("vocal - take", 0, 0),
        ("instrumental - take", -1, 0),
    ]
    (vocal,) = first["tracks"][2]["items"]
    assert vocal["takes"][0]["source"] == str(separated.result.parent / "take.vocal.wav")
    assert vocal["values"]["D_POSITION"] == 0 and vocal["values"]["D_LENGTH"] == 1.0
    assert [u["desc"] for u in first["undo"]] == ["samaudio: lead-vocal"]
    assert first["changes_outside_undo"] == []
    assert first["console"] == (
        f"samaudio: imported 2 stem item(s) of job 3f9c2a1b from {separated.result}\n"
    )

    # REAPER keeps ext-state between runs: the same job is not imported twice.
    again = lua_run("again", scenario(scripts, tmp_path, first["ext_state"]))
    assert _unchanged(again) and again["console"] == ""
    (box,) = again["message_boxes"]
    assert box["title"] == TITLE and "3f9c2a1b" in box["msg"] and "already imported" in box["msg"]
    assert "\n" not in box["msg"]

    # The next finished job is new, even with the same stems.
    finish_job(done_file, separated, "77e01c5d")
    later = lua_run("later", scenario(scripts, tmp_path, again["ext_state"]))
    assert later["errors"] == [] and later["message_boxes"] == []
    assert len(later["tracks"]) == 4 and "job 77e01c5d" in later["console"]


def test_a_missing_done_file_changes_nothing(
    kit: types.SimpleNamespace, lua_run: Callable, tmp_path: Path
) -> None:
    done_file = tmp_path / "osc" / "last.json"
    scripts = kit.install_scripts(tmp_path / "resource", done_file=done_file)
    dump = lua_run("missing", scenario(scripts, tmp_path))
    assert _unchanged(dump) and dump["dialogs"] == [] and dump["console"] == ""
    (box,) = dump["message_boxes"]
    assert box["title"] == TITLE and "\n" not in box["msg"]
    assert box["msg"].startswith(f"{done_file}: no finished job yet")
    assert dump["ext_state"] == {}


@pytest.mark.parametrize(
    ("text", "title", "message"),
    [
        ("{oops", TITLE, "not valid JSON"),
        ('{"job_id": "3f9c2a1b", "result": "/x/result.json"}', TITLE, "not a samaudio-daw done"),
        (
            '{"job_id": "3f9c2a1b", "result": "{tmp}/gone/result.json", "finished": 1.5}',
            "samaudio: import failed",
            "{tmp}/gone/result.json: cannot read",
        ),
    ],
    ids=["not-json", "no-finished", "result-gone"],
)
def test_a_bad_done_file_changes_nothing(
    kit: types.SimpleNamespace,
    lua_run: Callable,
    tmp_path: Path,
    text: str,
    title: str,
    message: str,
) -> None:
    done_file = tmp_path / "last.json"
    done_file.write_text(text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    scripts = kit.install_scripts(tmp_path / "resource", done_file=done_file)
    dump = lua_run("bad", scenario(scripts, tmp_path))
    assert _unchanged(dump) and dump["ext_state"] == {}
    (box,) = dump["message_boxes"]
    assert box["title"] == title and message.replace("{tmp}", str(tmp_path)) in box["msg"]


@pytest.mark.parametrize("variable", TEMP_VARIABLES)
def test_without_a_configured_done_file_it_finds_the_servers_default(
    kit: types.SimpleNamespace,
    lua_run: Callable,
    separated: SeparatedTake,
    tmp_path: Path,
    variable: str,
) -> None:
    temp = tmp_path / "temp dir"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in TEMP_VARIABLES}
    env[variable] = str(temp)
    # The default `samaudio-daw serve --done-file` has in this environment.
    code = "from samaudio_daw.control.lifecycle import DEFAULT_DONE_FILE as F; print(F)"
    server = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert server.returncode == 0, server.stderr
    default = Path(server.stdout.strip())
    assert default == temp / "samaudio-daw" / "last-result.json"
    finish_job(default, separated, "0badc0de")

    scripts = kit.install_scripts(tmp_path / "resource")
    config = json.loads((scripts / "samaudio-config.json").read_text(encoding="utf-8"))
    assert "done_file" not in config
    dump = lua_run("default", scenario(scripts, tmp_path), env)
    assert dump["errors"] == [] and dump["message_boxes"] == []
    assert "imported 2 stem item(s) of job 0badc0de" in dump["console"]
