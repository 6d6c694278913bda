"""One request, every entrance: the same words give the same job and the same stems.

Each request goes through the command line (`separate --request`), `run` (a job manifest
built from `resolve --json`, as the REAPER scripts build it), the OSC server over real
UDP, and the REAPER scripts' resolver (real Lua asking the real bridge). Not covered:
REAPER itself (the Lua runs on the emulation in tests/reaper/emulation).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
LIBRARY = HERE.parent.parent / "reaper_scripts" / "samaudio_lib.lua"
EMULATION = HERE.parent / "reaper" / "emulation"

# (what was asked, the preset a job names or None, its prompts, the stems written)
REQUESTS = [
    ("vocals", "lead-vocal", [], ["vocal", "instrumental"]),
    ("de-hum", "de-hum", [], ["hum", "clean"]),
    ("Vox [lead-vocal]", "lead-vocal", [], ["vocal", "instrumental"]),
    ("{remove the hiss}", None, ["remove the hiss"], ["hiss", "clean"]),
]

RESOLVE_IN_LUA = """
package.path = arg[2] .. "/?.lua;" .. package.path
local emu = require("reaper_emu")
emu.setup({ tick_s = 0, media_path = arg[3] })
local lib = dofile(arg[1])
local texts = lib.json.decode(arg[5])
local cfg = { command = { arg[4], "-m", "samaudio_daw" }, presets = lib.json.array({}) }
local found, err = lib.names.resolve(cfg, texts, false)
print(lib.json.encode(found and lib.json.array(found) or { error = err }))
"""


def _lua() -> list[str] | None:
    """How to run Lua 5.4: lupa's (a test dependency, tests/run_lua.py), else Debian's lua5.4."""
    if importlib.util.find_spec("lupa") is not None:
        return [sys.executable, str(HERE.parent / "run_lua.py")]
    found = shutil.which("lua5.4")
    return [found] if found else None


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samaudio_daw", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )


def _stems(result: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(name, kind, prompt, preset) of each stem in a result.json."""
    document = json.loads(result.read_text(encoding="utf-8"))
    return [(s["name"], s["kind"], s["prompt"], s["preset"]) for s in document["stems"]]


def _job(entry: dict[str, Any]) -> tuple[str | None, list[str]]:
    return entry.get("preset"), list(entry.get("prompts") or [])


@pytest.fixture(scope="module")
def resolved(studio: Any) -> list[dict[str, Any]]:
    done = _cli("resolve", "--json", *[text for text, *_ in REQUESTS], cwd=studio.root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_resolve_reads_each_request_by_the_one_rule(resolved: list[dict[str, Any]]) -> None:
    for (text, preset, prompts, stems), entry in zip(REQUESTS, resolved, strict=True):
        assert entry["text"] == text
        assert _job(entry) == (preset, prompts), entry
        assert entry["stems"] == stems, entry
        assert entry["stems_as"] == "tracks" and entry["stem_track_name"] == "{stem} - {track}"
    colours = [entry["colors"] for entry in resolved]
    assert colours[0] == {"vocal": "#3A7BD5", "instrumental": "#B4B9BF"}  # presets/*.toml
    assert colours[1] == {"hum": "#8C7A6B", "clean": "#B4B9BF"}
    assert colours[3] == {}  # prompts made into stems on the spot have no colour


@pytest.mark.parametrize(("text", "preset", "prompts", "stems"), REQUESTS)
def test_cli_run_and_osc_write_the_same_stems(
    client: Any,
    studio: Any,
    resolved: list[dict[str, Any]],
    text: str,
    preset: str | None,
    prompts: list[str],
    stems: list[str],
) -> None:
    slug = "".join(c if c.isalnum() else "-" for c in text).strip("-")
    root = studio.root
    # The command line.
    done = _cli("separate", "take.wav", "--request", text, "-o", f"rule-cli-{slug}", cwd=root)
    assert done.returncode == 0, done.stderr
    by_cli = _stems(root / f"rule-cli-{slug}" / "result.json")
    # `run`, with the item REAPER's scripts would write from `resolve --json`.
    entry = next(e for e in resolved if e["text"] == text)
    item: dict[str, Any] = {"audio": "take.wav", "name": "take"}
    item.update({"preset": entry["preset"]} if entry["preset"] else {"prompts": entry["prompts"]})
    manifest = root / f"rule-{slug}.json"
    manifest.write_text(
        json.dumps({"version": 1, "output_dir": f"rule-run-{slug}", "items": [item]}),
        encoding="utf-8",
    )
    done = _cli("run", manifest.name, cwd=root)
    assert done.returncode == 0, done.stderr
    by_run = _stems(root / f"rule-run-{slug}" / "result.json")
    # OSC, over UDP.
    client.send("/samaudio/separate", "take.wav", text, f"rule-osc-{slug}")
    [job_id] = client.expect("/samaudio/accepted")
    result = Path(client.expect("/samaudio/done", job_id, timeout_s=120)[1])
    by_osc = _stems(result)

    assert by_cli == by_run == by_osc
    assert [name for name, *_ in by_cli] == stems
    targets = [(prompt, used) for _, kind, prompt, used in by_cli if kind == "target"]
    if preset is not None:
        assert {used for _, used in targets} == {preset}
    else:
        assert [prompt for prompt, _ in targets] == prompts


def test_the_reaper_scripts_resolver_agrees(studio: Any, tmp_path: Path) -> None:
    lua = _lua()
    if lua is None:
        pytest.skip("no Lua 5.4: pip install lupa (make install does), or apt-get install lua5.4")
    script = tmp_path / "resolve.lua"
    script.write_text(RESOLVE_IN_LUA, encoding="utf-8")
    texts = json.dumps([text for text, *_ in REQUESTS])
    args = [str(LIBRARY), str(EMULATION), str(tmp_path), sys.executable, texts]
    done = subprocess.run(
        [*lua, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == [
        {"preset": preset} if preset else {"prompts": prompts} for _, preset, prompts, _ in REQUESTS
    ]
