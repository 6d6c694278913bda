"""Put the samaudio-daw ReaScripts into REAPER and tell them how to run samaudio-daw.

``install`` copies the Lua scripts shipped in ``reaper_scripts/`` into
``<REAPER resource folder>/Scripts/samaudio-daw/`` and writes ``samaudio-config.json``
beside them: the command (absolute paths) that runs ``samaudio-daw``, the backend, any
user preset folders and, when given, the done file ``samaudio-daw serve`` writes for the
"Import last OSC result" action. Every file is written to a temporary name and renamed into
place; only files of those names are written, nothing is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from samaudio_daw import __version__
from samaudio_daw.errors import UserError
from samaudio_daw.files import write_bytes_atomically

SCRIPTS_FOLDER = "samaudio-daw"
CONFIG_FILE_NAME = "samaudio-config.json"
CONFIG_VERSION = 1
LIBRARY_FILE_NAME = "samaudio_lib.lua"
EXECUTABLE_NAMES = ("samaudio-daw", "samaudio-daw.exe")
_RESOURCE_PATH_HINT = "REAPER shows it under Options > Show REAPER resource path in explorer/finder"


class InstallError(UserError):
    """Installing cannot go on; the message says what is wrong, where, and what to do."""


@dataclass(frozen=True)
class InstallReport:
    """What ``install`` wrote: the scripts (none with ``config_only``) and the config."""

    scripts_dir: Path
    scripts: tuple[Path, ...]
    config: Path
    command: tuple[str, ...]


def default_resource_path(platform: str, home: Path, environ: Mapping[str, str]) -> Path:
    """REAPER's default resource folder for ``platform`` (``sys.platform`` values)."""
    if platform.startswith("win"):
        appdata = environ.get("APPDATA")
        if not appdata:
            raise InstallError(
                f"APPDATA is not set, so REAPER's resource folder is unknown; "
                f"pass --resource-path ({_RESOURCE_PATH_HINT})"
            )
        return Path(appdata) / "REAPER"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "REAPER"
    return home / ".config" / "REAPER"


def resource_path(explicit: Path | None) -> Path:
    """The resource folder to install into; it must exist (REAPER creates it on first run)."""
    path = (
        explicit
        if explicit is not None
        else default_resource_path(sys.platform, Path.home(), os.environ)
    )
    if not path.is_dir():
        how = (
            "check --resource-path"
            if explicit is not None
            else ("start REAPER once, or pass --resource-path")
        )
        raise InstallError(
            f"{path}: no REAPER resource folder there; {how} ({_RESOURCE_PATH_HINT})"
        )
    return path


def shipped_scripts_dir() -> Path:
    """The scripts bundled in a wheel (``samaudio_daw/reaper/scripts``), else ``reaper_scripts/``
    of this source tree (editable installs)."""
    bundled = Path(__file__).resolve().parent / "scripts"
    if (bundled / LIBRARY_FILE_NAME).is_file():
        return bundled
    folder = Path(__file__).resolve().parents[2] / "reaper_scripts"
    if not (folder / LIBRARY_FILE_NAME).is_file():
        raise InstallError(
            f"{folder}: the REAPER scripts are not there; install samaudio-daw "
            "from a source checkout (pip install -e .), or install the scripts "
            "with ReaPack and run this with --config-only"
        )
    return folder


def shipped_scripts(scripts_dir: Path) -> list[Path]:
    """The Lua files to copy: the actions and the library they load."""
    scripts = sorted(scripts_dir.glob("*.lua"))
    if not any(path.name == LIBRARY_FILE_NAME for path in scripts):
        raise InstallError(
            f"{scripts_dir}: {LIBRARY_FILE_NAME} is missing; the source tree is incomplete"
        )
    return scripts


def bridge_command(
    argv0: str,
    python: str,
    which: Callable[[str], str | None],
    windows: bool,
) -> tuple[str, ...]:
    """The command REAPER should run for ``samaudio-daw``, with absolute paths.

    In order: the ``samaudio-daw`` that is running (``argv0``), the one beside the
    Python interpreter (a virtual environment's ``bin``/``Scripts``), the one on PATH,
    and last ``python -m samaudio_daw``. Paths are made absolute, not resolved: a
    virtual environment's python is a link that must stay as it is.
    """
    running = Path(argv0)
    if running.name.lower() in EXECUTABLE_NAMES and running.is_file():
        return (os.path.abspath(running),)
    sibling = Path(python).parent / EXECUTABLE_NAMES[1 if windows else 0]
    if sibling.is_file():
        return (os.path.abspath(sibling),)
    found = which(EXECUTABLE_NAMES[0])
    if found:
        return (os.path.abspath(found),)
    return (os.path.abspath(python), "-m", "samaudio_daw")


def default_bridge_command() -> tuple[str, ...]:
    """``bridge_command`` for this process."""
    return bridge_command(sys.argv[0], sys.executable, shutil.which, sys.platform.startswith("win"))


def explicit_bridge_command(executable: Path) -> tuple[str, ...]:
    """The command for a ``samaudio-daw`` the user named; it must exist."""
    if not executable.is_file():
        raise InstallError(
            f"{executable}: no such file; give the path of the samaudio-daw "
            "program (for example .venv/bin/samaudio-daw)"
        )
    return (os.path.abspath(executable),)


def config_document(
    command: Sequence[str],
    backend: str,
    preset_folders: Sequence[Path],
    done_file: Path | None = None,
    jobs: int = 1,
) -> dict[str, object]:
    """The config the Lua scripts read (``samaudio_lib.lua``, ``config.load``).

    ``done_file``: where ``samaudio-daw serve --done-file`` writes the finished job; left
    out when None (the scripts then use the server's default in the temporary folder).
    ``jobs``: how many queued jobs the queue runner runs at once on the CPU.
    """
    if '"' in "".join(command):
        raise InstallError(
            f"{command[0]}: a path with a double quote cannot be run by the "
            "scripts; move samaudio-daw to a folder without one"
        )
    document: dict[str, object] = {
        "version": CONFIG_VERSION,
        "command": list(command),
        "backend": backend,
        "presets": [os.path.abspath(folder) for folder in preset_folders],
        "jobs": jobs,
        "written_by": f"samaudio-daw {__version__}",
    }
    if done_file is not None:
        document["done_file"] = os.path.abspath(done_file)
    return document


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    if path.is_dir():
        raise InstallError(f"{path}: a folder is in the way of this file; rename or move it")
    return write_bytes_atomically(path, data)


def install(
    resource: Path,
    command: Sequence[str],
    *,
    scripts_dir: Path | None = None,
    backend: str = "dsp",
    preset_folders: Sequence[Path] = (),
    config_only: bool = False,
    done_file: Path | None = None,
    jobs: int = 1,
) -> InstallReport:
    """Copy the scripts (unless ``config_only``) and write the config under ``resource``."""
    target = resource / "Scripts" / SCRIPTS_FOLDER
    document = config_document(command, backend, preset_folders, done_file, jobs)
    sources = [] if config_only else shipped_scripts(scripts_dir or shipped_scripts_dir())
    try:
        target.mkdir(parents=True, exist_ok=True)
        written = tuple(write_atomically(target / src.name, src.read_bytes()) for src in sources)
        text = json.dumps(document, indent=2) + "\n"
        config = write_atomically(target / CONFIG_FILE_NAME, text.encode("utf-8"))
    except OSError as error:
        where = error.filename or target
        raise InstallError(
            f"{where}: cannot write ({error.strerror or error}); check the "
            "folder's permissions or pass another --resource-path"
        ) from None
    return InstallReport(target, written, config, tuple(command))
