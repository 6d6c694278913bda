"""Every way a preset file can be wrong gives one line naming the file and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from samaudio_daw.presets import (
    FrozenParams,
    PluginSpec,
    Preset,
    PresetError,
    StemSpec,
    check_preset_files,
    load_preset,
)

WritePreset = Callable[..., Path]
STEM = '[[stems]]\nname = "vocal"\nprompt = "the lead vocal"\n'

# (case id, file text, field named in the message, words the message must contain)
BAD_PRESETS = [
    (
        "malformed-toml",
        'description = "x"\nmatch = [\n  "*a*"\n  "*b*"\n]\n',
        "line 4, column 3",
        "valid TOML",
    ),
    ("missing-stems", 'description = "no stems"\n', "stems", "no stems"),
    ("missing-prompt", '[[stems]]\nname = "vocal"\n', "stems[0].prompt", "is missing"),
    ("wrong-type", 'keep_residual = "yes"\n' + STEM, "keep_residual", "true or false"),
    ("wrong-type-in-list", "match = [1]\n" + STEM, "match[0]", "text in quotes"),
    ("stems-not-tables", 'stems = ["vocal"]\n', "stems[0]", "[[stems]]"),
    ("unknown-key", "stem_count = 1\n" + STEM, "stem_count", "unknown key"),
    ("misspelt-key", "[[stem]]\nname = 'a'\nprompt = 'b'\n", "stem", "did you mean 'stems'?"),
    ("unknown-stem-key", STEM + 'promt = "x"\n', "stems[0].promt", "did you mean 'prompt'?"),
    (
        "duplicate-stem",
        STEM + '[[stems]]\nname = "Vocal"\nprompt = "x"\n',
        "stems[1].name",
        "already the name of stems[0]",
    ),
    ("residual-clash", 'residual_name = "vocal"\n' + STEM, "residual_name", "also a stem name"),
    (
        "unsafe-stem-name",
        '[[stems]]\nname = "a/b"\nprompt = "x"\n',
        "stems[0].name",
        "cannot be used as a file name",
    ),
    ("reserved-stem-name", '[[stems]]\nname = "CON"\nprompt = "x"\n', "stems[0].name", "reserved"),
    ("bad-colour", STEM + 'color = "blue"\n', "stems[0].color", "'#RRGGBB'"),
    ("short-colour", STEM + 'color = "#12345"\n', "stems[0].color", "not a colour"),
    ("colour-not-text", STEM + "color = 0x3A7BD5\n", "stems[0].color", "text in quotes"),
    ("bad-residual-colour", 'residual_color = "#GG0000"\n' + STEM, "residual_color", "#RRGGBB"),
    ("bad-placement", 'stems_as = "items"\n' + STEM, "stems_as", "'tracks' or 'takes'"),
    ("name-without-stem", 'stem_track_name = "{track}"\n' + STEM, "stem_track_name", "no {stem}"),
    (
        "name-unknown-field",
        'stem_track_name = "{stem} {preset}"\n' + STEM,
        "stem_track_name",
        "{preset} is not a field",
    ),
    ("name-open-brace", 'stem_track_name = "{stem"\n' + STEM, "stem_track_name", "unmatched"),
    ("empty-prompt", '[[stems]]\nname = "a"\nprompt = "  "\n', "stems[0].prompt", "is empty"),
    ("name-not-file-name", 'name = "other"\n' + STEM, "name", "differs from the file name"),
    (
        "bad-plugin-class",
        STEM + '[[stems.post_chain]]\nplugin = "Gian"\n',
        "stems[0].post_chain[0].plugin",
        "did you mean 'Gain'?",
    ),
    (
        "missing-plugin-key",
        '[[pre_chain]]\nplugn = "Gain"\n' + STEM,
        "pre_chain[0].plugin",
        "'plugn' looks like a misspelling",
    ),
    (
        "bad-plugin-param",
        '[[pre_chain]]\nplugin = "HighpassFilter"\ncutof_frequency_hz = 80\n' + STEM,
        "pre_chain[0].cutof_frequency_hz",
        "did you mean 'cutoff_frequency_hz'?",
    ),
    (
        "bad-plugin-value",
        '[[pre_chain]]\nplugin = "Gain"\ngain_db = "loud"\n' + STEM,
        "pre_chain[0].gain_db",
        "a number",
    ),
    (
        "plugin-value-out-of-range",
        '[[pre_chain]]\nplugin = "Reverb"\nroom_size = 5\n' + STEM,
        "pre_chain[0].room_size",
        "out of range",
    ),
    (
        "plugin-value-rejected-by-the-plugin",
        '[[pre_chain]]\nplugin = "MP3Compressor"\nvbr_quality = 20\n' + STEM,
        "pre_chain[0]",
        "MP3Compressor rejected its parameters",
    ),
    (
        "plugin-value-nan",
        '[[stems]]\nname = "x"\nprompt = "x"\n[[stems.post_chain]]\nplugin = "Gain"\n'
        "gain_db = nan\n",
        "stems[0].post_chain[0].gain_db",
        "a finite number",
    ),
    (
        "plugin-value-inf",
        '[[pre_chain]]\nplugin = "HighpassFilter"\ncutoff_frequency_hz = -inf\n' + STEM,
        "pre_chain[0].cutoff_frequency_hz",
        "a finite number",
    ),
    (
        "plugin-value-negative-frequency",
        '[[pre_chain]]\nplugin = "LowpassFilter"\ncutoff_frequency_hz = -5\n' + STEM,
        "pre_chain[0].cutoff_frequency_hz",
        "out of range",
    ),
    (
        "bad-enum-value",
        '[[pre_chain]]\nplugin = "LadderFilter"\nmode = "LPF99"\n' + STEM,
        "pre_chain[0].mode",
        "LPF12",
    ),
    (
        "table-as-param",
        '[[pre_chain]]\nplugin = "Gain"\ngain_db = {a = 1}\n' + STEM,
        "pre_chain[0].gain_db",
        "a plugin parameter value",
    ),
    (
        "vst3-without-path",
        '[[pre_chain]]\nplugin = "vst3"\n' + STEM,
        "pre_chain[0].path",
        "is missing",
    ),
    (
        "path-on-builtin",
        '[[pre_chain]]\nplugin = "Gain"\npath = "x"\n' + STEM,
        "pre_chain[0].path",
        "not a parameter of Gain",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [case[1:] for case in BAD_PRESETS],
    ids=[case[0] for case in BAD_PRESETS],
)
def test_bad_preset_gives_one_line_naming_file_and_field(
    write_preset: WritePreset, text: str, field: str, words: str
) -> None:
    path = write_preset("bad", text)
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert "; expected " in message
    assert words in message
    assert caught.value.source == str(path) and caught.value.field == field
    assert [str(error) for error in check_preset_files([path])] == [message]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match=r"absent\.toml: file: not found; expected"):
        load_preset(tmp_path / "absent.toml")


def test_file_name_must_be_a_preset_name(write_preset: WritePreset, minimal_preset: str) -> None:
    path = write_preset("My Vocal", minimal_preset)
    with pytest.raises(PresetError, match=r"My Vocal\.toml: file name: 'My Vocal' is not a valid"):
        load_preset(path)


def test_check_collects_every_problem_in_a_folder(
    write_preset: WritePreset, minimal_preset: str, tmp_path: Path
) -> None:
    write_preset("good", minimal_preset)
    write_preset("bad-one", "stems = 1\n")
    write_preset("bad-two", "colour = 'red'\n" + minimal_preset)
    (tmp_path / "empty").mkdir()
    errors = check_preset_files([tmp_path / "user", tmp_path / "empty", tmp_path / "nope"])
    fields = [(Path(error.source).name, error.field) for error in errors]
    assert fields == [
        ("bad-one.toml", "stems"),
        ("bad-two.toml", "colour"),
        ("empty", "folder"),
        ("nope", "file"),
    ]
    assert errors[1].to_dict()["message"] == str(errors[1])


def test_check_looks_for_vst3_files(write_preset: WritePreset) -> None:
    text = STEM + '[[stems.post_chain]]\nplugin = "vst3"\npath = "plugins/Missing.vst3"\n'
    path = write_preset("uses-vst", text)
    preset = load_preset(path)  # loading does not open VST3 plugins
    assert preset.stems[0].post_chain[0].path == path.parent / "plugins" / "Missing.vst3"
    (error,) = check_preset_files([path])
    assert error.field == "stems[0].post_chain[0].path"
    assert "does not exist" in str(error)


def test_values_made_in_code_are_checked_when_made() -> None:
    stem = StemSpec("vocal", "the lead vocal")
    with pytest.raises(TypeError):
        StemSpec(3, "x")  # type: ignore[arg-type]
    with pytest.raises(PresetError, match=r"<preset 'x'>: stems: no stems"):
        Preset("x", ())
    with pytest.raises(PresetError, match=r"^<preset 'Bad Name'>: name: 'Bad Name' is not a valid"):
        Preset("Bad Name", (stem,))
    with pytest.raises(TypeError):
        PluginSpec("Gain", FrozenParams({"gain_db": [1]}))  # type: ignore[arg-type]
    with pytest.raises(PresetError, match="only applies to VST3"):
        PluginSpec("Gain", path=Path("x.vst3"))


def test_values_are_frozen_and_equal_by_value() -> None:
    made = Preset("x", [StemSpec("a", "b", [PluginSpec("Gain", {"gain_db": 1})])])  # type: ignore[arg-type]
    again = Preset("x", (StemSpec("a", "b", (PluginSpec("Gain", FrozenParams({"gain_db": 1})),)),))
    assert made == again and hash(made) == hash(again)
    assert isinstance(made.stems, tuple) and isinstance(made.stems[0].post_chain, tuple)
    with pytest.raises(AttributeError):
        made.name = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        made.stems[0].post_chain[0].params["gain_db"] = 2  # type: ignore[index]
