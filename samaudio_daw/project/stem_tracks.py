"""Adding separated stems to a project as a folder of new tracks.

Right after a processed track (after its last child when it is a folder) goes a
folder track ``<track name> stems`` holding one track per stem. The folder sits
at the original track's level in the same parent folder; whatever folder ends
the original track (or its last child) closed move to the folder's last child,
so the tracks around keep their places. The folder copies the original track's
VOLPAN (and NCHAN) line, so soloing it sounds like the original track; the
original track is muted unless asked otherwise. Track receives (``AUXRECV``)
that point past the new tracks are renumbered.

Item mode: each stem item copies the original item's POSITION, SNAPOFFS, LENGTH,
FADEIN, FADEOUT, MUTE (and COLOR, BEAT, FADEFLAG) lines and its VOLPAN line
verbatim. Its take plays the stem file, which holds the item's source span
(:func:`~samaudio_daw.project.timeline.source_span`: the part of the source the
item plays, unrolled when it loops), so it does not loop and its offset is the
original's moved by where the span starts. It keeps the original take's PLAYRATE
line (rate, preserve pitch, pitch, shift mode), its stretch markers (source
positions moved the same way, so each points at the same sound), its take FX and
its take envelopes: REAPER plays the stems the way it played the original. Track mode: one item per stem
spanning the rendered range, at unity gain and without fades.

Takes (``add_stem_takes``): instead of a folder, each original item gains one take per
stem after its own takes, built the same way as an item-mode stem's take; the
original take stays active (a plain ``TAKE`` line, never ``TAKE SEL``) and the track
stays unmuted, so the project sounds as before until a stem take is chosen.

Stem tracks are named by ``names`` (stem -> track name, default the stem's name) and
coloured by ``colors`` (stem -> ``#RRGGBB``) in REAPER's PEAKCOL encoding
(:func:`peakcol`).

The input tree is never changed; a changed copy is returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from samaudio_daw.project.builder import file_source
from samaudio_daw.project.media import relative_media_path
from samaudio_daw.project.model import TAKE_ENVELOPES, Item, Track, take_segments
from samaudio_daw.project.rpp import RppLine, RppNode, format_number, guid_for
from samaudio_daw.project.timeline import source_span

ITEM_LINES_COPIED = ("POSITION", "SNAPOFFS", "LENGTH")
ITEM_LINES_COPIED_AFTER = ("COLOR", "BEAT", "FADEIN", "FADEOUT", "FADEFLAG", "MUTE")
DEFAULT_PLAYRATE = ("1", "1", "0", "-1", "0", "0.0025")
TAKE_BLOCKS_COPIED = ("TAKEFX", *TAKE_ENVELOPES)


def stem_folder_name(track_name: str) -> str:
    """The folder holding a track's stems, in every session format: ``<name> stems``."""
    return f"{track_name} stems"


def stem_clip_name(stem: str, clip_name: str | None) -> str:
    """A stem's item, take or clip, in every session format: ``<stem> - <original name>``
    (the stem's name alone when the original has none)."""
    return f"{stem} - {clip_name}" if clip_name else stem


CUSTOM_COLOR_FLAG = 0x1000000
"""REAPER's "custom colour set" bit, or-ed into PEAKCOL and I_CUSTOMCOLOR."""


def peakcol(color: str) -> int:
    """``#RRGGBB`` as a PEAKCOL value: ``0x1000000 | 0xBBGGRR``.

    REAPER keeps colours in the OS's native order (``ColorToNative``); a project file
    carries no OS, so the Windows order (``RGB()``: red in the low byte) is written,
    the order of projects saved on Windows. REAPER on macOS or Linux may show such a
    colour with red and blue swapped; the REAPER import calls ``ColorToNative`` and is
    right everywhere.
    """
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return CUSTOM_COLOR_FLAG | (blue << 16) | (green << 8) | red


@dataclass(frozen=True)
class _StemTrack:
    name: str  # the stem's name
    items: tuple[RppNode, ...]
    track_name: str = ""
    color: str | None = None


def add_stem_tracks(
    tree: RppNode,
    track: Track,
    stems_by_item: Mapping[int, Mapping[str, Path]],
    *,
    new_project_path: Path,
    mute_original: bool = True,
    names: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> RppNode:
    """A copy of ``tree`` with item-mode stems of ``track`` in a folder after it.

    ``stems_by_item`` maps an item's index on the track (``Item.index``) to its
    stems, ``{stem name: stem file}``; stem tracks follow the order the names first
    appear (put the residual last). Items without stems (skipped) get none.
    ``new_project_path`` is where the project will be written: stem files are
    written relative to its folder.
    """
    new_tree = tree.copy()
    track_node = _find_track_node(new_tree, track)
    items = _item_nodes(track_node, track, stems_by_item)
    stem_tracks = []
    for name in _stem_names(stems_by_item.values()):
        stem_items = []
        for index, stems in stems_by_item.items():
            if name in stems:
                folder = new_project_path.parent
                source = file_source(relative_media_path(stems[name], folder))
                original = _item_at(track, index)
                stem_items.append(
                    _stem_item(items[index], original, source, name, track.guid, index)
                )
        stem_tracks.append(_stem_track_of(name, tuple(stem_items), names, colors))
    _insert_folder(new_tree, track_node, track.name, stem_tracks, mute_original)
    return new_tree


def add_stem_takes(
    tree: RppNode,
    track: Track,
    stems_by_item: Mapping[int, Mapping[str, Path]],
    *,
    new_project_path: Path,
    names: Mapping[str, str] | None = None,
) -> RppNode:
    """A copy of ``tree`` where each item of ``track`` in ``stems_by_item`` gains one
    take per stem (named by ``names``), after its own takes; the active take is kept.
    """
    new_tree = tree.copy()
    track_node = _find_track_node(new_tree, track)
    items = _item_nodes(track_node, track, stems_by_item)
    folder = new_project_path.parent
    for index, stems in stems_by_item.items():
        original = _item_at(track, index)
        for name, path in stems.items():
            source = file_source(relative_media_path(path, folder))
            guid = guid_for("stem-take", track.guid, str(index), name)
            take_name = (names or {}).get(name, name)
            take = _stem_take_lines(
                items[index], original, source, take_name, guid, first_take=False
            )
            items[index].append(_new_line("TAKE"))
            for line in take:
                items[index].append(line)
    return new_tree


def _item_nodes(
    track_node: RppNode, track: Track, stems_by_item: Mapping[int, Mapping[str, Path]]
) -> list[RppNode]:
    items = track_node.find_all("ITEM")
    for index in stems_by_item:
        if not 0 <= index < len(items):
            raise IndexError(
                f"track {track.name!r} has {len(items)} items; no item {index} "
                "(stems_by_item keys are Item.index values)"
            )
    return items


def _stem_track_of(
    name: str,
    items: tuple[RppNode, ...],
    names: Mapping[str, str] | None,
    colors: Mapping[str, str] | None,
) -> _StemTrack:
    return _StemTrack(name, items, (names or {}).get(name, name), (colors or {}).get(name))


def add_track_stems(
    tree: RppNode,
    track: Track,
    stems: Mapping[str, Path],
    start_s: float,
    end_s: float,
    *,
    new_project_path: Path,
    mute_original: bool = True,
    names: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> RppNode:
    """A copy of ``tree`` with track-mode stems of ``track``: one item per stem file,
    each spanning ``start_s``..``end_s`` (the range the track was rendered over).
    """
    if not end_s > start_s:
        raise ValueError(f"stem range ends ({end_s} s) before it starts ({start_s} s)")
    new_tree = tree.copy()
    track_node = _find_track_node(new_tree, track)
    folder = new_project_path.parent
    stem_tracks = []
    for name, path in stems.items():
        source = file_source(relative_media_path(path, folder))
        item = _span_item(start_s, end_s, source, name, track.guid)
        stem_tracks.append(_stem_track_of(name, (item,), names, colors))
    _insert_folder(new_tree, track_node, track.name, stem_tracks, mute_original)
    return new_tree


def _stem_names(stem_maps: Iterable[Mapping[str, Path]]) -> list[str]:
    names: list[str] = []
    for stems in stem_maps:
        for name in stems:
            if name not in names:
                names.append(name)
    return names


def _track_guid(node: RppNode) -> str:
    if node.params:
        return node.params[0]
    values = node.values("TRACKID")
    return values[0] if values else ""


def _find_track_node(tree: RppNode, track: Track) -> RppNode:
    """The ``<TRACK`` block of ``track`` in ``tree``: by GUID, else by position."""
    nodes = tree.find_all("TRACK")
    if track.guid:
        found = [node for node in nodes if _track_guid(node) == track.guid]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"{len(found)} tracks share the GUID {track.guid} of track {track.name!r}; "
                "open and re-save the project in REAPER to give them their own"
            )
    if 0 <= track.index < len(nodes) and not _track_guid(nodes[track.index]):
        return nodes[track.index]
    raise ValueError(
        f"track {track.index + 1} {track.name!r} ({track.guid}) is not in this project"
    )


# --------------------------------------------------------------------------- items


def _new_line(key: str, *values: str) -> RppLine:
    return RppLine.new([key, *values])


def _item_segment(item: RppNode) -> list[RppNode | RppLine]:
    """The item's own lines and its inline first take (everything before a TAKE line)."""
    segment = []
    for child in item.children:
        if isinstance(child, RppLine) and child.key == "TAKE":
            break
        segment.append(child)
    return segment


def _active_take_lines(item: RppNode) -> tuple[list[RppNode | RppLine], bool]:
    """The active take's children, and whether it is the inline first take."""
    segments, active, first_inline = take_segments(item)
    if not segments:
        return [], False
    return segments[active], first_inline and active == 0


def _copied(lines: list[RppNode | RppLine], key: str) -> RppLine | None:
    for child in lines:
        if isinstance(child, RppLine) and child.key == key:
            return RppLine(
                child.tokens,
                quoted=child.quoted,
                raw=child.raw,
                indent=child.indent,
                ending=child.ending,
            )
    return None


def _volpan_line(item: RppNode) -> RppLine:
    """The item's VOLPAN line verbatim, or one built from item volume and the active
    take's TAKEVOLPAN when the active take is not the first."""
    segment = _item_segment(item)
    take_lines, inline = _active_take_lines(item)
    item_volpan = _copied(segment, "VOLPAN")
    if inline:
        return item_volpan or _new_line("VOLPAN", "1", "0", "1", "-1")
    item_volume = item_volpan.values[0] if item_volpan and item_volpan.values else "1"
    take = _copied(take_lines, "TAKEVOLPAN")
    pan, volume, law = ((take.values if take else ()) + ("0", "1", "-1"))[:3]
    return _new_line("VOLPAN", item_volume, pan, volume, law)


def _item_at(track: Track, index: int) -> Item | None:
    found = [item for item in track.items if item.index == index]
    return found[0] if found else None


def _stem_offset_s(original: Item | None) -> tuple[float, float]:
    """(stem take's SOFFS, shift of source positions): the original's moved by where
    the stem file (the item's source span) starts in the original source."""
    take = original.active_take if original else None
    if original is None or take is None:
        return 0.0, 0.0
    start_s = source_span(original).start_s
    return take.start_offset_s - start_s, -start_s


def _stretch_marker_line(original: Item | None, shift_s: float) -> RppLine | None:
    take = original.active_take if original else None
    if take is None or not take.stretch_markers:
        return None
    tokens: list[str] = ["SM"]
    for number, marker in enumerate(take.stretch_markers):
        if number:
            tokens.append("+")
        tokens += [format_number(marker.position_s), format_number(marker.source_s + shift_s)]
        if marker.slope:
            tokens.append(format_number(marker.slope))
    return RppLine.new(tokens)


def _take_blocks(take_lines: list[RppNode | RppLine]) -> tuple[list[RppNode], list[RppNode]]:
    """Copies of the take's FX chain and envelopes: those before its SOURCE, those after."""
    before: list[RppNode] = []
    after: list[RppNode] = []
    seen_source = False
    for child in take_lines:
        if isinstance(child, RppNode) and child.tag == "SOURCE":
            seen_source = True
        elif isinstance(child, RppNode) and child.tag in TAKE_BLOCKS_COPIED:
            (after if seen_source else before).append(child.copy())
    return before, after


def _stem_item(
    item: RppNode,
    original: Item | None,
    source: RppNode,
    stem: str,
    track_guid: str,
    index: int,
) -> RppNode:
    """A copy of ``item`` whose active take plays ``source`` (the stem of its source span)."""
    segment = _item_segment(item)
    take_lines, _ = _active_take_lines(item)
    guid = guid_for("stem-item", track_guid, str(index), stem)
    take_name = _copied(take_lines, "NAME")
    name = stem_clip_name(stem, take_name.values[0] if take_name and take_name.values else None)
    node = RppNode.new("ITEM")
    for key in ITEM_LINES_COPIED:
        _append_copy(node, segment, key)
    node.append(_new_line("LOOP", "0"))
    node.append(_new_line("ALLTAKES", "0"))
    for key in ITEM_LINES_COPIED_AFTER:
        _append_copy(node, segment, key)
    node.append(_new_line("SEL", "0"))
    node.append(_new_line("IGUID", guid))
    take_guid = guid_for("stem-take", guid)
    for line in _stem_take_lines(item, original, source, name, take_guid, first_take=True):
        node.append(line)
    return node


def _takevolpan_line(item: RppNode) -> RppLine:
    """The active take's pan, volume and pan law as a TAKEVOLPAN line (a later take's)."""
    take_lines, inline = _active_take_lines(item)
    if inline:
        volpan = _copied(_item_segment(item), "VOLPAN")
        values = volpan.values[1:4] if volpan else ()
    else:
        takevolpan = _copied(take_lines, "TAKEVOLPAN")
        values = takevolpan.values[:3] if takevolpan else ()
    pan, volume, law = (tuple(values) + ("0", "1", "-1")[len(values) :])[:3]
    return _new_line("TAKEVOLPAN", pan, volume, law)


def _stem_take_lines(
    item: RppNode,
    original: Item | None,
    source: RppNode,
    name: str,
    take_guid: str,
    *,
    first_take: bool,
) -> list[RppNode | RppLine]:
    """A take playing ``source`` the way ``item``'s active take plays its source.

    A stem item's first (inline) take carries the item's VOLPAN; a take added after
    others carries its own TAKEVOLPAN.
    """
    take_lines, _ = _active_take_lines(item)
    lines: list[RppNode | RppLine] = [RppLine.new(["NAME", name], quoted=(False, True))]
    lines.append(_volpan_line(item) if first_take else _takevolpan_line(item))
    offset_s, shift_s = _stem_offset_s(original)
    lines.append(_new_line("SOFFS", format_number(offset_s)))
    lines.append(_copied(take_lines, "PLAYRATE") or _new_line("PLAYRATE", *DEFAULT_PLAYRATE))
    lines.append(_new_line("CHANMODE", "0"))
    lines.append(_new_line("GUID", take_guid))
    before, after = _take_blocks(take_lines)
    lines.extend(before)
    lines.append(source)
    lines.extend(after)
    markers = _stretch_marker_line(original, shift_s)
    if markers is not None:
        lines.append(markers)
    return lines


def _append_copy(node: RppNode, lines: list[RppNode | RppLine], key: str) -> None:
    copied = _copied(lines, key)
    if copied is not None:
        node.append(copied)


def _span_item(
    start_s: float, end_s: float, source: RppNode, stem: str, track_guid: str
) -> RppNode:
    guid = guid_for("stem-span", track_guid, stem, format_number(start_s))
    node = RppNode.new("ITEM")
    for tokens in (
        ["POSITION", format_number(start_s)],
        ["SNAPOFFS", "0"],
        ["LENGTH", format_number(end_s - start_s)],
        ["LOOP", "0"],
        ["ALLTAKES", "0"],
        ["FADEIN", "0", "0", "0", "0", "0", "0", "0"],
        ["FADEOUT", "0", "0", "0", "0", "0", "0", "0"],
        ["MUTE", "0", "0"],
        ["SEL", "0"],
        ["IGUID", guid],
        ["NAME", stem],
        ["VOLPAN", "1", "0", "1", "-1"],
        ["SOFFS", "0"],
        ["PLAYRATE", *DEFAULT_PLAYRATE],
        ["CHANMODE", "0"],
        ["GUID", guid_for("stem-take", guid)],
    ):
        node.append(RppLine.new(tokens, quoted=(False, tokens[0] == "NAME")))
    node.append(source)
    return node


# --------------------------------------------------------------------------- tracks


def _isbus(node: RppNode) -> tuple[int, int]:
    values = node.values("ISBUS") or ()
    try:
        state = int(float(values[0])) if values else 0
        delta = int(float(values[1])) if len(values) > 1 else 0
    except ValueError:
        raise ValueError(
            f"line {node.line_number}: ISBUS {list(values)} is not two numbers; "
            "re-save the project in REAPER"
        ) from None
    return state, delta


def _set_isbus(node: RppNode, delta: int) -> None:
    state = 1 if delta > 0 else (2 if delta < 0 else 0)
    node.set_values("ISBUS", [str(state), str(delta)])


def _levels(tracks: list[RppNode]) -> list[int]:
    """Each track's folder level (0 = top), from the ISBUS deltas before it."""
    levels, level = [], 0
    for node in tracks:
        levels.append(level)
        level = max(level + _isbus(node)[1], 0)
    return levels


def _last_in_block(tracks: list[RppNode], levels: list[int], index: int) -> int:
    """The original track, or its last descendant when it opens a folder."""
    if _isbus(tracks[index])[1] <= 0:
        return index
    last = index
    for later in range(index + 1, len(tracks)):
        if levels[later] <= levels[index]:
            break
        last = later
    return last


def _insert_folder(
    tree: RppNode,
    track_node: RppNode,
    track_name: str,
    stem_tracks: list[_StemTrack],
    mute_original: bool,
) -> None:
    if not stem_tracks:
        raise ValueError(f"no stems to add for track {track_name!r}")
    tracks = tree.find_all("TRACK")
    index = next(i for i, node in enumerate(tracks) if node is track_node)
    levels = _levels(tracks)
    end = _last_in_block(tracks, levels, index)
    level_after = levels[end] + _isbus(tracks[end])[1]
    new_end_delta = levels[index] - levels[end]
    if new_end_delta != _isbus(tracks[end])[1]:
        _set_isbus(tracks[end], new_end_delta)
    closing = -1 + min(level_after - levels[index], 0)
    new_nodes = [_folder_track(track_node, track_name)]
    for number, stem in enumerate(stem_tracks):
        last = number == len(stem_tracks) - 1
        new_nodes.append(_stem_track(stem, track_node, closing if last else 0))
    position = tree.index_of(tracks[end]) + 1
    for offset, node in enumerate(new_nodes):
        tree.insert(position + offset, node)
    _renumber_receives(tree.find_all("TRACK"), end, len(new_nodes))
    if mute_original:
        _mute(track_node)


def _mute(node: RppNode) -> None:
    values = list(node.values("MUTESOLO") or ("0", "0", "0"))
    node.set_values("MUTESOLO", ["1", *values[1:]])


def _renumber_receives(tracks: list[RppNode], last_before: int, inserted: int) -> None:
    """Shift AUXRECV source indices that point past the insertion point."""
    for node in tracks:
        for line in node.lines("AUXRECV"):
            try:
                source = int(line.values[0])
            except (IndexError, ValueError):
                continue  # not a track index: leave the line as REAPER wrote it
            if source > last_before:
                line.set_values([str(source + inserted), *line.values[1:]])


def _track_lines(name: str, guid: str, delta: int, color: str | None = None) -> list[RppLine]:
    state = 1 if delta > 0 else (2 if delta < 0 else 0)
    return [
        RppLine.new(["NAME", name], quoted=(False, True)),
        _new_line("PEAKCOL", str(peakcol(color) if color else 16576)),
        _new_line("BEAT", "-1"),
        _new_line("AUTOMODE", "0"),
        _new_line("VOLPAN", "1", "0", "-1", "-1", "1"),
        _new_line("MUTESOLO", "0", "0", "0"),
        _new_line("IPHASE", "0"),
        _new_line("ISBUS", str(state), str(delta)),
        _new_line("SEL", "0"),
        _new_line("FX", "1"),
        _new_line("TRACKID", guid),
        _new_line("MAINSEND", "1", "0"),
    ]


def _folder_track(original: RppNode, name: str) -> RppNode:
    guid = guid_for("stem-folder", _track_guid(original), name)
    node = RppNode.new("TRACK", [guid], _track_lines(stem_folder_name(name), guid, 1))
    for key in ("VOLPAN", "NCHAN"):
        copied = _copied(list(original.children), key)
        if copied is None:
            continue
        existing = node.line(key)
        if existing is not None:
            node.children[node.index_of(existing)] = copied
        else:
            node.insert(node.index_of(node.line("FX") or node.children[-1]), copied)
    return node


def _stem_track(stem: _StemTrack, original: RppNode, delta: int) -> RppNode:
    guid = guid_for("stem-track", _track_guid(original), stem.name)
    lines = _track_lines(stem.track_name or stem.name, guid, delta, stem.color)
    node = RppNode.new("TRACK", [guid], lines)
    nchan = _copied(list(original.children), "NCHAN")
    if nchan is not None:
        node.insert(node.index_of(node.line("FX") or node.children[-1]), nchan)
    for item in stem.items:
        node.append(item)
    return node
