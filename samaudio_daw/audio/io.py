"""Reading and writing audio files: whole, in sections, or streamed in blocks.

Audio is always (channels, frames) float32 here. Reading goes through soundfile
(WAV, FLAC, AIFF, OGG, MP3 via libsndfile); writers go to a temporary name in the
destination folder and are renamed into place only when complete, so an
interrupted run never leaves a half-written stem.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import soundfile as sf

from samaudio_daw.audio.checks import first_non_finite_frame
from samaudio_daw.audio.wav import WavWriter
from samaudio_daw.errors import OutputError, UserError
from samaudio_daw.files import commit_temp, create_temp, output_error, remove_own_temp

BitDepth = Literal["16", "24", "32", "float"]
FileFormat = Literal["wav", "flac"]
BIT_DEPTHS: tuple[BitDepth, ...] = ("16", "24", "32", "float")

_SUBTYPE_BIT_DEPTH: dict[str, BitDepth] = {
    "PCM_S8": "16",
    "PCM_U8": "16",
    "PCM_16": "16",
    "PCM_24": "24",
    "PCM_32": "32",
    "FLOAT": "float",
    "DOUBLE": "float",
}
_FLAC_SUBTYPES: dict[BitDepth, str] = {"16": "PCM_16", "24": "PCM_24"}


class AudioFileError(UserError):
    """An audio file that cannot be read or written; the message names the file."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem

    def __reduce__(self) -> tuple[type[AudioFileError], tuple[Path, str]]:
        # Errors cross process boundaries (--jobs, Ray): rebuild from both arguments.
        return (AudioFileError, (self.path, self.problem))


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, without reading its samples."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def bit_depth(self) -> BitDepth:
        """The bit depth to write stems of this file at (24 for compressed sources)."""
        return _SUBTYPE_BIT_DEPTH.get(self.subtype, "24")

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: Path | str) -> AudioInfo:
    """Sample rate, channels, length and encoding of ``path``; AudioFileError if unreadable."""
    path = Path(path)
    _check_readable(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioFileError(path, f"not a readable audio file ({_short(error)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioFileError(path, "holds no audio (zero length)")
    return AudioInfo(
        path,
        int(info.samplerate),
        int(info.channels),
        int(info.frames),
        str(info.format),
        str(info.subtype),
    )


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(path, "no such file")
    if path.is_dir():
        raise AudioFileError(path, "is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(path, "is empty (0 bytes)")


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


class AudioReader:
    """Reads sections of one file as (channels, frames) float32; a context manager.

    Frames before 0 or past the end read as silence, so callers can ask for
    context around a block without special cases at the file's ends.
    """

    def __init__(self, path: Path | str) -> None:
        self.info = audio_info(path)
        try:
            self._file = sf.SoundFile(str(self.info.path))
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioFileError(path, f"cannot be opened ({_short(error)})") from None

    def read(self, start_frame: int, frames: int) -> np.ndarray:
        """``frames`` frames from ``start_frame``, zero-filled outside the file."""
        out = np.zeros((self.info.channels, max(frames, 0)), dtype=np.float32)
        begin = max(start_frame, 0)
        end = min(start_frame + frames, self.info.frames)
        if end > begin:
            try:
                self._file.seek(begin)
                data = self._file.read(end - begin, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as error:
                raise AudioFileError(self.info.path, f"read failed ({_short(error)})") from None
            out[:, begin - start_frame : begin - start_frame + data.shape[0]] = data.T
        return out

    def blocks(self, block_frames: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start frame, block) pairs covering the file; the last block may be shorter."""
        for start in range(0, self.info.frames, block_frames):
            yield start, self.read(start, min(block_frames, self.info.frames - start))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_audio(path: Path | str) -> tuple[np.ndarray, int]:
    """The whole file as ((channels, frames) float32, sample_rate)."""
    with AudioReader(path) as reader:
        return reader.read(0, reader.info.frames), reader.info.sample_rate


def check_finite(block: np.ndarray, path: Path, start_frame: int, sample_rate: int) -> None:
    """Raise AudioFileError naming the time of the first NaN or infinite sample."""
    bad = first_non_finite_frame(block)
    if bad is not None:
        frame = start_frame + bad
        raise AudioFileError(
            path, f"contains NaN or infinite samples (first at {frame / sample_rate:.3f} s)"
        )


class StemWriter:
    """Writes one audio file block by block under a temporary name; ``commit`` renames it.

    Closing without ``commit`` (an error, Ctrl-C) deletes the temporary file, so the
    destination either holds a complete file or nothing new. WAV files get a BWF
    ``bext`` chunk whose time reference is ``time_reference_frames`` when given.
    """

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        channels: int,
        bit_depth: BitDepth = "24",
        file_format: FileFormat = "wav",
        time_reference_frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.frames_written = 0
        if file_format not in ("wav", "flac"):
            raise ValueError(f"file_format must be 'wav' or 'flac', got {file_format!r}")
        fd, self._temp = create_temp(self.path)
        self._done = False
        self._sink: WavWriter | sf.SoundFile
        try:
            file = os.fdopen(fd, "w+b")
        except BaseException:
            os.close(fd)
            remove_own_temp(self._temp)
            raise
        try:
            if file_format == "wav":
                self._sink = WavWriter(
                    file, sample_rate, channels, bit_depth, time_reference_frames
                )
            else:
                subtype = _FLAC_SUBTYPES.get(bit_depth, "PCM_24")
                self._sink = sf.SoundFile(
                    file, "w", sample_rate, channels, subtype, format="FLAC", closefd=False
                )
                self._flac_file = file
        except BaseException as error:
            file.close()
            remove_own_temp(self._temp)
            if isinstance(error, OSError):
                raise output_error(self.path, error) from None
            raise

    def write(self, block: np.ndarray) -> None:
        """Append ``block``, shape (channels, frames) float32."""
        try:
            self._sink.write(np.ascontiguousarray(block.T))
        except (OSError, sf.SoundFileRuntimeError) as error:
            self.discard()
            raise _write_error(self.path, error) from None
        self.frames_written += block.shape[1]

    def _close_sink(self) -> None:
        try:
            self._sink.close()
        finally:
            if isinstance(self._sink, sf.SoundFile):
                self._flac_file.close()

    def commit(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        try:
            self._close_sink()
        except (OSError, sf.SoundFileRuntimeError) as error:
            self._done = True
            remove_own_temp(self._temp)
            raise _write_error(self.path, error) from None
        self._done = True
        return commit_temp(self._temp, self.path)

    def discard(self) -> None:
        if not self._done:
            self._done = True
            with contextlib.suppress(OSError, sf.SoundFileRuntimeError):
                self._close_sink()  # the file is deleted below either way
            remove_own_temp(self._temp)

    def __enter__(self) -> StemWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


def _write_error(path: Path, error: Exception) -> OutputError:
    if isinstance(error, OSError):
        return output_error(path, error)
    return OutputError(f"{path}: cannot write ({_short(error)})")


def write_audio(
    path: Path,
    audio: np.ndarray,
    sample_rate: int,
    bit_depth: BitDepth = "24",
    file_format: FileFormat = "wav",
    time_reference_frames: int | None = None,
) -> Path:
    """Write a whole (channels, frames) array atomically; returns the path."""
    with StemWriter(
        path, sample_rate, audio.shape[0], bit_depth, file_format, time_reference_frames
    ) as writer:
        writer.write(audio)
        return writer.commit()
