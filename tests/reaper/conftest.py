"""Run the REAPER scripts under Lua 5.4 with the emulation in ``emulation/``.

A scenario is a dict (the project, the user's answers, input events) that is written
as a Lua table file; ``emulation/driver.lua`` runs one script against it and writes a
JSON dump (final project, undo blocks, dialogs, processes started, errors). Scripts
are run from a real ``samaudio-daw reaper install`` into a temporary REAPER resource
folder, so the config they read points at this checkout's real ``samaudio-daw``.

The tests run with ``--import-mode=importlib``, so helpers reach them through the
``kit`` fixture rather than imports.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.presets import default_library
from samaudio_daw.reaper.install import SCRIPTS_FOLDER, explicit_bridge_command, install

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPTS = REPO / "reaper_scripts"
DRIVER = HERE / "emulation" / "driver.lua"
LUAC = shutil.which("luac5.4")
SAMAUDIO = Path(sys.executable).parent / "samaudio-daw"
SAMPLE_RATE = 48000


def _lua() -> list[str] | None:
    """How to run Lua 5.4: lupa's (a test dependency, tests/run_lua.py), else Debian's lua5.4."""
    if importlib.util.find_spec("lupa") is not None:
        return [sys.executable, str(Path(__file__).resolve().parents[1] / "run_lua.py")]
    found = shutil.which("lua5.4")
    return [found] if found else None


LUA = _lua()

SEPARATE_ITEMS = "samaudio - Separate selected items.lua"
SEPARATE_TRACKS = "samaudio - Separate items on selected tracks.lua"
CHOOSE_PRESET = "samaudio - Choose preset for selected tracks.lua"
IMPORT_RESULT = "samaudio - Import stems from result.lua"
IMPORT_LAST_OSC = "samaudio - Import last OSC result.lua"


def to_lua(value: Any) -> str:
    """``value`` (dicts, lists, str, numbers, bools, None) as a Lua expression."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to Lua")
        return repr(value)
    if isinstance(value, str):
        # Decimal escapes for every byte outside printable ASCII: exact bytes, pure ASCII file.
        return (
            '"'
            + "".join(
                chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}"
                for b in value.encode("utf-8")
            )
            + '"'
        )
    if isinstance(value, Mapping):
        fields = ", ".join(f"[{to_lua(str(k))}] = {to_lua(v)}" for k, v in value.items())
        return "{" + fields + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to Lua")


def write_wav(path: Path, seconds: float, seed: int, channels: int = 2) -> np.ndarray:
    """A float WAV of tones plus a little noise; returns the samples, (frames, channels)."""
    frames = int(round(seconds * SAMPLE_RATE))
    t = np.arange(frames) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    tones = [0.25 * np.sin(2 * np.pi * (110 + 55 * seed + 40 * c) * t) for c in range(channels)]
    audio = np.stack(tones, axis=1) + 0.01 * rng.standard_normal((frames, channels))
    audio = audio.astype(np.float32)
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    return audio


def install_scripts(resource: Path, **options: Any) -> Path:
    """``samaudio-daw reaper install`` into ``resource``; returns the scripts folder."""
    resource.mkdir(parents=True, exist_ok=True)
    install(resource, explicit_bridge_command(SAMAUDIO), **options)
    return resource / "Scripts" / SCRIPTS_FOLDER


def scenario_file(folder: Path, name: str, scenario: dict[str, Any]) -> Path:
    """Write ``scenario`` (with its dump path) as ``<folder>/<name>.lua``."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = {"dump": str(folder / f"{name}.dump.json"), **scenario}
    path = folder / f"{name}.lua"
    path.write_text("return " + to_lua(scenario) + "\n", encoding="utf-8")
    return path


def start(scenario: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the driver on ``scenario``; ``env``: its environment (default: this one)."""
    assert LUA is not None
    return subprocess.Popen(
        [*LUA, str(DRIVER), str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=None if env is None else dict(env),
    )


def finish(
    process: subprocess.Popen[str], scenario: Path, timeout_s: float = 120
) -> dict[str, Any]:
    """Wait for a driver run and return its dump."""
    output, _ = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, f"driver failed for {scenario.name}:\n{output}"
    dump_path = scenario.with_name(scenario.stem + ".dump.json")
    return json.loads(dump_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def run_scenario(
    folder: Path, name: str, scenario: dict[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    path = scenario_file(folder, name, scenario)
    return finish(start(path, env), path)


def item(
    position: float,
    length: float,
    source: Path,
    *,
    selected: bool = True,
    values: dict[str, float] | None = None,
    take_values: dict[str, float] | None = None,
    guid: str | None = None,
    fx: int = 0,
) -> dict[str, Any]:
    """An item spec for a scenario: one take playing ``source``."""
    spec: dict[str, Any] = {
        "selected": selected,
        "values": {"D_POSITION": position, "D_LENGTH": length, **(values or {})},
        "takes": [
            {"name": source.stem, "file": str(source), "values": take_values or {}, "fx": fx}
        ],
    }
    if guid:
        spec["guid"] = guid
    return spec


def _kit() -> types.SimpleNamespace:
    names = [
        "SCRIPTS",
        "HERE",
        "LUA",
        "LUAC",
        "SAMAUDIO",
        "SAMPLE_RATE",
        "SEPARATE_ITEMS",
        "SEPARATE_TRACKS",
        "CHOOSE_PRESET",
        "IMPORT_RESULT",
        "IMPORT_LAST_OSC",
        "write_wav",
        "install_scripts",
        "scenario_file",
        "start",
        "finish",
        "run_scenario",
        "item",
        "to_lua",
    ]
    return types.SimpleNamespace(**{name: globals()[name] for name in names})


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    """The helpers and paths above, for test modules (they cannot import this file)."""
    if LUA is None:
        pytest.skip("no Lua 5.4: pip install lupa (make install does), or apt-get install lua5.4")
    return _kit()


@pytest.fixture
def lua_run(kit: types.SimpleNamespace, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``lua_run(name, scenario[, env])`` runs one scenario in ``tmp_path`` and returns its
    dump; ``env`` is the driver's environment (default: this process's)."""

    def run(
        name: str, scenario: dict[str, Any], env: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        return run_scenario(tmp_path / "scenarios", name, scenario, env)

    return run


# ---------------------------------------------------------------------------
# Runs with the real samaudio-daw, started together (each spends seconds importing).
# ---------------------------------------------------------------------------

VOX_TRACK, GTR_TRACK = (
    "{11111111-0000-4000-8000-000000000002}",
    "{11111111-0000-4000-8000-000000000003}",
)
VOX_ITEM, GTR_ITEM = (
    "{22222222-0000-4000-8000-000000000001}",
    "{22222222-0000-4000-8000-000000000002}",
)


@dataclass(frozen=True)
class Run:
    """One finished scenario: its dump, and the media folder its job folder went into."""

    dump: dict[str, Any]
    media: Path
    scenario: dict[str, Any]

    @property
    def job_dir(self) -> Path:
        folders = sorted(self.media.glob("samaudio/*/job.json"))
        assert len(folders) == 1, f"expected one job folder in {self.media}, got {folders}"
        return folders[0].parent


def _separate_ok(scripts: Path, media: Path, audio: dict[str, Path]) -> dict[str, Any]:
    vox = item(
        1.0,
        1.5,
        audio["vox"],
        guid=VOX_ITEM,
        values={"D_FADEINLEN": 0.1, "D_FADEOUTLEN": 0.2, "C_FADEINSHAPE": 2, "D_VOL": 0.8},
        take_values={"D_STARTOFFS": 0.25, "D_VOL": 0.9, "D_PAN": -0.5},
    )
    return {
        "script": str(scripts / SEPARATE_ITEMS),
        "media_path": str(media),
        "project_file": str(media.parent / "song.rpp"),
        "tracks": [
            {"name": "Band", "depth": 1},
            {"name": "Vox [lead-vocal]", "guid": VOX_TRACK, "items": [vox]},
            {
                "name": "Gtr",
                "guid": GTR_TRACK,
                "depth": -1,
                "items": [item(0.5, 2.0, audio["gtr"], guid=GTR_ITEM)],
            },
            {"name": "Keys", "items": [item(0.0, 1.0, audio["gtr"], selected=False)]},
        ],
        "answers": {"user_inputs": [{"ok": True, "text": "bass"}]},
        "time_selection": [1.2, 1.8],
        "markers": [{"region": True, "start": 2.0, "stop": 3.0, "name": "Chorus"}],
    }


def _one_item(script: str, scripts: Path, media: Path, track: str, audio: Path) -> dict[str, Any]:
    return {
        "script": str(scripts / script),
        "media_path": str(media),
        "tracks": [{"name": track, "items": [item(0.0, 1.0, audio)]}],
    }


def _cancelled(scripts: Path, media: Path, audio: Path) -> dict[str, Any]:
    return {
        "script": str(scripts / SEPARATE_TRACKS),
        "media_path": str(media),
        "tracks": [
            {
                "name": "Vox [lead-vocal]",
                "selected": True,
                "items": [
                    item(0.0, 1.0, audio, selected=False),
                    item(2.0, 1.0, audio, selected=False),
                ],
            },
            {"name": "Other", "items": [item(0.0, 3.0, audio, selected=False)]},
        ],
        "time_selection": [0.5, 1.5],
        "events": [{"cycle": 2, "click": "Cancel #1"}],
    }


def _choose(scripts: Path, media: Path, names: list[str], choice: int) -> dict[str, Any]:
    return {
        "script": str(scripts / CHOOSE_PRESET),
        "media_path": str(media),
        "tracks": [{"name": name, "selected": not name.startswith("Keys")} for name in names],
        "answers": {"menu": [choice]},
    }


@pytest.fixture(scope="session")
def preset_names() -> list[str]:
    """Preset names in the order `samaudio-daw presets list --json` gives them."""
    return [preset.name for preset in default_library([])]


@pytest.fixture(scope="session")
def bridge_runs(
    tmp_path_factory: pytest.TempPathFactory, kit: types.SimpleNamespace, preset_names: list[str]
) -> dict[str, Run]:
    """The scenarios that start samaudio-daw, run at the same time, by name."""
    base = tmp_path_factory.mktemp("bridge")
    scripts = install_scripts(base / "resource")
    # A config samaudio-daw rejects at once (no such presets folder), with a backend that
    # takes time spans, so the manifest written before it fails carries them.
    broken = install_scripts(
        base / "resource-bad", backend="sam-audio", preset_folders=[base / "no such presets"]
    )
    # A backend that takes time spans and whose run fails only after the manifest is
    # written (no model is configured), so the manifest carries the spans.
    spans = install_scripts(base / "resource-sam", backend="sam-audio")
    audio = {"vox": base / "vox.wav", "gtr": base / "gtr.wav"}
    write_wav(audio["vox"], 3.0, seed=1)
    write_wav(audio["gtr"], 3.0, seed=2)
    media = {
        name: base / name / "media"
        for name in ("ok", "failed", "cancelled", "no_status", "spans", "choose", "clear")
    }
    scenarios = {
        "ok": _separate_ok(scripts, media["ok"], audio),
        "failed": _one_item(
            SEPARATE_ITEMS, scripts, media["failed"], "Synth [no-such-preset]", audio["vox"]
        ),
        "cancelled": _cancelled(scripts, media["cancelled"], audio["vox"]),
        "no_status": {
            **_one_item(
                SEPARATE_ITEMS, broken, media["no_status"], "Vox [lead-vocal]", audio["vox"]
            ),
            "time_selection": [0.25, 0.5],
            "markers": [
                {"region": True, "start": 0.75, "stop": 2.0, "name": "Verse"},
                {"start": 0.1, "name": "a marker, not a region"},
            ],
        },
        "spans": {
            **_one_item(SEPARATE_ITEMS, spans, media["spans"], "Vox [lead-vocal]", audio["vox"]),
            "time_selection": [0.25, 0.5],
            "markers": [
                {"region": True, "start": 0.75, "stop": 2.0, "name": "Verse"},
                {"start": 0.1, "name": "a marker, not a region"},
            ],
        },
        "choose": _choose(
            scripts,
            media["choose"],
            ["Vox", "Gtr [old] {the guitar}", "Keys"],
            preset_names.index("lead-vocal") + 1,
        ),
        "clear": _choose(scripts, media["clear"], ["Vox [lead-vocal]"], len(preset_names) + 1),
    }
    for name, scenario in scenarios.items():
        media[name].mkdir(parents=True)
        scenario["tick_s"] = 0.2  # each tick sleeps in a child process; keep them few
        resource = {"no_status": "resource-bad", "spans": "resource-sam"}.get(name, "resource")
        scenario["resource_path"] = str(base / resource)
    files = {name: scenario_file(base / "scenarios", name, s) for name, s in scenarios.items()}
    started = {name: start(path) for name, path in files.items()}
    return {
        name: Run(finish(started[name], files[name]), media[name], scenarios[name])
        for name in scenarios
    }
