"""Track names select presets by tag, inline prompt or pattern; ambiguity is reported."""

from __future__ import annotations

import pytest

from samaudio_daw.presets import (
    Preset,
    PresetError,
    PresetLibrary,
    StemSpec,
    TrackChoice,
    default_library,
    match_track,
    preset_for_prompts,
    prompt_slug,
)


@pytest.fixture(scope="module")
def library() -> PresetLibrary:
    return default_library(environ={})


def _preset(name: str, *patterns: str) -> Preset:
    return Preset(name, (StemSpec("a", "the a"),), track_patterns=patterns)


def test_tag_selects_the_preset_ignoring_case_and_spaces(library: PresetLibrary) -> None:
    for name in ("Gtr [drum-kit]", "Gtr [Drum Kit]", "[DRUM_KIT] overheads"):
        choice = match_track(name, library)
        assert choice.kind == "tag" and choice.selected
        assert choice.preset is library.get("drum-kit")


def test_tag_wins_over_patterns(library: PresetLibrary) -> None:
    choice = match_track("Lead Vocal [de-noise]", library)
    assert (choice.kind, choice.preset) == ("tag", library.get("de-noise"))


def test_unknown_tag_is_reported_with_a_suggestion(library: PresetLibrary) -> None:
    choice = match_track("Gtr [acoustic-guitar]", library)
    assert choice.kind == "unknown-tag" and choice.preset is None
    assert choice.candidates == ("acoustic-guitar",)
    assert "no preset named 'acoustic-guitar'" in choice.reason and "lead-vocal" in choice.reason
    assert "did you mean 'drums'?" in match_track("Kit [drum]", library).reason


def test_inline_prompt_makes_a_one_stem_preset(library: PresetLibrary) -> None:
    choice = match_track("Field rec {isolate the owl hooting}", library)
    assert choice.kind == "inline" and choice.preset is not None
    preset = choice.preset
    assert preset.name == "owl-hooting" and preset.source_path is None
    assert preset.stems == (StemSpec("owl-hooting", "isolate the owl hooting"),)
    assert preset.keep_residual and preset.residual_name == "rest"
    assert preset.output_names == ("owl-hooting", "rest")


def test_several_inline_prompts_make_several_stems(library: PresetLibrary) -> None:
    choice = match_track("Field {the owl} {the owl} {the rest}", library)
    assert choice.preset is not None
    assert choice.preset.stem_names == ("owl", "owl-2", "rest-2")


def test_patterns_are_case_insensitive_globs(library: PresetLibrary) -> None:
    expected = {
        "Lead Vocals": "lead-vocal",
        "VOX dbl": "lead-vocal",
        "Kick In": "drums",
        "Bass Drum": "drums",
        "Bass DI": "bass",
        "Synth Bass": "bass",
        "Dialogue 2": "dialogue-cleanup",
        "vo": "dialogue-cleanup",
        "Full Mix v3": "full-band",
        "Rhodes": "keys-pads",
    }
    for track_name, preset_name in expected.items():
        choice = match_track(track_name, library)
        assert (choice.kind, choice.preset and choice.preset.name) == ("pattern", preset_name), (
            track_name,
            choice.reason,
        )


def test_a_presets_own_name_comes_before_any_pattern(library: PresetLibrary) -> None:
    # "*drum*" of drums matches "Drum Kit" too: the preset named drum-kit must win.
    for track_name, preset_name in {
        "Drum Kit": "drum-kit",
        "Lead Vocal": "lead-vocal",
        " de_hum ": "de-hum",
    }.items():
        choice = match_track(track_name, library)
        assert (choice.kind, choice.preset and choice.preset.name) == ("name", preset_name)


def test_no_pattern_match_selects_nothing(library: PresetLibrary) -> None:
    for name in ("Room", "", "  "):
        choice = match_track(name, library)
        assert (choice.kind, choice.preset, choice.candidates) == ("none", None, ())
        assert not choice.selected


def test_several_pattern_matches_are_ambiguous_never_guessed() -> None:
    library = PresetLibrary.from_layers(
        [[_preset("vocal-a", "*vocal*"), _preset("vocal-b", "lead*"), _preset("other", "x")]]
    )
    choice = match_track("Lead Vocal", library)
    assert choice.kind == "ambiguous" and choice.preset is None
    assert choice.candidates == ("vocal-a", "vocal-b")
    assert "'*vocal*'" in choice.reason and "'lead*'" in choice.reason


def test_two_tags_or_a_tag_and_a_prompt_are_ambiguous(library: PresetLibrary) -> None:
    two_tags = match_track("Kit [drums] [bass]", library)
    assert (two_tags.kind, two_tags.candidates) == ("ambiguous", ("drums", "bass"))
    assert match_track("Kit [drums] [Drums]", library).kind == "tag"  # the same tag twice
    mixed = match_track("Kit [drums] {the cowbell}", library)
    assert (mixed.kind, mixed.candidates) == ("ambiguous", ("drums",))


def test_empty_tag_or_prompt_is_invalid(library: PresetLibrary) -> None:
    assert match_track("Gtr []", library).kind == "invalid"
    assert match_track("Gtr { }", library).kind == "invalid"


def test_track_choice_is_checked_when_made(library: PresetLibrary) -> None:
    with pytest.raises(ValueError, match="needs a preset"):
        TrackChoice("x", "tag", None, (), "why")
    with pytest.raises(ValueError, match="kind must be one of"):
        TrackChoice("x", "guess", None, (), "why")  # type: ignore[arg-type]


def test_prompt_slug() -> None:
    assert prompt_slug("Isolate the owl hooting!") == "owl-hooting"
    assert prompt_slug("the lead vocal") == "lead-vocal"
    assert prompt_slug("remove the") == "the"
    assert prompt_slug("???") == "stem"
    # A stem is named by what it is, not where it was taken from or how it was asked for.
    assert prompt_slug("the lead sax from the interview") == "lead-sax"
    assert prompt_slug("the owl hooting in the background") == "owl-hooting"
    assert prompt_slug("get rid of the hiss") == "hiss"
    assert prompt_slug("take out the crowd noise") == "crowd-noise"
    assert prompt_slug("the sound of rain on the roof") == "sound-of-rain"
    # Removals that name only where the noise is name the noise.
    assert prompt_slug("clean up the dialogue") == "noise"
    assert prompt_slug("denoise") == "noise"
    assert prompt_slug("De-Hum") == "hum"
    long = prompt_slug("the " + "very " * 20 + "long prompt")
    assert len(long) <= 40 and not long.endswith("-")


def test_preset_for_prompts_from_the_command_line() -> None:
    preset = preset_for_prompts(["the lead vocal", "the drums", "The Drums"], keep_residual=False)
    assert preset.stem_names == ("lead-vocal", "drums", "drums-2")
    assert preset.name == "lead-vocal-drums-drums-2"
    assert not preset.keep_residual and preset.output_names == preset.stem_names
    assert preset_for_prompts(["aux"], keep_residual=True).stem_names == ("aux-2",)
    with pytest.raises(PresetError, match=r"prompts: none given"):
        preset_for_prompts([], keep_residual=True)
    with pytest.raises(PresetError, match=r"prompts\[1\]: is empty"):
        preset_for_prompts(["a", " "], keep_residual=True)
    with pytest.raises(TypeError):
        preset_for_prompts("the vocal", keep_residual=True)
