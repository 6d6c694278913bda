"""The ReaScripts compile, use only documented and emulated REAPER functions, and the
ReaPack index lists every one of them; the library's Lua unit tests pass."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import soundfile as sf

from samaudio_daw import __version__
from samaudio_daw.audio.wav import read_time_reference
from samaudio_daw.jobs.manifest import load_job, validate

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parents[1] / "reaper_scripts"
LUAC = shutil.which("luac5.4")


def _lua() -> list[str] | None:
    """How to run Lua 5.4: lupa's (a test dependency, tests/run_lua.py), else Debian's lua5.4."""
    if importlib.util.find_spec("lupa") is not None:
        return [sys.executable, str(Path(__file__).resolve().parents[1] / "run_lua.py")]
    found = shutil.which("lua5.4")
    return [found] if found else None


LUA = _lua()
needs_lua = pytest.mark.skipif(
    LUA is None,
    reason="no Lua 5.4: pip install lupa (make install does), or apt-get install lua5.4",
)

LUA_FILES = (
    sorted(SCRIPTS.glob("*.lua"))
    + sorted((HERE / "emulation").glob("*.lua"))
    + [HERE / "lua" / "test_lib.lua"]
)
ACTIONS = [path for path in sorted(SCRIPTS.glob("*.lua")) if path.name != "samaudio_lib.lua"]
_CALL = re.compile(r"\b(reaper|gfx)\.([A-Za-z_][A-Za-z0-9_]*)")
_DEFINED = re.compile(r'\b(define|gfx_define)\("([A-Za-z_0-9]+)"')


def _code(path: Path) -> str:
    """Lua source without comments (long comments and -- to end of line outside strings)."""
    text = re.sub(r"--\[(=*)\[.*?\]\1\]", "", path.read_text(encoding="utf-8"), flags=re.S)
    lines = []
    for line in text.splitlines():
        lines.append(
            re.sub(
                r"""^((?:[^"'-]|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|-(?!-))*)--.*$""", r"\1", line
            )
        )
    return "\n".join(lines)


def _used_names() -> set[str]:
    names: set[str] = set()
    for path in SCRIPTS.glob("*.lua"):
        names.update(f"{owner}.{name}" for owner, name in _CALL.findall(_code(path)))
    return names


@pytest.mark.skipif(LUAC is None, reason="luac5.4 is not installed (apt-get install lua5.4)")
@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.name)
def test_every_lua_file_compiles(path: Path) -> None:
    assert LUAC is not None
    result = subprocess.run([LUAC, "-p", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_reaper_function_used_is_emulated_and_documented() -> None:
    emulation = (HERE / "emulation" / "reaper_emu.lua").read_text(encoding="utf-8")
    emulated = {
        ("gfx." if kind == "gfx_define" else "reaper.") + name
        for kind, name in _DEFINED.findall(emulation)
    }
    readme = (SCRIPTS / "README.md").read_text(encoding="utf-8")
    documented = {f"{owner}.{name}" for owner, name in _CALL.findall(readme)}
    used = _used_names()
    functions = {
        name
        for name in used
        if name
        not in {"gfx.x", "gfx.y", "gfx.w", "gfx.h", "gfx.mouse_x", "gfx.mouse_y", "gfx.mouse_cap"}
    }
    assert functions - emulated == set(), "called but not emulated"
    assert used - documented == set(), "called but not listed in reaper_scripts/README.md"
    listed = {name for name in documented if name in emulated or name.startswith("gfx.")}
    assert listed - used - {"gfx.x", "gfx.y", "gfx.w", "gfx.h"} == set(), "listed but unused"


def test_readme_gives_a_version_for_every_function() -> None:
    readme = (SCRIPTS / "README.md").read_text(encoding="utf-8")
    section = readme.split("## ReaScript functions used", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= len({n for n in _used_names() if n.startswith("reaper.")})
    for row in rows:
        since = row.rstrip("|").rsplit("|", 1)[-1].strip()
        assert re.match(r"^(4\.77|5\.21|6\.24|Lua built-in)\b", since), row


def test_index_lists_every_script_for_reapack() -> None:
    root = ET.parse(SCRIPTS / "index.xml").getroot()
    assert root.tag == "index" and root.get("version") == "1"
    package = root.find("category/reapackage")
    assert package is not None and package.get("type") == "script"
    version = package.find("version")
    assert version is not None and version.get("name") == __version__
    sources = {src.get("file"): src for src in version.findall("source")}
    assert set(sources) == {path.name for path in SCRIPTS.glob("*.lua")}
    for action in ACTIONS:
        assert sources[action.name].get("main") == "main"
    assert sources["samaudio_lib.lua"].get("main") is None
    for name, source in sources.items():
        assert (source.text or "").startswith("$REPO_URL/reaper_scripts/")
        assert (source.text or "").endswith(name.replace(" ", "%20"))


def test_library_version_matches_the_package() -> None:
    lib = (SCRIPTS / "samaudio_lib.lua").read_text(encoding="utf-8")
    assert f'M.VERSION = "{__version__}"' in lib


def test_actions_load_the_library_from_their_own_folder() -> None:
    for action in ACTIONS:
        code = _code(action)
        assert 'debug.getinfo(1, "S").source' in code
        assert '"samaudio_lib.lua"' in code


@needs_lua
def test_library_unit_tests_pass_and_write_valid_files(tmp_path: Path) -> None:
    assert LUA is not None
    result = subprocess.run(
        [
            *LUA,
            str(HERE / "lua" / "test_lib.lua"),
            str(SCRIPTS / "samaudio_lib.lua"),
            str(tmp_path),
            sys.executable,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((tmp_path / "job.json").read_text(encoding="utf-8"))
    validate(document, "job", "test_lib job.json")
    assert document["items"][0]["spans"] == [["+", 0.5, 1]]
    assert "spans" not in document["items"][1]
    (tmp_path / "input").mkdir()
    job = load_job(tmp_path / "job.json")
    assert job.backend == "sam-audio" and job.items[1].prompts == ("the owl",)
    audio, rate = sf.read(tmp_path / "three.wav", dtype="float32", always_2d=True)
    assert rate == 44100 and audio.shape == (4, 3)
    assert audio[0].tolist() == [0.0, 0.5, -0.5] and audio[3, 2] == 1.0
    assert read_time_reference(tmp_path / "three.wav") == 12345
    mono, _ = sf.read(tmp_path / "mono.wav", dtype="float32", always_2d=True)
    assert mono[:, 0].tolist() == [0.5, -1.0]
