"""Writing DAWproject sessions with stems: a sibling of the ``.rpp`` stems writer
(:mod:`samaudio_daw.project.stem_tracks`).

Right after a processed track goes a folder track ``<track name> stems`` (the same
name as in the ``.rpp``) holding one track per stem, each clip at the original
clip's time with its duration, play start and fades; the original track is muted
unless asked otherwise. Stem tracks are named and coloured by the caller as the
``.rpp`` writer names them (the result's names and colours; see
:mod:`samaudio_daw.project.stem_tracks`).

Level: DAWproject 1.0 has no clip gain (a Clip carries time, fades, loop and
enable; its content no level either), so a clip plays at unity and its level is its
track's channel. Each stem track gets a copy of the original track's channel
``Volume`` and ``Pan``: a clip's stems, which sum to what the clip plays, then play
at the level the original track played it. Automation of the original's volume is
not copied.

Stem audio is referenced beside the session (``external``) or embedded in the
archive. Every written ``project.xml`` follows Project.xsd.
"""

from __future__ import annotations

import itertools
import os
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from samaudio_daw.files import commit_temp, create_temp, output_error, remove_own_temp
from samaudio_daw.project.dawproject import check_member
from samaudio_daw.project.rpp import format_number
from samaudio_daw.project.stem_tracks import stem_folder_name

APPLICATION = ("samaudio-daw", "1")
METADATA_XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<MetaData/>\n'


@dataclass(frozen=True)
class ClipAudio:
    """The audio file a clip plays: ``path`` as written in the session (relative to
    it when ``external``, an archive member otherwise)."""

    path: str
    external: bool
    channels: int
    sample_rate: int
    duration_s: float


@dataclass(frozen=True)
class ClipSpec:
    """One audio clip on the timeline, in seconds."""

    audio: ClipAudio
    time_s: float
    duration_s: float
    play_start_s: float = 0.0
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    enable: bool = True
    name: str = ""


class _Ids:
    """New ``id`` values that no element of the document uses yet."""

    def __init__(self, root: ElementTree.Element) -> None:
        self.used = {element.get("id") for element in root.iter() if element.get("id")}
        self.counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        while True:
            candidate = f"{prefix}{next(self.counter)}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate


def new_session(tempo_bpm: float = 120.0) -> ElementTree.Element:
    """An empty ``<Project>``: application, transport, structure and arrangement."""
    root = ElementTree.Element("Project", version="1.0")
    ElementTree.SubElement(root, "Application", name=APPLICATION[0], version=APPLICATION[1])
    transport = ElementTree.SubElement(root, "Transport")
    ElementTree.SubElement(
        transport, "Tempo", id="tempo", unit="bpm", value=format_number(tempo_bpm)
    )
    ElementTree.SubElement(
        transport, "TimeSignature", id="signature", numerator="4", denominator="4"
    )
    ElementTree.SubElement(root, "Structure")
    arrangement = ElementTree.SubElement(root, "Arrangement", id="arrangement")
    ElementTree.SubElement(arrangement, "Lanes", id="lanes", timeUnit="seconds")
    return root


def _track(
    ids: _Ids, name: str, content: str, role: str, mute: bool = False
) -> ElementTree.Element:
    track = ElementTree.Element("Track", id=ids("track"), name=name, contentType=content)
    track.set("loaded", "true")
    channel = ElementTree.SubElement(track, "Channel", id=ids("channel"), role=role)
    channel.set("audioChannels", "2")
    ElementTree.SubElement(channel, "Mute", id=ids("mute"), value="true" if mute else "false")
    ElementTree.SubElement(channel, "Volume", id=ids("volume"), unit="linear", value="1")
    return track


def _clip(ids: _Ids, spec: ClipSpec) -> ElementTree.Element:
    clip = ElementTree.Element("Clip", time=format_number(spec.time_s))
    clip.set("duration", format_number(spec.duration_s))
    clip.set("playStart", format_number(spec.play_start_s))
    if spec.fade_in_s:
        clip.set("fadeInTime", format_number(spec.fade_in_s))
    if spec.fade_out_s:
        clip.set("fadeOutTime", format_number(spec.fade_out_s))
    if not spec.enable:
        clip.set("enable", "false")
    if spec.name:
        clip.set("name", spec.name)
    audio = ElementTree.SubElement(
        clip,
        "Audio",
        id=ids("audio"),
        channels=str(spec.audio.channels),
        sampleRate=str(spec.audio.sample_rate),
        duration=format_number(spec.audio.duration_s),
    )
    ElementTree.SubElement(
        audio, "File", path=spec.audio.path, external="true" if spec.audio.external else "false"
    )
    return clip


def _lanes_of(root: ElementTree.Element) -> ElementTree.Element:
    lanes = root.find("Arrangement/Lanes")
    if lanes is None:
        arrangement = root.find("Arrangement")
        if arrangement is None:
            arrangement = ElementTree.SubElement(root, "Arrangement", id=_Ids(root)("arrangement"))
        lanes = ElementTree.Element("Lanes", id=_Ids(root)("lanes"), timeUnit="seconds")
        arrangement.insert(0, lanes)
    return lanes


def _add_clips(
    root: ElementTree.Element, ids: _Ids, track: ElementTree.Element, clips: Sequence[ClipSpec]
) -> None:
    """A lane of ``clips`` (in seconds) for ``track`` in the arrangement."""
    lane = ElementTree.SubElement(
        _lanes_of(root), "Lanes", id=ids("lane"), track=track.get("id", ""), timeUnit="seconds"
    )
    holder = ElementTree.SubElement(lane, "Clips", id=ids("clips"))
    for spec in clips:
        holder.append(_clip(ids, spec))


def add_audio_track(
    root: ElementTree.Element, name: str, clips: Sequence[ClipSpec]
) -> ElementTree.Element:
    """A new top-level audio track playing ``clips``; returns its ``<Track>``."""
    ids = _Ids(root)
    structure = root.find("Structure")
    assert structure is not None  # new_session made it
    track = _track(ids, name, "audio", "regular")
    structure.append(track)
    _add_clips(root, ids, track, clips)
    return track


def find_track(root: ElementTree.Element, track_id: str) -> ElementTree.Element:
    """The ``<Track>`` whose id is ``track_id``."""
    for element in root.iter("Track"):
        if element.get("id") == track_id:
            return element
    raise ValueError(f"no track with id {track_id!r} in this session")


def _parent_of(root: ElementTree.Element, child: ElementTree.Element) -> ElementTree.Element:
    for element in root.iter():
        if any(grand is child for grand in element):
            return element
    raise ValueError(f"track {child.get('name')!r} is not in this session")


def add_stem_group(
    root: ElementTree.Element,
    track: ElementTree.Element,
    stems: Mapping[str, Sequence[ClipSpec]],
    mute_original: bool = True,
    colors: Mapping[str, str] | None = None,
) -> ElementTree.Element:
    """A folder track of ``stems`` ({stem track name: its clips}, coloured by
    ``colors``, "#RRGGBB") right after ``track`` in the same parent; the original is
    muted. Returns the folder's ``<Track>``."""
    if not stems:
        raise ValueError(f"no stems to add for track {track.get('name')!r}")
    ids = _Ids(root)
    parent = _parent_of(root, track)
    folder = _track(ids, stem_folder_name(track.get("name", "")), "tracks", "submix")
    parent.insert(list(parent).index(track) + 1, folder)
    for name, clips in stems.items():
        stem_track = _track(ids, name, "audio", "regular")
        if colors and name in colors:
            stem_track.set("color", colors[name])
        _copy_level(ids, track, stem_track)
        folder.append(stem_track)
        _add_clips(root, ids, stem_track, clips)
    if mute_original:
        channel = track.find("Channel")
        if channel is None:
            channel = ElementTree.Element("Channel", id=ids("channel"), role="regular")
            track.insert(0, channel)
        mute = channel.find("Mute")
        if mute is None:
            mute = ElementTree.Element("Mute", id=ids("mute"))
            channel.insert(0, mute)
        mute.set("value", "true")
    return folder


def _copy_level(ids: _Ids, original: ElementTree.Element, stem: ElementTree.Element) -> None:
    """Give ``stem``'s channel the ``Pan`` and ``Volume`` of ``original``'s (new ids)."""
    source, channel = original.find("Channel"), stem.find("Channel")
    if source is None or channel is None:
        return
    for tag in ("Pan", "Volume"):
        level = source.find(tag)
        if level is None:
            continue
        old = channel.find(tag)
        if old is not None:
            channel.remove(old)
        copy = ElementTree.Element(tag, {**level.attrib, "id": ids(tag.lower())})
        channel.append(copy)  # Mute, Pan, Volume: the schema's order


def relocate_references(root: ElementTree.Element, old_folder: Path, new_folder: Path) -> None:
    """Rewrite relative paths of audio referenced outside the archive so they name the
    same files from ``new_folder`` (where the session will be written)."""
    for file in root.iter("File"):
        path = file.get("path", "")
        if file.get("external", "").strip() not in ("true", "1") or not path:
            continue
        if Path(path).is_absolute():
            continue
        moved = os.path.relpath((old_folder / path).resolve(), new_folder.resolve())
        file.set("path", moved.replace(os.sep, "/"))


def session_bytes(root: ElementTree.Element) -> bytes:
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)


def _copy_members(archive: zipfile.ZipFile, source: Path) -> None:
    """Every member of the archive at ``source`` but its project.xml, unpacked size checked."""
    with zipfile.ZipFile(source) as original:
        for info in original.infolist():
            if info.filename == "project.xml" or info.is_dir():
                continue
            check_member(source, info)
            with original.open(info) as reader, archive.open(info.filename, "w") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)


def write_dawproject(
    root: ElementTree.Element,
    target: Path,
    embedded: Mapping[str, Path] = {},  # noqa: B006 - read only
    source: Path | None = None,
) -> Path:
    """Write the archive through a temporary name (nothing half-written): project.xml,
    the members of the ``source`` archive (its metadata.xml and audio) or a new
    metadata.xml, and ``embedded`` files {member: file on disk}."""
    fd, temp = create_temp(target)
    try:
        with (
            os.fdopen(fd, "wb") as file,
            zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive,
        ):
            archive.writestr("project.xml", session_bytes(root))
            if source is not None:
                _copy_members(archive, source)
            else:
                archive.writestr("metadata.xml", METADATA_XML)
            for member, path in embedded.items():
                archive.write(path, member)
    except OSError as error:
        remove_own_temp(temp)
        raise output_error(target, error) from None
    except BaseException:
        remove_own_temp(temp)
        raise
    return commit_temp(temp, target)
