"""Audio files in and out: formats, channel counts, bit depths, blocks, atomic writes, BWF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.audio.io import (
    AudioFileError,
    AudioReader,
    StemWriter,
    audio_info,
    check_finite,
    read_audio,
    write_audio,
)
from samaudio_daw.audio.wav import read_time_reference

RATE = 44100


def _tone(channels: int, frames: int = 4410) -> np.ndarray:
    t = np.arange(frames) / RATE
    rows = [0.5 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.array(rows, dtype=np.float32)


@pytest.mark.parametrize(
    ("file_format", "subtype", "depth", "tolerance"),
    [
        ("WAV", "PCM_16", "16", 1e-4),
        ("WAV", "PCM_24", "24", 1e-6),
        ("WAV", "PCM_32", "32", 1e-8),
        ("WAV", "FLOAT", "float", 0.0),
        ("FLAC", "PCM_16", "16", 1e-4),
        ("FLAC", "PCM_24", "24", 1e-6),
        ("AIFF", "PCM_24", "24", 1e-6),
    ],
)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_reads_every_pcm_format_and_channel_count(
    tmp_path: Path, file_format: str, subtype: str, depth: str, tolerance: float, channels: int
) -> None:
    audio = _tone(channels)
    path = tmp_path / f"in.{file_format.lower()}"
    sf.write(path, audio.T, RATE, subtype=subtype, format=file_format)
    read, rate = read_audio(path)
    info = audio_info(path)
    assert rate == RATE and read.shape == audio.shape and read.dtype == np.float32
    assert info.bit_depth == depth
    assert np.abs(read - audio).max() <= tolerance + 1e-9


@pytest.mark.parametrize(("file_format", "subtype"), [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_reads_compressed_formats(tmp_path: Path, file_format: str, subtype: str) -> None:
    audio = _tone(2, RATE)
    path = tmp_path / f"in.{file_format.lower()}"
    sf.write(path, audio.T, RATE, subtype=subtype, format=file_format)
    read, rate = read_audio(path)
    assert rate == RATE and read.shape[0] == 2
    # Lossy codecs keep the tone's level; their decoders may add priming frames.
    assert abs(read.shape[1] - RATE) < 4096
    assert np.sqrt(np.mean(read**2)) == pytest.approx(np.sqrt(np.mean(audio**2)), rel=0.1)
    assert audio_info(path).bit_depth == "24"


@pytest.mark.parametrize("depth", ["16", "24", "32", "float"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_writes_wav_that_libsndfile_reads_back(tmp_path: Path, depth: str, channels: int) -> None:
    audio = _tone(channels, 1001)  # odd length: 24-bit mono needs a RIFF pad byte
    path = write_audio(tmp_path / "out.wav", audio, RATE, depth, "wav", 12345)  # type: ignore[arg-type]
    read, rate = read_audio(path)
    assert rate == RATE and read.shape == audio.shape
    assert audio_info(path).bit_depth == depth
    assert np.abs(read - audio).max() < {"16": 1e-4, "24": 1e-6, "32": 1e-8, "float": 1e-12}[depth]
    assert read_time_reference(path) == 12345


def test_wav_without_time_reference_has_no_bext(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "plain.wav", _tone(2), RATE, "24")
    assert read_time_reference(path) is None


def test_flac_stems(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "out.flac", _tone(2), RATE, "24", "flac")
    assert sf.info(path).format == "FLAC" and sf.info(path).subtype == "PCM_24"


def test_reader_zero_fills_outside_the_file(tmp_path: Path) -> None:
    audio = _tone(2, 100)
    path = write_audio(tmp_path / "a.wav", audio, RATE, "float")
    with AudioReader(path) as reader:
        section = reader.read(-10, 120)
        blocks = list(reader.blocks(30))
    assert np.all(section[:, :10] == 0) and np.all(section[:, 110:] == 0)
    assert np.array_equal(section[:, 10:110], audio)
    assert [start for start, _ in blocks] == [0, 30, 60, 90]
    assert np.array_equal(np.concatenate([b for _, b in blocks], axis=1), audio)


def test_writer_leaves_nothing_unless_committed(tmp_path: Path) -> None:
    target = tmp_path / "stem.wav"
    with StemWriter(target, RATE, 2) as writer:
        writer.write(_tone(2))
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with StemWriter(target, RATE, 2) as writer:
        writer.write(_tone(2))
        writer.commit()
    assert target.exists() and [p.name for p in tmp_path.iterdir()] == ["stem.wav"]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"RIFF....WAVEjunkjunkjunk" * 10), "not a readable audio file"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_unreadable_files_name_the_file_and_problem(tmp_path: Path, make, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioFileError) as error:
        audio_info(path)
    assert str(error.value).startswith(str(path)) and problem in str(error.value)


def test_zero_length_audio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 2), np.float32), RATE)
    with pytest.raises(AudioFileError, match="zero length"):
        audio_info(path)


def test_nan_and_inf_are_located() -> None:
    block = np.zeros((2, 100), np.float32)
    block[1, 50] = np.inf
    with pytest.raises(AudioFileError, match=r"NaN or infinite samples \(first at 1\.500 s\)"):
        check_finite(block, Path("x.wav"), 100, 100)
