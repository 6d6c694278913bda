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

import difflib
import re
from typing import Literal

from samaudio_daw.separation.base import PromptNotSupportedError

TargetKind = Literal[
    "hum",
    "noise",
    "hiss",
    "drums",
    "kick",
    "snare",
    "toms",
    "cymbals",
    "sustained",
    "lead",
    "centre",
    "sides",
    "sub",
    "bass",
    "lows",
    "highs",
]


def _table(text: str) -> tuple[str, ...]:
    """Words of a table row; an underscore joins a phrase ("ground_loop")."""
    return tuple(word.replace("_", " ") for word in text.split())


# Phrases (singular forms) naming each kind; the longest match wins. This is the one
# vocabulary of dsp: `samaudio-daw prompts` and the README list it from here.
_KIND_PHRASES: dict[TargetKind, tuple[str, ...]] = {
    "hum": _table(
        "hum humming buzz buzzing mains ground_loop mains_hum electrical_hum de_hum dehum"
    ),
    "noise": _table(
        "noise noise_floor background_noise room_tone roomtone room_noise fan_noise"
        " air_conditioning hvac static denoise de_noise"
    ),
    "hiss": _table("hiss hissing tape_hiss preamp_hiss"),
    "drums": _table(
        "drum drum_kit kit percussion percussive transient beat drum_loop breakbeat groove"
    ),
    "kick": _table("kick kick_drum bass_drum"),
    "snare": _table("snare snare_drum clap rimshot snap"),
    "toms": _table("tom tom_tom floor_tom rack_tom tom_fill"),
    "cymbals": _table("hi_hat hihat hat cymbal ride crash ride_cymbal shaker tambourine"),
    "sustained": _table(
        "pad key keyboard string piano chord organ sustained harmonic tonal synth_pad synth"
        " rhodes ep electric_piano e_piano epiano wurlitzer wurli clavinet guitar"
        " rhythm_guitar acoustic_guitar electric_guitar comp accompaniment"
    ),
    "lead": _table(
        "lead melody lead_line hook topline solo lead_synth synth_lead lead_guitar sax"
        " saxophone flute trumpet horn clarinet violin whistle lead_instrument"
    ),
    "centre": _table(
        "vocal vox voice singer singing dialogue dialog speech narration centre center"
        " lead_vocal centre_channel center_channel mid_channel rap acapella a_cappella"
    ),
    "sides": _table("side ambience ambiance stereo_width width side_channel"),
    "sub": _table("sub sub_bass rumble subsonic"),
    "bass": _table(
        "bass bass_line bassline bass_guitar electric_bass synth_bass upright_bass double_bass 808"
    ),
    "lows": _table("low_end low low_frequency bottom_end"),
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
    "hiss": frozenset(_table("tape background stationary constant steady white high frequency")),
    "drums": frozenset(_table("loop hit acoustic electronic whole full")),
    "kick": frozenset(_table("hit 808 909")),
    "snare": frozenset(_table("hit")),
    "toms": frozenset(_table("hit fill")),
    "cymbals": frozenset(_table("open closed")),
    "sustained": frozenset(_table("synth sustained held long note electric acoustic rhythm")),
    "lead": frozenset(_table("main line part alto tenor soprano")),
    "centre": frozenset(_table("lead main centre center centred centered panned spoken line")),
    "sides": frozenset(_table("stereo wide room")),
    "sub": frozenset(_table("low deep frequency")),
    "bass": frozenset(
        _table("deep frequency range electric acoustic synth slap fretless finger upright")
    ),
    "lows": frozenset(_table("frequency range very deep")),
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
_KEEP_AS_IS = frozenset(_table("bass hiss vox mains chorus is its this hz rhodes"))

CAPABILITIES: tuple[str, ...] = (
    "mains hum and buzz, 50/60 Hz and harmonics ('remove the mains hum', 'de-hum')",
    "steady background noise and room tone ('denoise', 'clean up the dialogue')",
    "hiss, as tape or a preamp leaves it, kept off the music under it ('remove the hiss')",
    "drums and percussion ('extract the drums'); kit pieces: kick, snare/clap, toms,"
    " hi-hats/cymbals",
    "sustained/harmonic parts: keys, pads, piano, rhodes/EP, organ, strings, guitars,"
    " chords ('isolate the keys')",
    "the bass line: bass, bass guitar, synth bass, 808 ('extract the bass')",
    "a lead line: lead, melody, sax, flute, trumpet, lead synth ('the lead sax')",
    "the centre of a stereo mix: vocal, voice, dialogue, speech ('isolate the vocal')",
    "the sides of a stereo mix: ambience, stereo width ('extract the ambience')",
    "frequency regions: sub/rumble, low end, highs/treble ('extract the low end')",
)

# Example prompts and the stem each gives: shown by `samaudio-daw prompts` and tested.
EXAMPLES: tuple[tuple[str, TargetKind], ...] = (
    ("remove the mains hum", "hum"),
    ("de-hum", "hum"),
    ("get rid of the hiss", "hiss"),
    ("the tape hiss", "hiss"),
    ("room tone", "noise"),
    ("denoise", "noise"),
    ("clean up the dialogue", "noise"),
    ("extract the drums", "drums"),
    ("the kick", "kick"),
    ("the snare", "snare"),
    ("the toms", "toms"),
    ("the hi-hats", "cymbals"),
    ("isolate the keys", "sustained"),
    ("the rhodes", "sustained"),
    ("electric piano", "sustained"),
    ("the EP", "sustained"),
    ("pads", "sustained"),
    ("rhythm guitar", "sustained"),
    ("the bass", "bass"),
    ("bass guitar", "bass"),
    ("the 808", "bass"),
    ("the lead", "lead"),
    ("the lead sax", "lead"),
    ("saxophone", "lead"),
    ("flute", "lead"),
    ("melody", "lead"),
    ("lead synth", "lead"),
    ("isolate the vocal", "centre"),
    ("the lead vocal", "centre"),
    ("the dialogue", "centre"),
    ("extract the ambience", "sides"),
    ("the rumble", "sub"),
    ("the low end", "lows"),
    ("the highs", "highs"),
    ("remove the hiss from the interview", "hiss"),
)

# What a removal prompt leaves behind is called this, as the removal presets call it.
CLEANED_NAME = "clean"

# Verbs that ask for a sound to be taken away, leaving the rest as the product.
_REMOVAL_WORDS = frozenset(
    _table(
        "remove removing get_rid_of strip cut kill reduce eliminate delete suppress filter"
        " clean cleanup denoise de_noise de_hum dehum take_out"
    )
)

# "clean up the dialogue": these words ask for the noise to go; the rest names where.
_CLEANUP_STARTS = (("clean", "up"), ("cleanup",), ("clean",), ("tidy", "up"))


def nearest_prompts(text: str, count: int = 3) -> list[str]:
    """Prompts dsp can serve that are spelled most like ``text`` (or its words)."""
    phrases = sorted({p for ps in _KIND_PHRASES.values() for p in ps})
    found: list[str] = []
    for probe in [" ".join(words_of(text)), *words_of(text)]:
        found += difflib.get_close_matches(probe, phrases, n=count, cutoff=0.6)
    return [f"the {phrase}" for phrase in dict.fromkeys(found)][:count]


def unsupported(text: str, why: str) -> PromptNotSupportedError:
    """The error for a prompt dsp cannot serve: why, the nearest it can, where to go."""
    listing = "\n".join(f"  - {line}" for line in CAPABILITIES)
    nearest = nearest_prompts(text)
    hint = f"Nearest prompts dsp can serve: {', '.join(map(repr, nearest))}.\n" if nearest else ""
    name = text.strip().lower()
    if re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", name):
        hint += f"If {name!r} is a preset, did you mean --preset {name}?\n"
    return PromptNotSupportedError(
        f"the dsp backend cannot serve the prompt {text!r}: {why}.\n{hint}"
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
    for start in _CLEANUP_STARTS:
        if tuple(words[: len(start)]) == start and len(words) > len(start):
            return ["noise"], words[len(start) :]
    for index, word in enumerate(words):
        if index > 0 and word in _WHERE_WORDS:
            return words[:index], words[index + 1 :]
        if word == "out" and index + 1 < len(words) and words[index + 1] == "of":
            return words[:index], words[index + 2 :]
    return words, []


# One-word removals that name what goes: "denoise" takes the noise away.
_REMOVED_BY_WORD = {"denoise": "noise", "dehum": "hum", "de noise": "noise", "de hum": "hum"}


def named_words(text: str) -> list[str]:
    """The words of ``text`` that name the sound, as typed (lower case, not singular).

    What follows "from", "in" or "out of" names where, not what; "clean up the
    dialogue" and "denoise" name the noise: "get rid of the hiss from the interview"
    -> ``["get", "rid", "of", "the", "hiss"]``, "clean up the dialogue" -> ``["noise"]``.
    Stem names are made from these words, for every backend.
    """
    typed = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    joined = " ".join(typed)
    if joined in _REMOVED_BY_WORD:
        return [_REMOVED_BY_WORD[joined]]
    target, _place = _split_where([_singular(word) for word in typed])
    if target == ["noise"] and typed[:1] != ["noise"]:
        return ["noise"]  # a clean-up names the noise
    return typed[: len(target)]


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
    """The "from ..." tail names where (a track, "the interview"), never what: any words."""
    return []


def is_removal(text: str) -> bool:
    """Whether ``text`` asks to take a sound away ("remove the hum", "denoise")."""
    words = words_of(text)
    joined = " ".join(words)
    return any(f" {phrase} " in f" {joined} " for phrase in _REMOVAL_WORDS) or joined.startswith(
        ("clean ", "cleanup", "tidy up")
    )


# What each kind's stem is, in the producer's words, for `samaudio-daw prompts`.
_KIND_TITLES: dict[TargetKind, str] = {
    "hum": "mains hum and buzz (50/60 Hz and harmonics)",
    "noise": "steady background noise, room tone",
    "hiss": "hiss (tape, preamp); the music under it is kept",
    "drums": "the whole drum kit and percussion",
    "kick": "kick drum",
    "snare": "snare, clap",
    "toms": "toms",
    "cymbals": "hi-hats and cymbals",
    "sustained": "sustained/harmonic parts: keys, pads, guitars, strings",
    "lead": "a lead line: held notes above the bass (in the centre of a stereo mix)",
    "centre": "the centre of a stereo mix (vocal, dialogue)",
    "sides": "the sides of a stereo mix (ambience, width)",
    "sub": "the region under 80 Hz",
    "bass": "the bass line: sustained and under 250 Hz (not the kick)",
    "lows": "the region under 250 Hz, kick and bass alike",
    "highs": "the region over 5 kHz",
}


def vocabulary_text() -> str:
    """Everything dsp understands, kind by kind, with the words that name each and examples."""
    lines = [
        "The dsp backend reads a prompt as one of these stems. Any of the words names it;",
        "verbs and filler ('remove', 'isolate', 'the', 'please') are fine, and what follows",
        "'from', 'in' or 'out of' names where (a track, 'the interview') and is ignored.",
        f"Removal prompts ('remove ...', 'denoise', 'clean up ...') call the rest {CLEANED_NAME!r}.",
        "Preset names go to --preset (e.g. --preset de-hum). Anything else: --backend sam-audio.",
        "",
    ]
    for kind, title in _KIND_TITLES.items():
        examples = [text for text, named in EXAMPLES if named == kind]
        lines.append(f"{kind}: {title}")
        lines.append(f"  words: {', '.join(_KIND_PHRASES[kind])}")
        if examples:
            lines.append(f"  e.g. {', '.join(repr(text) for text in examples)}")
    return "\n".join(lines)
