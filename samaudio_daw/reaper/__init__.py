"""REAPER integration: installing the ReaScripts and the config they read.

The Lua scripts themselves live in ``reaper_scripts/`` at the top of the source tree;
``samaudio-daw reaper install`` (``samaudio_daw.reaper.commands.reaper``) copies them.
"""

from samaudio_daw.reaper.install import (
    CONFIG_FILE_NAME,
    SCRIPTS_FOLDER,
    InstallError,
    InstallReport,
    bridge_command,
    default_resource_path,
    install,
)

__all__ = [
    "CONFIG_FILE_NAME",
    "SCRIPTS_FOLDER",
    "InstallError",
    "InstallReport",
    "bridge_command",
    "default_resource_path",
    "install",
]
