"""What to separate, read from a word the same way at every entrance: the one rule.

A producer names what they want as a track name in REAPER, an answer typed into a
REAPER dialog, an OSC message's text, ``separate --request`` or a render's track names.
Every one of them is read here, in this order (``presets.match_track``):

1. a ``[tag]`` names a preset: ``Vox [lead-vocal]``;
2. ``{inline prompts}`` make stems on the spot: ``{remove the hiss}``;
3. the name of a preset, forgiving case, spaces and underscores: ``de-hum``, ``De Hum``;
4. a preset's name patterns: ``vocals`` matches ``*vocal*`` of ``lead-vocal``;
5. otherwise the words are a prompt, except for a track name, which then asks for nothing.

Two tags, a tag with a prompt, an unknown tag or a word matching several presets'
patterns is an UnclearRequest naming the candidates: nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.manifest import JobItem
from samaudio_daw.presets import Preset, PresetLibrary, match_track, preset_for_prompts

RequestKind = Literal["tag", "inline", "name", "pattern", "prompt"]
Unmatched = Literal["prompt", "nothing"]


class UnclearRequest(UserError):
    """A word that names no preset clearly (two tags, an unknown tag, several patterns)."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text.strip()!r}: {reason}")
        self.text = text
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.text, self.reason))  # survives pickling to a worker


@dataclass(frozen=True)
class Request:
    """What a word asks for: a preset by name, or prompts made into stems on the spot.

    ``preset`` is the library's preset (``by_name``) or the one made from the prompts;
    a job names the first and carries the prompts of the second, so time spans reach
    the model for ad-hoc prompts as they always have.
    """

    text: str
    kind: RequestKind
    preset: Preset
    reason: str

    @property
    def by_name(self) -> bool:
        return self.kind in ("tag", "name", "pattern")

    @property
    def preset_name(self) -> str | None:
        """The preset a job names, or None when it carries prompts instead."""
        return self.preset.name if self.by_name else None

    @property
    def prompts(self) -> tuple[str, ...]:
        """The prompts a job carries (empty when it names a preset)."""
        return () if self.by_name else tuple(stem.prompt for stem in self.preset.stems)

    def stem_names(self, keep_residual: bool | None = None) -> tuple[str, ...]:
        """The stems this request writes, the residual last (``keep_residual`` overrides)."""
        keep = self.preset.keep_residual if keep_residual is None else keep_residual
        residual = (self.preset.residual_name,) if keep else ()
        return (*self.preset.stem_names, *residual)

    def job_item(self, audio: Path, name: str, **where: Any) -> JobItem:
        """A JobItem separating ``audio`` as asked; ``where`` adds track, position, spans."""
        return JobItem(
            audio=audio, name=name, preset=self.preset_name, prompts=self.prompts, **where
        )

    def to_json(self) -> dict[str, Any]:
        """The form ``samaudio-daw resolve --json`` prints (read by the REAPER scripts)."""
        return {
            "text": self.text,
            "kind": self.kind,
            "preset": self.preset_name,
            "prompts": list(self.prompts),
            "stems": list(self.stem_names()),
            "colors": {
                stem: color
                for stem in self.stem_names()
                if (color := self.preset.color_of(stem)) is not None
            },
            "stems_as": self.preset.stems_as,
            "stem_track_name": self.preset.stem_track_name,
            "reason": self.reason,
        }


def read_request(
    text: str, library: PresetLibrary, unmatched: Unmatched = "prompt"
) -> Request | None:
    """What ``text`` asks for by the one rule (module docstring).

    ``unmatched`` says what words that select no preset mean: a ``prompt`` (typed text,
    OSC) or ``nothing`` (a track name: None is returned). Raises UnclearRequest.
    """
    if not text.strip():
        raise UnclearRequest(
            text, "nothing given: name a preset, a [tag], a {prompt} or describe the sound"
        )
    choice = match_track(text, library)
    if choice.selected:
        assert choice.preset is not None  # selected choices carry their preset
        return Request(text, choice.kind, choice.preset, choice.reason)  # type: ignore[arg-type]
    if choice.kind != "none":
        raise UnclearRequest(text, choice.reason)
    if unmatched == "nothing":
        return None
    preset = preset_for_prompts([text.strip()], keep_residual=True)
    return Request(text, "prompt", preset, f"no preset matches, so it is a prompt: {text!r}")
