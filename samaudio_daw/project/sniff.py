"""What a file looks like, from its first bytes: so a wrong file gets a name, not raw bytes.

``project_kind`` tells a REAPER project from a DAWproject archive; ``describe_bytes``
names everything else (a ZIP archive, a WAV file, an XML document, ...) for the
one-line error a user sees.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Literal

ProjectKind = Literal["rpp", "dawproject", "other"]

# Magic numbers at the start of a file, and what a user would call such a file.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"fLaC", "a FLAC audio file"),
    (b"OggS", "an Ogg audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"\xff\xfb", "an MP3 audio file"),
    (b"\xff\xf3", "an MP3 audio file"),
    (b"\xff\xf2", "an MP3 audio file"),
    (b"FORM", "an AIFF audio file"),
    (b"caff", "a CAF audio file"),
    (b"MThd", "a standard MIDI file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "a program (ELF)"),
    (b"\xd0\xcf\x11\xe0", "a Microsoft compound file (AAF, old Office)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)


def describe_bytes(head: bytes) -> str:
    """A short name for what ``head`` (a file's first bytes) looks like."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64"):
        return "a WAV audio file" if head[8:12] == b"WAVE" else "a RIFF file"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if not head.strip():
        return "an empty file"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if b"\x00" in head:
        return "binary data"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(text) - 4:  # not just a character cut at the end of ``head``
            return "binary data"
    if text.startswith(b"<?xml") or text.startswith(b"<!DOCTYPE"):
        return "an XML document"
    if text[:1] in (b"{", b"["):
        return "JSON or other text"
    if text.startswith(b"<REAPER_PROJECT"):
        return "a REAPER project"
    return "text"


def project_kind(path: Path) -> ProjectKind:
    """``rpp`` for text that may be a REAPER project, ``dawproject`` for a ZIP holding a
    ``project.xml``; ``other`` for anything else (see :func:`describe_file`)."""
    if not path.is_file():  # a FIFO would block; the readers name folders and the missing
        return "other"
    head = read_head(path)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return "other"
        return "dawproject" if "project.xml" in names else "other"
    return "rpp" if describe_bytes(head) in ("a REAPER project", "text") else "other"


def read_head(path: Path, size: int = 64) -> bytes:
    """The first ``size`` bytes of ``path`` (fewer for a short file); OSError as raised."""
    with open(path, "rb") as file:
        return file.read(size)


def describe_file(path: Path) -> str:
    """What ``path`` looks like, for an error: ``a ZIP archive (no project.xml inside)``."""
    head = read_head(path)
    what = describe_bytes(head)
    if what == "a ZIP archive":
        try:
            with zipfile.ZipFile(path) as archive:
                archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "a damaged ZIP archive"
        return "a ZIP archive without project.xml (not a DAWproject)"
    return what
