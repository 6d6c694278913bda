"""Reading DAWproject sessions (Bitwig Studio, Studio One, Cubase, ...): a sibling of
the ``.rpp`` reader.

A ``.dawproject`` file is a ZIP archive with ``project.xml`` (schema: Project.xsd)
and ``metadata.xml``. This module reads the parts a render needs into a typed view:
tracks (folder tracks nest), and per track its audio clips with time, duration,
play start, fades, loop and mute in seconds. Clip times in beats become seconds
through the transport's tempo and its automation (a tempo curve: see
:mod:`samaudio_daw.project.tempo_map`). Audio is either embedded in the archive
(``external`` false) or referenced outside it (resolved against the project's
folder). Clips inside clips are flattened onto the timeline, cut to the outer clip's
window. A looped clip (``loopStart``/``loopEnd``) keeps its loop in seconds of its
audio, for the renderer to lay out over the clip's duration. Note and warped clips,
looped clips holding clips, and loops the clip starts before cannot be rendered
here; they are listed with a reason.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from samaudio_daw.errors import UserError
from samaudio_daw.project.sniff import describe_file
from samaudio_daw.project.tempo_map import TempoMap, TempoPoint, TimeUnit

DEFAULT_TEMPO_BPM = 120.0
MAX_XML_BYTES = 64 * 1024 * 1024  # project.xml larger than this is refused, not parsed
MAX_NESTING = 32  # clips inside clips / lanes inside lanes deeper than this are refused


class DawProjectError(UserError, ValueError):
    """A ``.dawproject`` file that cannot be read (not a ZIP, no project.xml, bad XML)."""


@dataclass(frozen=True)
class AudioFile:
    """The audio a clip plays: ``file`` as written; ``path`` on disk when referenced
    outside the archive and found, ``member`` when embedded in it."""

    file: str
    external: bool
    channels: int
    sample_rate: int
    duration_s: float
    path: Path | None = None
    member: str | None = None
    missing_reason: str | None = None


@dataclass(frozen=True)
class Clip:
    """One audio clip on the timeline, in seconds (nested clips already flattened).

    ``play_start_s`` is where in its audio the clip starts playing; a looped clip
    plays on from there and goes back to ``loop_start_s`` at ``loop_end_s`` (seconds
    of its audio), over its whole duration.
    """

    index: int
    name: str
    time_s: float
    duration_s: float
    play_start_s: float = 0.0
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    mute: bool = False
    loop_start_s: float | None = None
    loop_end_s: float | None = None
    kind: str = "Audio"  # what the clip holds: Audio, Notes, Warps, ... ("" when empty)
    audio: AudioFile | None = None
    skip_reason: str | None = None


@dataclass(frozen=True)
class Track:
    """A track of the session; ``folder_depth`` counts the folder tracks above it."""

    index: int
    id: str
    name: str
    content_types: tuple[str, ...]
    folder_depth: int = 0
    is_folder: bool = False
    mute: bool = False
    volume: float = 1.0
    clips: tuple[Clip, ...] = ()


@dataclass(frozen=True)
class DawProject:
    path: Path
    tempo_bpm: float
    time_signature: tuple[int, int]
    tracks: tuple[Track, ...]
    application: str = ""
    tempo_points: tuple[TempoPoint, ...] = ()  # the tempo automation, if any
    tempo_unit: TimeUnit = "beats"  # the unit of the tempo points' times


def read_dawproject(path: Path | str) -> DawProject:
    """Read ``path`` (a ``.dawproject`` archive); nothing is extracted or written."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        detail = describe_file(path) if path.is_file() else str(error)
        raise DawProjectError(f"{path}: not a DAWproject archive: {detail}") from None
    with archive:
        root = _project_xml(archive, path)
        members = set(archive.namelist())
    return _read_root(root, path, members)


def _project_xml(archive: zipfile.ZipFile, path: Path) -> ElementTree.Element:
    try:
        info = archive.getinfo("project.xml")
    except KeyError:
        raise DawProjectError(f"{path}: a ZIP archive without project.xml") from None
    if info.file_size > MAX_XML_BYTES:
        raise DawProjectError(f"{path}: project.xml is larger than {MAX_XML_BYTES} bytes")
    with archive.open(info) as member:
        data = member.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise DawProjectError(f"{path}: project.xml is larger than {MAX_XML_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # no entity expansion, ever
        raise DawProjectError(f"{path}: project.xml declares a DOCTYPE or entities (refused)")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise DawProjectError(f"{path}: project.xml is not valid XML ({error})") from None
    if root.tag != "Project":
        raise DawProjectError(f"{path}: project.xml holds <{root.tag}>, expected <Project>")
    return root


def _number(element: ElementTree.Element, name: str, default: float, where: str) -> float:
    text = element.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise DawProjectError(f"{where}: {name}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise DawProjectError(f"{where}: {name}={text!r} is not a finite number")
    return value


def _bool(element: ElementTree.Element | None, name: str, default: bool) -> bool:
    if element is None or element.get(name) is None:
        return default
    return element.get(name, "").strip() in ("true", "1")  # xs:boolean


@dataclass(frozen=True)
class _Context:
    path: Path
    members: frozenset[str]
    tempo: TempoMap


def _read_root(root: ElementTree.Element, path: Path, members: set[str]) -> DawProject:
    where = f"{path}: project.xml"
    tempo = root.find("Transport/Tempo")
    tempo_bpm = _number(tempo, "value", DEFAULT_TEMPO_BPM, where) if tempo is not None else 120.0
    if tempo_bpm <= 0:
        raise DawProjectError(f"{where}: tempo {tempo_bpm:g} BPM is not positive")
    signature = root.find("Transport/TimeSignature")
    time_signature = (4, 4)
    if signature is not None:
        time_signature = (
            int(_number(signature, "numerator", 4, where)),
            int(_number(signature, "denominator", 4, where)),
        )
    points, unit = _tempo_automation(root, tempo, where)
    ctx = _Context(path, frozenset(members), TempoMap(tempo_bpm, points, unit))
    clips = _arrangement_clips(root, ctx)
    tracks: list[Track] = []
    structure = root.find("Structure")
    for element, depth in _walk_tracks(structure, 0) if structure is not None else ():
        tracks.append(_track(element, len(tracks), depth, clips.get(element.get("id", ""), [])))
    application = root.find("Application")
    return DawProject(
        path,
        tempo_bpm,
        time_signature,
        tuple(tracks),
        application.get("name", "") if application is not None else "",
        tuple(points),
        unit,
    )


def _tempo_automation(
    root: ElementTree.Element, tempo: ElementTree.Element | None, where: str
) -> tuple[list[TempoPoint], TimeUnit]:
    """The tempo curve: the arrangement's TempoAutomation, or a Points lane whose target
    is the transport's tempo; its RealPoints in BPM (hold unless said linear)."""
    lane, unit = root.find("Arrangement/TempoAutomation"), "beats"
    tempo_id = tempo.get("id") if tempo is not None else None
    if lane is None and tempo_id:
        lane, unit = _points_for(root.find("Arrangement/Lanes"), tempo_id, "beats")
    if lane is None:
        return [], "beats"
    unit = lane.get("timeUnit", unit)
    if unit not in ("beats", "seconds"):
        raise DawProjectError(f"{where}: tempo automation timeUnit={unit!r} (beats or seconds)")
    if lane.get("unit", "bpm") != "bpm":
        raise DawProjectError(
            f"{where}: tempo automation in unit {lane.get('unit')!r} is not read (only bpm)"
        )
    points = []
    for point in lane.findall("RealPoint"):
        time, value = _number(point, "time", 0.0, where), _number(point, "value", 0.0, where)
        if value <= 0:
            raise DawProjectError(f"{where}: tempo point at {time:g} is {value:g} BPM")
        linear = point.get("interpolation") == "linear"
        points.append(TempoPoint(time, value, "linear" if linear else "hold"))
    return points, "seconds" if unit == "seconds" else "beats"


def _points_for(
    element: ElementTree.Element | None, parameter: str, unit: str
) -> tuple[ElementTree.Element | None, str]:
    """The first Points lane under ``element`` targeting ``parameter``, with its time unit."""
    if element is None:
        return None, unit
    unit = element.get("timeUnit", unit)
    if element.tag == "Points":
        target = element.find("Target")
        found = target is not None and target.get("parameter") == parameter
        return (element, unit) if found else (None, unit)
    for child in element:
        if child.tag in ("Lanes", "Points"):
            lane, lane_unit = _points_for(child, parameter, unit)
            if lane is not None:
                return lane, lane_unit
    return None, unit


def _walk_tracks(
    parent: ElementTree.Element, depth: int
) -> Iterator[tuple[ElementTree.Element, int]]:
    if depth > MAX_NESTING:
        raise DawProjectError("folder tracks nested too deep")
    for element in parent.findall("Track"):
        yield element, depth
        yield from _walk_tracks(element, depth + 1)


def _track(element: ElementTree.Element, index: int, depth: int, clips: list[Clip]) -> Track:
    channel = element.find("Channel")
    mute = _bool(channel.find("Mute") if channel is not None else None, "value", False)
    volume_element = channel.find("Volume") if channel is not None else None
    volume = 1.0
    if volume_element is not None and volume_element.get("unit", "linear") == "linear":
        volume = _number(volume_element, "value", 1.0, f"track {element.get('name', '')!r}")
    return Track(
        index=index,
        id=element.get("id", ""),
        name=element.get("name", ""),
        content_types=tuple((element.get("contentType") or "").split()),
        folder_depth=depth,
        is_folder=element.find("Track") is not None,
        mute=mute,
        volume=volume,
        clips=tuple(replace(clip, index=number) for number, clip in enumerate(clips)),
    )


@dataclass(frozen=True)
class _Window:
    """A timeline seen from the arrangement: its position 0 lies at arrangement
    position ``origin`` (in ``unit``, the timeline's own unit); what it holds is kept
    only within ``start_s`` .. ``end_s`` (seconds), silent when ``mute``."""

    tempo: TempoMap
    origin: float = 0.0
    unit: str = "seconds"
    start_s: float = -math.inf
    end_s: float = math.inf
    mute: bool = False

    def seconds(self, position: float) -> float:
        """Arrangement seconds of ``position`` on this timeline."""
        return self.tempo.to_seconds(self.origin + position, self.unit)

    def in_unit(self, unit: str) -> _Window:
        """The same window, measured in ``unit``."""
        if unit == self.unit:
            return self
        origin = self.tempo.from_seconds(self.seconds(0.0), unit)
        return replace(self, origin=origin, unit=unit)

    def length_s(self, at_s: float, length: float, unit: str, backwards: bool = False) -> float:
        """Seconds that ``length`` (in ``unit``) spans from ``at_s`` (or back to it)."""
        if unit != "beats":
            return length
        beat = self.tempo.beats(at_s)
        if backwards:
            return at_s - self.tempo.seconds(beat - length)
        return self.tempo.seconds(beat + length) - at_s


def _arrangement_clips(root: ElementTree.Element, ctx: _Context) -> dict[str, list[Clip]]:
    by_track: dict[str, list[Clip]] = {}
    lanes = root.find("Arrangement/Lanes")
    if lanes is not None:
        _lanes(lanes, "", _Window(ctx.tempo), ctx, by_track, 0)
    for clips in by_track.values():
        clips.sort(key=lambda clip: clip.time_s)
    return by_track


def _lanes(
    element: ElementTree.Element,
    track: str,
    window: _Window,
    ctx: _Context,
    out: dict[str, list[Clip]],
    depth: int,
) -> None:
    """Walk a timeline (Lanes or Clips) and collect its clips under their track id."""
    if depth > MAX_NESTING:
        raise DawProjectError(f"{ctx.path}: lanes or clips nested more than {MAX_NESTING} deep")
    track = element.get("track", track)
    window = window.in_unit(element.get("timeUnit", window.unit))
    if element.tag == "Lanes":
        for child in element:
            if child.tag in ("Lanes", "Clips"):
                _lanes(child, track, window, ctx, out, depth + 1)
        return
    for clip in element.findall("Clip"):
        _clip(clip, track, window, ctx, out, depth + 1)


@dataclass(frozen=True)
class _Placed:
    """Where a clip plays, in arrangement seconds, and its content's timeline."""

    begin_s: float  # the clip's own start
    end_s: float  # its own end (inf without a duration)
    start_s: float  # its start within the outer window
    stop_s: float  # its end within the outer window
    content: _Window  # the clip's content timeline (cut to start_s .. stop_s)


def _place(element: ElementTree.Element, window: _Window, ctx: _Context, where: str) -> _Placed:
    time = _number(element, "time", 0.0, where)
    begin_s = window.seconds(time)
    end_s = math.inf
    if element.get("duration"):
        end_s = window.seconds(time + _number(element, "duration", 0.0, where))
    start, stop = max(begin_s, window.start_s), min(end_s, window.end_s)
    mute = window.mute or not _bool(element, "enable", True)
    content_unit = element.get("contentTimeUnit", window.unit)
    play_start = _number(element, "playStart", 0.0, where)
    origin = ctx.tempo.from_seconds(begin_s, content_unit) - play_start
    content = _Window(ctx.tempo, origin, content_unit, start, stop, mute)
    return _Placed(begin_s, end_s, start, stop, content)


def _clip(
    element: ElementTree.Element,
    track: str,
    window: _Window,
    ctx: _Context,
    out: dict[str, list[Clip]],
    depth: int,
) -> None:
    name = element.get("name", "")
    where = f"{ctx.path}: clip {name!r}" if name else f"{ctx.path}: a clip"
    placed = _place(element, window, ctx, where)
    looped = element.get("loopStart") is not None or element.get("loopEnd") is not None
    content = next(iter(element), None)
    if content is not None and content.tag in ("Clips", "Lanes") and not looped:
        _lanes(content, track, placed.content, ctx, out, depth + 1)
        return
    if placed.stop_s <= placed.start_s and math.isfinite(placed.end_s):
        return  # wholly outside the outer clip's window
    audio, reason = _content(content, ctx, where)
    end_s = placed.end_s
    if not math.isfinite(end_s):
        end_s = placed.begin_s + (audio.duration_s if audio else 0.0)
    stop_s = min(end_s, window.end_s)
    audio_zero_s = placed.content.seconds(0.0)  # where the audio's own start lies
    loop: tuple[float | None, float | None] = (None, None)
    if looped and reason is None:
        loop, reason = _loop(element, placed, audio, audio_zero_s, where)
    fade_unit = element.get("fadeTimeUnit", window.unit)
    fade_in = _number(element, "fadeInTime", 0.0, where)
    fade_out = _number(element, "fadeOutTime", 0.0, where)
    out.setdefault(track, []).append(
        Clip(
            index=0,
            name=name,
            time_s=placed.start_s,
            duration_s=max(stop_s - placed.start_s, 0.0),
            play_start_s=placed.start_s - audio_zero_s,
            fade_in_s=window.length_s(placed.begin_s, fade_in, fade_unit),
            fade_out_s=window.length_s(end_s, fade_out, fade_unit, backwards=True),
            mute=placed.content.mute,
            loop_start_s=loop[0],
            loop_end_s=loop[1],
            kind=content.tag if content is not None else "",
            audio=audio,
            skip_reason=reason,
        )
    )


def _content(
    content: ElementTree.Element | None, ctx: _Context, where: str
) -> tuple[AudioFile | None, str | None]:
    """The clip's audio, or why there is none to render."""
    if content is None:
        return None, "empty clip (no audio)"
    if content.tag == "Audio":
        audio = _audio(content, ctx, where)
        return audio, f"missing media: {audio.missing_reason}" if audio.missing_reason else None
    if content.tag == "Warps":
        return None, "warped audio clip (time-stretched; not rendered here)"
    if content.tag == "Notes":
        return None, "note clip (MIDI; nothing to separate)"
    if content.tag in ("Clips", "Lanes"):
        return None, "looped clip holding clips (loops of nested clips are not rendered here)"
    return None, f"{content.tag} clip (no audio to separate)"


def _loop(
    element: ElementTree.Element,
    placed: _Placed,
    audio: AudioFile | None,
    audio_zero_s: float,
    where: str,
) -> tuple[tuple[float | None, float | None], str | None]:
    """The loop in seconds of the clip's audio, or why it cannot be rendered."""
    content = placed.content
    loop_start = _number(element, "loopStart", 0.0, where)
    loop_end_s = audio.duration_s if audio else 0.0
    if element.get("loopEnd") is not None:
        loop_end_s = content.seconds(_number(element, "loopEnd", 0.0, where)) - audio_zero_s
    loop_start_s = content.seconds(loop_start) - audio_zero_s
    if loop_end_s - loop_start_s <= 1e-9:
        return (None, None), "looped clip whose loop ends before it starts"
    if placed.begin_s - audio_zero_s < loop_start_s - 1e-9:
        return (None, None), (
            "looped clip that starts before its loop (playStart before loopStart; "
            "not rendered here)"
        )
    return (loop_start_s, loop_end_s), None


def _audio(element: ElementTree.Element, ctx: _Context, where: str) -> AudioFile:
    file_element = element.find("File")
    file = file_element.get("path", "") if file_element is not None else ""
    external = _bool(file_element, "external", False)
    audio = AudioFile(
        file=file,
        external=external,
        channels=int(_number(element, "channels", 0, where)),
        sample_rate=int(_number(element, "sampleRate", 0, where)),
        duration_s=_number(element, "duration", 0.0, where),
    )
    if not file:
        return replace(audio, missing_reason="audio without a file path")
    if not external:
        member = PurePosixPath(file).as_posix()
        if file.startswith(("/", "\\")) or "\\" in file or ".." in PurePosixPath(file).parts:
            raise DawProjectError(
                f"{where}: embedded file {file!r} points outside the archive (refused)"
            )
        if member in ctx.members:
            return replace(audio, member=member)
        return replace(audio, missing_reason=f"{file!r} is not in the archive")
    written = Path(file)
    candidate = written if written.is_absolute() else ctx.path.parent / written
    if candidate.is_file():
        return replace(audio, path=candidate)
    return replace(audio, missing_reason=f"{file!r} (referenced) not found at {candidate}")


MAX_MEMBER_BYTES = 4 * 1024**3  # one embedded audio file larger than this is refused
MAX_RATIO = 200  # uncompressed / compressed beyond this (audio barely compresses): a bomb


def check_member(path: Path, info: zipfile.ZipInfo) -> None:
    """Refuse a member that unpacks too large, or far larger than it is packed (a bomb)."""
    limit = MAX_RATIO * max(info.compress_size, 1 << 20)
    if info.file_size > MAX_MEMBER_BYTES or info.file_size > limit:
        raise DawProjectError(
            f"{path}: {info.filename!r} unpacks to {info.file_size} bytes from "
            f"{info.compress_size} (refused: too large or a ZIP bomb)"
        )


def read_project_xml(path: Path) -> ElementTree.Element:
    """The ``<Project>`` element of the archive at ``path``, checked as when reading."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _project_xml(archive, path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DawProjectError(f"{path}: not a DAWproject archive: {error}") from None


def read_member_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def extract_audio(path: Path, members: Iterable[str], folder: Path) -> dict[str, Path]:
    """Copy the embedded audio ``members`` of the archive at ``path`` into ``folder``
    (under names of our own, never the member's), checking sizes before and while
    copying; returns {member: file}."""
    files: dict[str, Path] = {}
    with zipfile.ZipFile(path) as archive:
        for number, member in enumerate(sorted(set(members))):
            info = archive.getinfo(member)
            check_member(path, info)
            declared = info.file_size
            target = folder / f"embedded-{number:04d}{PurePosixPath(member).suffix.lower()}"
            copied = 0
            try:
                with archive.open(info) as source, open(target, "xb") as sink:
                    while block := source.read(1 << 20):
                        copied += len(block)
                        if copied > declared:
                            raise DawProjectError(
                                f"{path}: embedded {member!r} is larger than it says"
                            )
                        sink.write(block)
            except (zipfile.BadZipFile, EOFError, zlib.error) as error:
                raise DawProjectError(f"{path}: embedded {member!r} is damaged ({error})") from None
            files[member] = target
    return files
