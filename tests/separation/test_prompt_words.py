"""Reading free-text prompts as dsp target kinds, and rejecting what dsp cannot do."""

from __future__ import annotations

import pytest

from samaudio_daw.separation.base import PromptNotSupportedError
from samaudio_daw.separation.prompt_words import CAPABILITIES, read_prompt, words_of


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("remove the mains hum", "hum"),
        ("Remove the 60Hz hum", "hum"),
        ("get rid of the 50 Hz buzz", "hum"),
        ("kill the ground-loop hum", "hum"),
        ("low hum", "hum"),
        ("get rid of the hiss", "noise"),
        ("remove the background noise from the dialogue", "noise"),
        ("reduce the tape hiss", "noise"),
        ("high frequency hiss", "noise"),
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
        ("the low end", "bass"),
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
        ("acoustic guitar", "'guitar'"),
        ("bass guitar", "'guitar'"),
        ("backing vocals", "'backing'"),
        ("everything but the vocal", "'everything', 'but'"),
        ("the reverb", "'reverb'"),
        ("clean up the dialogue", "'clean', 'up'"),
        ("the air conditioner hum", "'conditioner'"),
        ("remove the hum from the owl", "'owl'"),
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
