"""Writing a fresh REAPER 7 project from a short description, for tests and the demo.

    text = new_project(48000, 120.0, [("Vocals", [("vocals.wav", 0.0, 4.0)])])

Tracks are :class:`TrackSpec` values or ``(name, items)`` tuples; items are
:class:`ItemSpec` values or ``(file, position_s, length_s)`` tuples. The text reads
back with :func:`samaudio_daw.project.model.read_project` and opens in REAPER.
GUIDs are derived from the track and item positions, so the same description
always gives the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from samaudio_daw.project.model import check_finite
from samaudio_daw.project.rpp import RppLine, RppNode, dumps, format_number, guid_for

REAPER_VERSION = "7.27/linux-x86_64"
PROJECT_TIMESTAMP = 1700000000
KIND_BY_SUFFIX = {
    ".wav": "WAVE",
    ".aif": "WAVE",
    ".aiff": "WAVE",
    ".w64": "WAVE",
    ".flac": "FLAC",
    ".mp3": "MP3",
    ".ogg": "VORBIS",
    ".opus": "OPUS",
    ".wv": "WAVPACK",
    ".mid": "MIDI",
}


def source_kind_for(file: str) -> str:
    """REAPER's source type for a file name (``take.flac`` -> FLAC); WAVE if unknown."""
    return KIND_BY_SUFFIX.get(PurePath(file.replace("\\", "/")).suffix.lower(), "WAVE")


@dataclass(frozen=True)
class ItemSpec:
    """One item with one take. ``file`` is written as given (relative = project folder).

    A section (``section_length_s`` set, or ``reversed``) wraps the file in a
    ``<SOURCE SECTION`` block. ``stretch_markers`` are (take position_s, source_s)
    pairs, written as an ``SM`` line.
    """

    file: str
    position_s: float
    length_s: float
    source_offset_s: float = 0.0
    loop: bool = False
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    fade_in_shape: int = 0
    fade_out_shape: int = 0
    volume: float = 1.0
    take_volume: float = 1.0
    take_pan: float = 0.0
    mute: bool = False
    play_rate: float = 1.0
    preserve_pitch: bool = True
    pitch_semitones: float = 0.0
    stretch_markers: tuple[tuple[float, float], ...] = ()
    channel_mode: int = 0
    section_start_s: float = 0.0
    section_length_s: float | None = None
    reversed: bool = False
    kind: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        for name in ("position_s", "length_s", "source_offset_s", "fade_in_s", "fade_out_s"):
            check_finite(name, getattr(self, name))
        for name in ("volume", "take_volume", "take_pan", "play_rate", "section_start_s"):
            check_finite(name, getattr(self, name))
        check_finite("pitch_semitones", self.pitch_semitones)
        for position_s, source_s in self.stretch_markers:
            check_finite("stretch marker position_s", position_s)
            check_finite("stretch marker source_s", source_s)
        if self.length_s <= 0:
            raise ValueError(f"item length_s must be positive, got {self.length_s}")
        if self.fade_in_s < 0 or self.fade_out_s < 0:
            raise ValueError("fade lengths must not be negative")
        if not -1.0 <= self.take_pan <= 1.0:
            raise ValueError(f"take_pan must be within -1..1, got {self.take_pan}")
        if self.play_rate <= 0:
            raise ValueError(f"play_rate must be positive, got {self.play_rate}")
        if self.section_length_s is not None and self.section_length_s <= 0:
            raise ValueError(f"section_length_s must be positive, got {self.section_length_s}")


@dataclass(frozen=True)
class TrackSpec:
    """One track; ``folder_delta`` is ISBUS's level change (1 opens a folder, -1 closes)."""

    name: str
    items: tuple[ItemSpec, ...] = ()
    volume: float = 1.0
    pan: float = 0.0
    mute: bool = False
    solo: int = 0
    folder_delta: int = 0

    def __post_init__(self) -> None:
        check_finite("track volume", self.volume)
        if not -1.0 <= self.pan <= 1.0:
            raise ValueError(f"track pan must be within -1..1, got {self.pan}")
        for item in self.items:
            if not isinstance(item, ItemSpec):
                raise TypeError(f"track {self.name!r}: items must be ItemSpec, got {item!r}")


TrackLike = TrackSpec | tuple[str, Sequence[ItemSpec | tuple[str, float, float]]]


def _as_track(track: TrackLike) -> TrackSpec:
    if isinstance(track, TrackSpec):
        return track
    name, items = track
    specs = tuple(item if isinstance(item, ItemSpec) else ItemSpec(*item) for item in items)
    return TrackSpec(name, specs)


def new_project(
    sample_rate: int,
    tempo_bpm: float,
    tracks: Sequence[TrackLike] = (),
    *,
    markers: Sequence[tuple[float, str]] = (),
    regions: Sequence[tuple[float, float, str]] = (),
    record_path: str = "",
) -> str:
    """The text of a REAPER 7 project (LF line endings) holding ``tracks``.

    ``markers`` are (position_s, name); ``regions`` (start_s, end_s, name).
    """
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    if not tempo_bpm > 0:
        raise ValueError(f"tempo_bpm must be positive, got {tempo_bpm!r}")
    root = RppNode.new(
        "REAPER_PROJECT",
        ["0.1", REAPER_VERSION, str(PROJECT_TIMESTAMP)],
        params_quoted=(False, True),
    )
    for tokens in _project_header(sample_rate, tempo_bpm, record_path):
        root.append(RppLine.new(tokens))
    for tokens in _marker_lines(markers, regions):
        root.append(RppLine.new(tokens))
    for index, track in enumerate(tracks):
        root.append(_track_node(_as_track(track), index))
    return dumps(root)


def _project_header(sample_rate: int, tempo_bpm: float, record_path: str) -> list[list[str]]:
    return [
        ["RIPPLE", "0"],
        ["AUTOXFADE", "129"],
        ["PANLAW", "1"],
        ["PANMODE", "3"],
        ["RECORD_PATH", record_path, ""],
        ["SAMPLERATE", str(sample_rate), "1", "0"],
        ["TEMPO", format_number(tempo_bpm), "4", "4"],
        ["PLAYRATE", "1", "0", "0.25", "4"],
        ["MASTER_NCH", "2", "2"],
        ["MASTER_VOLUME", "1", "0", "-1", "-1", "1"],
    ]


def _marker_lines(
    markers: Sequence[tuple[float, str]], regions: Sequence[tuple[float, float, str]]
) -> list[list[str]]:
    lines = []
    for number, (position_s, name) in enumerate(markers, start=1):
        lines.append(["MARKER", str(number), format_number(position_s), name, "0"])
    for number, (start_s, end_s, name) in enumerate(regions, start=1):
        lines.append(["MARKER", str(number), format_number(start_s), name, "1"])
        lines.append(["MARKER", str(number), format_number(end_s), "", "1"])
    return lines


def _track_node(track: TrackSpec, index: int) -> RppNode:
    guid = guid_for("track", str(index), track.name)
    state = 1 if track.folder_delta > 0 else (2 if track.folder_delta < 0 else 0)
    node = RppNode.new("TRACK", [guid])
    for tokens in (
        ["NAME", track.name],
        ["PEAKCOL", "16576"],
        ["BEAT", "-1"],
        ["AUTOMODE", "0"],
        ["VOLPAN", format_number(track.volume), format_number(track.pan), "-1", "-1", "1"],
        ["MUTESOLO", "1" if track.mute else "0", str(track.solo), "0"],
        ["IPHASE", "0"],
        ["ISBUS", str(state), str(track.folder_delta)],
        ["SEL", "0"],
        ["NCHAN", "2"],
        ["FX", "1"],
        ["TRACKID", guid],
        ["MAINSEND", "1", "0"],
    ):
        node.append(RppLine.new(tokens, quoted=(False, tokens[0] == "NAME")))
    for item_index, item in enumerate(track.items):
        node.append(_item_node(item, guid_for("item", str(index), str(item_index))))
    return node


def _fade_tokens(key: str, shape: int, length_s: float) -> list[str]:
    return [key, str(shape), format_number(length_s), "0", str(shape), "0", "0", "0"]


def _item_node(item: ItemSpec, guid: str) -> RppNode:
    name = item.name if item.name is not None else PurePath(item.file.replace("\\", "/")).name
    node = RppNode.new("ITEM")
    for tokens in (
        ["POSITION", format_number(item.position_s)],
        ["SNAPOFFS", "0"],
        ["LENGTH", format_number(item.length_s)],
        ["LOOP", "1" if item.loop else "0"],
        ["ALLTAKES", "0"],
        _fade_tokens("FADEIN", item.fade_in_shape, item.fade_in_s),
        _fade_tokens("FADEOUT", item.fade_out_shape, item.fade_out_s),
        ["MUTE", "1" if item.mute else "0", "0"],
        ["SEL", "0"],
        ["IGUID", guid],
        ["NAME", name],
        ["VOLPAN", *map(format_number, (item.volume, item.take_pan, item.take_volume)), "-1"],
        ["SOFFS", format_number(item.source_offset_s)],
        _playrate_tokens(item),
        ["CHANMODE", str(item.channel_mode)],
        ["GUID", guid_for("take", guid)],
    ):
        node.append(RppLine.new(tokens, quoted=(False, tokens[0] == "NAME")))
    node.append(_source_node(item))
    if item.stretch_markers:
        node.append(RppLine.new(_stretch_marker_tokens(item.stretch_markers)))
    return node


def _playrate_tokens(item: ItemSpec) -> list[str]:
    rate, pitch = format_number(item.play_rate), format_number(item.pitch_semitones)
    return ["PLAYRATE", rate, "1" if item.preserve_pitch else "0", pitch, "-1", "0", "0.0025"]


def _stretch_marker_tokens(markers: Sequence[tuple[float, float]]) -> list[str]:
    tokens = ["SM"]
    for number, (position_s, source_s) in enumerate(markers):
        tokens += (["+"] if number else []) + [format_number(position_s), format_number(source_s)]
    return tokens


def file_source(file: str, kind: str | None = None) -> RppNode:
    """``<SOURCE KIND`` with ``FILE "file"``; the kind follows the file name if not given."""
    source = RppNode.new("SOURCE", [kind or source_kind_for(file)])
    source.append(RppLine.new(["FILE", file], quoted=(False, True)))
    return source


def _source_node(item: ItemSpec) -> RppNode:
    media = file_source(item.file, item.kind)
    if item.section_length_s is None and not item.reversed:
        return media
    whole = item.section_length_s is None
    section = RppNode.new("SOURCE", ["SECTION"])
    for tokens in (
        ["LENGTH", format_number(item.section_length_s or 0.0)],
        ["MODE", str((1 if whole else 0) | (2 if item.reversed else 0))],
        ["STARTPOS", format_number(0.0 if whole else item.section_start_s)],
        ["OVERLAP", "0.01"],
    ):
        section.append(RppLine.new(tokens))
    section.append(media)
    return section
