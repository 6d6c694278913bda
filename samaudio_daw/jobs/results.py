"""The result of a run as typed values: ``Result`` with one ``StemRecord`` per stem file.

``result.json`` (schema: ``samaudio_daw/schemas/result.schema.json``) is read and written
only here, so the runner, render, the command line's summary and the listening report
share one reading of it; the REAPER scripts read the same file through the schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from samaudio_daw.files import read_regular_bytes
from samaudio_daw.jobs.manifest import (
    MAX_MANIFEST_BYTES,
    ManifestError,
    validate,
    write_json_atomically,
)

RESULT_VERSION = 1
StemKind = Literal["target", "residual"]
StemsAs = Literal["tracks", "takes"]


@dataclass(frozen=True)
class PresenceRecord:
    """How present a target stem's prompt is in one chunk of the input (0..1), and whether
    the chunk was made silent for it (below the presence threshold)."""

    start_s: float
    end_s: float
    score: float
    silenced: bool = False

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> PresenceRecord:
        return cls(
            float(entry["start_s"]),
            float(entry["end_s"]),
            float(entry["score"]),
            bool(entry.get("silenced", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "score": round(self.score, 4),
            "silenced": self.silenced,
        }


@dataclass(frozen=True)
class StemRecord:
    """One stem file a run wrote: what it is, where it came from, where it sits in time."""

    input: str
    name: str
    kind: StemKind
    prompt: str | None
    file: str  # relative to the folder holding result.json
    preset: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None
    bit_depth: str | None = None
    cache_key: str | None = None
    track: str | None = None
    track_guid: str | None = None
    item_guid: str | None = None
    position_s: float = 0.0
    length_s: float | None = None
    mode: Literal["file", "item", "track"] = "file"
    reused: bool = False
    project: str | None = None
    pre_chain: tuple[str, ...] = ()
    color: str | None = None  # "#RRGGBB" from the preset
    stems_as: StemsAs = "tracks"  # the preset's placement: new tracks or takes
    track_name: str | None = None  # the stem track's (or take's) name
    presence: tuple[PresenceRecord, ...] = ()
    """Per chunk, for a target of a backend that scores presence (sam-audio); else empty."""

    @property
    def stem_track_name(self) -> str:
        """The name every session writer gives the stem's track: the preset's
        ``stem_track_name`` as recorded (the stem's own name in older manifests)."""
        return self.track_name or self.name

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> StemRecord:
        known = {name: entry[name] for name in cls.__dataclass_fields__ if name in entry}
        known["pre_chain"] = tuple(entry.get("pre_chain") or ())
        known["presence"] = tuple(PresenceRecord.from_json(c) for c in entry.get("presence") or ())
        known["position_s"] = float(entry.get("position_s") or 0.0)
        if "mode" not in entry:  # manifests from before the field: items had GUIDs
            known["mode"] = "item" if entry.get("item_guid") else "file"
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        document = {name: getattr(self, name) for name in self.__dataclass_fields__}
        document["pre_chain"] = list(self.pre_chain)
        document["presence"] = [c.to_json() for c in self.presence] or None
        # Fields a reader cannot leave out are always written; unknown sizes are left out.
        return {k: v for k, v in document.items() if v is not None or k in _ALWAYS}


_DOCUMENT_FIELDS = frozenset(
    ("version", "stems", "tool", "backend", "backend_settings", "project", "stems_project")
    + ("sample_rate", "elapsed_s", "audio_s", "skipped", "projects")
)
_ALWAYS = frozenset(("prompt", "preset", "track", "track_guid", "item_guid", "project"))


@dataclass(frozen=True)
class Result:
    """What a run wrote: its stems, the backend and settings, and what it skipped."""

    stems: tuple[StemRecord, ...]
    tool: str | None = None
    backend: str | None = None
    backend_settings: Mapping[str, Any] = field(default_factory=dict)
    project: str | None = None
    stems_project: str | None = None
    sample_rate: int | None = None
    elapsed_s: float | None = None
    audio_s: float | None = None
    skipped: tuple[Mapping[str, Any], ...] = ()
    projects: tuple[Mapping[str, Any], ...] | None = None
    other: Mapping[str, Any] = field(default_factory=dict)  # fields newer writers added

    @classmethod
    def with_fields(cls, stems: tuple[StemRecord, ...], **fields: Any) -> Result:
        """A Result from named fields; names it does not know go to ``other``."""
        known = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
        other = {k: v for k, v in fields.items() if k not in cls.__dataclass_fields__}
        for name in ("skipped", "projects"):
            if known.get(name) is not None:
                known[name] = tuple(known[name])
        return cls(stems=stems, **known, other=other)

    def stems_of_track(self, project: Path | str, track_guid: str | None) -> list[StemRecord]:
        """The stems separated from one track of one project, in manifest order."""
        return [s for s in self.stems if s.track_guid == track_guid and s.project == str(project)]

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Result:
        return cls(
            stems=tuple(StemRecord.from_json(entry) for entry in document.get("stems", [])),
            tool=document.get("tool"),
            backend=document.get("backend"),
            backend_settings=dict(document.get("backend_settings") or {}),
            project=document.get("project"),
            stems_project=document.get("stems_project"),
            sample_rate=document.get("sample_rate"),
            elapsed_s=document.get("elapsed_s"),
            audio_s=document.get("audio_s"),
            skipped=tuple(document.get("skipped") or ()),
            projects=tuple(document["projects"]) if "projects" in document else None,
            other={k: v for k, v in document.items() if k not in _DOCUMENT_FIELDS},
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": RESULT_VERSION,
            "tool": self.tool,
            "backend": self.backend,
            "backend_settings": dict(self.backend_settings),
            "project": self.project,
            "skipped": [dict(s) for s in self.skipped],
        }
        optional = {
            "sample_rate": self.sample_rate,
            "stems_project": self.stems_project,
            "projects": [dict(p) for p in self.projects] if self.projects is not None else None,
            "elapsed_s": self.elapsed_s,
            "audio_s": self.audio_s,
        }
        document.update({k: v for k, v in optional.items() if v is not None})
        document = {k: v for k, v in document.items() if v is not None or k == "project"}
        document.update(self.other)
        document["stems"] = [stem.to_json() for stem in self.stems]
        return document


def load_result(path: Path) -> Result:
    """The result manifest at ``path``, checked against its schema; ManifestError if not."""
    try:
        data = read_regular_bytes(path, MAX_MANIFEST_BYTES, "result manifest")
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no such result file; give the result.json a run wrote"
        ) from None
    except OSError as error:
        raise ManifestError(f"{path}: cannot be read ({error})") from None
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ManifestError(f"{path}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path}: not JSON (line {error.lineno}: {error.msg})") from None
    except (ValueError, RecursionError) as error:
        raise ManifestError(f"{path}: not JSON ({error})") from None
    validate(document, "result", str(path))
    return Result.from_json(document)


def _is_ours(document: object) -> bool:
    if not isinstance(document, dict):
        return False
    return str(document.get("tool", "")).startswith("samaudio-daw") or (
        "version" in document and isinstance(document.get("stems"), list)
    )


def read_result(path: Path) -> Result | None:
    """A previous result, or None when there is none or it is an older one of ours.

    A file there that is not a samaudio-daw result manifest (not a plain file, not UTF-8
    JSON, not ours) is refused with a ManifestError: it is not ours to overwrite.
    """
    try:
        data = read_regular_bytes(path, MAX_MANIFEST_BYTES, "result manifest")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if not _is_ours(document):
        raise ManifestError(
            f"{path}: is not a samaudio-daw result manifest; move it away or choose "
            "another output folder"
        )
    try:
        validate(document, "result", str(path))
    except ManifestError:
        return None  # ours but from another version: it is rewritten
    return Result.from_json(document)


def write_result(path: Path, result: Result) -> Path:
    """Check ``result`` against the result schema, then write it atomically."""
    document = result.to_json()
    validate(document, "result", str(path))
    return write_json_atomically(path, document)
