"""The text ranker that runs: the rankers config.json names that are here, with their weights.

The official ``text_ranker`` is one ranker (``clap``: the cosine of the CLAP embeddings,
clap.py; ``judge``: the judge's overall score, judge.py; ``sound_activity``: how well a
candidate's sound matches the pair's spans, sound_activity.py) or an ``ensemble`` of them, whose
score is Σ weight · member score and whose best candidate is the highest sum. Here the
members whose files are on this machine make the sum: all of them, as the official one;
when a member is absent the others rank without it, and load_text_ranker says so in one
line, because the choice can then differ from the official one. A lone ranker (or the
one member left) ranks by its own score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from samaudio_daw.separation.sam_audio.clap import ClapRanker, load_clap
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError
from samaudio_daw.separation.sam_audio.judge import JudgeRanker, load_judge
from samaudio_daw.separation.sam_audio.rankers import (
    TOKENIZER_FILES,
    TOKENIZER_REPO,
    RankerSpec,
    named_rankers,
    raw_config,
    unused_line,
)
from samaudio_daw.separation.sam_audio.sound_activity import SoundActivity, Span

PULL = "fetch it with `samaudio-daw model pull --with-rankers`"


@dataclass(frozen=True)
class Member:
    """One loaded ranker and its weight in the ensemble (1 when it ranks alone)."""

    spec: RankerSpec
    ranker: ClapRanker | JudgeRanker | SoundActivity
    weight: float

    def score(
        self,
        waves: torch.Tensor,
        mixtures: torch.Tensor,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
    ) -> torch.Tensor:
        if isinstance(self.ranker, JudgeRanker):
            return self.ranker.score(waves, mixtures, texts)
        if isinstance(self.ranker, SoundActivity):
            return self.ranker.score(waves, spans or [()] * waves.shape[1])
        return self.ranker.score(waves, texts)


@dataclass(frozen=True)
class EnsembleRanker:
    """The loaded members of config.json's text ranker (at least one)."""

    members: tuple[Member, ...]

    @property
    def clap(self) -> ClapRanker | None:
        """The CLAP member, whose cosine also gives the presence score (ranking.py)."""
        found = [m.ranker for m in self.members if isinstance(m.ranker, ClapRanker)]
        return found[0] if found else None

    def score(
        self,
        waves: torch.Tensor,
        mixtures: torch.Tensor,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]] = (),
    ) -> torch.Tensor:
        """waves: (K, N, samples), mixtures: (N, samples) at 48 kHz, texts: N, spans: the
        N pairs' anchors, for sound_activity (none given: none) → (K, N), higher = better:
        Σ weight · member score, or the one member's own score."""
        if len(self.members) == 1:
            return self.members[0].score(waves, mixtures, texts, spans).to(waves.device)
        total = torch.zeros(waves.shape[:2], device=waves.device)
        for member in self.members:
            total += member.weight * member.score(waves, mixtures, texts, spans).to(waves.device)
        return total


def load_text_ranker(
    model_dir: Path, device: torch.device
) -> tuple[EnsembleRanker | None, list[str]]:
    """(the text ranker config.json names, made of the members whose files are here, or
    None; one line for each named ranker or predictor that is not used, and why)."""
    raw = raw_config(model_dir)
    specs = named_rankers(raw)
    members: list[Member] = []
    notes: list[str] = []
    for spec in specs:
        if not spec.runnable:
            notes.append(unused_line(spec, specs))
        elif any(m.spec.kind == spec.kind for m in members):
            notes.append(f"{spec.label} is not used: only the first {spec.kind} ranker runs")
        else:
            try:
                ranker = _load(spec, model_dir, device)
            except CheckpointMismatchError as error:
                notes.append(str(error))
                continue
            weight = 1.0 if spec.weight is None else spec.weight
            members.append(Member(spec, ranker, weight))
    loaded = [m.spec for m in members]
    absent = [s for s in specs if s.runnable and s.weight is not None and s not in loaded]
    if members and absent:
        notes.append(
            "the official ensemble also adds "
            + ", ".join(f"{s.kind} (weight {s.weight:g})" for s in absent)
            + f"; here only {', '.join(s.kind for s in loaded)} ranks, so a choice can differ "
            "from the official one"
        )
    from samaudio_daw.separation.sam_audio.store import span_predictor_line

    line = span_predictor_line(raw)
    ensemble = EnsembleRanker(tuple(members)) if members else None
    return ensemble, notes + ([line] if line else [])


def _load(
    spec: RankerSpec, model_dir: Path, device: torch.device
) -> ClapRanker | JudgeRanker | SoundActivity:
    """One ranker; CheckpointMismatchError (one line) when its files are absent or wrong."""
    from samaudio_daw.separation.sam_audio.store import (
        judge_folder,
        ranker_checkpoint,
        tokenizer_folder,
    )

    if spec.kind == "sound_activity":
        try:
            return SoundActivity.from_config(dict(spec.options))
        except (TypeError, ValueError) as error:
            raise CheckpointMismatchError(f"{spec.label}: {error}") from error
    if spec.kind == "judge":
        folder = judge_folder(spec, model_dir)
        if folder is None:
            raise CheckpointMismatchError(
                f"{spec.label}: its config.json and checkpoint.pt are not on this machine ({PULL})"
            )
        return load_judge(folder, device)
    path = ranker_checkpoint(spec, model_dir)
    if path is None:
        raise CheckpointMismatchError(f"{spec.label}: checkpoint not on this machine ({PULL})")
    tokenizer = tokenizer_folder()
    if tokenizer is None:
        raise CheckpointMismatchError(
            f"{spec.label}: the RoBERTa tokenizer it needs ({TOKENIZER_REPO}: "
            f"{', '.join(TOKENIZER_FILES)}) is not on this machine ({PULL})"
        )
    return load_clap(path, tokenizer, device)
