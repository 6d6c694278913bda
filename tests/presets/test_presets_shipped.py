"""The presets shipped in presets/: they load, pass check, and serve the dsp backend."""

from __future__ import annotations

import re

import pytest

from samaudio_daw.presets import (
    check_preset_files,
    default_library,
    describe_preset,
    load_folder,
    preset_from_dict,
    preset_to_dict,
    shipped_presets_dir,
)

REQUIRED = ("lead-vocal", "drums", "bass", "dialogue-cleanup", "de-hum")


def test_shipped_folder_has_the_required_presets() -> None:
    names = {preset.name for preset in load_folder(shipped_presets_dir())}
    assert set(REQUIRED) <= names
    assert {"full-band", "de-noise"} <= names


def test_every_shipped_preset_passes_check() -> None:
    assert check_preset_files([shipped_presets_dir()]) == []


def test_every_shipped_preset_is_described_and_documented() -> None:
    readme = (shipped_presets_dir() / "README.md").read_text(encoding="utf-8")
    for preset in load_folder(shipped_presets_dir()):
        assert preset.description, preset.name
        assert f"`{preset.name}`" in readme, f"{preset.name} is not listed in presets/README.md"
        assert preset.source_path is not None
        assert preset.source_path.read_text(encoding="utf-8").startswith("#"), "commented"


def _palette() -> dict[str, str]:
    """The kinds and colours of the table under "## Colours" in presets/README.md."""
    readme = (shipped_presets_dir() / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Colours", 1)[1]
    rows = re.findall(r"^\| ([^|]+?)\s+\| `(#[0-9A-F]{6})` \|$", table, flags=re.MULTILINE)
    return {kind.split(" (")[0].split(":")[0]: colour for kind, colour in rows}


def test_shipped_presets_colour_every_stem_from_one_palette() -> None:
    palette = _palette()
    assert len(palette) >= 10 and len(set(palette.values())) == len(palette)
    for preset in load_folder(shipped_presets_dir()):
        for stem in preset.stems:
            assert stem.color == palette[stem.name], (preset.name, stem.name)
        kind = preset.residual_name if preset.residual_name in palette else "residual"
        assert preset.residual_color == palette[kind], preset.name
        assert preset.stems_as == "tracks" and preset.stem_track_name == "{stem} - {track}"


def test_the_examples_from_the_issue() -> None:
    library = default_library(environ={})
    vocal = library.get("lead-vocal")
    assert vocal.stem_names == ("vocal",)
    assert vocal.keep_residual and vocal.residual_name == "instrumental"
    dialogue = library.get("dialogue-cleanup")
    assert dialogue.stem_names == ("hum", "noise")
    assert dialogue.residual_name == "dialogue"
    assert dialogue.pre_chain == (), "no pre-chain: hum + noise + dialogue = the recording"
    assert library.get("de-hum").residual_name == "clean"
    assert library.get("drums").residual_name == "no-drums"
    assert library.get("bass").residual_name == "no-bass"
    assert library.get("full-band").output_names == ("drums", "bass", "vocal", "other")


def test_dsp_backend_accepts_every_shipped_prompt() -> None:
    prompts = [
        stem.prompt for preset in load_folder(shipped_presets_dir()) for stem in preset.stems
    ]
    dsp = pytest.importorskip("samaudio_daw.separation.dsp")
    if hasattr(dsp, "DspSeparator"):
        from samaudio_daw.separation.backends import create_backend
        from samaudio_daw.separation.base import Prompt

        create_backend("dsp").check_prompts([Prompt(text) for text in prompts])
        return
    prompt_words = pytest.importorskip("samaudio_daw.separation.prompt_words")
    for text in prompts:
        prompt_words.read_prompt(text)


def test_describe_and_dict_round_trip_every_shipped_preset() -> None:
    for preset in load_folder(shipped_presets_dir()):
        text = describe_preset(preset)
        assert preset.name in text and all(stem.prompt in text for stem in preset.stems)
        data = preset_to_dict(preset)
        source = data.pop("source_path")
        assert source == str(preset.source_path)
        assert preset_from_dict(data, source_path=preset.source_path) == preset
