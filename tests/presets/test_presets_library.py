"""Reading presets from the shipped folder, SAMAUDIO_PRESETS and --presets folders."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from samaudio_daw.presets import (
    PRESETS_ENV_VAR,
    PresetError,
    PresetLibrary,
    check_preset_files,
    default_library,
    load_preset,
    preset_dirs,
    shipped_presets_dir,
)

WritePreset = Callable[..., Path]
USER_DRUMS = """\
[[stems]]
name = "drums"
prompt = "my drums"
"""


def test_load_preset_takes_the_name_from_the_file(write_preset: WritePreset) -> None:
    preset = load_preset(write_preset("my-vocal"))
    assert preset.name == "my-vocal"
    assert preset.stems[0].prompt == "the lead vocal"
    assert preset.track_patterns == ("*test*",)
    assert preset.keep_residual and not preset.use_spans


def test_user_preset_of_the_same_name_wins(write_preset: WritePreset) -> None:
    user_file = write_preset("drums", USER_DRUMS)
    library = default_library([user_file.parent], environ={})
    drums = library.get("drums")
    assert drums.source_path == user_file
    assert drums.stems[0].prompt == "my drums"
    assert [p.source_path for p in library.replaced_by("drums")] == [
        shipped_presets_dir() / "drums.toml"
    ]
    assert "lead-vocal" in library  # shipped presets are still there


def test_samaudio_presets_folders_come_before_explicit_folders(
    write_preset: WritePreset, tmp_path: Path
) -> None:
    env_a = write_preset("mine", USER_DRUMS.replace("my drums", "from a"), folder="a")
    env_b = write_preset("mine", USER_DRUMS.replace("my drums", "from b"), folder="b")
    environ = {PRESETS_ENV_VAR: os.pathsep.join([str(env_a.parent), "", str(env_b.parent)])}
    assert default_library(environ=environ).get("mine").stems[0].prompt == "from b"
    explicit = write_preset("mine", USER_DRUMS.replace("my drums", "explicit"), folder="c")
    library = default_library([explicit.parent], environ=environ)
    assert library.get("mine").stems[0].prompt == "explicit"
    assert len(library.replaced_by("mine")) == 2
    assert preset_dirs([explicit.parent], environ) == (
        shipped_presets_dir(),
        env_a.parent,
        env_b.parent,
        explicit.parent,
    )


def test_get_unknown_preset_lists_the_names_and_suggests_one() -> None:
    library = default_library(environ={})
    with pytest.raises(PresetError) as caught:
        library.get("drum")
    message = str(caught.value)
    assert "no preset named 'drum'" in message and "did you mean 'drums'?" in message
    assert "lead-vocal" in message
    assert library.get(" Lead-Vocal ").name == "lead-vocal"


def test_missing_user_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match=r"nowhere: folder: does not exist; expected"):
        default_library([tmp_path / "nowhere"], environ={})


def test_a_broken_user_preset_fails_only_the_runs_that_use_it(
    write_preset: WritePreset,
) -> None:
    path = write_preset("broken", "stems = 3\n")
    library = default_library([path.parent], environ={})
    assert library.get("de-hum").name == "de-hum"  # every other preset still works
    assert "broken" in library and "broken" not in library.names()
    for ask in (library.get, library.find):
        with pytest.raises(PresetError) as caught:
            ask("broken")
        assert str(caught.value).startswith(f"{path}: stems: ")


def test_a_broken_user_preset_replaces_the_shipped_one_of_its_name(
    write_preset: WritePreset,
) -> None:
    path = write_preset("de-hum", "stems = 3\n")
    library = default_library([path.parent], environ={})
    with pytest.raises(PresetError, match="stems"):
        library.get("de-hum")  # never the shipped de-hum in its place


def test_an_impulse_response_that_is_a_fifo_fails_only_its_preset_without_hanging(
    write_preset: WritePreset,
) -> None:
    path = write_preset(
        "roomy",
        '[[stems]]\nname = "v"\nprompt = "voice"\n[[stems.post_chain]]\n'
        'plugin = "Convolution"\nimpulse_response_filename = "ir.wav"\n',
    )
    os.mkfifo(path.parent / "ir.wav")
    library = default_library([path.parent], environ={})  # reading does not open the IR
    assert library.get("de-hum").name == "de-hum"
    with pytest.raises(PresetError, match="not a regular file"):
        library.get("roomy")
    assert [str(e) for e in check_preset_files([path])] != []


def test_library_is_frozen_and_sorted(write_preset: WritePreset) -> None:
    library = default_library(environ={})
    assert list(library.names()) == sorted(library.names())
    assert len(library) == len(list(library))
    with pytest.raises(AttributeError):
        library.presets = ()  # type: ignore[misc]
    with pytest.raises(ValueError, match="unique names"):
        PresetLibrary(library.presets + library.presets[:1])
