"""Builds wheels that carry the shipped presets (and REAPER scripts) inside the package.

pyproject.toml holds all metadata; this only copies the repository's top-level
``presets/`` and ``reaper_scripts/`` folders into the package when building, since
package data must live inside the package and those folders are kept at the top for
producers to browse.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
BUNDLED = {"presets": "samaudio_daw/presets/shipped", "reaper_scripts": "samaudio_daw/reaper/scripts"}


class BuildPyWithBundledFolders(build_py):
    def run(self) -> None:
        super().run()
        for source_name, target_name in BUNDLED.items():
            source = ROOT / source_name
            if not source.is_dir():
                continue
            target = Path(self.build_lib) / target_name
            shutil.copytree(source, target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithBundledFolders})
