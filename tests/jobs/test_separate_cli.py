"""`samaudio-daw separate` through the real CLI: outputs, manifest, and every bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.jobs.manifest import load_schema

RATE = 44100


def _hummy(path: Path, channels: int = 2, seconds: float = 2.0, subtype: str = "PCM_16") -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    music = 0.3 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    hum = 0.05 * sum(np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 2, 3))
    audio = np.array([music + hum] * channels).T
    sf.write(path, audio, RATE, subtype=subtype)
    return path


def test_separate_writes_stems_residual_and_manifest(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav", subtype="PCM_24")
    out = tmp_path / "out"
    done = cli("separate", song, "--prompt", "remove the mains hum", "-o", out)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    jsonschema.validate(result, load_schema("result"))
    files = sorted(p.name for p in out.iterdir())
    assert files == ["result.json", "song.clean.wav", "song.mains-hum.wav"]
    kinds = {s["name"]: s["kind"] for s in result["stems"]}
    assert kinds == {"mains-hum": "target", "clean": "residual"}
    original, _ = sf.read(song, dtype="float32")
    total = sum(sf.read(out / s["file"], dtype="float32")[0] for s in result["stems"])
    for stem in result["stems"]:
        info = sf.info(out / stem["file"])
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            RATE,
            2,
            original.shape[0],
            "PCM_24",
        )
    # 24-bit stems: the null is limited by the two stems' rounding.
    assert np.abs(total - original).max() < 2e-7


def test_preset_flac_bit_depth_and_no_residual(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "take.wav", channels=1)
    out = tmp_path / "out"
    done = cli(
        "separate",
        song,
        "--preset",
        "de-hum",
        "-o",
        out,
        "--format",
        "flac",
        "--bit-depth",
        "24",
        "--no-residual",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["result.json", "take.hum.flac"]
    assert sf.info(out / "take.hum.flac").subtype == "PCM_24"


def test_prompt_dsp_cannot_serve_is_refused_before_reading(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    done = cli("separate", song, "--prompt", "isolate the owl hooting", "-o", tmp_path / "out")
    assert done.returncode == 2
    assert "sam-audio" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def _nan_file(path: Path) -> None:
    audio = np.zeros((RATE, 2), np.float32)
    audio[RATE // 2, 0] = np.nan
    sf.write(path, audio, RATE, subtype="FLOAT")


def _zero_length(path: Path) -> None:
    sf.write(path, np.zeros((0, 2), np.float32), RATE)


BAD_INPUTS = {
    "missing file": (lambda p: None, "no such file"),
    "corrupt file": (
        lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 20),
        "not a readable audio file",
    ),
    "empty file": (lambda p: p.write_bytes(b""), "empty"),
    "zero-length audio": (_zero_length, "zero length"),
    "NaN samples": (_nan_file, "NaN or infinite"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_audio_exits_2_with_one_line_and_leaves_nothing(tmp_path: Path, cli, case: str) -> None:  # type: ignore[no-untyped-def]
    make, problem = BAD_INPUTS[case]
    path = tmp_path / "bad.wav"
    make(path)
    out = tmp_path / "out"
    done = cli("separate", path, "--preset", "de-hum", "-o", out)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(path) in done.stderr and problem in done.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_preset(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    done = cli("separate", song, "--preset", "de-humm", "-o", tmp_path / "out")
    assert done.returncode == 2 and "de-humm" in done.stderr and "de-hum" in done.stderr
    assert done.stderr.count("\n") == 1


def test_malformed_preset_toml(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "mine.toml").write_text('name = "mine"\n[[stems]\nname = "x"\n')
    done = cli("separate", song, "--preset", "mine", "--presets", presets, "-o", tmp_path / "o")
    assert done.returncode == 2 and "mine.toml" in done.stderr and "line" in done.stderr
    assert done.stderr.count("\n") == 1


def test_output_folder_not_writable(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    if os.geteuid() == 0:  # root writes anywhere a mode allows; /sys/kernel refuses even root
        out = Path("/sys/kernel")
        if not out.is_dir():
            pytest.skip("needs a non-root user or /sys/kernel to have an unwritable folder")
    else:
        out = tmp_path / "locked"
        out.mkdir(mode=0o555)
    done = cli("separate", song, "--preset", "de-hum", "-o", out)
    assert done.returncode == 2 and "not writable" in done.stderr and str(out) in done.stderr


def test_output_path_equal_to_input(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    before = song.read_bytes()
    done = cli("separate", song, "--preset", "de-hum", "-o", song)
    assert done.returncode == 2 and str(song) in done.stderr
    assert song.read_bytes() == before


def test_stem_that_would_overwrite_an_input(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = _hummy(tmp_path / "a.wav")
    victim = _hummy(tmp_path / "a.hum.wav")  # what `a.wav --preset de-hum -o .` would write
    before = victim.read_bytes()
    done = cli("separate", first, victim, "--preset", "de-hum", "-o", tmp_path)
    assert done.returncode == 2 and "overwrite an input" in done.stderr
    assert victim.read_bytes() == before


def test_usage_errors_exit_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    done = cli("separate", song, "-o", tmp_path / "out")
    assert done.returncode == 2 and "--prompt" in done.stderr


def test_backends_lists_both(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("backends", "--json")
    assert done.returncode == 0, done.stderr
    names = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert names["dsp"]["available"] is True and names["dsp"]["capabilities"]
    assert "sam-audio" in names


def test_prompts_lists_the_dsp_vocabulary(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("prompts")
    assert done.returncode == 0, done.stderr
    for line in ("bass: the bass line", "'the lead sax'", "'clean up the dialogue'", "toms:"):
        assert line in done.stdout


def test_a_refused_prompt_names_the_nearest_servable_ones(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _hummy(tmp_path / "song.wav")
    done = cli("separate", song, "--prompt", "the pianno", "-o", tmp_path / "out")
    assert done.returncode == 2
    assert "'the piano'" in done.stderr and "--backend sam-audio" in done.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.wav"))
