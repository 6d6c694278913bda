"""The output folder is ours alone: links, FIFOs and foreign files planted in it, two runs at
once, projects of one name, a full disk and a read-only folder, all through the real CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project

RATE = 44100


def _tone(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    audio = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.sin(2 * np.pi * 60 * t)
    audio = audio + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.array([audio, audio]).T, RATE, subtype="PCM_16")
    return path


def _project(folder: Path, track: str, items: int = 1, seconds: float = 1.0) -> Path:
    media = _tone(folder / "media" / "a.wav", seconds, seed=len(track))
    specs = tuple(ItemSpec(f"media/{media.name}", i * seconds, seconds) for i in range(items))
    project = folder / "song.rpp"
    project.write_text(new_project(RATE, 120.0, [TrackSpec(track, specs)]), encoding="utf-8")
    return project


def _separate(cli, song: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli("separate", song, "--preset", "de-hum", "-o", out, *extra)


def _one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("samaudio-daw: error:"), done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def _no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if p.name.endswith(".part") or "work" in p.name]
    assert left == [], left


@pytest.mark.parametrize("name", ["song.hum.wav", "result.json", ".samaudio.lock"])
def test_a_symlink_at_a_target_name_is_refused_and_its_target_untouched(
    tmp_path: Path, cli, name: str
) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    precious = tmp_path / "elsewhere" / "precious.txt"
    precious.parent.mkdir()
    precious.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(precious)
    done = _separate(cli, song, out)
    _one_error_line(done, str(out / name), "symbolic link")
    assert precious.read_text() == "keep me"
    assert (out / name).is_symlink()  # refused, never removed
    _no_temporaries(out)


@pytest.mark.parametrize("name", ["song.clean.wav", "result.json", ".samaudio.lock"])
def test_a_fifo_at_a_target_name_is_refused_without_hanging(tmp_path: Path, cli, name: str) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / name)
    started = time.monotonic()
    done = _separate(cli, song, out)
    _one_error_line(done, str(out / name), "FIFO")
    assert time.monotonic() - started < 60
    assert (out / name).exists()


def test_a_device_and_a_folder_at_target_names_are_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "song.clean.wav").symlink_to("/dev/null")
    _one_error_line(_separate(cli, song, out), "symbolic link")
    (out / "song.clean.wav").unlink()
    (out / "song.hum.wav").mkdir()
    _one_error_line(_separate(cli, song, out), "song.hum.wav", "folder")


def test_files_with_similar_names_survive_every_command(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    project = _project(tmp_path / "p", "Keys [de-hum]")
    out = tmp_path / "out"
    out.mkdir()
    planted = {
        ".notes.part": b"user",
        ".song-stems.rpp.abcdefgh.part": b"user",
        ".samaudio-write-test": b"user",
    }
    for name, data in planted.items():
        (out / name).write_bytes(data)
    (out / ".work").mkdir()
    (out / ".work" / "mine.wav").write_bytes(b"user work")
    done = cli("render", project, "-o", out)
    assert done.returncode == 0, done.stderr
    for name, data in planted.items():
        assert (out / name).read_bytes() == data, name
    assert (out / ".work" / "mine.wav").read_bytes() == b"user work"
    assert not list(out.glob(".samaudio-work-*")) and not (out / ".samaudio.lock").exists()


def test_a_foreign_or_unreadable_result_json_is_refused_not_a_crash(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    for data in (b"\xff\xfe not utf-8 \x80", b'{"my": "own file"}', b"[1, 2]", b"[" * 100000):
        (out / "result.json").write_bytes(data)
        done = _separate(cli, song, out)
        _one_error_line(done, "result.json", "not a samaudio-daw result manifest")
        assert (out / "result.json").read_bytes() == data
        _no_temporaries(out)


def test_a_manifest_name_cannot_escape_the_output_folder(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    for name in ("../escaped", str(tmp_path / "abs"), "a/b", "..", ".hidden", "x\x01y", "a\\b"):
        manifest = tmp_path / "job.json"
        manifest.write_text(
            json.dumps(
                {
                    "version": 1,
                    "output_dir": "out",
                    "items": [{"audio": str(song), "name": name, "preset": "de-hum"}],
                }
            )
        )
        done = cli("run", manifest)
        _one_error_line(done, "items[0].name", "plain file name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json", "song.wav"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("position_s", "NaN"),
        ("position_s", "-1"),
        ("length_s", "Infinity"),
        ("position_s", "1e400"),
    ],
)
def test_non_finite_or_negative_manifest_numbers_are_one_line(
    tmp_path: Path, cli, field: str, value: str
) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    manifest = tmp_path / "job.json"
    manifest.write_text(
        '{"version": 1, "output_dir": "out", "items": [{"audio": "' + str(song) + '", '
        '"preset": "de-hum", "mode": "item", "' + field + '": ' + value + "}]}"
    )
    _one_error_line(cli("run", manifest), field)
    assert not (tmp_path / "out").exists()


def _start_render(project: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "samaudio_daw", "render", str(project), "-o", str(out)]
    return subprocess.Popen(
        [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_renders_into_one_folder_both_finish_consistently(tmp_path: Path) -> None:
    first = _project(tmp_path / "a", "Keys [de-hum]", items=3, seconds=2.0)
    out = tmp_path / "out"
    runs = [_start_render(first, out), _start_render(first, out)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert any("waiting" in err for _, err in outputs), outputs
    result = json.loads((out / "result.json").read_text())
    assert len(result["stems"]) == 6
    for stem in result["stems"]:
        assert sf.info(out / stem["file"]).frames == 2 * RATE
    assert (out / "song-stems.rpp").is_file()
    _no_temporaries(out)
    assert not (out / ".samaudio.lock").exists()


def test_a_second_run_with_no_wait_exits_2_naming_the_holder(tmp_path: Path) -> None:
    project = _project(tmp_path / "a", "Keys [de-hum]", items=6, seconds=3.0)
    out = tmp_path / "out"
    holder = _start_render(project, out)
    deadline = time.monotonic() + 120
    while not (out / ".samaudio.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(
        [sys.executable, "-m", "samaudio_daw", "render", str(project), "-o", str(out), "--no-wait"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    holder.communicate(timeout=600)
    assert holder.returncode == 0
    _one_error_line(second, str(out), f"pid {holder.pid}", socket.gethostname())


def test_a_lock_left_by_a_killed_run_is_taken_over_in_one_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".samaudio.lock").write_text(f"pid=999999 host={socket.gethostname()} since=0\n")
    done = _separate(cli, song, out, "--no-wait")
    assert done.returncode == 0, done.stderr
    assert "took over a stale lock from pid 999999" in done.stderr
    assert not (out / ".samaudio.lock").exists()


def test_projects_of_one_name_get_distinct_stems_projects(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = _project(tmp_path / "a", "Keys [de-hum]")
    second = _project(tmp_path / "b", "Bass [de-hum]")
    out = tmp_path / "out"
    done = cli("render", first, second, "-o", out)
    assert done.returncode == 0, done.stderr
    assert (out / "song-stems.rpp").is_file() and (out / "song-2-stems.rpp").is_file()
    assert "Keys [de-hum] stems" in (out / "song-stems.rpp").read_text()
    assert "Bass [de-hum] stems" in (out / "song-2-stems.rpp").read_text()


def test_a_later_project_of_the_same_name_never_replaces_the_first(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = _project(tmp_path / "a", "Keys [de-hum]")
    second = _project(tmp_path / "b", "Bass [de-hum]")
    out = tmp_path / "out"
    assert cli("render", first, "-o", out).returncode == 0
    before = (out / "song-stems.rpp").read_bytes()
    done = cli("render", second, "-o", out)
    _one_error_line(done, "song-stems.rpp", str(first))
    assert (out / "song-stems.rpp").read_bytes() == before
    again = cli("render", first, "-o", out)  # the same project may be rendered again
    assert again.returncode == 0, again.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB tmpfs: real ENOSPC from the kernel (needs root, as in CI containers)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(
    tmp_path: Path, small_disk: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav", seconds=5.0)  # two 24-bit stems: ~2.6 MB
    out = small_disk / "out"
    done = _separate(cli, song, out)
    _one_error_line(done, "the disk is full")
    _no_temporaries(out)
    assert not [p for p in out.iterdir() if p.suffix == ".wav"]
    project = _project(tmp_path / "p", "Keys [de-hum]", seconds=5.0)
    done = cli("render", project, "-o", small_disk / "render")
    _one_error_line(done, "the disk is full")
    _no_temporaries(small_disk / "render")


def test_a_read_only_output_folder_is_one_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    project = _project(tmp_path / "p", "Keys [de-hum]")
    folder = tmp_path / "ro"
    (folder / "out").mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        _one_error_line(_separate(cli, song, folder / "out"), "read-only")
        _one_error_line(cli("render", project, "-o", folder), "read-only")
        _one_error_line(cli("render", project, "-o", folder / "new"), "read-only")
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_stem_of_another_input_of_the_same_name_is_never_replaced(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = _tone(tmp_path / "a" / "take.wav", seed=1)
    second = _tone(tmp_path / "b" / "take.wav", seed=2)
    out = tmp_path / "out"
    assert _separate(cli, first, out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.wav")}
    done = _separate(cli, second, out)
    _one_error_line(done, "take.hum.wav", str(first))
    assert {p.name: p.read_bytes() for p in out.glob("*.wav")} == before
    assert _separate(cli, first, out).returncode == 0  # the same input may run again


def test_taking_over_a_killed_runs_lock_removes_only_its_noted_work_folder(
    tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    song = _tone(tmp_path / "song.wav")
    precious = tmp_path / "precious.wav"
    precious.write_bytes(b"keep")
    out = tmp_path / "out"
    dead = out / ".samaudio-work-0123abcd"
    dead.mkdir(parents=True)
    (dead / "vox-t01-i01.wav").write_bytes(b"half a section")
    (dead / "link.wav").symlink_to(precious)
    mine = out / ".samaudio-work-99999999"  # looks like ours, but no lock names it
    mine.mkdir()
    (mine / "notes.txt").write_text("user")
    host = socket.gethostname()
    (out / ".samaudio.lock").write_text(f"pid=999999 host={host}\nwork={dead.name}\n")
    done = _separate(cli, song, out)
    assert done.returncode == 0 and "took over a stale lock" in done.stderr, done.stderr
    assert not (dead / "vox-t01-i01.wav").exists()
    assert (dead / "link.wav").is_symlink() and precious.read_bytes() == b"keep"
    assert (mine / "notes.txt").read_text() == "user"


def test_a_killed_render_leaves_nothing_once_the_next_run_is_done(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "Keys [de-hum]", items=6, seconds=3.0)
    out = tmp_path / "out"
    first = _start_render(project, out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob(".samaudio-work-*/*.wav")):
        time.sleep(0.01)
    first.kill()
    first.communicate()
    assert list(out.glob(".samaudio-work-*")), "the kill should land while sections exist"
    again = _start_render(project, out)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "took over a stale lock" in err, err
    left = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert left == [], left


def test_a_file_system_without_locks_still_works_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Some network mounts answer flock with ENOLCK; that must not make the folder unusable.
    (Fault injection: no such mount can be made here.)"""
    import errno

    from samaudio_daw.jobs import outdir

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(outdir.fcntl, "flock", no_locks)
    with outdir.hold_output_dir(tmp_path / "out"):
        assert (tmp_path / "out" / ".samaudio.lock").is_file()
    assert "cannot lock files" in caplog.text
    assert not (tmp_path / "out" / ".samaudio.lock").exists()
