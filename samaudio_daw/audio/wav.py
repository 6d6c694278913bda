"""A streaming WAV writer with a BWF ``bext`` chunk, and a reader for its time reference.

soundfile cannot write ``bext``; the time reference is what lets a stem land at its
item's position when dropped into any DAW, so the WAV container is written here.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from samaudio_daw.errors import UserError

_PCM = 1
_IEEE_FLOAT = 3
_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the format code followed by a fixed GUID tail.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_BEXT_FIXED_BYTES = 602
_TIME_REFERENCE_AT = 338
_TIME_REFERENCE_END = _TIME_REFERENCE_AT + 8
_MAX_RIFF_BYTES = 0xFFFFFFFF


def _fmt_chunk(sample_rate: int, channels: int, bits: int, is_float: bool) -> bytes:
    code = _IEEE_FLOAT if is_float else _PCM
    block_align = channels * bits // 8
    common = (sample_rate, sample_rate * block_align, block_align, bits)
    # Microsoft asks for WAVE_FORMAT_EXTENSIBLE beyond two channels or 16 bits.
    if channels > 2 or bits > 16:
        guid = struct.pack("<H", code) + _GUID_TAIL
        body = (
            struct.pack(
                "<HHIIHHHHI",
                _EXTENSIBLE,
                channels,
                *common,
                22,
                bits,
                0,
            )
            + guid
        )
    else:
        body = struct.pack("<HHIIHH", code, channels, *common)
    return b"fmt " + struct.pack("<I", len(body)) + body


def _bext_chunk(time_reference_frames: int) -> bytes:
    body = bytearray(_BEXT_FIXED_BYTES)
    body[0:12] = b"samaudio-daw"  # Description
    body[256:268] = b"samaudio-daw"  # Originator
    struct.pack_into("<QH", body, 338, time_reference_frames, 1)  # TimeReference, Version
    return b"bext" + struct.pack("<I", len(body)) + bytes(body)


class WavWriter:
    """Streams (frames, channels) float32 rows to a WAV file; sizes are patched on close.

    ``bit_depth`` is "16", "24", "32" (integer PCM) or "float" (32-bit IEEE float).
    Integer formats clip at full scale. ``file`` is an open, writable, seekable binary
    file (``StemWriter`` makes it with no-follow semantics).
    """

    def __init__(
        self,
        file: BinaryIO,
        sample_rate: int,
        channels: int,
        bit_depth: Literal["16", "24", "32", "float"],
        time_reference_frames: int | None = None,
    ) -> None:
        if bit_depth not in ("16", "24", "32", "float"):
            raise ValueError(f"bit_depth must be 16, 24, 32 or float, got {bit_depth!r}")
        self._bits = 32 if bit_depth == "float" else int(bit_depth)
        self._is_float = bit_depth == "float"
        self._channels = channels
        self._file = file  # opened by the caller without following links; closed in close()
        header = _fmt_chunk(sample_rate, channels, self._bits, self._is_float)
        if time_reference_frames is not None:
            header += _bext_chunk(time_reference_frames)
        self._file.write(b"RIFF\x00\x00\x00\x00WAVE" + header + b"data\x00\x00\x00\x00")
        self._data_size_at = self._file.tell() - 4
        self._data_bytes = 0

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows``, shape (frames, channels), float32 in [-1, 1]."""
        if rows.ndim != 2 or rows.shape[1] != self._channels:
            raise ValueError(f"expected (frames, {self._channels}) rows, got {rows.shape}")
        data = self._encode(rows)
        if self._data_bytes + len(data) + self._data_size_at > _MAX_RIFF_BYTES:
            raise OSError("WAV file would exceed 4 GiB; write FLAC instead (--format flac)")
        self._file.write(data)
        self._data_bytes += len(data)

    def _encode(self, rows: np.ndarray) -> bytes:
        if self._is_float:
            return rows.astype("<f4").tobytes()
        scale = float(2 ** (self._bits - 1))
        ints = np.clip(np.round(rows.astype(np.float64) * scale), -scale, scale - 1)
        if self._bits == 16:
            return ints.astype("<i2").tobytes()
        if self._bits == 32:
            return ints.astype("<i4").tobytes()
        # 24-bit: the low three bytes of each little-endian int32.
        wide = ints.astype("<i4").reshape(-1, 1).view(np.uint8)
        return wide[:, :3].tobytes()

    def close(self) -> None:
        if self._file.closed:
            return
        if self._data_bytes % 2:
            self._file.write(b"\x00")  # RIFF chunks are word aligned
        end = self._file.tell()
        self._file.seek(4)
        self._file.write(struct.pack("<I", end - 8))
        self._file.seek(self._data_size_at)
        self._file.write(struct.pack("<I", self._data_bytes))
        self._file.close()


# soundfile's names of the formats whose chunks ``read_time_reference`` walks.
BEXT_FORMATS = frozenset(("WAV", "WAVEX"))


class WavChunkError(UserError):
    """A WAV file whose chunks are malformed; the message names the file and chunk."""


def read_time_reference(path: Path) -> int | None:
    """The BWF ``bext`` time reference of a WAV file in frames, or None without one.

    Only chunk headers are read until ``bext``; a ``bext`` chunk too short to hold its
    fixed fields is a WavChunkError, never an internal error.
    """
    with open(path, "rb") as file:
        if file.read(12)[8:12] != b"WAVE":
            return None
        while True:
            head = file.read(8)
            if len(head) < 8:
                return None
            chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk_id == b"bext":
                body = file.read(_TIME_REFERENCE_END)
                if size < _TIME_REFERENCE_END or len(body) < _TIME_REFERENCE_END:
                    raise WavChunkError(
                        f"{path}: malformed bext chunk ({min(size, len(body))} bytes, "
                        f"the time reference needs {_TIME_REFERENCE_END}); re-export the file"
                    )
                return int(struct.unpack_from("<Q", body, _TIME_REFERENCE_AT)[0])
            file.seek(size + (size % 2), 1)
