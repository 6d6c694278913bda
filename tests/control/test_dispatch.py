"""Dispatcher and service without sockets: routing, refusals, handler bugs, MIDI actions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mido
import pytest

from samaudio_daw.control import osc_messages as msg
from samaudio_daw.control.dispatch import Dispatcher
from samaudio_daw.control.job_queue import JobQueue
from samaudio_daw.control.midi import MidiAction
from samaudio_daw.control.osc_messages import Incoming
from samaudio_daw.control.paths import PathRefused, Roots
from samaudio_daw.control.service import ControlService
from samaudio_daw.errors import UserError
from samaudio_daw.jobs.separators import Separators
from samaudio_daw.presets import default_library
from samaudio_daw.separation.backends import BackendOptions

SENDER = ("127.0.0.1", 9000)


def _never_run(*_: Any) -> Path:
    raise AssertionError("the worker is not started in these tests")


def test_handler_bug_is_logged_and_answered(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: msg.Request, reply_to: Any) -> list[msg.Reply]:
        raise ZeroDivisionError("division by zero")

    dispatcher = Dispatcher({msg.Ping: broken})
    with caplog.at_level(logging.ERROR):
        replies = dispatcher.dispatch(Incoming("/samaudio/ping"), SENDER)
    assert replies == (msg.error("", "internal error: ZeroDivisionError: division by zero"),)
    assert "handler for /samaudio/ping failed" in caplog.text
    assert caplog.records[0].exc_info is not None  # the traceback is kept


def test_refusals_are_answered_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(request: msg.Request, reply_to: Any) -> list[msg.Reply]:
        raise PathRefused("input file 'x' is outside the allowed folders")

    dispatcher = Dispatcher({msg.Cancel: refuse})
    with caplog.at_level(logging.DEBUG):
        replies = dispatcher.dispatch(Incoming("/samaudio/cancel", ("j1",)), SENDER)
    assert replies == (msg.error("j1", "input file 'x' is outside the allowed folders"),)
    assert all(record.exc_info is None for record in caplog.records)


def test_unhandled_and_unknown_addresses() -> None:
    dispatcher = Dispatcher({}, token="long-enough-token")
    [reply] = dispatcher.dispatch(Incoming("/samaudio/ping", ("long-enough-token",)), SENDER)
    assert reply.address == msg.ERROR and "not handled" in str(reply.args[1])
    [reply] = dispatcher.dispatch(Incoming("/elsewhere", ("long-enough-token",)), SENDER)
    assert "unknown address" in str(reply.args[1])
    with pytest.raises(ValueError):
        Dispatcher({}, token="")


@pytest.fixture
def service(tmp_path: Path) -> tuple[ControlService, Dispatcher]:
    (tmp_path / "take.wav").write_bytes(b"RIFF....")
    made = ControlService(
        Roots.from_folders([tmp_path]),
        default_library(),
        Separators("dsp", BackendOptions()),
        "dsp",
        BackendOptions(),
    )
    made.attach(JobQueue(_never_run, lambda event: None, max_waiting=4))  # no worker: jobs wait
    return made, Dispatcher(made.handlers())


def _queued_jobs(service: ControlService) -> list[Any]:
    return list(service.queue.waiting())


def test_separate_reads_a_preset_name_or_a_prompt(service: Any, tmp_path: Path) -> None:
    made, dispatcher = service
    assert dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "De-Hum", "out")), SENDER) == ()
    assert (
        dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "the owl hooting", "out")), SENDER)
        == ()
    )
    first, second = (job.job for job in _queued_jobs(made))
    assert first.items[0].preset == "de-hum" and first.items[0].prompts == ()
    assert second.items[0].preset is None and second.items[0].prompts == ("the owl hooting",)
    assert first.output_dir == tmp_path.resolve() / "out"
    assert first.items[0].audio == tmp_path.resolve() / "take.wav"


def test_status_lists_jobs_then_the_count(service: Any) -> None:
    made, dispatcher = service
    dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "de-hum", "out")), SENDER)
    replies = dispatcher.dispatch(Incoming(msg.STATUS), SENDER)
    assert [r.address for r in replies] == [msg.JOB_STATUS, msg.STATUS_END]
    assert replies[0].args[1] == "queued" and replies[1].args == (1,)


def test_full_queue_is_an_error_reply(service: Any) -> None:
    _, dispatcher = service
    for _ in range(4):
        dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "de-hum", "out")), SENDER)
    [reply] = dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "de-hum", "out")), SENDER)
    assert reply.address == msg.ERROR and "queue is full" in str(reply.args[1])


def test_midi_run_reruns_the_last_inputs_with_the_chosen_preset(service: Any) -> None:
    made, dispatcher = service
    assert made.apply_midi(MidiAction("run")) == []  # nothing to rerun and nobody to tell
    dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "the owl hooting", "out")), SENDER)
    [(reply, target)] = made.apply_midi(MidiAction("run"))
    assert target == SENDER and "no preset chosen" in str(reply.args[1])
    assert made.apply_midi(MidiAction("choose_preset", preset="de-noise")) == []
    assert made.apply_midi(MidiAction("choose_backend", backend="sam-audio")) == []
    assert made.apply_midi(MidiAction("run")) == []
    rerun = _queued_jobs(made)[-1].job
    assert rerun.items[0].preset == "de-noise" and rerun.items[0].prompts == ()
    assert rerun.backend == "sam-audio" and rerun.output_dir.name == "out"
    assert made.apply_midi(MidiAction("run", preset="de-hum")) == []
    assert _queued_jobs(made)[-1].job.items[0].preset == "de-hum"


def test_midi_errors_go_to_the_last_sender(service: Any) -> None:
    made, dispatcher = service
    dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "de-hum", "out")), SENDER)
    [(reply, target)] = made.apply_midi(MidiAction("cancel"))
    assert target == SENDER and "nothing is running" in str(reply.args[1])
    [(reply, _)] = made.apply_midi(MidiAction("choose_preset", preset="no-such-preset"))
    assert "no preset named 'no-such-preset'" in str(reply.args[1])


def test_midi_message_to_action_to_job(service: Any) -> None:
    from samaudio_daw.control.midi import mapping_from_dict

    made, dispatcher = service
    mapping = mapping_from_dict(
        {"bindings": [{"message": "note_on", "number": 36, "action": "run", "preset": "de-hum"}]},
        "test",
    )
    dispatcher.dispatch(Incoming(msg.SEPARATE, ("take.wav", "de-noise", "out")), SENDER)
    action = mapping.action_for(mido.Message("note_on", note=36, velocity=90))
    assert action is not None and made.apply_midi(action) == []
    assert _queued_jobs(made)[-1].job.items[0].preset == "de-hum"


def _remote_job(tmp_path: Path, **options: Any) -> Any:
    from samaudio_daw.jobs.manifest import Job, JobItem

    return Job(
        (JobItem(tmp_path / "take.wav", "take", preset="de-hum"),),
        tmp_path / "out",
        backend_options=BackendOptions(**options),
    )


def test_remote_backend_options_are_an_allow_list(service: Any, tmp_path: Path) -> None:
    made, _ = service
    job = made.confine_job(_remote_job(tmp_path, steps=4, seed=7, chunk_s=5.0), "job.json")
    assert (job.backend_options.steps, job.backend_options.seed) == (4, 7)
    for options, field in (
        ({"model": "facebook/sam-audio-large"}, "model"),
        ({"model": str(tmp_path / "m")}, "model"),
        ({"device": "cpu"}, "device"),
        ({"dtype": "float16"}, "dtype"),
    ):
        with pytest.raises(UserError, match=f"backend_options.{field}: may not be set"):
            made.confine_job(_remote_job(tmp_path, **options), "job.json")
    with pytest.raises(UserError, match="steps"):
        made.confine_job(_remote_job(tmp_path, steps=10**9), "job.json")


def test_allow_model_takes_a_hub_id_or_a_folder_inside_the_roots(
    service: Any, tmp_path: Path
) -> None:
    made, _ = service
    made.allow_model = True
    hub = made.confine_job(_remote_job(tmp_path, model="facebook/sam-audio-large"), "j")
    assert hub.backend_options.model == "facebook/sam-audio-large"
    inside = made.confine_job(_remote_job(tmp_path, model=str(tmp_path / "models" / "m")), "j")
    assert inside.backend_options.model == str(tmp_path.resolve() / "models" / "m")
    with pytest.raises(PathRefused, match="outside the allowed folders"):
        made.confine_job(_remote_job(tmp_path, model="/etc/models/m"), "j")
    with pytest.raises(PathRefused, match="outside the allowed folders"):
        made.confine_job(_remote_job(tmp_path, model="../elsewhere"), "j")
