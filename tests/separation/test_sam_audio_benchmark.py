"""benchmarks/sam_audio_gpu.py: the CPU smoke mode, the skip without CUDA, the real sizes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from samaudio_daw.separation.sam_audio.config import config_for_size
from samaudio_daw.separation.sam_audio.model import SamAudio

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "sam_audio_gpu.py"


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    """The script as a module, so its main() runs in this process (no second torch import)."""
    spec = importlib.util.spec_from_file_location("sam_audio_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the script is executed.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_benchmark(
    benchmark: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    out = tmp_path / "bench.json"
    assert benchmark.main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err, json.loads(out.read_text())


def test_tiny_smoke_mode_writes_json_and_a_table(
    benchmark: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stdout, _, report = run_benchmark(
        benchmark, tmp_path, capsys, "--sizes", "tiny", "--device", "cpu", "--seconds", "5",
        "--steps", "2", "--dtypes", "float32", "--chunks", "2",
    )  # fmt: skip
    (result,) = report["results"]
    assert (result["size"], result["dtype"], result["chunk_s"]) == ("tiny", "float32", 2.0)
    assert result["real_time_factor"] > 0 and result["error"] == ""
    assert "| tiny | float32 | 2 | 5 |" in stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip only happens without CUDA")
def test_real_sizes_are_skipped_with_a_message_without_cuda(
    benchmark: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, stderr, report = run_benchmark(benchmark, tmp_path, capsys, "--sizes", "small,large")
    assert report["results"] == []
    assert "skipped large: a real model size needs a CUDA GPU" in stderr


@pytest.mark.parametrize(
    ("size", "dit_params"), [("small", 0.220e9), ("base", 0.643e9), ("large", 2.929e9)]
)
def test_real_sizes_have_the_published_parameter_counts(size: str, dit_params: float) -> None:
    """SPEC §2: large has a 2.93 B transformer, a 27.3 M encoder, a 9.3 M watermarker."""
    with torch.device("meta"):
        model = SamAudio(config_for_size(size))  # type: ignore[arg-type]

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(model.transformer) == pytest.approx(dit_params, rel=1e-3)
    assert count(model.audio_codec.encoder) == pytest.approx(27.3e6, rel=3e-3)
    assert count(model.audio_codec.decoder.wm_model) == pytest.approx(9.3e6, rel=5e-3)


def test_quick_mode_is_the_issue_matrix(benchmark: ModuleType) -> None:
    args = benchmark.parse_args(["--quick"])
    assert (args.sizes, args.dtypes, args.chunks) == (
        ["small", "base", "large"],
        ["bfloat16"],
        [10.0],
    )
    assert (args.seconds, args.prompts, args.compile) == (180.0, [1, 4], "auto")


def test_prompt_counts_each_get_a_row_with_the_dit_flop_rate(
    benchmark: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, report = run_benchmark(
        benchmark, tmp_path, capsys, "--sizes", "tiny", "--device", "cpu", "--seconds", "3",
        "--steps", "1", "--dtypes", "float32", "--chunks", "2", "--prompts", "1,2",
    )  # fmt: skip
    assert [r["prompts"] for r in report["results"]] == [1, 2]
    assert all(r["dit_tflops"] > 0 for r in report["results"])


def test_cpu_mode_times_each_thread_count(
    benchmark: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = torch.get_num_threads()
    stdout, _, report = run_benchmark(
        benchmark, tmp_path, capsys, "--cpu", "--sizes", "tiny", "--threads", "1,2"
    )
    assert torch.get_num_threads() == threads  # restored
    assert [(r["size"], r["threads"]) for r in report["cpu"]] == [("tiny", 1), ("tiny", 2)]
    assert all(r["dit_eval_s"] > 0 and r["estimate_3min_s"] > 0 for r in report["cpu"])
    assert "| tiny | 2 |" in stdout
