"""list, verify, path and remove on a model pulled from the local hub; loading by hub id."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

from samaudio_daw.separation.sam_audio import store
from samaudio_daw.separation.sam_audio.checkup import verify
from samaudio_daw.separation.sam_audio.errors import ModelNotFoundError
from samaudio_daw.separation.sam_audio.loader import load_model

MODEL_ID = "facebook/sam-audio-small"


@pytest.fixture
def pulled(local_hub, hub_env) -> Path:
    return store.pull(MODEL_ID, progress=False)


def test_list_shows_the_pulled_model_with_its_size(pulled: Path) -> None:
    [model] = store.installed()
    assert (model.repo_id, model.path, model.refs) == (MODEL_ID, pulled, ("main",))
    assert model.size_bytes == sum(p.stat().st_size for p in pulled.iterdir())


def test_verify_passes_then_names_a_damaged_file(pulled: Path) -> None:
    report = verify(MODEL_ID)
    assert report.problems == ()
    assert {"checkpoint.pt", "config.json", "LICENSE"} <= set(report.checked)
    blob = (pulled / "checkpoint.pt").resolve()
    os.chmod(blob, 0o644)
    with blob.open("r+b") as stream:  # one flipped byte, as a bad disk or copy would leave
        stream.seek(5000)
        byte = stream.read(1)
        stream.seek(5000)
        stream.write(bytes([byte[0] ^ 0xFF]))
    [problem] = verify(MODEL_ID).problems
    assert problem.startswith("checkpoint.pt is damaged")


def test_verify_finds_a_config_that_does_not_match_the_checkpoint(pulled: Path) -> None:
    config = (pulled / "config.json").resolve()
    os.chmod(config, 0o644)
    text = config.read_text().replace('"n_layers": 2', '"n_layers": 3')
    config.unlink()
    config.write_text(text)  # a changed config under the hub's name: the checksum also fails
    problems = verify(MODEL_ID).problems
    assert any(p.startswith("config.json is damaged") for p in problems)


def test_verify_of_a_plain_folder_checks_keys_against_the_config(tmp_path: Path) -> None:
    reference = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
    if not reference.is_dir():
        pytest.skip("reference checkpoint not found")
    report = verify(str(reference))
    assert report.problems == () and report.checked == ("config.json matches checkpoint.pt",)


def test_path_and_remove(pulled: Path, tmp_path: Path) -> None:
    assert store.local_path(MODEL_ID) == pulled
    removed = store.remove(MODEL_ID)
    assert not removed.exists() and store.installed() == []
    with pytest.raises(ModelNotFoundError, match="not installed"):
        store.local_path(MODEL_ID)
    mine = tmp_path / "my_model"
    mine.mkdir()
    with pytest.raises(ModelNotFoundError, match="folder of yours"):
        store.remove(str(mine))
    assert mine.is_dir()


def test_a_pulled_hub_id_loads_offline(pulled: Path, monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{probe.getsockname()[1]}")
    model = load_model(MODEL_ID, torch.device("cpu"), torch.float32)
    assert model.config.transformer.dim == 64
    assert model.text_encoder is not None


def test_a_hub_id_not_yet_pulled_is_pulled_on_first_load(local_hub, hub_env) -> None:
    model = load_model(MODEL_ID, torch.device("cpu"), torch.float32)
    assert model.config.transformer.dim == 64
    assert [m.repo_id for m in store.installed()] == [MODEL_ID]
