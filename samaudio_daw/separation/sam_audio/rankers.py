"""The rankers and the span predictor that SAM-Audio's config.json names, and where their
checkpoints are.

The official config has three optional fields:

- ``text_ranker``: ``{"kind": "clap", "checkpoint": PATH | null}`` (null: ``630k-best.pt``
  of the hub model ``lukewys/laion_clap``), ``{"kind": "judge", "checkpoint_or_model_id":
  ID}``, ``{"kind": "sound_activity", ...}`` or ``{"kind": "ensemble", "rankers": {NAME:
  [CONFIG, WEIGHT]}}``;
- ``visual_ranker``: ``{"kind": "imagebind", ...}``: ranks by the video, which this
  audio-only backend has none of;
- ``span_predictor``: a PE audio-frame model name (e.g. ``pe-a-frame-large``), run by
  spans.py with --predict-spans when its files are here (store.span_predictor_folder).

The CLAP (clap.py), judge (judge.py) and sound_activity (sound_activity.py, no weights)
text rankers are run, alone or weighted as the ensemble says (ensemble.py); a ranker is
loaded only when the config names it and its files are on this machine: CLAP's checkpoint
and roberta-base's tokenizer files (store.ranker_checkpoint, store.tokenizer_folder), the
judge's folder (store.judge_folder). The visual ranker is reported in one line and left.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

CLAP_HUB_REPO = "lukewys/laion_clap"
CLAP_HUB_FILE = "630k-best.pt"
"""What the official ClapRanker downloads when the config names no checkpoint."""
TOKENIZER_REPO = "FacebookAI/roberta-base"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
"""The CLAP text branch's tokenizer: roberta-base's byte-level BPE (its vocabulary and merges)."""
TOKENIZER_EXTRA = ("config.json", "tokenizer.json", "tokenizer_config.json")
"""Fetched with it when the repository has them (small); never the weights."""
SPAN_PREDICTOR_ORG = "facebook"
SPAN_PREDICTOR_REVISION = "perception_models"
"""Where perception_models' ``PEAudioFrame.from_config(name)`` fetches a named predictor:
``facebook/NAME`` at this branch (a name that is a local folder is used as it is)."""
SPAN_PREDICTOR_FILES = ("config.json", "model.safetensors", "tokenizer.json")
SPAN_PREDICTOR_EXTRA = ("tokenizer_config.json", "special_tokens_map.json")
"""The predictor's config, weights and ModernBERT tokenizer; the extras when present."""
JUDGE_REPO = "facebook/sam-audio-judge"
JUDGE_REVISION = "sam_audio"
"""The official judge loads its hub model at this revision (a branch), not main."""
JUDGE_FILES = ("config.json", "checkpoint.pt")
JUDGE_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
"""ModernBERT's tokenizer files, beside the judge's weights (the first one is needed)."""
RUNNABLE = ("clap", "judge", "sound_activity")
"""The text ranker kinds this build runs."""


@dataclass(frozen=True)
class RankerSpec:
    """One ranker named in config.json: its field, kind and checkpoint.

    ``file`` is a path in the model's folder (relative) or on disk (absolute); when None,
    the checkpoint is ``hub_file`` of the hub model ``hub_repo``."""

    field: str
    kind: str
    file: str | None = None
    hub_repo: str | None = None
    hub_file: str | None = None
    revision: str | None = None
    """The hub revision of ``hub_repo`` (the judge's ``sam_audio``); None = main."""
    weight: float | None = None
    """Its weight in an ``ensemble`` ranker; None when it ranks alone."""
    options: tuple[tuple[str, Any], ...] = ()
    """The settings of a ranker without weights (sound_activity), as config.json gives them."""

    @property
    def runnable(self) -> bool:
        return self.field == "text_ranker" and self.kind in RUNNABLE

    @property
    def label(self) -> str:
        if self.kind == "sound_activity":
            return f"{self.field} (sound_activity: {dict(self.options) or 'official defaults'})"
        where = self.file or f"{self.hub_repo or ''}/{self.hub_file or ''}".strip("/")
        return f"{self.field} ({self.kind}: {where or 'no checkpoint named'})"


def raw_config(model_dir: Path) -> Mapping[str, Any]:
    try:
        raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, Mapping) else {}


def named_rankers(raw: Mapping[str, Any]) -> list[RankerSpec]:
    """The rankers the config names, ensembles flattened (in order)."""
    found: list[RankerSpec] = []
    for field in ("text_ranker", "visual_ranker"):
        found += _specs(field, raw.get(field))
    return found


def _specs(field: str, value: object) -> list[RankerSpec]:
    if not isinstance(value, Mapping):
        return []
    kind = str(value.get("kind", "?"))
    if kind == "ensemble" and isinstance(value.get("rankers"), Mapping):
        return [
            replace(spec, weight=_weight(member))
            for member in value["rankers"].values()
            if isinstance(member, list | tuple) and member
            for spec in _specs(field, member[0])
        ]
    if kind == "clap":
        checkpoint = value.get("checkpoint")
        if checkpoint:
            return [RankerSpec(field, kind, file=str(checkpoint))]
        return [RankerSpec(field, kind, hub_repo=CLAP_HUB_REPO, hub_file=CLAP_HUB_FILE)]
    if kind == "judge":
        # A hub id, or a folder (store.judge_folder tells them apart).
        model = str(value.get("checkpoint_or_model_id") or JUDGE_REPO)
        return [RankerSpec(field, kind, hub_repo=model, revision=JUDGE_REVISION)]
    if kind == "sound_activity":
        options = tuple(sorted((str(k), v) for k, v in value.items() if k != "kind"))
        return [RankerSpec(field, kind, options=options)]
    checkpoint = value.get("checkpoint")
    return [RankerSpec(field, kind, file=str(checkpoint) if checkpoint else None)]


def _weight(member: list[Any] | tuple[Any, ...]) -> float | None:
    try:
        return float(member[1])
    except (IndexError, TypeError, ValueError):
        return None


def unused_line(spec: RankerSpec, specs: list[RankerSpec]) -> str:
    """Why a ranker the config names does not run here, in one line."""
    if spec.field == "visual_ranker":
        return f"{spec.label} is not used: it ranks by the video, which this audio-only build does not take"
    line = f"{spec.label} is not used: this build does not implement it (not fetched, not run)"
    others = [s for s in specs if s.field == spec.field and s.runnable and s.weight is not None]
    if spec.weight is not None and others:
        line += (
            f"; the official ensemble adds its score with weight {spec.weight:g}, here only "
            f"{', '.join(f'{s.kind} (weight {s.weight:g})' for s in others)} "
            "count, so a choice can differ"
        )
    return line
