"""Pedalboard chains from preset plugin specs, and applying them to audio arrays.

Built-in plugins are ``pedalboard.<ClassName>(**params)``; their class and parameter
names are checked against pedalboard itself, so a typo in a preset names the allowed
choices. VST3 plugins are loaded with ``pedalboard.load_plugin(path)`` and their
parameters set by the names the plugin reports (``plugin.parameters``).

A chain applied before separation (a preset's ``pre_chain``) changes what the separator
sees: the residual is then "processed input minus the targets", not "original input
minus the targets". The runner decides which input it nulls against; this module only
maps arrays to arrays.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pedalboard

from samaudio_daw.presets.parsing import did_you_mean
from samaudio_daw.presets.schema import ParamValue, PluginSpec, Preset, PresetError

_NOT_PRESET_PLUGINS = frozenset(
    {
        "Plugin",
        "PluginContainer",
        "Pedalboard",
        "Chain",
        "Mix",
        "ExternalPlugin",
        "VST3Plugin",
        "AudioUnitPlugin",
        "IIRFilter",
    }
)
_SIGNATURE_RE = re.compile(r"^__init__\((?P<args>.*)\)\s*->\s*None\s*$")
_PLUGIN_ERRORS = (ValueError, TypeError, RuntimeError, ImportError, OSError, AttributeError)


@dataclass(frozen=True)
class PluginParameter:
    """One constructor parameter of a built-in pedalboard plugin, read from pedalboard."""

    name: str
    type_text: str
    required: bool


def builtin_plugin_names() -> tuple[str, ...]:
    """The pedalboard effect classes a preset may name, sorted."""
    names = []
    for name in dir(pedalboard):
        value = getattr(pedalboard, name)
        if name.startswith("_") or name in _NOT_PRESET_PLUGINS:
            continue
        if isinstance(value, type) and issubclass(value, pedalboard.Plugin):
            names.append(name)
    return tuple(sorted(names))


def _split_top_level(text: str) -> list[str]:
    """Split ``text`` at commas that are not inside brackets or ``<...>``."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "[(<":
            depth += 1
        elif char in "])>":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def builtin_plugin_parameters(class_name: str) -> tuple[PluginParameter, ...]:
    """The constructor parameters of ``pedalboard.<class_name>``, from its signature.

    pedalboard's classes are compiled, so the signature is read from the first line of
    ``__init__.__doc__`` (``__init__(self: ..., gain_db: float = 1.0) -> None``).
    """
    if class_name not in builtin_plugin_names():
        raise ValueError(f"{class_name!r} is not a pedalboard plugin a preset can use")
    doc = getattr(pedalboard, class_name).__init__.__doc__ or ""
    match = _SIGNATURE_RE.match(doc.strip().splitlines()[0] if doc.strip() else "")
    if match is None:
        return ()
    parameters = []
    for part in _split_top_level(match.group("args"))[1:]:  # [0] is self
        declaration, _, default = part.partition("=")
        name, _, type_text = declaration.partition(":")
        parameters.append(PluginParameter(name.strip(), type_text.strip(), not default))
    return tuple(parameters)


def _enum_value(value: ParamValue, parameter: PluginParameter) -> object:
    owner_name, _, enum_name = parameter.type_text.rpartition(".")
    enum_type = getattr(getattr(pedalboard, owner_name.rpartition(".")[2]), enum_name)
    members: dict[str, object] = dict(enum_type.__members__)
    for member_name, member in members.items():
        if isinstance(value, str) and member_name.lower() == value.lower():
            return member
    raise ValueError(f"is {value!r}", "one of: " + ", ".join(members))


def _coerce(value: ParamValue, parameter: PluginParameter, base_dir: Path | None) -> object:
    """``value`` as the constructor wants it; ValueError(problem, expected) if it cannot be."""
    type_text = parameter.type_text
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_text in ("float", "Optional[float]", "int"):
        if not is_number or (type_text == "int" and not isinstance(value, int)):
            raise ValueError(f"is {value!r}", f"a number ({type_text})")
        return value
    if type_text == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"is {value!r}", "true or false")
        return value
    if type_text.startswith("Union[str, numpy"):  # a file name (or an array, not from TOML)
        if not isinstance(value, str):
            raise ValueError(f"is {value!r}", "a file path in quotes")
        path = Path(value).expanduser()
        path = base_dir / path if base_dir and not path.is_absolute() else path
        try:
            mode = path.stat().st_mode
        except OSError:
            raise ValueError(f"{path} does not exist", "an existing audio file") from None
        if not stat.S_ISREG(mode):  # a FIFO or device would hang or never end
            raise ValueError(f"{path} is not a regular file", "an audio file") from None
        return str(path)
    if type_text.startswith("pedalboard_native."):
        return _enum_value(value, parameter)
    return value


def _builtin_class(spec: PluginSpec, source: str, field: str) -> type:
    names = builtin_plugin_names()
    if spec.kind not in names:
        raise PresetError(
            source,
            f"{field}.plugin",
            f"unknown plugin {spec.kind!r}{did_you_mean(spec.kind, names)}",
            "'vst3' or a pedalboard plugin: " + ", ".join(names),
        )
    plugin_class: type = getattr(pedalboard, spec.kind)
    return plugin_class


def _builtin_kwargs(
    spec: PluginSpec, source: str, field: str, base_dir: Path | None
) -> dict[str, object]:
    parameters = {parameter.name: parameter for parameter in builtin_plugin_parameters(spec.kind)}
    allowed = ", ".join(parameters) or f"no parameters ({spec.kind} takes none)"
    kwargs: dict[str, object] = {}
    for key, value in spec.params.items():
        if key not in parameters:
            raise PresetError(
                source,
                f"{field}.{key}",
                f"is not a parameter of {spec.kind}{did_you_mean(key, list(parameters))}",
                f"one of: {allowed}",
            )
        try:
            kwargs[key] = _coerce(value, parameters[key], base_dir)
        except ValueError as error:
            raise PresetError(source, f"{field}.{key}", *error.args) from None
    for parameter in parameters.values():
        if parameter.required and parameter.name not in kwargs:
            raise PresetError(
                source, f"{field}.{parameter.name}", "is missing", f"a {parameter.type_text}"
            )
    return kwargs


def _build_builtin(
    spec: PluginSpec, source: str, field: str, base_dir: Path | None
) -> pedalboard.Plugin:
    plugin_class = _builtin_class(spec, source, field)
    kwargs = _builtin_kwargs(spec, source, field, base_dir)
    try:
        plugin: pedalboard.Plugin = plugin_class(**kwargs)
    except _PLUGIN_ERRORS as error:
        first_line = (
            str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else repr(error)
        )
        raise PresetError(
            source,
            field,
            f"{spec.kind} rejected its parameters: {first_line}",
            "values the plugin accepts",
        ) from error
    return plugin


def _load_vst3(spec: PluginSpec, source: str, field: str) -> pedalboard.Plugin:
    path = spec.path
    if path is None or not path.exists():
        raise PresetError(
            source, f"{field}.path", f"{path} does not exist", "the path of an installed .vst3"
        )
    try:
        plugin: pedalboard.Plugin = pedalboard.load_plugin(str(path), plugin_name=spec.plugin_name)
    except _PLUGIN_ERRORS as error:
        raise PresetError(
            source, f"{field}.path", f"could not load {path}: {error}", "a VST3 plugin"
        ) from error
    return plugin


def _set_vst3_params(
    plugin: pedalboard.Plugin, spec: PluginSpec, source: str, field: str
) -> pedalboard.Plugin:
    allowed = list(getattr(plugin, "parameters", {}))
    for key, value in spec.params.items():
        if key not in allowed:
            raise PresetError(
                source,
                f"{field}.{key}",
                f"is not a parameter of {spec.path}{did_you_mean(key, allowed)}",
                "one of: " + (", ".join(allowed) or "none (the plugin reports no parameters)"),
            )
        try:
            setattr(plugin, key, value)
        except _PLUGIN_ERRORS as error:
            raise PresetError(
                source, f"{field}.{key}", f"{value!r} was refused: {error}", "a value in range"
            ) from error
    return plugin


def build_plugin(
    spec: PluginSpec, *, source: str = "", field: str = "plugin", base_dir: Path | None = None
) -> pedalboard.Plugin:
    """One ready plugin from ``spec``; PresetError names ``source`` and ``field``.

    ``base_dir`` resolves relative file parameters (``Convolution``'s impulse response).
    """
    if spec.is_vst3:
        return _set_vst3_params(_load_vst3(spec, source, field), spec, source, field)
    return _build_builtin(spec, source, field, base_dir)


def build_chain(
    specs: Sequence[PluginSpec],
    *,
    source: str = "",
    field: str = "chain",
    base_dir: Path | None = None,
) -> pedalboard.Pedalboard:
    """A pedalboard chain of ``specs`` in order; errors name ``field[index]``."""
    return pedalboard.Pedalboard(
        [
            build_plugin(spec, source=source, field=f"{field}[{index}]", base_dir=base_dir)
            for index, spec in enumerate(specs)
        ]
    )


def _base_dir(preset: Preset) -> Path | None:
    return preset.source_path.parent if preset.source_path is not None else None


def build_pre_chain(preset: Preset) -> pedalboard.Pedalboard:
    """The chain applied to a track before separation (empty when the preset has none)."""
    return build_chain(
        preset.pre_chain, source=preset.label, field="pre_chain", base_dir=_base_dir(preset)
    )


def build_post_chain(preset: Preset, stem_name: str) -> pedalboard.Pedalboard:
    """The chain applied to stem ``stem_name`` after separation."""
    for index, stem in enumerate(preset.stems):
        if stem.name == stem_name:
            return build_chain(
                stem.post_chain,
                source=preset.label,
                field=f"stems[{index}].post_chain",
                base_dir=_base_dir(preset),
            )
    raise PresetError(
        preset.label,
        "stems",
        f"has no stem named {stem_name!r}{did_you_mean(stem_name, preset.stem_names)}",
        "one of: " + ", ".join(preset.stem_names),
    )


def check_preset_plugins(preset: Preset, *, load_vst3: bool = False) -> None:
    """Build every built-in plugin of ``preset`` (and VST3 ones when ``load_vst3``).

    Raises the first PresetError. Loading VST3 plugins can be slow, so loading a preset
    skips them; ``presets check`` loads them.
    """
    chains = [("pre_chain", preset.pre_chain)] + [
        (f"stems[{index}].post_chain", stem.post_chain) for index, stem in enumerate(preset.stems)
    ]
    for field, specs in chains:
        for index, spec in enumerate(specs):
            if spec.is_vst3 and not load_vst3:
                continue
            build_plugin(
                spec, source=preset.label, field=f"{field}[{index}]", base_dir=_base_dir(preset)
            )
