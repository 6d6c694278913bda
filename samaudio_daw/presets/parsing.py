"""Turning the TOML layout of a preset (a plain dict) into a checked ``Preset``.

The layout is documented in ``presets/README.md``. Every problem raises ``PresetError``
naming the source, the field (``stems[1].post_chain[0].plugin``) and what was expected;
unknown keys are errors with a did-you-mean, so typos do not pass silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from samaudio_daw.presets.schema import (
    DEFAULT_STEM_TRACK_NAME,
    VST3_KIND,
    FrozenParams,
    ParamValue,
    PluginSpec,
    Preset,
    PresetError,
    StemSpec,
    check_preset_name,
)

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "match",
    "keep_residual",
    "residual_name",
    "use_spans",
    "residual_color",
    "stems_as",
    "stem_track_name",
    "pre_chain",
    "stems",
)
STEM_KEYS = ("name", "prompt", "color", "post_chain")
VST3_KEYS = ("plugin", "path", "plugin_name")
_TYPE_WORDS: dict[type, str] = {
    str: "text in quotes",
    bool: "true or false",
    list: "a list [...]",
}


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = [choice for choice in choices if choice.lower() == word.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def _check_keys(table: Mapping[str, object], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            field_name = f"{where}.{key}" if where else key
            raise PresetError(
                "",
                field_name,
                f"unknown key{did_you_mean(key, allowed)}",
                "one of: " + ", ".join(allowed),
            )


def _take(
    table: Mapping[str, object], key: str, kind: type, where: str, required: bool = False
) -> object | None:
    """The value at ``key`` if it has type ``kind``; None when absent and not required."""
    field_name = f"{where}.{key}" if where else key
    if key not in table:
        if required:
            raise PresetError("", field_name, "is missing", f"{key} = {_TYPE_WORDS[kind]}")
        return None
    value = table[key]
    if not isinstance(value, kind):
        raise PresetError("", field_name, f"is {_type_name(value)} ({value!r})", _TYPE_WORDS[kind])
    return value


def _take_str(table: Mapping[str, object], key: str, where: str, default: str | None) -> str:
    value = _take(table, key, str, where, required=default is None)
    return cast(str, default if value is None else value)


def _take_bool(table: Mapping[str, object], key: str, default: bool) -> bool:
    value = _take(table, key, bool, "")
    return default if value is None else cast(bool, value)


def _take_list(table: Mapping[str, object], key: str, where: str) -> list[object]:
    value = _take(table, key, list, where)
    return [] if value is None else cast(list[object], value)


def _tables(table: Mapping[str, object], key: str, where: str) -> list[Mapping[str, object]]:
    field_name = f"{where}.{key}" if where else key
    tables: list[Mapping[str, object]] = []
    for index, item in enumerate(_take_list(table, key, where)):
        if not isinstance(item, Mapping):
            raise PresetError(
                "",
                f"{field_name}[{index}]",
                f"is {_type_name(item)} ({item!r})",
                f"a table: [[{key}]] with its keys on the following lines",
            )
        tables.append(item)
    return tables


def _strings(table: Mapping[str, object], key: str) -> tuple[str, ...]:
    strings: list[str] = []
    for index, item in enumerate(_take_list(table, key, "")):
        if not isinstance(item, str):
            raise PresetError(
                "", f"{key}[{index}]", f"is {_type_name(item)} ({item!r})", "text in quotes"
            )
        strings.append(item)
    return tuple(strings)


def _plugin_kind(table: Mapping[str, object], where: str) -> str:
    if "plugin" not in table:
        close = difflib.get_close_matches("plugin", [str(key) for key in table], n=1, cutoff=0.6)
        hint = f" ({close[0]!r} looks like a misspelling)" if close else ""
        raise PresetError(
            "",
            f"{where}.plugin",
            f"is missing{hint}",
            "plugin = 'HighpassFilter' (a pedalboard class name) or plugin = 'vst3'",
        )
    return _take_str(table, "plugin", where, None)


def _plugin_params(
    table: Mapping[str, object], skip: Sequence[str], where: str
) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {}
    for key, value in table.items():
        if key in skip:
            continue
        if not isinstance(value, bool | int | float | str):
            raise PresetError(
                "",
                f"{where}.{key}",
                f"is {_type_name(value)} ({value!r})",
                "a plugin parameter value: a number, true/false or text",
            )
        params[key] = value
    return params


def _vst3_path(table: Mapping[str, object], where: str, base_dir: Path | None) -> Path:
    text = _take_str(table, "path", where, None)
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def plugin_spec_from_dict(
    table: Mapping[str, object], where: str, base_dir: Path | None = None
) -> PluginSpec:
    """One ``[[pre_chain]]`` / ``[[stems.post_chain]]`` table as a PluginSpec.

    Every key besides ``plugin`` (and, for VST3, ``path`` and ``plugin_name``) is a
    parameter. A relative VST3 ``path`` is taken from ``base_dir`` (the preset's folder).
    """
    kind = _plugin_kind(table, where)
    if kind.lower() != VST3_KIND:
        params = _plugin_params(table, ("plugin",), where)
        return _make_plugin_spec(where, kind, params)
    return _make_plugin_spec(
        where,
        VST3_KIND,
        _plugin_params(table, VST3_KEYS, where),
        path=_vst3_path(table, where, base_dir),
        plugin_name=cast("str | None", _take(table, "plugin_name", str, where)),
    )


def _make_plugin_spec(
    where: str,
    kind: str,
    params: dict[str, ParamValue],
    path: Path | None = None,
    plugin_name: str | None = None,
) -> PluginSpec:
    try:
        return PluginSpec(kind, FrozenParams(params), path=path, plugin_name=plugin_name)
    except PresetError as error:
        raise error.located("", where) from None


def _chain(
    table: Mapping[str, object], key: str, where: str, base_dir: Path | None
) -> tuple[PluginSpec, ...]:
    prefix = f"{where}.{key}" if where else key
    return tuple(
        plugin_spec_from_dict(item, f"{prefix}[{index}]", base_dir)
        for index, item in enumerate(_tables(table, key, where))
    )


def _stem(table: Mapping[str, object], where: str, base_dir: Path | None) -> StemSpec:
    _check_keys(table, STEM_KEYS, where)
    name = _take_str(table, "name", where, None)
    prompt = _take_str(table, "prompt", where, None)
    post_chain = _chain(table, "post_chain", where, base_dir)
    color = cast("str | None", _take(table, "color", str, where))
    try:
        return StemSpec(name, prompt, post_chain, color)
    except PresetError as error:
        raise error.located("", where) from None


def _preset_name(data: Mapping[str, object], default_name: str | None) -> str:
    name = _take_str(data, "name", "", default_name)
    if "name" not in data and default_name is not None:
        check_preset_name(default_name, "file name")
    if default_name is not None and name != default_name:
        raise PresetError(
            "",
            "name",
            f"{name!r} differs from the file name {default_name!r}",
            f"name = {default_name!r}, or a file renamed to {name}.toml",
        )
    return name


def preset_from_dict(
    data: Mapping[str, object],
    *,
    source_path: Path | None = None,
    default_name: str | None = None,
) -> Preset:
    """A Preset from the TOML layout (the dict ``tomllib`` returns).

    ``default_name`` is the file stem: ``name`` may then be left out, and must equal it
    when given. Raises PresetError naming ``source_path`` and the field.
    """
    source = str(source_path) if source_path is not None else "<preset>"
    base_dir = source_path.parent if source_path is not None else None
    if not isinstance(data, Mapping):
        raise PresetError(source, "preset", f"is {_type_name(data)}", "a table of preset keys")
    try:
        _check_keys(data, TOP_LEVEL_KEYS, "")
        return Preset(
            name=_preset_name(data, default_name),
            description=_take_str(data, "description", "", ""),
            stems=tuple(
                _stem(table, f"stems[{index}]", base_dir)
                for index, table in enumerate(_tables(data, "stems", ""))
            ),
            keep_residual=_take_bool(data, "keep_residual", True),
            residual_name=_take_str(data, "residual_name", "", "rest"),
            pre_chain=_chain(data, "pre_chain", "", base_dir),
            track_patterns=_strings(data, "match"),
            use_spans=_take_bool(data, "use_spans", False),
            source_path=source_path,
            residual_color=cast("str | None", _take(data, "residual_color", str, "")),
            stems_as=_take_str(data, "stems_as", "", "tracks"),
            stem_track_name=_take_str(data, "stem_track_name", "", DEFAULT_STEM_TRACK_NAME),
        )
    except PresetError as error:
        raise (error if error.source else error.located(source)) from None
