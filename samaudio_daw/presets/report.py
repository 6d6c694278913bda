"""Presets shown to people (``presets show``) and to scripts (``--json``).

``preset_to_dict`` writes the same layout the TOML files use (plus ``source_path``), so
``preset_from_dict`` reads it back: pop ``source_path`` and pass it as the keyword.
"""

from __future__ import annotations

from samaudio_daw.presets.schema import PluginSpec, Preset


def plugin_to_dict(spec: PluginSpec) -> dict[str, object]:
    """One plugin as a TOML/JSON table: ``{"plugin": "Gain", "gain_db": 6.0}``."""
    table: dict[str, object] = {"plugin": spec.kind}
    if spec.path is not None:
        table["path"] = str(spec.path)
    if spec.plugin_name is not None:
        table["plugin_name"] = spec.plugin_name
    table.update(spec.params)
    return table


def preset_to_dict(preset: Preset) -> dict[str, object]:
    """The preset as JSON-able data, in the TOML file's layout, plus ``source_path``."""
    return {
        "name": preset.name,
        "description": preset.description,
        "match": list(preset.track_patterns),
        "keep_residual": preset.keep_residual,
        "residual_name": preset.residual_name,
        "use_spans": preset.use_spans,
        "stems_as": preset.stems_as,
        "stem_track_name": preset.stem_track_name,
        **({"residual_color": preset.residual_color} if preset.residual_color else {}),
        "pre_chain": [plugin_to_dict(spec) for spec in preset.pre_chain],
        "stems": [
            {
                "name": stem.name,
                "prompt": stem.prompt,
                **({"color": stem.color} if stem.color else {}),
                "post_chain": [plugin_to_dict(spec) for spec in stem.post_chain],
            }
            for stem in preset.stems
        ],
        "source_path": str(preset.source_path) if preset.source_path is not None else None,
    }


def describe_plugin(spec: PluginSpec) -> str:
    """``HighpassFilter(cutoff_frequency_hz=80)`` or ``VST3 /path/X.vst3 (mix=0.5)``."""
    params = ", ".join(f"{key}={value!r}" for key, value in spec.params.items())
    if spec.is_vst3:
        which = f" [{spec.plugin_name}]" if spec.plugin_name else ""
        return f"VST3 {spec.path}{which}" + (f" ({params})" if params else "")
    return f"{spec.kind}({params})"


def _describe_chain(specs: tuple[PluginSpec, ...]) -> str:
    return " -> ".join(describe_plugin(spec) for spec in specs) if specs else "(none)"


def describe_preset(preset: Preset) -> str:
    """Several lines for a person: what the preset pulls out, from where, and how."""
    lines = [f"{preset.name}: {preset.description}" if preset.description else preset.name]
    lines.append(f"  file:        {preset.source_path or '(made from prompts)'}")
    patterns = ", ".join(preset.track_patterns) or "(tag only: [" + preset.name + "])"
    lines.append(f"  tracks:      {patterns}")
    lines.append(f"  pre-chain:   {_describe_chain(preset.pre_chain)}")
    lines.append("  stems:")
    width = max(len(stem.name) for stem in preset.stems)
    for stem in preset.stems:
        color = f"  {stem.color}" if stem.color else ""
        lines.append(f"    {stem.name:<{width}}  {stem.prompt!r}{color}")
        if stem.post_chain:
            lines.append(f"    {'':<{width}}  post-chain: {_describe_chain(stem.post_chain)}")
    residual = preset.residual_name if preset.keep_residual else "(not kept)"
    color = f"  {preset.residual_color}" if preset.keep_residual and preset.residual_color else ""
    lines.append(f"  residual:    {residual}{color}")
    lines.append(f"  stems as:    {preset.stems_as}, named {preset.stem_track_name!r}")
    spans = "passed to the model" if preset.use_spans else "not used"
    lines.append(f"  time spans:  {spans} (regions and time selection)")
    return "\n".join(lines)
