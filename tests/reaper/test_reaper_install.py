"""``samaudio-daw reaper install``: scripts copied, config written, nothing else touched."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from samaudio_daw.cli.reaper import reaper
from samaudio_daw.reaper import CONFIG_FILE_NAME, SCRIPTS_FOLDER, bridge_command
from samaudio_daw.reaper.install import (
    InstallError,
    config_document,
    default_resource_path,
    install,
)

SCRIPTS = Path(__file__).resolve().parents[2] / "reaper_scripts"
SAMAUDIO = Path(sys.executable).parent / "samaudio-daw"


def _install(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(reaper, ["install", *args])
    return result.exit_code, result.stdout, result.stderr


def test_install_copies_every_script_and_writes_a_runnable_config(tmp_path: Path) -> None:
    code, out, err = _install("--resource-path", str(tmp_path), "--executable", str(SAMAUDIO))
    assert code == 0, err
    target = tmp_path / "Scripts" / SCRIPTS_FOLDER
    for script in SCRIPTS.glob("*.lua"):
        assert (target / script.name).read_bytes() == script.read_bytes()
        assert f"installed {target / script.name}" in out
    config = json.loads((target / CONFIG_FILE_NAME).read_text(encoding="utf-8"))
    assert config["version"] == 1 and config["backend"] == "dsp" and config["presets"] == []
    assert Path(config["command"][0]).is_absolute() and Path(config["command"][0]).is_file()
    assert os.access(config["command"][0], os.X_OK)
    assert not list(target.glob("*.part")), "no temporary files are left behind"


def test_install_finds_the_running_samaudio_daw_by_default(tmp_path: Path) -> None:
    code, _, err = _install(
        "--resource-path",
        str(tmp_path),
        "--backend",
        "sam-audio",
        "--presets",
        str(tmp_path / "my presets"),
    )
    assert code == 0, err
    config = json.loads((tmp_path / "Scripts" / SCRIPTS_FOLDER / CONFIG_FILE_NAME).read_text())
    assert Path(config["command"][0]).is_file()
    assert config["backend"] == "sam-audio"
    assert config["presets"] == [str(tmp_path / "my presets")]


def test_reinstalling_keeps_the_users_own_files(tmp_path: Path) -> None:
    target = tmp_path / "Scripts" / SCRIPTS_FOLDER
    target.mkdir(parents=True)
    (target / "my notes.txt").write_text("mine")
    (target / "samaudio_lib.lua").write_text("-- old version")
    code, _, err = _install("--resource-path", str(tmp_path), "--executable", str(SAMAUDIO))
    assert code == 0, err
    assert (target / "my notes.txt").read_text() == "mine"
    assert (target / "samaudio_lib.lua").read_bytes() == (SCRIPTS / "samaudio_lib.lua").read_bytes()


def test_config_only_writes_just_the_config(tmp_path: Path) -> None:
    code, out, err = _install(
        "--resource-path", str(tmp_path), "--executable", str(SAMAUDIO), "--config-only"
    )
    assert code == 0, err
    target = tmp_path / "Scripts" / SCRIPTS_FOLDER
    assert sorted(p.name for p in target.iterdir()) == [CONFIG_FILE_NAME]
    assert "installed" not in out


def test_done_file_is_written_into_the_config_only_when_given(tmp_path: Path) -> None:
    done_file = tmp_path / "osc" / "last.json"
    code, _, err = _install(
        "--resource-path",
        str(tmp_path),
        "--executable",
        str(SAMAUDIO),
        "--config-only",
        "--done-file",
        str(done_file),
    )
    assert code == 0, err
    config = json.loads((tmp_path / "Scripts" / SCRIPTS_FOLDER / CONFIG_FILE_NAME).read_text())
    assert config["done_file"] == str(done_file)
    relative = config_document(["/bin/samaudio-daw"], "dsp", [], Path("last.json"))
    assert relative["done_file"] == os.path.abspath("last.json")
    assert "done_file" not in config_document(["/bin/samaudio-daw"], "dsp", [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resource-path", "{tmp}/nowhere"], "no REAPER resource folder there"),
        (
            ["--resource-path", "{tmp}", "--executable", "{tmp}/missing/samaudio-daw"],
            "no such file",
        ),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = _install(*(arg.format(tmp=tmp_path) for arg in args))
    assert code == 2
    assert err.startswith("samaudio-daw: error: ") and message in err
    assert err.count("\n") == 1 and out == ""
    assert not (tmp_path / "Scripts").exists()


def test_default_resource_paths_per_system() -> None:
    home = Path("/home/me")
    assert default_resource_path("linux", home, {}) == home / ".config" / "REAPER"
    assert default_resource_path("darwin", home, {}) == (
        home / "Library" / "Application Support" / "REAPER"
    )
    assert default_resource_path("win32", home, {"APPDATA": "C:/Users/me/AppData/Roaming"}) == (
        Path("C:/Users/me/AppData/Roaming") / "REAPER"
    )
    with pytest.raises(InstallError, match="APPDATA"):
        default_resource_path("win32", home, {})


def test_bridge_command_prefers_the_running_program(tmp_path: Path) -> None:
    program = tmp_path / "bin" / "samaudio-daw"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    python = tmp_path / "venv" / "bin" / "python"
    sibling = python.parent / "samaudio-daw"
    never = lambda name: None  # noqa: E731
    assert bridge_command(str(program), str(python), never, windows=False) == (str(program),)
    assert bridge_command("pytest", str(python), never, windows=False) == (
        str(python),
        "-m",
        "samaudio_daw",
    )
    sibling.parent.mkdir(parents=True)
    sibling.write_text("#!/bin/sh\n")
    assert bridge_command("pytest", str(python), never, windows=False) == (str(sibling),)
    on_path = lambda name: str(program)  # noqa: E731
    sibling.unlink()
    assert bridge_command("pytest", str(python), on_path, windows=False) == (str(program),)


def test_a_path_with_a_double_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="double quote"):
        install(tmp_path, ['/odd"dir/samaudio-daw'], config_only=True)


def test_jobs_reaches_the_config_the_queue_runner_is_started_with(tmp_path: Path) -> None:
    args = ("--resource-path", str(tmp_path), "--executable", str(SAMAUDIO), "--config-only")
    code, _, err = _install(*args, "--jobs", "3")
    assert code == 0, err
    config = json.loads((tmp_path / "Scripts" / SCRIPTS_FOLDER / CONFIG_FILE_NAME).read_text())
    assert config["jobs"] == 3
    code, _, err = _install(*args, "--jobs", "0")
    assert code == 2 and "--jobs" in err
