"""``samaudio-daw queue run``: the real CLI as a subprocess over real job folders."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48000


def job_folder(base: Path, name: str, seconds: float, *, queued: bool = True) -> Path:
    folder = base / name
    (folder / "input").mkdir(parents=True)
    noise = np.random.default_rng(len(name)).standard_normal((int(seconds * RATE), 2))
    sf.write(folder / "input" / "a.wav", (0.2 * noise).astype("float32"), RATE, subtype="FLOAT")
    manifest = {
        "version": 1,
        "output_dir": "stems",
        "status_file": "status.json",
        "backend": "dsp",
        "items": [{"audio": "input/a.wav", "name": "a", "preset": "bass"}],
    }
    (folder / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / ".samaudio-job").write_text("samaudio-daw job folder\n", encoding="utf-8")
    if queued:
        (folder / "queued").write_text("", encoding="utf-8")
    return folder


def status(folder: Path) -> dict:
    try:
        return json.loads((folder / "status.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def start_runner(base: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "samaudio_daw", "queue", "run", str(base), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def files_under(base: Path) -> set[Path]:
    return {p.relative_to(base) for p in base.rglob("*") if p.is_file()}


def test_a_cancelled_and_a_bad_job_end_alone_and_the_rest_is_run(tmp_path: Path) -> None:
    base = tmp_path / "jobs"
    long_job = job_folder(base, "1-long", 400)
    bad = job_folder(base, "2-bad", 1)
    (bad / "job.json").write_text('{"version": 1, "items": ', encoding="utf-8")
    short = job_folder(base, "3-short", 2)
    not_queued = job_folder(base, "4-not-queued", 1, queued=False)
    (base / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = files_under(base)

    runner = start_runner(base, "--idle", "1")
    deadline = time.monotonic() + 120
    while status(long_job).get("state") != "running" or status(long_job)["progress"] <= 0:
        assert time.monotonic() < deadline and runner.poll() is None, status(long_job)
        time.sleep(0.1)
    seen_waiting = status(short)
    running = status(long_job)
    (long_job / "status.json.cancel").write_text("cancel\n", encoding="utf-8")
    output, _ = runner.communicate(timeout=120)

    assert runner.returncode == 0, output
    assert seen_waiting["state"] == "queued" and "ahead" in seen_waiting["message"]
    assert running["left_s"] is None or running["left_s"] > 0
    assert status(long_job)["state"] == "cancelled"
    assert not (long_job / "stems" / "result.json").exists()
    failed = status(bad)
    assert failed["state"] == "failed" and "job.json" in failed["message"], failed
    assert "\n" not in failed["message"]
    done = status(short)
    assert done["state"] == "done" and Path(done["result"]).is_file()
    assert not (not_queued / "status.json").exists()  # not queued: not touched
    assert before <= files_under(base)  # nothing that was there is gone
    assert (base / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert "3 job(s) run" in output


def test_a_job_cancelled_while_waiting_never_starts(tmp_path: Path) -> None:
    base = tmp_path / "jobs"
    waiting = job_folder(base, "1-waiting", 1)
    (waiting / "status.json.cancel").write_text("cancel\n", encoding="utf-8")
    runner = start_runner(base, "--idle", "0.5")
    output, _ = runner.communicate(timeout=120)
    assert runner.returncode == 0, output
    assert status(waiting)["state"] == "cancelled"
    assert not (waiting / "stems").exists()


def test_a_second_runner_leaves_the_jobs_to_the_first(tmp_path: Path) -> None:
    base = tmp_path / "jobs"
    job = job_folder(base, "1-job", 1)
    first = start_runner(base, "--idle", "8")
    deadline = time.monotonic() + 60
    while status(job).get("state") != "done":
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.1)
    second = subprocess.run(
        [sys.executable, "-m", "samaudio_daw", "queue", "run", str(base), "--idle", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    first.kill()
    first.communicate()
    assert second.returncode == 0, second.stderr
    assert "already runs" in second.stdout
    heartbeat = json.loads((base / "queue.json").read_text(encoding="utf-8"))
    assert heartbeat["pid"] == first.pid


def test_an_audition_reports_its_time_and_the_estimate_for_the_full_length(
    tmp_path: Path,
) -> None:
    base = tmp_path / "jobs"
    audition = job_folder(base, "1-audition", 5)
    (audition / "audition.json").write_text('{"full_length_s": 50}', encoding="utf-8")
    commit = job_folder(base, "2-commit", 5)
    runner = start_runner(base, "--idle", "0.5")
    output, _ = runner.communicate(timeout=120)
    assert runner.returncode == 0, output
    heard = status(audition)
    assert heard["state"] == "done" and heard["audio_s"] == 5.0
    assert heard["estimate_full_s"] == round(heard["audition_s"] / 5.0 * 50, 1)
    assert "the full length would take about" in output
    assert heard["warm_model"] is False
    assert status(commit)["warm_model"] is True  # same backend and settings: loaded once


def test_on_the_cpu_jobs_run_side_by_side_up_to_jobs(tmp_path: Path) -> None:
    base = tmp_path / "jobs"
    folders = [job_folder(base, f"{n}-job", 60) for n in range(1, 4)]
    runner = start_runner(base, "--jobs", "2", "--idle", "0.5")
    most = 0
    while runner.poll() is None:
        most = max(most, sum(status(f).get("state") == "running" for f in folders))
        time.sleep(0.05)
    output, _ = runner.communicate()
    assert runner.returncode == 0, output
    assert [status(f)["state"] for f in folders] == ["done"] * 3
    assert most == 2, "two at once, never three"
