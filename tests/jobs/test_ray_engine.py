"""The batch render on Ray: the local runner's stems, cache and resume, and worker faults.

The first test runs the real CLI, which starts and stops its own local Ray. The fault
tests share one local Ray (two CPUs) started here, and kill real processes: a worker
while it separates, and a driver mid-batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from samaudio_daw.cli import main
from samaudio_daw.errors import OutputError
from samaudio_daw.jobs.executor import WorkerError, remove_leftovers
from samaudio_daw.jobs.progress import JobCancelled, Silent
from samaudio_daw.jobs.ray_engine import (
    ClusterError,
    ItemSeparator,
    RayEngine,
    actor_options,
    check_worker_settings,
    portable,
    ray_session,
    worker_count,
)
from samaudio_daw.jobs.render import RenderSettings, render_projects
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.work import plan_item
from samaudio_daw.presets import default_library
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.separation.backends import BackendOptions, create_backend

RATE = 48000
SEPARATING = b"ray::ItemSeparator.separate"


def _project(folder: Path, name: str, items: int, seconds: float) -> Path:
    """``items`` items of hum and a tone on one [de-hum] track, each its own WAV."""
    rng = np.random.default_rng(len(name))
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    specs = []
    for index in range(items):
        tone = 0.2 * np.sin(2 * np.pi * (220 + 30 * index) * t) + 0.05 * np.sin(2 * np.pi * 50 * t)
        stereo = np.stack([tone, 0.8 * tone]) + 0.01 * rng.standard_normal((2, t.size))
        sf.write(media / f"{name}{index}.wav", stereo.T.astype(np.float32), RATE, "PCM_24")
        specs.append(ItemSpec(f"media/{name}{index}.wav", index * seconds, seconds))
    path = folder / f"{name}.rpp"
    path.write_text(new_project(RATE, 120.0, [TrackSpec("Takes [de-hum]", tuple(specs))]))
    return path


def _batch(folder: Path, items: int, seconds: float) -> list[Path]:
    return [_project(folder, "one", items, seconds), _project(folder, "two", items, seconds)]


def _stems(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.wav"))}


def _result(out: Path) -> dict[str, Any]:
    return json.loads((out / "result.json").read_text())  # type: ignore[no-any-return]


def _cli(*args: str | Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "samaudio_daw", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)


class _Recorder:
    """Progress that keeps every report."""

    def __init__(self) -> None:
        self.updates: list[tuple[float, str]] = []

    def update(self, fraction: float, message: str) -> None:
        self.updates.append((fraction, message))

    def finish(self, state: str, message: str) -> None:
        self.updates.append((1.0 if state == "done" else 0.0, state))


def _render_here(
    projects: list[Path],
    out: Path,
    engine: RayEngine | None,
    progress: Any = None,
    cancel: Any = None,
) -> dict[str, Any]:
    settings = RenderSettings(output_dir=out, executor=engine)
    control = RunControl(progress=progress or Silent(), cancel_flag=cancel or (lambda: False))
    outcomes = render_projects(projects, default_library(), settings, None, control)
    return outcomes[0].result.to_json()


def _ray() -> Any:
    return pytest.importorskip(
        "ray", reason="Ray is not installed: pip install samaudio-daw[cluster]"
    )


# --- the pieces, without a cluster -------------------------------------------------


def test_engine_values_are_checked() -> None:
    with pytest.raises(ValueError, match="gpus_per_job"):
        RayEngine(gpus_per_job=-1)
    with pytest.raises(ValueError, match="max_workers"):
        RayEngine(max_workers=0)
    for address in (" ", "head-node", "ray://head-node", "head:port"):
        with pytest.raises(ValueError, match="'auto', 'HOST:PORT' or 'ray://HOST:PORT'"):
            RayEngine(address=address)
    assert RayEngine(address="ray://10.0.0.5:10001").address == "ray://10.0.0.5:10001"


def test_an_address_with_no_head_fails_at_once_saying_what_to_do() -> None:
    ray = _ray()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with (
        pytest.raises(ClusterError, match=f"127.0.0.1:{port}.*`ray start --head`"),
        ray_session(ray, RayEngine(address=f"127.0.0.1:{port}")),
    ):
        pass
    assert time.monotonic() - started < 15


def test_dsp_workers_ask_for_a_cpu_and_model_workers_for_gpus() -> None:
    engine = RayEngine(gpus_per_job=0.5, retries=2)
    assert actor_options("dsp", engine)["num_gpus"] == 0
    model = actor_options("sam-audio", engine)
    assert model["num_gpus"] == 0.5 and model["max_restarts"] == 2
    assert model["max_task_retries"] == 2


def test_worker_count_follows_the_cluster() -> None:
    cluster = {"CPU": 8.0, "GPU": 2.0}
    assert worker_count(cluster, "dsp", RayEngine(), items=20) == 8
    assert worker_count(cluster, "dsp", RayEngine(max_workers=3), items=20) == 3
    assert worker_count(cluster, "dsp", RayEngine(), items=2) == 2
    assert worker_count(cluster, "sam-audio", RayEngine(gpus_per_job=0.5), items=20) == 4
    with pytest.raises(ClusterError, match="--gpus-per-job 0"):
        worker_count({"CPU": 8.0}, "sam-audio", RayEngine(), items=2)


def test_a_worker_that_resolves_other_settings_is_refused() -> None:
    with pytest.raises(ClusterError, match=r"dtype='bfloat16' \(here 'float32'\).*--dtype"):
        check_worker_settings("sam-audio", {"dtype": "bfloat16"}, {"dtype": "float32"})
    check_worker_settings("dsp", {"a": 1}, {"a": 1})


def test_a_retried_item_first_removes_what_its_killed_attempt_left(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "one", items=1, seconds=0.2)
    item = _job_items(project, tmp_path / "out")[0]
    work = plan_item(_job(item, tmp_path / "out"), item, default_library(), _dsp())
    stale = tmp_path / "out" / f".{work.plans[0].path.name}.x1y2z3w4.part"
    other = tmp_path / "out" / ".another-item.hum.wav.x1y2z3w4.part"
    stale.write_bytes(b"half")
    other.write_bytes(b"half")
    remove_leftovers(work)
    assert not stale.exists() and other.exists()
    worker = ItemSeparator("dsp", BackendOptions(), _dsp().settings())
    assert worker.separate(0, work, _NoBoard()).frames == int(0.2 * RATE)
    assert all(plan.path.is_file() for plan in work.plans)


class _TwoArgumentBug(Exception):
    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")


class _TwoArgumentUserError(OutputError):
    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")


def test_worker_errors_reach_the_driver_with_their_message_and_kind() -> None:
    from samaudio_daw.audio.io import AudioFileError
    from samaudio_daw.errors import UserError

    kept = ClusterError("x")
    assert portable(kept) is kept
    audio_error = AudioFileError("take.wav", "contains NaN")
    assert portable(audio_error) is audio_error  # travels as itself
    user = portable(_TwoArgumentUserError("take.wav", "cannot be written"))  # cannot be rebuilt
    assert isinstance(user, WorkerError) and isinstance(user, UserError)
    assert str(user) == "take.wav: cannot be written"
    bug = portable(_TwoArgumentBug("block 3", "shape mismatch"))
    assert not isinstance(bug, UserError)
    assert str(bug) == "_TwoArgumentBug on a Ray worker: block 3: shape mismatch"


def test_address_needs_the_ray_engine() -> None:
    outcome = CliRunner().invoke(main, ["render", "x.rpp", "--address", "auto"])
    assert outcome.exit_code == 2
    assert "--address and --gpus-per-job need --engine ray" in outcome.output


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "one", items=1, seconds=0.2)
    hide_ray = "import sys; sys.modules['ray'] = None; from samaudio_daw.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", hide_ray, "render", str(project), "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("pip install samaudio-daw[cluster]")


# --- on a local Ray ----------------------------------------------------------------


def test_ray_render_writes_the_local_runners_stems_and_reruns_skip(tmp_path: Path) -> None:
    _ray()
    projects = _batch(tmp_path / "p", items=2, seconds=1.0)
    local = _render_here(projects, tmp_path / "local", engine=None)
    # No --address: the command starts a local Ray with two workers and stops it.
    done = _cli("render", *projects, "-o", tmp_path / "ray", "--engine", "ray", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert _stems(tmp_path / "ray") == _stems(tmp_path / "local")
    assert len(_stems(tmp_path / "ray")) == 8
    on_ray = _result(tmp_path / "ray")
    keys = {(s["file"], s["cache_key"]) for s in on_ray["stems"]}
    assert keys == {(s["file"], s["cache_key"]) for s in local["stems"]}
    assert not any(s["reused"] for s in on_ray["stems"])
    again = _render_here(projects, tmp_path / "ray", RayEngine())  # needs no Ray at all
    assert all(s["reused"] for s in again["stems"]) and len(again["stems"]) == 8
    assert _stems(tmp_path / "ray") == _stems(tmp_path / "local")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    """A local Ray with two worker CPUs for this module; yields its address."""
    ray = _ray()
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
        logging_level="ERROR",
    )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
        # ray.init turns on token auth for this process (drivers started here need it).
        if auth_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)


def _descendants() -> dict[int, bytes]:
    """This process's descendants (pid: command line): only our own Ray's workers."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # a process that ended while we looked
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            commands[int(entry.name)] = (entry / "cmdline").read_bytes()
    ours, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= more
        grew = bool(more)
    return {pid: commands.get(pid, b"") for pid in ours - {os.getpid()}}


def _kill_one_separating_worker(killed: list[int], deadline_s: float) -> None:
    """SIGKILL the first of our Ray workers seen separating an item, once."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for pid, command in _descendants().items():
            if command.startswith(SEPARATING):
                time.sleep(0.1)  # let it get into the item and open its stem files
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.01)


def test_a_worker_killed_mid_item_is_retried_and_the_batch_completes(
    tmp_path: Path, local_ray: str
) -> None:
    projects = _batch(tmp_path / "p", items=2, seconds=3.0)
    killed: list[int] = []
    killer = threading.Thread(target=_kill_one_separating_worker, args=(killed, 120.0))
    killer.start()
    progress = _Recorder()
    try:
        result = _render_here(projects, tmp_path / "ray", RayEngine(), progress)
    finally:
        killer.join()
    assert killed, "no worker was seen separating"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    assert len(result["stems"]) == 8 and not any(s["reused"] for s in result["stems"])
    assert not list((tmp_path / "ray").glob(".*.part"))
    on_ray = [(f, m) for f, m in progress.updates if m.endswith("items on Ray")]
    assert on_ray[-1] == (1.0, "4/4 items on Ray")  # one bar over both projects
    assert any(0.0 < f < 1.0 for f, _ in on_ray)
    local = _render_here(projects, tmp_path / "local", engine=None)
    assert _stems(tmp_path / "ray") == _stems(tmp_path / "local")
    assert len(local["stems"]) == 8


def test_a_driver_killed_mid_batch_resumes_from_the_cache(tmp_path: Path, local_ray: str) -> None:
    projects = _batch(tmp_path / "p", items=3, seconds=3.0)
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "samaudio_daw", "render", *map(str, projects)]
    command += ["-o", str(out), "--engine", "ray", "--address", local_ray]
    driver = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (out / "result.json").exists():
        time.sleep(0.02)  # the manifest appears once the first item is complete
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = list(out.glob("*.wav"))
    assert 2 <= len(finished) < 12, "the kill should land mid-batch"
    for stem in finished:  # every stem file that exists is complete
        assert sf.info(stem).frames == 3 * RATE
    result = _render_here(projects, out, RayEngine(address=local_ray))
    reused = [s for s in result["stems"] if s["reused"]]
    assert len(result["stems"]) == 12 and 2 <= len(reused) < 12
    assert not list(out.glob(".*.part"))
    assert all(sf.info(out / s["file"]).frames == 3 * RATE for s in result["stems"])


def test_a_cancelled_batch_stops_its_workers_and_leaves_no_partial_file(
    tmp_path: Path, local_ray: str
) -> None:
    projects = _batch(tmp_path / "p", items=2, seconds=3.0)
    out = tmp_path / "ray"
    with pytest.raises(JobCancelled):
        _render_here(projects, out, RayEngine(), cancel=(out / "result.json").exists)
    assert not list(out.glob(".*.part"))
    finished = _result(out)["stems"]
    assert 2 <= len(finished) < 8
    assert all(sf.info(out / s["file"]).frames == 3 * RATE for s in finished)


# --- helpers for the pieces --------------------------------------------------------


class _NoBoard:
    """Stands in for the progress board actor when ItemSeparator runs in this process."""

    class _Report:
        def remote(self, index: int, fraction: float) -> None:
            return None

    report = _Report()


def _dsp() -> Any:
    return create_backend("dsp")


def _job_items(project: Path, out: Path) -> list[Any]:
    from samaudio_daw.jobs.outdir import WorkFolder
    from samaudio_daw.jobs.render import plan_project, render_sections

    plan = replace(plan_project(project, default_library(), out), output_dir=out)
    out.mkdir(parents=True, exist_ok=True)
    return render_sections(plan, "item", "", WorkFolder.create(out))


def _job(item: Any, out: Path) -> Any:
    from samaudio_daw.jobs.manifest import Job

    return Job(items=(item,), output_dir=out)


# --- every entrance on Ray: separate, run and serve -------------------------------


def _takes(folder: Path, count: int = 2, seconds: float = 1.0) -> list[Path]:
    """``count`` stereo takes of hum and a tone, each its own WAV."""
    project = _project(folder, "takes", items=count, seconds=seconds)
    return sorted((project.parent / "media").glob("takes*.wav"))


def test_ray_separate_and_run_write_the_local_stems(tmp_path: Path, local_ray: str) -> None:
    takes = _takes(tmp_path / "p")
    ray = ["--engine", "ray", "--address", local_ray]
    local = _cli("separate", *takes, "--preset", "de-hum", "-o", tmp_path / "local")
    on_ray = _cli("separate", *takes, "--preset", "de-hum", "-o", tmp_path / "ray", *ray)
    assert local.returncode == 0 and on_ray.returncode == 0, local.stderr + on_ray.stderr
    assert len(_stems(tmp_path / "local")) == 4
    assert _stems(tmp_path / "ray") == _stems(tmp_path / "local")
    manifest = tmp_path / "job.json"
    items = [{"audio": str(take), "name": take.stem, "preset": "de-hum"} for take in takes]
    manifest.write_text(json.dumps({"version": 1, "output_dir": "run-ray", "items": items}))
    done = _cli("run", manifest, *ray, "--status-file", tmp_path / "status.json")
    assert done.returncode == 0, done.stderr
    assert _stems(tmp_path / "run-ray") == _stems(tmp_path / "local")
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "done" and status["result"].endswith("result.json")


def _osc_reply(sock: socket.socket, address: str, timeout_s: float) -> list[Any]:
    """The arguments of the first message to ``address`` that arrives on ``sock``."""
    from pythonosc.osc_message import OscMessage

    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        message = OscMessage(sock.recvfrom(65536)[0])
        if message.address == address:
            return list(message.params)
        if message.address == "/samaudio/error":
            pytest.fail(f"the server answered with an error: {message.params}")
    pytest.fail(f"no {address} within {timeout_s} s")


def test_ray_serve_runs_jobs_with_the_local_stems(tmp_path: Path, local_ray: str) -> None:
    from pythonosc.osc_message_builder import OscMessageBuilder

    takes = _takes(tmp_path / "p", count=1)
    local = _cli("separate", *takes, "--preset", "de-hum", "-o", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "samaudio_daw", "serve", "--osc-port", "0"]
            + ["--root", str(tmp_path), "--engine", "ray", "--address", local_ray],
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        port = _listening_port(log, server)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            builder = OscMessageBuilder("/samaudio/separate")
            for value in (str(takes[0]), "de-hum", str(tmp_path / "served")):
                builder.add_arg(value)
            sock.sendto(builder.build().dgram, ("127.0.0.1", port))
            [job_id] = _osc_reply(sock, "/samaudio/accepted", 30)
            done = _osc_reply(sock, "/samaudio/done", 240)
        assert done[0] == job_id
        assert _stems(tmp_path / "served") == _stems(tmp_path / "local")
    finally:
        server.terminate()
        server.wait(60)
    assert "Traceback" not in log.read_text(errors="replace")


def _listening_port(log: Path, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"serve did not start:\n{log.read_text()}")
