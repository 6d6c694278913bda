"""The machine report: facts, plan, estimate arithmetic, a real (tiny) measurement, doctor checks.

Not covered here: a real GPU (none on the test machines; the GPU branches run with a
described machine), a Mac, and the timing accuracy, which benchmarks/doctor_estimate.py
measures against the real pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from samaudio_daw.doctor import run_doctor
from samaudio_daw.separation.sam_audio import machine
from samaudio_daw.separation.sam_audio.config import config_for_size

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
GIB = 2**30


def _with_gpu(free_gib: float, kind: str = "cuda") -> machine.Machine:
    gpu = machine.Gpu(0, "Test GPU", kind, int(80 * GIB), int(free_gib * GIB))
    return dataclasses.replace(machine.describe_machine(), gpus=(gpu,))


def test_plan_grows_with_free_gpu_memory() -> None:
    assert (
        machine.recommend(dataclasses.replace(machine.describe_machine(), gpus=())).size == "small"
    )
    plans = [machine.recommend(_with_gpu(gib)) for gib in (3, 6, 40)]
    assert [p.size for p in plans] == ["small", "base", "large"]
    assert all(p.dtype == "bfloat16" for p in plans)
    assert machine.recommend(_with_gpu(40, "mps")).dtype == "float32"
    assert "--device cpu" in machine.recommend(_with_gpu(0.5)).why


def test_cpu_plan_uses_bfloat16_only_where_the_cpu_has_it_natively() -> None:
    here = dataclasses.replace(machine.describe_machine(), gpus=())
    with_bf16 = machine.recommend(dataclasses.replace(here, cpu_bf16=True))
    without = machine.recommend(dataclasses.replace(here, cpu_bf16=False))
    assert (with_bf16.dtype, without.dtype) == ("bfloat16", "float32")
    assert "native bfloat16" in with_bf16.why and "bfloat16" not in without.why


def test_auto_batch_fits_free_memory_and_stays_in_range() -> None:
    config = config_for_size("large")
    small_gpu = machine.auto_batch(config, 24 * GIB, torch.bfloat16, 10.0, loaded=True)
    big_gpu = machine.auto_batch(config, 80 * GIB, torch.bfloat16, 10.0, loaded=True)
    assert 1 <= small_gpu < big_gpu <= machine.MAX_AUTO_BATCH == 32
    small = config_for_size("small")
    assert machine.auto_batch(small, 139 * GIB, torch.bfloat16, 10.0, loaded=True) == 32
    assert machine.auto_batch(config, 1 * GIB, torch.bfloat16, 10.0, loaded=False) == 1
    per_item = machine.item_bytes(config, 10.0, torch.bfloat16)
    assert small_gpu * per_item <= 24 * GIB


def test_estimate_counts_clips_pairs_and_steps() -> None:
    config = config_for_size("small")
    speed = machine.Speed("small", "cpu", "float32", 10.0, 1.0, 0.5, 2.0, 0.0)
    # 10 s = one 10 s clip: encode 10×0.5, 2 prompts × (2×16 DiT calls + 10 s × 2 decode).
    assert machine.estimate_s(speed, config, 10.0, 2, 16) == pytest.approx(5 + 2 * (32 + 20))
    # 20 s with 25 % overlap: clips start every 7.5 s → 3 clips.
    assert machine.estimate_s(speed, config, 20.0, 1, 16, 0.25) == pytest.approx(3 * (5 + 32 + 20))


def test_measure_speed_runs_the_real_parts_of_a_model() -> None:
    speed = machine.measure_speed(config_for_size("tiny"), torch.device("cpu"), torch.float32, 2.0)
    assert (
        speed.dit_eval_s > 0 and speed.encode_s_per_audio_s > 0 and speed.decode_s_per_audio_s > 0
    )


def test_doctor_reports_the_model_audio_io_and_reaper(tmp_path: Path, monkeypatch) -> None:
    if not REFERENCE.is_dir():
        pytest.skip("reference checkpoint not found")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    resource = tmp_path / "REAPER"
    resource.mkdir()
    report = run_doctor(str(REFERENCE), measure=False, reaper_path=resource)
    checks = {c.name: c for c in report.checks}
    assert checks["model"].ok and "config.json matches checkpoint.pt" in checks["model"].detail
    assert checks["rankers"].detail.startswith("config.json names no ranker or span predictor")
    assert checks["audio i/o"].ok
    assert not checks["reaper"].ok and "reaper install" in checks["reaper"].detail
    assert not checks["installed"].ok
    assert report.plan["size"] == "small" and report.plan["device"] == "cpu"
    text = "\n".join(report.lines())
    dtype = "bfloat16" if machine.describe_machine().cpu_bf16 else "float32"
    assert f"--model facebook/sam-audio-small --device cpu --dtype {dtype}" in text


def test_doctor_names_a_broken_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    report = run_doctor(str(broken), measure=False, reaper_path=tmp_path)
    model = {c.name: c for c in report.checks}["model"]
    assert not model.ok and "checkpoint.pt" in model.detail


def _model_naming(tmp_path: Path, monkeypatch, **fields: object) -> Path:
    """A copy of the reference model whose config.json sets ``fields``, and an empty hub cache."""
    if not REFERENCE.is_dir():
        pytest.skip("reference checkpoint not found")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(REFERENCE, folder)
    config = json.loads((folder / "config.json").read_text()) | fields
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_doctor_says_which_rankers_and_span_predictor_are_used(tmp_path: Path, monkeypatch) -> None:
    folder = _model_naming(
        tmp_path,
        monkeypatch,
        text_ranker={"kind": "clap", "checkpoint": "text_ranker/clap.pt"},
        visual_ranker={"kind": "imagebind", "checkpoint": None},
        span_predictor="pe-a-frame-large",
    )
    detail = {
        c.name: c for c in run_doctor(str(folder), measure=False, reaper_path=tmp_path).checks
    }["rankers"].detail
    assert "text_ranker (clap: text_ranker/clap.pt): checkpoint absent" in detail
    assert "visual_ranker (imagebind" in detail and "not used" in detail
    assert "span predictor 'pe-a-frame-large' (named in config.json): absent (fetch it" in detail
    (folder / "text_ranker").mkdir()
    (folder / "text_ranker" / "clap.pt").write_bytes(b"weights")
    detail = {
        c.name: c for c in run_doctor(str(folder), measure=False, reaper_path=tmp_path).checks
    }["rankers"].detail
    clap = folder / "text_ranker" / "clap.pt"
    assert f"checkpoint at {clap}, roberta-base's tokenizer absent" in detail
    assert "falls back to presence" in detail
    snapshot = tmp_path / "cache" / "models--FacebookAI--roberta-base" / "snapshots" / "f"
    (snapshot.parent.parent / "refs").mkdir(parents=True)
    (snapshot.parent.parent / "refs" / "main").write_text("f")
    snapshot.mkdir(parents=True)
    for name in ("vocab.json", "merges.txt"):
        (snapshot / name).write_text("{}")
    detail = {
        c.name: c for c in run_doctor(str(folder), measure=False, reaper_path=tmp_path).checks
    }["rankers"].detail
    assert f"checkpoint at {clap}, tokenizer at {snapshot}, ranks --candidates" in detail
    # The span predictor, as `model pull --with-rankers` leaves it (facebook/NAME at
    # revision perception_models); the doctor only looks for its files.
    predictor = tmp_path / "cache" / "models--facebook--pe-a-frame-large"
    (predictor / "refs").mkdir(parents=True)
    (predictor / "refs" / "perception_models").write_text("p")
    (predictor / "snapshots" / "p").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (predictor / "snapshots" / "p" / name).write_text("{}")
    detail = {
        c.name: c for c in run_doctor(str(folder), measure=False, reaper_path=tmp_path).checks
    }["rankers"].detail
    assert (
        f"span predictor 'pe-a-frame-large' (named in config.json): at {predictor}/snapshots/p, "
        "finds '+' spans for prompts without regions or a time selection with --predict-spans"
    ) in detail


def test_doctor_says_a_sound_activity_ranker_needs_no_weights(tmp_path: Path, monkeypatch) -> None:
    ensemble = {"kind": "ensemble", "rankers": {
        "clap": [{"kind": "clap", "checkpoint": "clap.pt"}, 5.0],
        "activity": [{"kind": "sound_activity", "metric": "recall"}, 2.0],
    }}  # fmt: skip
    folder = _model_naming(tmp_path, monkeypatch, text_ranker=ensemble)
    detail = {
        c.name: c for c in run_doctor(str(folder), measure=False, reaper_path=tmp_path).checks
    }["rankers"].detail
    assert (
        "text_ranker (sound_activity: {'metric': 'recall'}): needs no weights, ranks "
        "--candidates with weight 2 by how well each one sounds where the pair's spans are"
    ) in detail
    assert "text_ranker (clap: clap.pt): checkpoint absent" in detail
    assert "falls back to presence" not in detail
    # A setting the ranker does not know is said, as loading it would say it.
    ensemble["rankers"]["activity"][0]["metric"] = "f1"
    folder = _model_naming(tmp_path / "again", monkeypatch, text_ranker=ensemble)
    detail = {
        c.name: c for c in run_doctor(str(folder), measure=False, reaper_path=tmp_path).checks
    }["rankers"].detail
    assert "text_ranker (sound_activity: {'metric': 'f1'}): sound_activity metric must be" in detail
    assert "falls back to presence" in detail
