"""The report's streamed figures against plain numpy on whole arrays of known signals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.report import ReportError
from samaudio_daw.report.analysis import AnalysisSettings, GroupFigures, analyse_group, stft_frames
from samaudio_daw.report.sources import (
    ArraySection,
    FileSection,
    find_original,
    read_result_manifest,
    stem_groups,
)

RATE = 48000


def _write(path: Path, audio: np.ndarray) -> Path:
    sf.write(path, audio.T, RATE, subtype="FLOAT")
    return path


@pytest.fixture
def signals() -> dict[str, np.ndarray]:
    """A chord plus a buzz; stems: the buzz and the rest (the rest computed in float32)."""
    rng = np.random.default_rng(5)
    t = np.arange(int(1.5 * RATE)) / RATE
    chord = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 440 * t)
    buzz = 0.05 * np.sign(np.sin(2 * np.pi * 100 * t)) + 0.01 * rng.standard_normal(t.size)
    original = np.array([chord + buzz, 0.8 * chord + buzz], dtype=np.float32)
    target = np.array([buzz, buzz], dtype=np.float32)
    return {"original": original, "buzz": target, "rest": original - target}


def _analyse(
    folder: Path, signals: dict[str, np.ndarray], block_frames: int = 1 << 16
) -> GroupFigures:
    paths = [_write(folder / f"{name}.wav", signals[name]) for name in ("buzz", "rest")]
    settings = AnalysisSettings(columns=300, rows=120, block_frames=block_frames)
    original = FileSection(_write(folder / "original.wav", signals["original"]))
    try:
        return analyse_group(original, paths, True, settings)
    finally:
        original.close()


def _energy(audio: np.ndarray) -> float:
    return float(np.sum(audio.astype(np.float64) ** 2))


def test_peak_energy_and_share_match_numpy(tmp_path: Path, signals: dict[str, np.ndarray]) -> None:
    figures = _analyse(tmp_path, signals)
    original = signals["original"]
    assert figures.original.peak == pytest.approx(float(np.max(np.abs(original))), rel=1e-7)
    assert figures.original.peak_dbfs == pytest.approx(
        20 * np.log10(np.max(np.abs(original))), abs=1e-6
    )
    assert figures.original.energy == pytest.approx(_energy(original), rel=1e-9)
    for name, stem in zip(("buzz", "rest"), figures.stems, strict=True):
        assert stem.peak == pytest.approx(float(np.max(np.abs(signals[name]))), rel=1e-7)
        share = figures.energy_share(stem)
        assert share == pytest.approx(_energy(signals[name]) / _energy(original), rel=1e-9)


def test_null_matches_numpy(tmp_path: Path, signals: dict[str, np.ndarray]) -> None:
    exact = _analyse(tmp_path, signals).null
    assert exact is not None
    difference = signals["original"].astype(np.float64) - (
        signals["buzz"].astype(np.float64) + signals["rest"].astype(np.float64)
    )
    assert exact.max_abs == pytest.approx(float(np.max(np.abs(difference))), abs=1e-15)
    assert exact.max_abs_dbfs < -120.0  # float32 rounding only
    # A residual at half level: the difference is half the residual.
    off = dict(signals, rest=(signals["rest"] * np.float32(0.5)))
    null = _analyse(tmp_path, off).null
    assert null is not None
    difference = signals["original"].astype(np.float64) - (
        off["buzz"].astype(np.float64) + off["rest"].astype(np.float64)
    )
    rms = math.sqrt(float(np.mean(difference**2)))
    assert null.max_abs_dbfs == pytest.approx(20 * np.log10(np.max(np.abs(difference))), abs=1e-9)
    assert null.rms_dbfs == pytest.approx(20 * math.log10(rms), abs=1e-9)
    depth = 10 * math.log10(np.sum(difference**2) / _energy(signals["original"]))
    assert null.depth_db == pytest.approx(depth, abs=1e-9)


def test_block_size_does_not_change_the_figures(
    tmp_path: Path, signals: dict[str, np.ndarray]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    big = _analyse(tmp_path / "a", signals, block_frames=1 << 16)
    small = _analyse(tmp_path / "b", signals, block_frames=1001)
    for one, other in zip((big.original, *big.stems), (small.original, *small.stems), strict=True):
        assert one.peak == other.peak
        assert one.energy == pytest.approx(other.energy, rel=1e-12)
        assert one.loudness_lufs == pytest.approx(other.loudness_lufs, abs=1e-9)
        np.testing.assert_array_equal(one.envelope_min, other.envelope_min)
        np.testing.assert_array_equal(one.envelope_max, other.envelope_max)
        np.testing.assert_allclose(one.spectrogram_power, other.spectrogram_power, rtol=1e-6)


def test_envelope_is_min_and_max_per_column() -> None:
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 3000)).astype(np.float32)
    settings = AnalysisSettings(columns=30, rows=16, block_frames=512)
    figures = analyse_group(ArraySection(audio, RATE), [], False, settings)
    columns = audio.reshape(2, 30, 100)
    np.testing.assert_array_equal(figures.original.envelope_min, columns.min(axis=(0, 2)))
    np.testing.assert_array_equal(figures.original.envelope_max, columns.max(axis=(0, 2)))
    assert figures.null is None and figures.null_note


def test_spectrogram_shows_a_full_scale_sine_at_0_db_in_its_row() -> None:
    size = stft_frames(RATE)
    frequency_hz = 85 * RATE / size  # on an FFT bin: no scalloping loss
    t = np.arange(RATE) / RATE
    # Out of phase between the channels: a mono mix would show nothing at all.
    sine = np.sin(2 * np.pi * frequency_hz * t).astype(np.float32)[None, :] * [[1.0], [-1.0]]
    settings = AnalysisSettings(columns=50, rows=100)
    figures = analyse_group(ArraySection(sine.astype(np.float32), RATE), [], False, settings)
    figures = figures.original
    level_db = 10 * np.log10(figures.spectrogram_power[:, 5:-5])  # away from the ends
    loudest = int(np.argmax(level_db.max(axis=1)))
    assert level_db[loudest].min() == pytest.approx(0.0, abs=0.05)
    assert figures.frequencies_hz[loudest] == pytest.approx(frequency_hz, rel=0.05)
    assert level_db[loudest - 10].max() < -40.0  # an octave-ish below: nothing


def _result(folder: Path, stems: list[dict[str, object]]) -> Path:
    document = {"version": 1, "backend": "dsp", "stems": stems}
    path = folder / "result.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _stem(name: str, kind: str, file: str, input_name: str) -> dict[str, object]:
    return {"input": input_name, "name": name, "kind": kind, "prompt": None, "file": file}


def test_original_is_the_input_file_or_else_the_sum_of_the_stems(
    tmp_path: Path, signals: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _write(out / "song.buzz.wav", signals["buzz"])
    _write(out / "song.rest.wav", signals["rest"])
    _write(tmp_path / "song.wav", signals["original"])
    # A relative input is looked for next to the result folder too.
    path = _result(
        out,
        [
            _stem("buzz", "target", "song.buzz.wav", "song.wav"),
            _stem("rest", "residual", "song.rest.wav", "song.wav"),
        ],
    )
    [group] = stem_groups(read_result_manifest(path), out)
    found = find_original(group, out)
    assert found.kind == "input file" and found.null_test
    (tmp_path / "song.wav").unlink()
    gone = find_original(group, out)
    assert gone.kind == "sum of stems" and not gone.null_test
    assert "song.wav is not there any more" in gone.note
    with gone.open() as section:
        np.testing.assert_allclose(
            section.read(0, section.frames), signals["buzz"] + signals["rest"], atol=1e-7
        )


def test_bad_result_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such result file"):
        read_result_manifest(tmp_path / "result.json")
    (tmp_path / "result.json").write_text("{\n  nope", encoding="utf-8")
    with pytest.raises(ReportError, match="not JSON \\(line 2"):
        read_result_manifest(tmp_path / "result.json")
    path = _result(tmp_path, [_stem("hum", "sideways", "x.wav", "in.wav")])
    with pytest.raises(ReportError, match="stems/0/kind"):
        read_result_manifest(path)
    path = _result(tmp_path, [_stem("hum", "target", "gone.wav", "in.wav")])
    with pytest.raises(ReportError, match="gone.wav: no such file.*rerun the separation"):
        stem_groups(read_result_manifest(path), tmp_path)


def test_an_item_whose_project_is_gone_is_compared_with_its_stems_sum(
    tmp_path: Path, signals: dict[str, np.ndarray]
) -> None:
    _write(tmp_path / "k.hum.wav", signals["buzz"])
    _write(tmp_path / "k.clean.wav", signals["rest"])
    where = {"project": str(tmp_path / "gone.rpp"), "track": "Keys", "mode": "item"}
    where |= {"track_guid": "{T}", "item_guid": "{I}", "position_s": 1.0}
    path = _result(
        tmp_path,
        [
            _stem("hum", "target", "k.hum.wav", "media/a.wav") | where,
            _stem("clean", "residual", "k.clean.wav", "media/a.wav") | where,
        ],
    )
    [group] = stem_groups(read_result_manifest(path), tmp_path)
    assert group.mode == "item" and group.title.startswith("item at 1.000 s")
    original = find_original(group, tmp_path)
    assert original.kind == "sum of stems"
    assert f"the project {tmp_path / 'gone.rpp'} is not there any more" in original.note
