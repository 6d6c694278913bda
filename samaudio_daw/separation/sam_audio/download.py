"""One file from the hub into the cache's blob store, resumable across runs.

huggingface_hub deletes its ``.incomplete`` file when a download finally fails, so a
second ``model pull`` would start a multi-gigabyte checkpoint from zero. Here the bytes
go to a partial file of our own next to the blobs (``blobs/ETAG.part``), which survives
a failed run; the next run asks the server for the rest with a ``Range`` request. When
the file is whole it is checked against the hub's metadata (size, and the ETag: the
SHA-256 of the file) and renamed to ``blobs/ETAG``, where the hub client finds it and
only links it into the snapshot. Only LFS files (the weights) take this path; small files
are left to the hub client.
"""

from __future__ import annotations

import errno
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError

PART_SUFFIX = ".part"
ATTEMPTS = 5
"""Connections tried per run before the pull fails (each resumes where the last stopped)."""
_PIECE = 2**20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def fetch_blob(
    hub: Any, url: str, token: str | None, blobs: Path, bar: Any, label: str
) -> Path | None:
    """Download ``url`` to ``blobs/ETAG`` unless it is there; the blob, or None when it is
    not an LFS file (its ETag is no SHA-256: the hub client downloads it itself)."""
    meta = hub.get_hf_file_metadata(url, token=token)
    if not meta.etag or not _SHA256.match(meta.etag):
        return None
    blob = blobs / meta.etag
    if blob.is_file():
        return blob
    blobs.mkdir(parents=True, exist_ok=True)
    part = blob.with_name(blob.name + PART_SUFFIX)
    size = meta.size
    # A signed CDN address (another host) gets no token, as the hub client does.
    token_sent = token if urlsplit(meta.location).netloc == urlsplit(url).netloc else None
    for attempt in range(ATTEMPTS):
        try:
            _continue(hub, meta.location, token_sent, part, size, bar, label)
            break
        except OSError as error:
            if error.errno == errno.ENOSPC:
                part.unlink(missing_ok=True)  # a kept partial would only fill the disk
                raise
            if attempt == ATTEMPTS - 1:
                raise
        except Exception as error:
            if attempt == ATTEMPTS - 1 or not _is_cut(error):
                raise
    _verify(part, meta.etag, size, label)
    part.replace(blob)
    return blob


def _continue(
    hub: Any, url: str, token: str | None, part: Path, size: int | None, bar: Any, label: str
) -> None:
    """Append the rest of the file to ``part`` (a Range request from its size)."""
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have >= size:
        return
    headers = hub.utils.build_hf_headers(token=token or False)
    if have:
        headers["Range"] = f"bytes={have}-"
    session = hub.utils.get_session()
    with session.stream("GET", url, headers=headers, follow_redirects=True) as response:
        hub.utils.hf_raise_for_status(response)
        if have and response.status_code != 206:
            have = 0  # the server ignored the Range: start over
        with (
            bar(total=size, initial=have, unit="B", unit_scale=True, desc=label) as progress,
            part.open("ab" if have else "wb") as out,
        ):
            for piece in response.iter_bytes():
                out.write(piece)
                progress.update(len(piece))


def _verify(part: Path, etag: str, size: int | None, label: str) -> None:
    """The whole file matches the hub's size and ETag; else it is removed (never trusted)."""
    got = part.stat().st_size
    if (size is not None and got != size) or _digest(part, hashlib.sha256()) != etag:
        part.unlink(missing_ok=True)
        raise ModelNotFoundError(
            f"{label}: the downloaded file does not match the hub's metadata ({got} bytes, "
            f"expected {size}, or its SHA-256 differs); it was removed: pull again"
        )


def _digest(path: Path, hasher: Any) -> str:
    with path.open("rb") as handle:
        while piece := handle.read(8 * _PIECE):
            hasher.update(piece)
    return str(hasher.hexdigest())


def _is_cut(error: BaseException) -> bool:
    """A dropped or timed-out connection: worth another Range request."""
    names = set()
    current: BaseException | None = error
    while current is not None:
        names.add(type(current).__name__)
        current = current.__cause__ or current.__context__
    return bool(names & {"ReadError", "RemoteProtocolError", "ReadTimeout", "ConnectError"})
