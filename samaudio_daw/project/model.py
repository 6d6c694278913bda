"""A typed, read-only view of a REAPER project: tracks, items, takes and sources.

Built on the lossless tree of :mod:`samaudio_daw.project.rpp`; every value keeps a
reference to its block (``node``) so later edits can copy lines verbatim. Times
are seconds on the project timeline; volumes are linear gains (1.0 = 0 dB; a
negative take volume inverts polarity); pans run from -1 (left) to 1 (right).

Where REAPER's format is not obvious:
- An item's first take is written inline in the ``<ITEM`` block; later takes
  start at a ``TAKE`` line (``TAKE SEL`` marks the active one, ``TAKE NULL`` an
  empty take). The item ``VOLPAN`` line holds item volume, first-take pan and
  first-take volume; later takes use ``TAKEVOLPAN pan volume``.
- ``<SOURCE SECTION`` wraps a parent source: ``STARTPOS`` and ``LENGTH`` in
  seconds, ``MODE`` bit 2 = reversed, bit 1 = the whole parent source (no section).
- ``FADEIN shape length auto_length shape curvature ...``: an automatic
  crossfade length (field 3), when above zero, is the fade REAPER plays.
- A ``MARKER`` line with flag bit 1 is a region bound: the first line with an
  index is its start, the second its end.
- ``PLAYRATE rate preserve_pitch pitch_semitones shift_mode ...``: REAPER writes
  rates like ``0.99999999999978`` after edits; a rate within ``1e-9`` of 1 is 1.
- ``SM pos srcpos [slope] + pos srcpos [slope] + ...``: stretch markers. ``pos``
  is the take's time from the item start before the play rate (item seconds x
  rate); ``srcpos`` the source position it plays there (the take offset
  included). Between markers the source moves linearly, outside them at speed 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from samaudio_daw.errors import UserError
from samaudio_daw.project import rpp
from samaudio_daw.project.media import MediaFinder, MediaLookup
from samaudio_daw.project.rpp import RppLine, RppNode

DEFAULT_SAMPLE_RATE = 44100
DEFAULT_TEMPO_BPM = 120.0
FILE_SOURCE_KINDS = ("WAVE", "FLAC", "MP3", "VORBIS", "OPUS", "WAVPACK", "VIDEO")
TAKE_ENVELOPES = ("VOLENV", "PANENV", "MUTEENV", "PITCHENV")
UNITY_RATE_TOLERANCE = 1e-9


class ProjectFormatError(UserError, ValueError):
    """A project value that cannot be read; the message names file, line and place."""


MAX_FOLDER_DEPTH = 1000
MAX_SAMPLE_RATE = 1_536_000
MAX_TIMELINE_S = 1e6  # about 11 days: longer than any session, short of absurd


def check_finite(name: str, value: float) -> None:
    """ValueError naming ``name`` unless ``value`` is a finite number."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_not_negative(name: str, value: float) -> None:
    check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")


@dataclass(frozen=True)
class Fade:
    """An item fade: length in seconds, REAPER shape number (0 = linear) and curvature."""

    length_s: float = 0.0
    shape: int = 0
    curvature: float = 0.0

    def __post_init__(self) -> None:
        _check_not_negative("fade length_s", self.length_s)
        if not isinstance(self.shape, int):
            raise TypeError(f"fade shape must be an int, got {type(self.shape).__name__}")
        check_finite("fade curvature", self.curvature)


@dataclass(frozen=True)
class Marker:
    index: int
    position_s: float
    name: str

    def __post_init__(self) -> None:
        check_finite("marker position_s", self.position_s)


@dataclass(frozen=True)
class Region:
    index: int
    start_s: float
    end_s: float
    name: str

    def __post_init__(self) -> None:
        check_finite("region start_s", self.start_s)
        check_finite("region end_s", self.end_s)
        if self.end_s < self.start_s:
            raise ValueError(f"region {self.index} ends ({self.end_s}) before it starts")


@dataclass(frozen=True)
class Source:
    """A take's media source.

    ``kind`` is REAPER's source type without the ``_OFFLINE_`` prefix (WAVE, FLAC,
    MP3, VORBIS, WAVPACK, SECTION, MIDI, EMPTY, CLICK, ...). File sources carry the
    path as written (``file``) and the file found on this machine (``path``) or why
    none was (``missing_reason``). A SECTION plays ``parent`` from
    ``section_start_s`` for ``section_length_s`` (None: the whole parent), reversed
    if ``reversed``.
    """

    kind: str
    file: str | None = None
    path: Path | None = None
    missing_reason: str | None = None
    offline: bool = False
    section_start_s: float = 0.0
    section_length_s: float | None = None
    reversed: bool = False
    parent: Source | None = None
    line_number: int | None = None
    node: RppNode = field(default_factory=lambda: RppNode.new("SOURCE"), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.kind:
            raise ValueError("source kind must not be empty")
        check_finite("section_start_s", self.section_start_s)
        if self.section_length_s is not None:
            _check_not_negative("section_length_s", self.section_length_s)
        if self.kind == "SECTION" and self.parent is None:
            raise ValueError("a SECTION source needs a parent source")

    @property
    def media(self) -> Source:
        """The innermost source: the one holding the file (through any SECTIONs)."""
        return self if self.parent is None else self.parent.media


@dataclass(frozen=True)
class StretchMarker:
    """A take stretch marker: take time ``position_s`` (item seconds x play rate, from
    the item start) plays source time ``source_s``; ``slope`` bends the rate until
    the next marker (0 = constant)."""

    position_s: float
    source_s: float
    slope: float = 0.0

    def __post_init__(self) -> None:
        check_finite("stretch marker position_s", self.position_s)
        check_finite("stretch marker source_s", self.source_s)
        check_finite("stretch marker slope", self.slope)


@dataclass(frozen=True)
class Take:
    """One take of an item. ``lines`` are the take's children inside the ``<ITEM`` block."""

    index: int
    name: str = ""
    guid: str = ""
    volume: float = 1.0
    pan: float = 0.0
    start_offset_s: float = 0.0
    play_rate: float = 1.0
    pitch_semitones: float = 0.0
    preserve_pitch: bool = True
    channel_mode: int = 0
    source: Source | None = None
    has_take_fx: bool = False
    has_active_envelopes: bool = False
    stretch_markers: tuple[StretchMarker, ...] = ()
    line_number: int | None = None
    lines: tuple[RppNode | RppLine, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        check_finite("take volume", self.volume)
        check_finite("take pan", self.pan)
        check_finite("take start_offset_s (SOFFS)", self.start_offset_s)
        check_finite("take play_rate", self.play_rate)
        if self.play_rate <= 0:
            raise ValueError(f"take play_rate must be positive, got {self.play_rate}")

    @property
    def is_empty(self) -> bool:
        return self.source is None

    @property
    def has_stretch_markers(self) -> bool:
        return bool(self.stretch_markers)

    @property
    def changes_pitch(self) -> bool:
        """Whether REAPER plays this take at another pitch or through a time-stretcher."""
        stretched = self.play_rate != 1.0 and self.preserve_pitch
        return stretched or self.pitch_semitones != 0.0 or self.has_stretch_markers


@dataclass(frozen=True)
class Item:
    """A media item on a track; ``index`` counts items within the track from 0."""

    index: int
    track_index: int
    position_s: float
    length_s: float
    guid: str = ""
    snap_offset_s: float = 0.0
    loop: bool = False
    play_all_takes: bool = False
    fade_in: Fade = Fade()
    fade_out: Fade = Fade()
    volume: float = 1.0
    mute: bool = False
    takes: tuple[Take, ...] = ()
    active_take_index: int = 0
    line_number: int | None = None
    node: RppNode = field(default_factory=lambda: RppNode.new("ITEM"), compare=False, repr=False)

    def __post_init__(self) -> None:
        check_finite("item position_s", self.position_s)
        if self.position_s < 0:
            raise ValueError(
                f"item position_s {self.position_s:g} is before the project start (negative)"
            )
        for name, value in (("position_s", self.position_s), ("length_s", self.length_s)):
            if value > MAX_TIMELINE_S:
                raise ValueError(f"item {name} {value:g} is over {MAX_TIMELINE_S:g} s")
        _check_not_negative("item length_s", self.length_s)
        check_finite("item volume", self.volume)
        if self.takes and not 0 <= self.active_take_index < len(self.takes):
            raise ValueError(
                f"active take {self.active_take_index} out of range (item has {len(self.takes)})"
            )

    @property
    def end_s(self) -> float:
        return self.position_s + self.length_s

    @property
    def active_take(self) -> Take | None:
        return self.takes[self.active_take_index] if self.takes else None

    @property
    def play_rate(self) -> float:
        take = self.active_take
        return 1.0 if take is None else take.play_rate


@dataclass(frozen=True)
class Track:
    """A track: ``index`` counts tracks from 0; folder fields come from ``ISBUS``.

    ``folder_state`` is 0 (plain), 1 (folder parent) or 2 (last in a folder);
    ``folder_delta`` how the folder level changes after this track;
    ``folder_depth`` how deep this track sits (0 = top level).
    """

    index: int
    name: str
    guid: str = ""
    folder_state: int = 0
    folder_delta: int = 0
    folder_depth: int = 0
    mute: bool = False
    solo: int = 0
    volume: float = 1.0
    pan: float = 0.0
    items: tuple[Item, ...] = ()
    line_number: int | None = None
    node: RppNode = field(default_factory=lambda: RppNode.new("TRACK"), compare=False, repr=False)

    def __post_init__(self) -> None:
        check_finite("track volume", self.volume)
        check_finite("track pan", self.pan)
        if self.folder_depth < 0:
            raise ValueError(f"track folder_depth must not be negative, got {self.folder_depth}")

    @property
    def is_folder(self) -> bool:
        return self.folder_delta > 0


@dataclass(frozen=True)
class Project:
    """A REAPER project as read from ``path``; ``tree`` is its lossless text tree."""

    path: Path
    sample_rate: int
    tempo_bpm: float = DEFAULT_TEMPO_BPM
    time_signature: tuple[int, int] = (4, 4)
    markers: tuple[Marker, ...] = ()
    regions: tuple[Region, ...] = ()
    tracks: tuple[Track, ...] = ()
    record_path: str = ""
    record_path_secondary: str = ""
    tree: RppNode = field(
        default_factory=lambda: RppNode.new("REAPER_PROJECT"), compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or not 0 < self.sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(
                f"sample_rate must be a positive int up to {MAX_SAMPLE_RATE}, "
                f"got {self.sample_rate!r}"
            )
        check_finite("tempo_bpm", self.tempo_bpm)
        if self.tempo_bpm <= 0:
            raise ValueError(f"tempo_bpm must be positive, got {self.tempo_bpm}")

    @property
    def folder(self) -> Path:
        return self.path.parent

    def track_named(self, name: str) -> Track:
        """The one track called ``name``; KeyError naming the choices if none or several."""
        matches = [track for track in self.tracks if track.name == name]
        if len(matches) != 1:
            names = ", ".join(repr(track.name) for track in self.tracks)
            problem = "no track" if not matches else f"{len(matches)} tracks"
            raise KeyError(f"{self.path}: {problem} named {name!r}; tracks are: {names}")
        return matches[0]

    def descendants(self, track: Track) -> tuple[Track, ...]:
        """The tracks inside folder ``track`` (children, grandchildren...), in order."""
        inside: list[Track] = []
        for later in self.tracks[track.index + 1 :]:
            if later.folder_depth <= track.folder_depth:
                break
            inside.append(later)
        return tuple(inside)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Context:
    """Where in the project a value is read, for error messages."""

    source: str
    where: str = ""

    def at(self, where: str) -> _Context:
        return _Context(self.source, f"{self.where}, {where}" if self.where else where)

    def error(self, line_number: int | None, problem: str) -> ProjectFormatError:
        place = f" ({self.where})" if self.where else ""
        return ProjectFormatError(
            f"{self.source}:{line_number or '?'}: {problem}{place}; "
            "fix the line in a text editor or re-save the project in REAPER"
        )


def _float(node: RppNode, key: str, index: int, default: float, ctx: _Context) -> float:
    line = node.line(key)
    if line is None or len(line.values) <= index:
        return default
    text = line.values[index]
    try:
        value = float(text)
    except ValueError:
        raise ctx.error(
            line.line_number, f"{key} field {index + 1} {text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise ctx.error(line.line_number, f"{key} field {index + 1} {text!r} is not finite")
    return value


def _number(text: str) -> float | None:
    """``text`` as a finite number within the range of exact integers, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= _MAX_EXACT else None


_MAX_EXACT = float(2**53)


def _int(node: RppNode, key: str, index: int, default: int, ctx: _Context) -> int:
    value = _float(node, key, index, float(default), ctx)
    if abs(value) > _MAX_EXACT:
        line = node.line(key)
        raise ctx.error(
            line.line_number if line else None, f"{key} field {index + 1} {value:g} is out of range"
        )
    return int(value)


def _text(node: RppNode, key: str, default: str = "") -> str:
    values = node.values(key)
    return values[0] if values else default


_T = TypeVar("_T")


def _make(
    ctx: _Context,
    at_line: int | None,
    build: Callable[..., _T],
    /,
    *args: Any,
    **kwargs: Any,
) -> _T:
    """``build(*args, **kwargs)``, its ValueError/TypeError turned into a located error."""
    try:
        return build(*args, **kwargs)
    except (ValueError, TypeError) as error:
        raise ctx.error(at_line, str(error)) from None


def read_project(path: Path | str, media_dirs: Sequence[Path] = ()) -> Project:
    """Read ``path`` into a :class:`Project`; media paths are resolved against its folder,
    then looked up by name in ``media_dirs`` (see :class:`MediaFinder`)."""
    path = Path(path)
    return project_from_tree(rpp.load(path), path, media_dirs)


def project_from_tree(tree: RppNode, path: Path | str, media_dirs: Sequence[Path] = ()) -> Project:
    """The typed view of a parsed project; ``path`` is where the project lives (or will)."""
    path = Path(path)
    ctx = _Context(str(path))
    if tree.tag != "REAPER_PROJECT":
        raise ctx.error(tree.line_number, f"expected <REAPER_PROJECT, found <{tree.tag}")
    record = tree.values("RECORD_PATH") or ()
    record_paths = tuple(record[:2])

    resolve = MediaFinder(path.parent, record_paths, media_dirs).find

    markers, regions = _markers_and_regions(tree, ctx)
    sample_rate = _int(tree, "SAMPLERATE", 0, DEFAULT_SAMPLE_RATE, ctx)
    return _make(
        ctx,
        tree.line_number,
        Project,
        path=path,
        sample_rate=sample_rate,
        tempo_bpm=_float(tree, "TEMPO", 0, DEFAULT_TEMPO_BPM, ctx),
        time_signature=(_int(tree, "TEMPO", 1, 4, ctx), _int(tree, "TEMPO", 2, 4, ctx)),
        markers=markers,
        regions=regions,
        tracks=_tracks(tree, ctx, resolve),
        record_path=record[0] if record else "",
        record_path_secondary=record[1] if len(record) > 1 else "",
        tree=tree,
    )


def _markers_and_regions(
    tree: RppNode, ctx: _Context
) -> tuple[tuple[Marker, ...], tuple[Region, ...]]:
    markers: list[Marker] = []
    regions: list[Region] = []
    open_regions: dict[int, tuple[float, str, int | None]] = {}
    for line in tree.lines("MARKER"):
        values = line.values
        if len(values) < 2:
            raise ctx.error(line.line_number, "MARKER needs an index and a position")
        numbers = [_number(text) for text in (values[0], values[1], *values[3:4])]
        if any(number is None for number in numbers):
            raise ctx.error(
                line.line_number, f"MARKER values {list(values[:4])} are not finite numbers"
            )
        index, position_s = int(numbers[0] or 0), float(numbers[1] or 0.0)
        flags = int(numbers[2] or 0) if len(numbers) > 2 else 0
        name = values[2] if len(values) > 2 else ""
        if not flags & 1:
            markers.append(_make(ctx, line.line_number, Marker, index, position_s, name))
        elif index in open_regions:
            start_s, start_name, _ = open_regions.pop(index)
            region = _make(ctx, line.line_number, Region, index, start_s, position_s, start_name)
            regions.append(region)
        else:
            open_regions[index] = (position_s, name, line.line_number)
    for index, (start_s, name, number) in open_regions.items():
        regions.append(_make(ctx, number, Region, index, start_s, start_s, name))
    return tuple(markers), tuple(regions)


def _tracks(
    tree: RppNode, ctx: _Context, resolve: Callable[[str], MediaLookup]
) -> tuple[Track, ...]:
    tracks: list[Track] = []
    depth = 0
    for index, node in enumerate(tree.find_all("TRACK")):
        track = _track(node, index, max(depth, 0), ctx, resolve)
        tracks.append(track)
        # REAPER closes at most the folders that are open; deeper than any real session
        # (a hostile ISBUS 1 100000000) is refused rather than carried into indentation.
        depth += track.folder_delta
        if abs(depth) > MAX_FOLDER_DEPTH:
            raise ctx.error(
                track.line_number,
                f"track {index + 1} {track.name!r}: folders nested {depth} deep, over the "
                f"limit of {MAX_FOLDER_DEPTH} (ISBUS)",
            )
    return tuple(tracks)


def _track(
    node: RppNode,
    index: int,
    depth: int,
    ctx: _Context,
    resolve: Callable[[str], MediaLookup],
) -> Track:
    name = _text(node, "NAME")
    ctx = ctx.at(f"track {index + 1} {name!r}")
    guid = node.params[0] if node.params else _text(node, "TRACKID")
    items = tuple(
        _item(item_node, item_index, index, ctx, resolve)
        for item_index, item_node in enumerate(node.find_all("ITEM"))
    )
    return _make(
        ctx,
        node.line_number,
        Track,
        index=index,
        name=name,
        guid=guid,
        folder_state=_int(node, "ISBUS", 0, 0, ctx),
        folder_delta=_int(node, "ISBUS", 1, 0, ctx),
        folder_depth=depth,
        mute=_int(node, "MUTESOLO", 0, 0, ctx) != 0,
        solo=_int(node, "MUTESOLO", 1, 0, ctx),
        volume=_float(node, "VOLPAN", 0, 1.0, ctx),
        pan=_float(node, "VOLPAN", 1, 0.0, ctx),
        items=items,
        line_number=node.line_number,
        node=node,
    )


def _fade(node: RppNode, key: str, ctx: _Context) -> Fade:
    line = node.line(key)
    auto_s = _float(node, key, 2, 0.0, ctx)
    length_s = auto_s if auto_s > 0 else _float(node, key, 1, 0.0, ctx)
    number = None if line is None else line.line_number
    return _make(
        ctx,
        number,
        Fade,
        max(length_s, 0.0),
        _int(node, key, 0, 0, ctx),
        _float(node, key, 4, 0.0, ctx),
    )


def _item(
    node: RppNode,
    index: int,
    track_index: int,
    ctx: _Context,
    resolve: Callable[[str], MediaLookup],
) -> Item:
    ctx = ctx.at(f"item {index + 1}")
    if node.line("POSITION") is None or node.line("LENGTH") is None:
        raise ctx.error(node.line_number, "ITEM has no POSITION or LENGTH line")
    segments, active, first_inline = take_segments(node)
    takes = tuple(
        _take(
            segment,
            take_index,
            first_inline and take_index == 0,
            node,
            ctx.at(f"take {take_index + 1}"),
            resolve,
        )
        for take_index, segment in enumerate(segments)
    )
    return _make(
        ctx,
        node.line_number,
        Item,
        index=index,
        track_index=track_index,
        position_s=_float(node, "POSITION", 0, 0.0, ctx),
        length_s=_float(node, "LENGTH", 0, 0.0, ctx),
        guid=_text(node, "IGUID"),
        snap_offset_s=_float(node, "SNAPOFFS", 0, 0.0, ctx),
        loop=_int(node, "LOOP", 0, 0, ctx) != 0,
        play_all_takes=_int(node, "ALLTAKES", 0, 0, ctx) != 0,
        fade_in=_fade(node, "FADEIN", ctx),
        fade_out=_fade(node, "FADEOUT", ctx),
        volume=_float(node, "VOLPAN", 0, 1.0, ctx),
        mute=_int(node, "MUTE", 0, 0, ctx) != 0,
        takes=takes,
        active_take_index=min(active, max(len(takes) - 1, 0)),
        line_number=node.line_number,
        node=node,
    )


def take_segments(item: RppNode) -> tuple[list[list[RppNode | RppLine]], int, bool]:
    """The item's children split at ``TAKE`` lines, the active take's index, and
    whether the first take is written inline (in segment 0, with the item's lines).

    Segment 0 is dropped when it holds no take at all (an empty item, or an
    empty first take that REAPER leaves out).
    """
    segments: list[list[RppNode | RppLine]] = [[]]
    active = 0
    for child in item.children:
        if isinstance(child, RppLine) and child.key == "TAKE":
            segments.append([])
            if "SEL" in child.values:
                active = len(segments) - 1
        segments[-1].append(child)
    first_has_take = any(
        (isinstance(c, RppNode) and c.tag == "SOURCE")
        or (isinstance(c, RppLine) and c.key == "NAME")
        for c in segments[0]
    )
    if not first_has_take:
        return segments[1:], max(active - 1, 0), False
    return segments, active, True


def _take(
    segment: list[RppNode | RppLine],
    index: int,
    is_first: bool,
    item: RppNode,
    ctx: _Context,
    resolve: Callable[[str], MediaLookup],
) -> Take:
    holder = RppNode("TAKE", children=segment)  # a throwaway view for line lookups
    head = segment[0] if segment else None
    name_line = holder.line("NAME")
    number = item.line_number
    if isinstance(head, RppLine) and head.key == "TAKE":
        number = head.line_number
    elif name_line is not None:
        number = name_line.line_number
    if isinstance(head, RppLine) and head.key == "TAKE" and "NULL" in head.values:
        return Take(index=index, line_number=number, lines=tuple(segment))
    if is_first:
        volume, pan = _float(item, "VOLPAN", 2, 1.0, ctx), _float(item, "VOLPAN", 1, 0.0, ctx)
    else:
        volume = _float(holder, "TAKEVOLPAN", 1, 1.0, ctx)
        pan = _float(holder, "TAKEVOLPAN", 0, 0.0, ctx)
    source_node = holder.find("SOURCE")
    source = None if source_node is None else _source(source_node, ctx, resolve)
    return _make(
        ctx,
        number,
        Take,
        index=index,
        name=_text(holder, "NAME"),
        guid=_text(holder, "GUID"),
        volume=volume,
        pan=pan,
        start_offset_s=_float(holder, "SOFFS", 0, 0.0, ctx),
        play_rate=_play_rate(holder, ctx),
        pitch_semitones=_float(holder, "PLAYRATE", 2, 0.0, ctx),
        preserve_pitch=_int(holder, "PLAYRATE", 1, 1, ctx) != 0,
        channel_mode=_int(holder, "CHANMODE", 0, 0, ctx),
        source=source,
        has_take_fx=any(fx.nodes() for fx in holder.find_all("TAKEFX")),
        has_active_envelopes=any(_envelope_active(holder, tag) for tag in TAKE_ENVELOPES),
        stretch_markers=_stretch_markers(holder, ctx),
        line_number=number,
        lines=tuple(segment),
    )


def _play_rate(holder: RppNode, ctx: _Context) -> float:
    rate = _float(holder, "PLAYRATE", 0, 1.0, ctx)
    return 1.0 if abs(rate - 1.0) <= UNITY_RATE_TOLERANCE else rate


def _stretch_markers(holder: RppNode, ctx: _Context) -> tuple[StretchMarker, ...]:
    """The take's ``SM`` lines: groups of ``pos srcpos [slope]`` separated by ``+``."""
    markers: list[StretchMarker] = []
    for line in holder.lines("SM"):
        groups: list[list[str]] = [[]]
        for token in line.values:
            if token == "+":
                groups.append([])
            else:
                groups[-1].append(token)
        for group in groups:
            if not group:
                continue
            if len(group) < 2:
                raise ctx.error(line.line_number, f"SM marker {group} needs pos and srcpos")
            try:
                values = [float(token) for token in group[:3]]
            except ValueError:
                raise ctx.error(line.line_number, f"SM marker {group} is not numbers") from None
            markers.append(_make(ctx, line.line_number, StretchMarker, *values))
    return tuple(sorted(markers, key=lambda marker: marker.position_s))


def _envelope_active(holder: RppNode, tag: str) -> bool:
    for envelope in holder.find_all(tag):
        act = envelope.values("ACT")
        if act and act[0] != "0" and envelope.lines("PT"):
            return True
    return False


def _source(node: RppNode, ctx: _Context, resolve: Callable[[str], MediaLookup]) -> Source:
    written_kind = node.params[0] if node.params else ""
    offline = written_kind.startswith("_OFFLINE_")
    kind = written_kind[len("_OFFLINE_") :] if offline else written_kind
    if not kind:
        raise ctx.error(node.line_number, "SOURCE block names no source type")
    if kind == "SECTION":
        return _section_source(node, ctx, resolve)
    file = node.values("FILE")
    if not file:
        missing = f"{kind} source has no FILE line" if kind in FILE_SOURCE_KINDS else None
        return Source(
            kind, offline=offline, missing_reason=missing, line_number=node.line_number, node=node
        )
    lookup = resolve(file[0])
    return Source(
        kind,
        file=file[0],
        path=lookup.path,
        missing_reason=lookup.reason,
        offline=offline,
        line_number=node.line_number,
        node=node,
    )


def _section_source(node: RppNode, ctx: _Context, resolve: Callable[[str], MediaLookup]) -> Source:
    inner = node.find("SOURCE")
    if inner is None:
        raise ctx.error(node.line_number, "SOURCE SECTION holds no inner <SOURCE block")
    parent = _source(inner, ctx, resolve)
    mode = _int(node, "MODE", 0, 0, ctx)
    whole = bool(mode & 1)
    return _make(
        ctx,
        node.line_number,
        Source,
        "SECTION",
        section_start_s=0.0 if whole else _float(node, "STARTPOS", 0, 0.0, ctx),
        section_length_s=None if whole else _section_length(node, ctx),
        reversed=bool(mode & 2),
        parent=parent,
        line_number=node.line_number,
        node=node,
    )


def _section_length(node: RppNode, ctx: _Context) -> float | None:
    length_s = _float(node, "LENGTH", 0, 0.0, ctx)
    return length_s if length_s > 0 else None


def track_lines(track: Track, keys: Sequence[str]) -> list[RppLine]:
    """The track's own lines with these keys (e.g. "VOLPAN"), for copying verbatim."""
    return [line for line in track.node.lines() if line.key in keys]
