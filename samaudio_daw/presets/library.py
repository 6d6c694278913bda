"""Reading preset files and folders into a library: shipped, then user folders, later wins.

Folders are read in this order: the shipped ``presets/`` folder, each folder in the
``SAMAUDIO_PRESETS`` environment variable (separated by ``os.pathsep``), then folders
given on the command line (``--presets DIR``). A preset in a later folder replaces one of
the same name from an earlier folder; the library remembers what it replaced.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from samaudio_daw.presets.chains import check_preset_plugins
from samaudio_daw.presets.parsing import did_you_mean, preset_from_dict
from samaudio_daw.presets.schema import Preset, PresetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRESETS_ENV_VAR = "SAMAUDIO_PRESETS"
PRESET_SUFFIX = ".toml"
_TOML_WHERE_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _toml_error(path: Path, error: tomllib.TOMLDecodeError) -> PresetError:
    """A TOML syntax error as a PresetError whose field is ``line L, column C``."""
    message = str(error)
    where = _TOML_WHERE_RE.search(message)
    field_name = f"line {where.group(1)}, column {where.group(2)}" if where else "TOML"
    problem = _TOML_WHERE_RE.sub("", message)
    return PresetError(str(path), field_name, problem, "valid TOML (see presets/README.md)")


def read_toml(path: Path) -> dict[str, object]:
    """The TOML table in ``path``; PresetError for a missing, unreadable or invalid file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # tolerate a byte-order mark
    except FileNotFoundError:
        raise PresetError(str(path), "file", "not found", "an existing .toml file") from None
    except UnicodeDecodeError as error:
        raise PresetError(
            str(path), "file", f"is not UTF-8 text ({error.reason})", "UTF-8"
        ) from None
    except OSError as error:
        raise PresetError(
            str(path), "file", f"cannot be read: {error}", "a readable file"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _toml_error(path, error) from None


def load_preset(path: Path | str) -> Preset:
    """The preset in the TOML file ``path``, checked, its built-in plugins built once.

    The preset's name defaults to the file name without ``.toml`` and must equal it when
    given. VST3 plugins are not loaded here (see ``check_preset_files``).
    """
    preset = read_preset(path)
    check_preset_plugins(preset)
    return preset


def read_preset(path: Path | str) -> Preset:
    """The preset in ``path``, its values checked but its plugins not built yet."""
    path = Path(path)
    return preset_from_dict(read_toml(path), source_path=path, default_name=path.stem)


@dataclass(frozen=True)
class BrokenPreset:
    """A preset file that could not be read: its name (from the file) and its error.

    A library keeps it under its name, so only a run that asks for that preset fails.
    """

    name: str
    error: PresetError


def preset_files(folder: Path) -> tuple[Path, ...]:
    """The ``*.toml`` files directly in ``folder``, sorted; PresetError if no such folder."""
    if not folder.is_dir():
        raise PresetError(str(folder), "folder", "does not exist", "a folder of preset .toml files")
    return tuple(sorted(path for path in folder.glob(f"*{PRESET_SUFFIX}") if path.is_file()))


def load_folder(folder: Path) -> tuple[Preset, ...]:
    """Every preset in ``folder``, by file name; raises the first PresetError."""
    return tuple(load_preset(path) for path in preset_files(folder))


def read_folder(folder: Path) -> tuple[Preset | BrokenPreset, ...]:
    """Every preset in ``folder``, unbuilt; a file that cannot be read is a BrokenPreset."""
    entries: list[Preset | BrokenPreset] = []
    for path in preset_files(folder):
        try:
            entries.append(read_preset(path))
        except PresetError as error:
            entries.append(BrokenPreset(path.stem.strip().lower(), error))
    return tuple(entries)


def shipped_presets_dir() -> Path:
    """The folder of presets that ship with samaudio-daw.

    An installed wheel carries them as package data in ``samaudio_daw/presets/shipped``;
    a source checkout (editable install) has them in the repository's ``presets/``.
    """
    packaged = Path(__file__).resolve().parent / "shipped"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "presets"


def env_preset_dirs(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The folders named in ``SAMAUDIO_PRESETS`` (``os.pathsep``-separated), in order."""
    value = (os.environ if environ is None else environ).get(PRESETS_ENV_VAR, "")
    return tuple(Path(part).expanduser() for part in value.split(os.pathsep) if part.strip())


def preset_dirs(
    user_dirs: Sequence[Path | str] = (), environ: Mapping[str, str] | None = None
) -> tuple[Path, ...]:
    """Every preset folder in reading order: shipped, ``SAMAUDIO_PRESETS``, ``user_dirs``."""
    explicit = tuple(Path(folder).expanduser() for folder in user_dirs)
    return (shipped_presets_dir(), *env_preset_dirs(environ), *explicit)


@dataclass(frozen=True)
class PresetLibrary:
    """Presets by name (sorted), and the presets that later folders replaced.

    Build one with ``default_library`` or ``PresetLibrary.from_layers``.
    """

    presets: tuple[Preset, ...]
    replaced: tuple[Preset, ...] = ()
    broken: tuple[BrokenPreset, ...] = ()
    _by_name: Mapping[str, Preset] = field(init=False, repr=False, compare=False)
    _built: dict[str, PresetError | None] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for what, values in (("presets", self.presets), ("replaced", self.replaced)):
            if not isinstance(values, tuple) or not all(isinstance(p, Preset) for p in values):
                raise TypeError(f"PresetLibrary.{what} must be a tuple of Preset")
        by_name = {preset.name: preset for preset in self.presets}
        if len(by_name) != len(self.presets):
            raise ValueError("PresetLibrary.presets must have unique names; use from_layers")
        ordered = tuple(by_name[name] for name in sorted(by_name))
        object.__setattr__(self, "presets", ordered)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))

    @classmethod
    def from_layers(cls, layers: Sequence[Sequence[Preset | BrokenPreset]]) -> PresetLibrary:
        """A library from preset groups in reading order; a later preset of a name wins.

        A broken preset wins its name too: asking for it raises its error rather than
        quietly using an earlier preset of that name.
        """
        winners: dict[str, Preset | BrokenPreset] = {}
        replaced: list[Preset] = []
        for layer in layers:
            for preset in layer:
                earlier = winners.get(preset.name)
                if isinstance(earlier, Preset):
                    replaced.append(earlier)
                winners[preset.name] = preset
        good = tuple(p for p in winners.values() if isinstance(p, Preset))
        broken = tuple(p for p in winners.values() if isinstance(p, BrokenPreset))
        return cls(good, tuple(replaced), broken)

    def names(self) -> tuple[str, ...]:
        """The preset names, sorted."""
        return tuple(preset.name for preset in self.presets)

    def find(self, name: str) -> Preset | None:
        """The preset called ``name`` (case and surrounding spaces ignored), or None.

        Its plugins are built on first use; a preset that is broken (its file, or a
        plugin) raises its PresetError, so only runs that use it fail.
        """
        key = name.strip().lower()
        for broken in self.broken:
            if broken.name == key:
                raise broken.error
        preset = self._by_name.get(key)
        if preset is not None:
            self._build_once(preset)
        return preset

    def _build_once(self, preset: Preset) -> None:
        if preset.name not in self._built:
            try:
                check_preset_plugins(preset)
                self._built[preset.name] = None
            except PresetError as failure:
                self._built[preset.name] = failure
        problem = self._built[preset.name]
        if problem is not None:
            raise problem

    def get(self, name: str) -> Preset:
        """The preset called ``name``; PresetError listing the known names otherwise."""
        preset = self.find(name)
        if preset is None:
            raise PresetError(
                "",
                "preset",
                f"no preset named {name!r}{did_you_mean(name.strip().lower(), self.names())}",
                "one of: " + (", ".join(self.names()) or "(no presets found)"),
            )
        return preset

    def replaced_by(self, name: str) -> tuple[Preset, ...]:
        """Earlier presets of this name that a later folder replaced, oldest first."""
        return tuple(preset for preset in self.replaced if preset.name == name)

    def __contains__(self, name: object) -> bool:
        """Whether a preset of that name exists (broken ones too: asking for one fails)."""
        if not isinstance(name, str):
            return False
        key = name.strip().lower()
        return key in self._by_name or any(broken.name == key for broken in self.broken)

    def __iter__(self) -> Iterator[Preset]:
        return iter(self.presets)

    def __len__(self) -> int:
        return len(self.presets)


def library_from_dirs(folders: Sequence[Path]) -> PresetLibrary:
    """A library of every preset in ``folders``, read in order; later folders win."""
    return PresetLibrary.from_layers([read_folder(folder) for folder in folders])


def default_library(
    user_dirs: Sequence[Path | str] = (), environ: Mapping[str, str] | None = None
) -> PresetLibrary:
    """Shipped presets, then ``SAMAUDIO_PRESETS`` folders, then ``user_dirs``; later wins.

    ``environ`` defaults to ``os.environ``. Presets are read, not built: a broken one
    fails only when asked for (``check_preset_files`` reports them all); a missing
    folder is a PresetError at once.
    """
    return library_from_dirs(preset_dirs(user_dirs, environ))


def _files_to_check(path: Path) -> tuple[Path, ...]:
    if path.is_dir():
        files = preset_files(path)
        if not files:
            raise PresetError(str(path), "folder", "has no .toml files", "preset .toml files")
        return files
    if not path.exists():
        raise PresetError(str(path), "file", "not found", "a preset .toml file or a folder")
    if path.suffix.lower() != PRESET_SUFFIX:
        raise PresetError(str(path), "file", "is not a .toml file", "a preset .toml file")
    return (path,)


def check_preset_files(paths: Sequence[Path | str]) -> list[PresetError]:
    """Every problem in the preset files and folders ``paths``; empty when all are good.

    Unlike loading, this also loads each VST3 plugin and sets its parameters.
    """
    errors: list[PresetError] = []
    for given in paths:
        try:
            files = _files_to_check(Path(given))
        except PresetError as error:
            errors.append(error)
            continue
        for path in files:
            try:
                check_preset_plugins(load_preset(path), load_vst3=True)
            except PresetError as error:
                errors.append(error)
    return errors
