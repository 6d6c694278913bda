"""The preset values: what a preset is, checked when made, frozen, equal by value.

A ``Preset`` names its stems (``StemSpec``: name + prompt + post-chain), whether the
residual ("everything else") is kept and under which name, a pedalboard chain applied
before separation, the track-name patterns it matches and whether regions / the time
selection become time spans. ``PluginSpec`` describes one plugin of a chain without
loading it (building chains is ``chains.py``'s job).

Wrong Python types raise ``TypeError``; wrong values raise ``PresetError`` (a
``ValueError``) whose one-line message says where (file and field), what was wrong and
what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias, TypeVar

from samaudio_daw.errors import UserError

ParamValue: TypeAlias = bool | int | float | str
"""A plugin parameter value as TOML can spell it."""

PRESET_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""Preset names are kebab-case: lowercase letters and digits joined by single hyphens."""

STEM_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 _.()+-]*[A-Za-z0-9)])?$")
"""Stem names become file and track names: letters, digits, space, ``_ . ( ) + -``."""

MAX_NAME_CHARS = 64
COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
"""A stem colour as web pages and REAPER's colour picker spell it: ``#RRGGBB``."""
STEMS_AS = ("tracks", "takes")
"""Where stems go in the project: new tracks in a folder, or takes of the original items."""
DEFAULT_STEM_TRACK_NAME = "{stem} - {track}"
_NAME_FIELDS = ("stem", "track")
VST3_KIND = "vst3"
RESERVED_FILE_NAMES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{digit}" for digit in range(1, 10)]
    + [f"lpt{digit}" for digit in range(1, 10)]
)

_T = TypeVar("_T")


class PresetError(UserError, ValueError):
    """A preset that cannot be used as written.

    ``source`` is the preset file (or another label such as ``<track 'Gtr'>``), ``field``
    the dotted path of the offending value (``stems[1].name``), ``problem`` what is wrong
    and ``expected`` what would be right. ``str(error)`` is one line:
    ``"<source>: <field>: <problem>; expected <expected>"``.
    """

    def __init__(self, source: str, field: str, problem: str, expected: str = "") -> None:
        self.source = source
        self.field = field
        self.problem = problem
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [part for part in (self.source, self.field) if part]
        where = ": ".join(parts)
        text = f"{where}: {self.problem}" if where else self.problem
        return f"{text}; expected {self.expected}" if self.expected else text

    def located(self, source: str, field_prefix: str = "") -> PresetError:
        """The same error placed in ``source``, its field under ``field_prefix``."""
        if field_prefix and self.field:
            joined = f"{field_prefix}.{self.field}"
        else:
            joined = field_prefix or self.field
        return PresetError(source, joined, self.problem, self.expected)

    def to_dict(self) -> dict[str, str]:
        """JSON-able form, for ``presets check --json``."""
        return {
            "file": self.source,
            "field": self.field,
            "problem": self.problem,
            "expected": self.expected,
            "message": str(self),
        }


def check_preset_name(name: str, field_name: str = "name") -> None:
    """Raise PresetError unless ``name`` is a kebab-case preset name."""
    if len(name) > MAX_NAME_CHARS or not PRESET_NAME_RE.match(name):
        raise PresetError(
            "",
            field_name,
            f"{name!r} is not a valid preset name",
            "lowercase letters and digits joined by hyphens, e.g. 'lead-vocal'",
        )


def check_stem_name(name: str, field_name: str = "name") -> None:
    """Raise PresetError unless ``name`` is safe as a file name and a track name."""
    expected = (
        f"up to {MAX_NAME_CHARS} letters, digits, spaces or _ . ( ) + -, "
        "starting with a letter or digit, e.g. 'lead vocal'"
    )
    if len(name) > MAX_NAME_CHARS or not STEM_NAME_RE.match(name):
        raise PresetError("", field_name, f"{name!r} cannot be used as a file name", expected)
    if name.split(".")[0].strip().lower() in RESERVED_FILE_NAMES:
        raise PresetError(
            "", field_name, f"{name!r} is a reserved file name on Windows", "another name"
        )


def check_color(value: str | None, field_name: str = "color") -> None:
    """Raise PresetError unless ``value`` is None or ``#RRGGBB``."""
    if value is not None and not COLOR_RE.match(value):
        raise PresetError(
            "", field_name, f"{value!r} is not a colour", "'#RRGGBB' in hex digits, e.g. '#3A7BD5'"
        )


def check_stems_as(value: str, field_name: str = "stems_as") -> None:
    """Raise PresetError unless ``value`` is ``tracks`` or ``takes``."""
    if value not in STEMS_AS:
        raise PresetError("", field_name, f"{value!r} is not a placement", "'tracks' or 'takes'")


def check_stem_track_name(pattern: str, field_name: str = "stem_track_name") -> None:
    """Raise PresetError unless ``pattern`` names a stem track: ``{stem}`` in it, and no
    field besides ``{stem}`` and ``{track}``."""
    expected = "text with {stem} and optionally {track}, e.g. '{stem} - {track}'"
    fields = re.findall(r"{([^{}]*)}", pattern)
    unknown = [name for name in fields if name not in _NAME_FIELDS]
    if unknown or pattern.count("{") != len(fields) or pattern.count("}") != len(fields):
        problem = f"{{{unknown[0]}}} is not a field" if unknown else "has an unmatched brace"
        raise PresetError("", field_name, f"{pattern!r}: {problem}", expected)
    if "stem" not in fields:
        raise PresetError("", field_name, f"{pattern!r} has no {{stem}}", expected)


_REQUEST_WORDS_RE = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")


def stem_track_name(pattern: str, stem: str, track: str) -> str:
    """A stem track's name from a checked pattern: ``{stem} - {track}`` -> ``vocal - Vox``.

    The track's ``[tag]`` and ``{prompts}`` are left out: they asked for the stems.
    """
    plain = " ".join(_REQUEST_WORDS_RE.sub(" ", track).split())
    return pattern.replace("{stem}", stem).replace("{track}", plain).strip(" -") or stem


def _require_type(value: object, kind: type | tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise TypeError(f"{what} must be {kind}, got a bool")
    if not isinstance(value, kind):
        raise TypeError(f"{what} must be {kind}, got {type(value).__name__}")


def _as_tuple(value: object, item_type: type[_T], what: str) -> tuple[_T, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{what} must be a tuple of {item_type.__name__}")
    for item in value:
        _require_type(item, item_type, f"each item of {what}")
    return tuple(value)


class FrozenParams(Mapping[str, ParamValue]):
    """An immutable, hashable mapping of plugin parameter names to values (order kept)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, ParamValue] | Iterable[tuple[str, ParamValue]] = ()):
        pairs = tuple(items.items() if isinstance(items, Mapping) else items)
        for key, value in pairs:
            _require_type(key, str, "a plugin parameter name")
            if not isinstance(value, bool | int | float | str):
                raise TypeError(
                    f"plugin parameter {key!r} must be a number, bool or str, "
                    f"got {type(value).__name__}"
                )
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError("plugin parameter names must be unique")
        self._items: tuple[tuple[str, ParamValue], ...] = pairs

    def __getitem__(self, key: str) -> ParamValue:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self._items) == dict(other.items())

    def __repr__(self) -> str:
        return f"FrozenParams({dict(self._items)!r})"


# Ranges by the parameter's name (pedalboard spells units in names): wide enough for
# every sensible setting, narrow enough that a typo cannot make a stem of NaN or silence.
_PARAM_RANGES: tuple[tuple[str, float, float], ...] = (
    ("_hz", 0.0, 200_000.0),
    ("_db", -200.0, 200.0),
    ("_ms", 0.0, 600_000.0),
    ("_seconds", 0.0, 600.0),
    ("semitones", -96.0, 96.0),
    ("ratio", 1.0, 1000.0),
    ("q", 0.0, 1000.0),
    ("bit_depth", 1.0, 32.0),
    ("sample_rate", 1.0, 1_536_000.0),
    ("mix", 0.0, 1.0),
    ("level", 0.0, 1.0),
    ("room_size", 0.0, 1.0),
    ("damping", 0.0, 1.0),
    ("width", 0.0, 1.0),
    ("feedback", -1.0, 1.0),
    ("resonance", 0.0, 1.0),
    ("depth", 0.0, 1.0),
    ("freeze_mode", 0.0, 1.0),
)
_MAX_ABS_PARAM = 1e9  # VST3 values and parameters not listed above


def check_param_value(key: str, value: ParamValue, vst3: bool = False) -> None:
    """A plugin parameter's number must be finite and within its kind's range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if not math.isfinite(value):
        raise PresetError("", key, f"is {value!r}", "a finite number")
    low, high = -_MAX_ABS_PARAM, _MAX_ABS_PARAM
    if not vst3:
        for ending, low_end, high_end in _PARAM_RANGES:
            if key == ending or key.endswith(ending):
                low, high = low_end, high_end
                break
    if not low <= value <= high:
        raise PresetError(
            "", key, f"is {value!r}, out of range", f"a number within {low:g}..{high:g}"
        )


@dataclass(frozen=True)
class PluginSpec:
    """One plugin of a chain, not yet loaded.

    ``kind`` is a pedalboard built-in class name (``"HighpassFilter"``) or ``"vst3"``.
    ``params`` are constructor arguments for built-ins (``cutoff_frequency_hz=80``) and
    parameter names as the plugin reports them for VST3. ``path`` is the ``.vst3``
    bundle (VST3 only); ``plugin_name`` picks one plugin from a multi-plugin bundle.
    """

    kind: str
    params: Mapping[str, ParamValue] = field(default_factory=FrozenParams)
    path: Path | None = None
    plugin_name: str | None = None

    def __post_init__(self) -> None:
        _require_type(self.kind, str, "PluginSpec.kind")
        if isinstance(self.params, Mapping) and not isinstance(self.params, FrozenParams):
            object.__setattr__(self, "params", FrozenParams(self.params))
        _require_type(self.params, FrozenParams, "PluginSpec.params")
        if isinstance(self.path, str):
            object.__setattr__(self, "path", Path(self.path))
        if self.path is not None:
            _require_type(self.path, Path, "PluginSpec.path")
        if self.plugin_name is not None:
            _require_type(self.plugin_name, str, "PluginSpec.plugin_name")
        self._check_values()

    def _check_values(self) -> None:
        if not self.kind.strip():
            raise PresetError("", "plugin", "is empty", "a pedalboard plugin class or 'vst3'")
        for key, value in self.params.items():
            check_param_value(key, value, vst3=self.is_vst3)
        if self.is_vst3 and self.path is None:
            raise PresetError("", "path", "is missing for a VST3 plugin", "path = '...vst3'")
        if not self.is_vst3 and (self.path is not None or self.plugin_name is not None):
            field_name = "path" if self.path is not None else "plugin_name"
            raise PresetError(
                "", field_name, f"only applies to VST3 plugins, not {self.kind}", "no such key"
            )

    @property
    def is_vst3(self) -> bool:
        """True for an external VST3 plugin loaded from ``path``."""
        return self.kind.lower() == VST3_KIND


@dataclass(frozen=True)
class StemSpec:
    """One stem a preset pulls out: its name, the prompt, a chain applied after, and the
    colour its track or take gets (``#RRGGBB``, None: REAPER's default)."""

    name: str
    prompt: str
    post_chain: tuple[PluginSpec, ...] = ()
    color: str | None = None

    def __post_init__(self) -> None:
        _require_type(self.name, str, "StemSpec.name")
        _require_type(self.prompt, str, "StemSpec.prompt")
        if self.color is not None:
            _require_type(self.color, str, "StemSpec.color")
        object.__setattr__(
            self, "post_chain", _as_tuple(self.post_chain, PluginSpec, "StemSpec.post_chain")
        )
        check_stem_name(self.name)
        check_color(self.color)
        if not self.prompt.strip():
            raise PresetError(
                "", "prompt", "is empty", "a description of the sound, e.g. 'the lead vocal'"
            )


@dataclass(frozen=True)
class Preset:
    """What to pull out of a track and how: stems, residual, chains, track patterns.

    ``track_patterns`` are case-insensitive shell-style globs (``*``, ``?``, ``[abc]``)
    matched against the whole track name, e.g. ``"*vocal*"``. ``use_spans`` says whether
    REAPER regions and the time selection are passed to the separator as time spans
    (backends that cannot use spans ignore them). ``source_path`` is the TOML file the
    preset came from, ``None`` for presets made in code (inline prompts, ``--prompt``).
    ``stems_as`` places the stems as new ``tracks`` in a folder or as ``takes`` of the
    original items; ``stem_track_name`` names stem tracks and takes (``{stem}``,
    ``{track}``); ``residual_color`` colours the residual as ``StemSpec.color`` does.
    """

    name: str
    stems: tuple[StemSpec, ...]
    description: str = ""
    keep_residual: bool = True
    residual_name: str = "rest"
    pre_chain: tuple[PluginSpec, ...] = ()
    track_patterns: tuple[str, ...] = ()
    use_spans: bool = False
    source_path: Path | None = None
    residual_color: str | None = None
    stems_as: str = "tracks"
    stem_track_name: str = DEFAULT_STEM_TRACK_NAME

    def __post_init__(self) -> None:
        self._check_types()
        try:
            check_preset_name(self.name)
            self._check_stems()
            check_stem_name(self.residual_name, "residual_name")
            self._check_residual()
            self._check_patterns()
            check_color(self.residual_color, "residual_color")
            check_stems_as(self.stems_as)
            check_stem_track_name(self.stem_track_name)
        except PresetError as error:
            raise error.located(self.label) from None

    def _check_types(self) -> None:
        _require_type(self.name, str, "Preset.name")
        _require_type(self.description, str, "Preset.description")
        _require_type(self.keep_residual, bool, "Preset.keep_residual")
        _require_type(self.residual_name, str, "Preset.residual_name")
        _require_type(self.use_spans, bool, "Preset.use_spans")
        _require_type(self.stems_as, str, "Preset.stems_as")
        _require_type(self.stem_track_name, str, "Preset.stem_track_name")
        if self.residual_color is not None:
            _require_type(self.residual_color, str, "Preset.residual_color")
        object.__setattr__(self, "stems", _as_tuple(self.stems, StemSpec, "Preset.stems"))
        object.__setattr__(
            self, "pre_chain", _as_tuple(self.pre_chain, PluginSpec, "Preset.pre_chain")
        )
        object.__setattr__(
            self, "track_patterns", _as_tuple(self.track_patterns, str, "Preset.track_patterns")
        )
        if isinstance(self.source_path, str):
            object.__setattr__(self, "source_path", Path(self.source_path))
        if self.source_path is not None:
            _require_type(self.source_path, Path, "Preset.source_path")

    def _check_stems(self) -> None:
        if not self.stems:
            raise PresetError(
                "", "stems", "no stems", "at least one [[stems]] table with name and prompt"
            )
        seen: dict[str, int] = {}
        for index, stem in enumerate(self.stems):
            key = stem.name.lower()
            if key in seen:
                raise PresetError(
                    "",
                    f"stems[{index}].name",
                    f"{stem.name!r} is already the name of stems[{seen[key]}] "
                    "(names are compared ignoring case)",
                    "a unique stem name",
                )
            seen[key] = index

    def _check_residual(self) -> None:
        if not self.keep_residual:
            return
        clash = [
            stem.name for stem in self.stems if stem.name.lower() == self.residual_name.lower()
        ]
        if clash:
            raise PresetError(
                "",
                "residual_name",
                f"{self.residual_name!r} is also a stem name",
                "a residual name different from every stem name, e.g. 'rest'",
            )

    def _check_patterns(self) -> None:
        for index, pattern in enumerate(self.track_patterns):
            if not pattern.strip():
                raise PresetError(
                    "", f"match[{index}]", "is empty", "a track-name pattern such as '*vocal*'"
                )

    @property
    def label(self) -> str:
        """Where the preset came from, for messages: its file, or ``<preset 'name'>``."""
        return str(self.source_path) if self.source_path else f"<preset {self.name!r}>"

    @property
    def stem_names(self) -> tuple[str, ...]:
        """The stem names in order, without the residual."""
        return tuple(stem.name for stem in self.stems)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Every stem name written, the residual last when it is kept."""
        return self.stem_names + ((self.residual_name,) if self.keep_residual else ())

    def color_of(self, stem: str) -> str | None:
        """The colour of an output stem (a stem's or the residual's), None when unset."""
        if self.keep_residual and stem == self.residual_name:
            return self.residual_color
        return next((spec.color for spec in self.stems if spec.name == stem), None)

    def track_name_of(self, stem: str, track: str) -> str:
        """The name of a stem's track or take by ``stem_track_name``."""
        return stem_track_name(self.stem_track_name, stem, track)
