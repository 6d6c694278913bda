"""Reading free-text prompts as dsp target kinds, and rejecting what dsp cannot do."""

from __future__ import annotations

import pytest

from samaudio_daw.separation.base import PromptNotSupportedError
from samaudio_daw.separation.prompt_words import (
    CAPABILITIES,
    EXAMPLES,
    is_removal,
    nearest_prompts,
    read_prompt,
    vocabulary_text,
    words_of,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("remove the mains hum", "hum"),
        ("Remove the 60Hz hum", "hum"),
        ("get rid of the 50 Hz buzz", "hum"),
        ("kill the ground-loop hum", "hum"),
        ("low hum", "hum"),
        ("get rid of the hiss", "hiss"),
        ("remove the background noise from the dialogue", "noise"),
        ("reduce the tape hiss", "hiss"),
        ("high frequency hiss", "hiss"),
        ("extract the drums", "drums"),
        ("pull out the drums", "drums"),
        ("extract the drums out of the mix", "drums"),
        ("percussion", "drums"),
        ("the kick drum", "kick"),
        ("Kicks", "kick"),
        ("the bass drum", "kick"),
        ("isolate the snare", "snare"),
        ("Hi-Hats", "cymbals"),
        ("the hihat", "cymbals"),
        ("cymbals", "cymbals"),
        ("isolate the pads", "sustained"),
        ("keep the keys", "sustained"),
        ("the strings", "sustained"),
        ("Piano", "sustained"),
        ("sustained chords", "sustained"),
        ("isolate the vocal", "centre"),
        ("the lead vocals", "centre"),
        ("extract the dialogue", "centre"),
        ("voice", "centre"),
        ("speech", "centre"),
        ("extract the ambience", "sides"),
        ("the stereo width", "sides"),
        ("sub-bass", "sub"),
        ("remove the low frequency rumble", "sub"),
        ("extract the bass", "bass"),
        ("the low end", "lows"),
        ("the highs", "highs"),
        ("the high frequencies", "highs"),
        ("treble", "highs"),
    ],
)
def test_prompts_people_write_are_read(text: str, kind: str) -> None:
    assert read_prompt(text) == kind


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("isolate the owl hooting", "'owl', 'hooting'"),
        ("backing vocals", "'backing'"),
        ("everything but the vocal", "'everything', 'but'"),
        ("the reverb", "'reverb'"),
        ("the air conditioner hum", "'conditioner'"),
    ],
)
def test_unknown_words_are_rejected_by_name(text: str, named: str) -> None:
    with pytest.raises(PromptNotSupportedError, match=named):
        read_prompt(text)


def test_two_sounds_in_one_prompt_are_rejected() -> None:
    with pytest.raises(PromptNotSupportedError, match="one prompt per stem"):
        read_prompt("drums and bass")


def test_prompt_with_only_filler_names_no_sound() -> None:
    with pytest.raises(PromptNotSupportedError, match="names no sound"):
        read_prompt("extract the")


def test_rejection_lists_capabilities_and_points_to_the_model() -> None:
    with pytest.raises(PromptNotSupportedError) as caught:
        read_prompt("isolate the owl hooting")
    message = str(caught.value)
    assert "--backend sam-audio" in message
    for line in CAPABILITIES:
        assert line in message


def test_words_are_lower_case_singular_and_split_on_punctuation() -> None:
    assert words_of("The Hi-Hats, KICKS & basses!") == ["the", "hi", "hat", "kick", "bass"]
    assert words_of("60Hz hisses") == ["60", "hz", "hiss"]
    assert words_of("the high frequencies") == ["the", "high", "frequency"]


# --- the documented vocabulary (issue 14) ---------------------------------------------


@pytest.mark.parametrize(("text", "kind"), EXAMPLES)
def test_every_documented_example_gives_its_stem(text: str, kind: str) -> None:
    assert read_prompt(text) == kind


@pytest.mark.parametrize(
    ("text", "suggested"),
    [
        ("the pianno", "the piano"),
        ("the hihatz", "the hihat"),
        ("the base", "the bass"),
        ("drumz", "the drum"),
    ],
)
def test_refused_prompts_name_the_nearest_servable_ones(text: str, suggested: str) -> None:
    assert suggested in nearest_prompts(text)
    with pytest.raises(PromptNotSupportedError) as caught:
        read_prompt(text)
    message = str(caught.value)
    assert "Nearest prompts dsp can serve" in message and repr(suggested) in message
    assert "--backend sam-audio" in message


def test_a_preset_name_as_a_prompt_points_to_the_preset_option() -> None:
    with pytest.raises(PromptNotSupportedError, match=r"did you mean --preset dialogue-cleanup\?"):
        read_prompt("dialogue-cleanup")


def test_words_after_from_name_a_track_and_are_ignored() -> None:
    assert read_prompt("remove the hiss from the interview") == "hiss"
    assert read_prompt("take the hum out of Guitar DI 2") == "hum"


@pytest.mark.parametrize(
    ("text", "removal"),
    [
        ("remove the mains hum", True),
        ("denoise", True),
        ("clean up the dialogue", True),
        ("get rid of the hiss", True),
        ("extract the drums", False),
        ("the lead sax", False),
    ],
)
def test_removal_prompts_are_recognised(text: str, removal: bool) -> None:
    assert is_removal(text) is removal


def test_the_vocabulary_listing_names_every_stem_and_example() -> None:
    text = vocabulary_text()
    for example, kind in EXAMPLES:
        assert f"{kind}: " in text and repr(example) in text
    assert "--backend sam-audio" in text and "--preset" in text
