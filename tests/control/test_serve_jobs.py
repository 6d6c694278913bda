"""`serve` over real UDP on 127.0.0.1: ping, jobs end to end, cancel, status, lost inputs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any


def _wav_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.wav")) if folder.exists() else []


def _leftovers(folder: Path) -> list[str]:
    """Anything a cancelled job must not leave: stems, temporary parts, a result."""
    if not folder.exists():
        return []
    return sorted(
        p.name for p in folder.iterdir() if p.suffix in (".wav", ".part") or p.name == "result.json"
    )


def test_ping_is_answered_with_pong(client: Any) -> None:
    assert client.ask("/samaudio/ping") == ("/samaudio/pong", [])


def test_separate_by_prompt_runs_end_to_end(client: Any, studio: Any) -> None:
    client.send("/samaudio/separate", "take.wav", "remove the mains hum", "stems-prompt")
    [job_id] = client.expect("/samaudio/accepted")
    fraction = client.expect("/samaudio/progress", job_id)[1]
    assert 0.0 <= fraction <= 1.0
    result = Path(client.expect("/samaudio/done", job_id, timeout_s=60)[1])
    assert result == studio.root / "stems-prompt" / "result.json"
    document = json.loads(result.read_text())
    assert {stem["file"] for stem in document["stems"]} == {"take.clean.wav", "take.mains-hum.wav"}
    assert _wav_files(result.parent) == ["take.clean.wav", "take.mains-hum.wav"]


def test_separate_by_preset_name_uses_the_preset(client: Any, studio: Any) -> None:
    client.send("/samaudio/separate", str(studio.root / "take.wav"), "de-hum", "stems-preset")
    [job_id] = client.expect("/samaudio/accepted")
    client.expect("/samaudio/done", job_id, timeout_s=60)
    assert _wav_files(studio.root / "stems-preset") == ["take.clean.wav", "take.hum.wav"]


def test_job_manifest_runs_end_to_end(client: Any, studio: Any) -> None:
    manifest = studio.root / "job.json"
    manifest.write_text(
        json.dumps(
            {
                "version": 1,
                "output_dir": "stems-manifest",
                "items": [{"audio": "take.wav", "name": "Guitar", "preset": "de-hum"}],
            }
        )
    )
    client.send("/samaudio/job", "job.json")
    [job_id] = client.expect("/samaudio/accepted")
    result = Path(client.expect("/samaudio/done", job_id, timeout_s=60)[1])
    assert result.is_file()
    assert _wav_files(result.parent) == ["Guitar.clean.wav", "Guitar.hum.wav"]


def test_cancel_stops_a_running_job_and_leaves_no_stems(client: Any, studio: Any) -> None:
    client.send("/samaudio/separate", "long.wav", "de-hum", "stems-cancelled")
    [job_id] = client.expect("/samaudio/accepted")
    deadline = time.monotonic() + 30
    while client.expect("/samaudio/progress", job_id)[1] == 0.0:  # wait until it is writing
        assert time.monotonic() < deadline
    client.send("/samaudio/cancel", job_id)
    message = client.expect("/samaudio/error", job_id, timeout_s=15)[1]
    assert "cancelled" in message
    assert _leftovers(studio.root / "stems-cancelled") == []


def test_cancel_of_a_waiting_job_and_status_list(client: Any) -> None:
    client.send("/samaudio/separate", "long.wav", "de-hum", "stems-status-1")
    [first] = client.expect("/samaudio/accepted")
    client.send("/samaudio/separate", "take.wav", "de-hum", "stems-status-2")
    [second] = client.expect("/samaudio/accepted")
    client.expect("/samaudio/progress", first)
    client.send("/samaudio/status")
    listed = [client.expect("/samaudio/job_status")[:2] for _ in range(2)]
    assert listed == [[first, "running"], [second, "queued"]]
    assert client.expect("/samaudio/status_end") == [2]
    client.send("/samaudio/cancel", second)
    assert "cancelled" in client.expect("/samaudio/error", second)[1]
    client.send("/samaudio/cancel", first)
    assert "cancelled" in client.expect("/samaudio/error", first)[1]


def test_cancel_of_an_unknown_job_is_an_error(client: Any) -> None:
    address, args = client.ask("/samaudio/cancel", "no-such-job")
    assert address == "/samaudio/error"
    assert args[0] == "no-such-job" and "no queued or running job" in args[1]


def test_input_deleted_before_the_job_runs_fails_with_an_error(
    client: Any, studio: Any, helpers: Any
) -> None:
    doomed = helpers.write_hum_wav(studio.root / "doomed.wav")
    client.send("/samaudio/separate", "long.wav", "de-hum", "stems-blocker")
    [blocker] = client.expect("/samaudio/accepted")
    client.send("/samaudio/separate", "doomed.wav", "de-hum", "stems-doomed")
    [job_id] = client.expect("/samaudio/accepted")
    doomed.unlink()
    client.send("/samaudio/cancel", blocker)
    message = client.expect("/samaudio/error", job_id, timeout_s=30)[1]
    assert "doomed.wav" in message
    assert client.ask("/samaudio/ping")[0] == "/samaudio/pong"  # the server is still there


def test_a_finished_rerun_reuses_stems(client: Any, studio: Any) -> None:
    shutil.copy(studio.root / "take.wav", studio.root / "again.wav")
    for _ in range(2):
        client.send("/samaudio/separate", "again.wav", "de-hum", "stems-again")
        [job_id] = client.expect("/samaudio/accepted")
        result = Path(client.expect("/samaudio/done", job_id, timeout_s=60)[1])
    assert all(stem["reused"] for stem in json.loads(result.read_text())["stems"])


def test_server_log_names_each_job(server: Any) -> None:
    assert "queued" in server.log() and "done" in server.log()
