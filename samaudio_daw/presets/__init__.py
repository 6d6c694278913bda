"""Presets: what to pull out of a track (stems and prompts), pedalboard chains around the
separation, and which tracks a preset is for. See ``presets/README.md`` for the format.
"""

from samaudio_daw.presets.chains import (
    build_chain,
    build_plugin,
    build_post_chain,
    build_pre_chain,
    builtin_plugin_names,
    builtin_plugin_parameters,
    check_preset_plugins,
)
from samaudio_daw.presets.library import (
    PRESETS_ENV_VAR,
    PresetLibrary,
    check_preset_files,
    default_library,
    library_from_dirs,
    load_folder,
    load_preset,
    preset_dirs,
    shipped_presets_dir,
)
from samaudio_daw.presets.matching import (
    TrackChoice,
    match_track,
    preset_for_prompts,
    prompt_slug,
)
from samaudio_daw.presets.parsing import preset_from_dict
from samaudio_daw.presets.report import describe_preset, preset_to_dict
from samaudio_daw.presets.schema import (
    FrozenParams,
    PluginSpec,
    Preset,
    PresetError,
    StemSpec,
)

__all__ = [
    "PRESETS_ENV_VAR",
    "FrozenParams",
    "PluginSpec",
    "Preset",
    "PresetError",
    "PresetLibrary",
    "StemSpec",
    "TrackChoice",
    "build_chain",
    "build_plugin",
    "build_post_chain",
    "build_pre_chain",
    "builtin_plugin_names",
    "builtin_plugin_parameters",
    "check_preset_files",
    "check_preset_plugins",
    "default_library",
    "describe_preset",
    "library_from_dirs",
    "load_folder",
    "load_preset",
    "match_track",
    "preset_dirs",
    "preset_for_prompts",
    "preset_from_dict",
    "preset_to_dict",
    "prompt_slug",
    "shipped_presets_dir",
]
