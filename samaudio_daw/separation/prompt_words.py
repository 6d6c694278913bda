"""Reading a producer's prompt ("remove the mains hum") as a `dsp` target kind.

The reading is deliberately strict: every word must be known. A prompt is split
into what to act on and an optional "from ..." tail ("remove the hiss from the
dialogue": the target is the hiss). The target part must name exactly one sound
from the table below, may carry that sound's own modifiers ("mains", "lead",
"60 Hz") and otherwise only verbs and filler words. Anything else (an unknown
noun such as "owl", a second sound, a negation such as "everything but") makes the
prompt unsupported, so `dsp` never hands back a silently wrong stem.
"""

from __future__ import annotations

import re
from typing import Literal

from samaudio_daw.separation.base import PromptNotSupportedError

TargetKind = Literal[
    "hum",
    "noise",
    "drums",
    "kick",
    "snare",
    "cymbals",
    "sustained",
    "centre",
    "sides",
    "sub",
    "bass",
    "highs",
]


def _table(text: str) -> tuple[str, ...]:
    """Words of a table row; an underscore joins a phrase ("ground_loop")."""
    return tuple(word.replace("_", " ") for word in text.split())


# Phrases (singular forms) naming each kind; the longest match wins.
_KIND_PHRASES: dict[TargetKind, tuple[str, ...]] = {
    "hum": _table("hum humming buzz buzzing mains ground_loop mains_hum electrical_hum"),
    "noise": _table("noise hiss hissing noise_floor background_noise tape_hiss"),
    "drums": _table("drum drum_kit kit percussion percussive transient beat"),
    "kick": _table("kick kick_drum bass_drum"),
    "snare": _table("snare snare_drum clap rimshot"),
    "cymbals": _table("hi_hat hihat hat cymbal ride crash ride_cymbal"),
    "sustained": _table(
        "pad key keyboard string piano chord organ sustained harmonic tonal synth_pad"
    ),
    "centre": _table(
        "vocal vox voice singer singing dialogue dialog speech narration centre center"
        " lead_vocal centre_channel center_channel mid_channel"
    ),
    "sides": _table("side ambience ambiance stereo_width width side_channel"),
    "sub": _table("sub sub_bass rumble subsonic"),
    "bass": _table("bass low_end low bass_line bassline low_frequency"),
    "highs": _table("high treble high_end top_end air high_frequency"),
}

# Words that may describe a kind without changing what dsp does for it.
_KIND_MODIFIERS: dict[TargetKind, frozenset[str]] = {
    "hum": frozenset(
        _table("mains electrical electric ground loop 50 60 hz cycle background low frequency")
    ),
    "noise": frozenset(
        _table(
            "background stationary constant steady white pink broadband tape hiss hissy"
            " noisy fan floor room high frequency"
        )
    ),
    "drums": frozenset(_table("loop hit acoustic electronic")),
    "kick": frozenset(_table("hit")),
    "snare": frozenset(_table("hit")),
    "cymbals": frozenset(_table("open closed")),
    "sustained": frozenset(_table("synth sustained held long note")),
    "centre": frozenset(_table("lead main centre center centred centered panned spoken line")),
    "sides": frozenset(_table("stereo wide room")),
    "sub": frozenset(_table("low deep frequency")),
    "bass": frozenset(_table("deep frequency range")),
    "highs": frozenset(_table("frequency range very")),
}

# Verbs, articles and filler that carry no sound of their own.
_FILLER = frozenset(
    _table(
        "remove removing get getting rid of extract extracting isolate isolating keep keeping"
        " pull pulling out separate separating take taking strip cut kill reduce eliminate"
        " delete suppress filter give me i want need please just only the a an all any some"
        " that this those these my our its it sound part stem element track mix recording"
        " audio file signal song tune bit annoying unwanted whole"
    )
)

# Words that join sounds ("drums and bass"): allowed, so the message can say "several sounds".
_JOINERS = frozenset(_table("and plus with"))

# "remove the hiss from the dialogue": the words after these name where, not what.
_WHERE_WORDS = frozenset({"from", "in", "on", "behind", "under", "over", "out of"})

# Words whose trailing "s" is not a plural.
_KEEP_AS_IS = frozenset(_table("bass hiss vox mains chorus is its this hz"))

CAPABILITIES: tuple[str, ...] = (
    "mains hum and buzz, 50/60 Hz and harmonics ('remove the mains hum')",
    "stationary background noise and hiss ('get rid of the hiss')",
    "drums and percussion, also kick, snare, hi-hat/cymbals ('extract the drums')",
    "sustained/harmonic parts: pads, keys, strings, piano, chords ('isolate the pads')",
    "the centre of a stereo mix: vocal, voice, dialogue, speech ('isolate the vocal')",
    "the sides of a stereo mix: ambience, stereo width ('extract the ambience')",
    "frequency regions: sub/rumble, bass/low end, highs/treble ('extract the bass')",
)


def unsupported(text: str, why: str) -> PromptNotSupportedError:
    """The error for a prompt dsp cannot serve: why, what dsp can do, and where to go."""
    listing = "\n".join(f"  - {line}" for line in CAPABILITIES)
    return PromptNotSupportedError(
        f"the dsp backend cannot serve the prompt {text!r}: {why}.\n"
        f"dsp (CPU signal processing, no model) can separate:\n{listing}\n"
        "Rephrase the prompt as one of these, or use the model for open-vocabulary "
        "prompts: --backend sam-audio"
    )


def words_of(text: str) -> list[str]:
    """Lower-case singular words; hyphens, slashes and punctuation split words."""
    cleaned = re.sub(r"[^a-z0-9]+", " ", text.lower())
    cleaned = re.sub(r"\b(\d+)\s*(hz|cycle)\b", r"\1 \2", cleaned)
    return [_singular(word) for word in cleaned.split()]


def _singular(word: str) -> str:
    if word in _KEEP_AS_IS:
        return word
    if word == "keys":
        return "key"
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def _split_where(words: list[str]) -> tuple[list[str], list[str]]:
    """Split "remove the hiss from the dialogue" into (target words, place words)."""
    for index, word in enumerate(words):
        if index > 0 and word in _WHERE_WORDS:
            return words[:index], words[index + 1 :]
        if word == "out" and index + 1 < len(words) and words[index + 1] == "of":
            return words[:index], words[index + 2 :]
    return words, []


def _phrase_table() -> list[tuple[tuple[str, ...], TargetKind]]:
    pairs = [(tuple(p.split()), kind) for kind, ps in _KIND_PHRASES.items() for p in ps]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def _find_kinds(words: list[str]) -> tuple[list[tuple[TargetKind, tuple[str, ...]]], list[str]]:
    """(kind, phrase) pairs named in ``words`` (longest phrase first) and the words left."""
    table = _phrase_table()
    found: list[tuple[TargetKind, tuple[str, ...]]] = []
    rest: list[str] = []
    index = 0
    while index < len(words):
        for phrase, kind in table:
            if tuple(words[index : index + len(phrase)]) == phrase:
                found.append((kind, phrase))
                index += len(phrase)
                break
        else:
            rest.append(words[index])
            index += 1
    return found, rest


def _main_kind(
    found: list[tuple[TargetKind, tuple[str, ...]]], rest: list[str]
) -> tuple[list[TargetKind], list[str]]:
    """Distinct kinds named; a second kind whose words only modify the first drops out.

    "low hum" names bass ("low") and hum, but "low" is also a modifier of hum.
    """
    kinds = list(dict.fromkeys(kind for kind, _ in found))
    if len(kinds) != 2:
        return kinds, rest
    for main, other in ((kinds[0], kinds[1]), (kinds[1], kinds[0])):
        words = [w for kind, phrase in found if kind == other for w in phrase]
        if all(w in _KIND_MODIFIERS[main] for w in words):
            return [main], rest + words
    return kinds, rest


def read_prompt(text: str) -> TargetKind:
    """The dsp target kind ``text`` asks for, or PromptNotSupportedError saying why not.

    Unknown words are reported first (they are the likeliest reason), then a prompt
    naming no sound or several sounds.
    """
    target_words, place_words = _split_where(words_of(text))
    found, rest = _find_kinds(target_words)
    kinds, rest = _main_kind(found, rest)
    allowed = _FILLER.union(_JOINERS, *(_KIND_MODIFIERS[kind] for kind in kinds))
    _reject_unknown(text, [w for w in rest if w not in allowed])
    _reject_unknown(text, _unknown_place_words(place_words))
    if not kinds:
        raise unsupported(text, "it names no sound")
    if len(kinds) > 1:
        raise unsupported(
            text, f"it names several sounds ({', '.join(kinds)}); use one prompt per stem"
        )
    return kinds[0]


def _reject_unknown(text: str, unknown: list[str]) -> None:
    if unknown:
        words = ", ".join(repr(w) for w in dict.fromkeys(unknown))
        raise unsupported(text, f"it uses word(s) dsp does not know: {words}")


def _unknown_place_words(words: list[str]) -> list[str]:
    """The "from ..." tail may name any sound dsp knows, or the mix; nothing unknown."""
    _, rest = _find_kinds(words)
    known = _FILLER.union(*_KIND_MODIFIERS.values())
    return [w for w in rest if w not in known]
