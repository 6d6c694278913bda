"""Which preset a track uses, read from its name; and presets made from bare prompts.

A track name selects its preset in one of four ways, tried in this order:

1. a tag in square brackets naming a preset: ``Gtr [acoustic-guitar]`` (case, spaces and
   underscores are forgiven: ``[Lead Vocal]`` means ``lead-vocal``);
2. inline prompts in braces: ``Field rec {isolate the owl hooting}`` makes a one-stem
   preset on the spot (several braces make several stems), keeping the residual as
   ``rest``;
3. the name of a preset, forgiving case, spaces and underscores (``De Hum``);
4. the presets' ``match`` patterns: case-insensitive shell-style globs (``*vocal*``)
   matched against the track name without any tags or braces.

Nothing is guessed: two tags, a tag together with a prompt, or a name matching the
patterns of several presets is reported as ``ambiguous`` with the candidates, so the
producer can add a tag.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from samaudio_daw.presets.library import PresetLibrary
from samaudio_daw.presets.parsing import did_you_mean
from samaudio_daw.presets.schema import (
    MAX_NAME_CHARS,
    RESERVED_FILE_NAMES,
    Preset,
    PresetError,
    StemSpec,
)
from samaudio_daw.separation.prompt_words import CLEANED_NAME, is_removal, named_words

ChoiceKind = Literal[
    "tag", "inline", "name", "pattern", "ambiguous", "none", "unknown-tag", "invalid"
]
_SELECTED_KINDS = ("tag", "inline", "name", "pattern")
_TAG_RE = re.compile(r"\[([^\[\]]*)\]")
_PROMPT_RE = re.compile(r"\{([^{}]*)\}")
# Instruction words and phrases a stem name leaves out: "get rid of the hiss" -> hiss.
_INSTRUCTIONS = frozenset(
    (word,)
    for word in ("isolate", "extract", "remove", "separate", "keep", "get", "pull", "out")
    + ("only", "just", "the", "a", "an", "please")
) | {("get", "rid", "of"), ("take", "out"), ("cut", "out")}
_INSTRUCTION_LENGTHS = (3, 2, 1)  # longest first
_SLUG_CHARS = 40
INLINE_RESIDUAL_NAME = "rest"


@dataclass(frozen=True)
class TrackChoice:
    """The outcome of reading a track name: which preset (if any) and why.

    ``kind`` is ``tag``, ``inline``, ``name`` or ``pattern`` when a preset was chosen (``preset``
    is set); ``ambiguous`` (``candidates`` lists the preset names in question),
    ``unknown-tag`` (the tag names no preset), ``invalid`` (an empty tag or prompt) or
    ``none`` (nothing matched) otherwise. ``reason`` is one line for the producer.
    """

    track_name: str
    kind: ChoiceKind
    preset: Preset | None
    candidates: tuple[str, ...]
    reason: str

    def report(self) -> dict[str, Any]:
        """How the track's name chose its preset, as inspect shows it (every session format)."""
        preset = self.preset
        return {
            "choice": self.kind,
            "preset": preset.name if preset else None,
            "prompts": [stem.prompt for stem in preset.stems] if preset else [],
            "candidates": list(self.candidates),
            "reason": self.reason,
        }

    def __post_init__(self) -> None:
        if not isinstance(self.track_name, str):
            raise TypeError(f"track_name must be str, got {type(self.track_name).__name__}")
        if self.kind not in get_args(ChoiceKind):
            raise ValueError(f"kind must be one of {get_args(ChoiceKind)}, got {self.kind!r}")
        if self.preset is not None and not isinstance(self.preset, Preset):
            raise TypeError(f"preset must be a Preset or None, got {type(self.preset).__name__}")
        if (self.preset is not None) != self.selected:
            need = "needs" if self.selected else "must not have"
            raise ValueError(f"a {self.kind!r} choice {need} a preset")
        if not isinstance(self.candidates, tuple) or not all(
            isinstance(name, str) for name in self.candidates
        ):
            raise TypeError("candidates must be a tuple of preset names")

    @property
    def selected(self) -> bool:
        """True when a preset was chosen (kind ``tag``, ``inline``, ``name`` or ``pattern``)."""
        return self.kind in _SELECTED_KINDS


def prompt_slug(prompt: str) -> str:
    """A short kebab-case name for ``prompt``: ``"isolate the owl hooting"`` -> ``owl-hooting``.

    Only the words that name the sound count (``named_words``: not "from the
    interview"); leading instruction words (isolate, extract, remove, get rid of, the,
    ...) are dropped; at most
    40 characters, cut at a word boundary; ``stem`` when nothing usable is left.
    """
    words = named_words(prompt)
    start = 0
    while lead := next(
        (n for n in _INSTRUCTION_LENGTHS if tuple(words[start : start + n]) in _INSTRUCTIONS),
        0,
    ):
        if start + lead >= len(words):
            break
        start += lead
    slug = ""
    for word in words[start:]:
        candidate = f"{slug}-{word}" if slug else word[:_SLUG_CHARS]
        if len(candidate) > _SLUG_CHARS:
            break
        slug = candidate
    return slug or "stem"


def _unique(name: str, taken: set[str]) -> str:
    unique, number = name, 2
    while unique.lower() in taken:
        unique, number = f"{name}-{number}", number + 1
    taken.add(unique.lower())
    return unique


def _joined_name(slugs: Sequence[str]) -> str:
    name = ""
    for slug in slugs:
        candidate = f"{name}-{slug}" if name else slug
        if len(candidate) > MAX_NAME_CHARS:
            break
        name = candidate
    return name


def preset_for_prompts(
    prompts: Sequence[str],
    keep_residual: bool,
    *,
    residual_name: str | None = None,
    use_spans: bool = False,
    description: str = "",
) -> Preset:
    """A preset with one stem per prompt (``--prompt`` flags, inline ``{prompts}``).

    Stem names are ``prompt_slug`` of each prompt, made unique with ``-2``, ``-3``; the
    preset is named after the stems. No chains, no track patterns, no source file.
    The residual is ``clean`` when every prompt asks for a removal ("remove the hum"),
    as the removal presets call it, and ``rest`` otherwise, unless ``residual_name``
    says.
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise TypeError("prompts must be a sequence of str, e.g. ['the lead vocal']")
    if not prompts:
        raise PresetError("", "prompts", "none given", "at least one prompt")
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"prompts[{index}] must be str, got {type(prompt).__name__}")
        if not prompt.strip():
            raise PresetError("", f"prompts[{index}]", "is empty", "a description of the sound")
    if residual_name is None:
        removal = all(is_removal(prompt) for prompt in prompts)
        residual_name = CLEANED_NAME if removal else INLINE_RESIDUAL_NAME
    # Reserved device names cannot be file names on Windows; the residual keeps its name.
    taken = set(RESERVED_FILE_NAMES) | ({residual_name.lower()} if keep_residual else set())
    stems = tuple(
        StemSpec(_unique(prompt_slug(prompt), taken), prompt.strip()) for prompt in prompts
    )
    return Preset(
        name=_joined_name([stem.name for stem in stems]),
        stems=stems,
        description=description or "prompts: " + "; ".join(stem.prompt for stem in stems),
        keep_residual=keep_residual,
        residual_name=residual_name,
        use_spans=use_spans,
    )


def _tag_name(tag: str) -> str:
    """``"Lead Vocal "`` -> ``"lead-vocal"``: how a bracket tag is looked up."""
    return re.sub(r"[\s_]+", "-", tag.strip().lower())


def _choice(
    track_name: str,
    kind: ChoiceKind,
    reason: str,
    preset: Preset | None = None,
    candidates: Sequence[str] = (),
) -> TrackChoice:
    return TrackChoice(track_name, kind, preset, tuple(candidates), reason)


def _choose_by_tag(track_name: str, tags: Sequence[str], library: PresetLibrary) -> TrackChoice:
    names = list(dict.fromkeys(_tag_name(tag) for tag in tags))
    if "" in names:
        return _choice(
            track_name, "invalid", "empty tag []: put a preset name inside, e.g. [drums]"
        )
    unknown = [name for name in names if name not in library]
    if unknown:
        hint = did_you_mean(unknown[0], library.names())
        known = ", ".join(library.names()) or "(none)"
        reason = f"no preset named {unknown[0]!r}{hint}; known presets: {known}"
        return _choice(track_name, "unknown-tag", reason, candidates=unknown)
    if len(names) > 1:
        reason = f"several preset tags ({', '.join(names)}); keep one"
        return _choice(track_name, "ambiguous", reason, candidates=names)
    preset = library.get(names[0])
    return _choice(track_name, "tag", f"tag [{names[0]}] selects preset {names[0]!r}", preset)


def _choose_inline(track_name: str, prompts: Sequence[str]) -> TrackChoice:
    if any(not prompt.strip() for prompt in prompts):
        reason = "empty inline prompt {}: describe the sound inside, e.g. {the owl hooting}"
        return _choice(track_name, "invalid", reason)
    preset = preset_for_prompts(
        prompts, keep_residual=True, description=f"inline prompt in track name {track_name!r}"
    )
    stems = ", ".join(f"{stem.name!r}" for stem in preset.stems)
    return _choice(track_name, "inline", f"inline prompt makes stem(s) {stems}", preset)


def _bare_name(track_name: str) -> str:
    """The track name without tags and braces, spaces collapsed, lowercase."""
    bare = _PROMPT_RE.sub(" ", _TAG_RE.sub(" ", track_name))
    return " ".join(bare.split()).lower()


def _matching_pattern(bare_name: str, preset: Preset) -> str | None:
    for pattern in preset.track_patterns:
        if fnmatch.fnmatchcase(bare_name, pattern.strip().lower()):
            return pattern
    return None


def _choose_by_pattern(track_name: str, library: PresetLibrary) -> TrackChoice:
    bare = _bare_name(track_name)
    hits = [(preset, _matching_pattern(bare, preset)) for preset in library] if bare else []
    found = [(preset, pattern) for preset, pattern in hits if pattern is not None]
    if not found:
        reason = f"no preset matches {bare!r}; add a tag such as [drums] or a {{prompt}}"
        return _choice(track_name, "none", reason)
    if len(found) > 1:
        listed = ", ".join(f"{preset.name} ({pattern!r})" for preset, pattern in found)
        reason = f"matches several presets: {listed}; add a tag such as [{found[0][0].name}]"
        return _choice(track_name, "ambiguous", reason, candidates=[p.name for p, _ in found])
    preset, pattern = found[0]
    return _choice(track_name, "pattern", f"{pattern!r} of preset {preset.name!r}", preset)


def match_track(track_name: str, library: PresetLibrary) -> TrackChoice:
    """Which preset the track called ``track_name`` uses: by tag, inline prompt, name or pattern.

    Never raises for a name that selects nothing or too much: the TrackChoice says so
    (``ambiguous``, ``unknown-tag``, ``invalid`` or ``none``) with a reason.
    """
    if not isinstance(track_name, str):
        raise TypeError(f"track_name must be str, got {type(track_name).__name__}")
    tags = _TAG_RE.findall(track_name)
    prompts = _PROMPT_RE.findall(track_name)
    if tags and prompts:
        reason = "both a preset tag and a {prompt}; keep one"
        candidates = [_tag_name(tag) for tag in tags]
        return _choice(track_name, "ambiguous", reason, candidates=candidates)
    if tags:
        return _choose_by_tag(track_name, tags, library)
    if prompts:
        return _choose_inline(track_name, prompts)
    named = library.find(_tag_name(track_name)) if track_name.strip() else None
    if named is not None:
        return _choice(track_name, "name", f"the name of preset {named.name!r}", named)
    return _choose_by_pattern(track_name, library)
