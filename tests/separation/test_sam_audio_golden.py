"""SAM-Audio against the official golden fixtures, stage by stage (shared/sam_audio_reference).

Tolerances are the reference README's recommended fp32 CPU ones; integers must match exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from samaudio_daw.separation.sam_audio.anchors import Anchor
from samaudio_daw.separation.sam_audio.cache import process_cache
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError, ModelNotFoundError
from samaudio_daw.separation.sam_audio.loader import (
    account_keys,
    load_model,
    open_checkpoint,
    read_config,
)
from samaudio_daw.separation.sam_audio.model import SamAudio, split_target_residual
from samaudio_daw.separation.sam_audio.ode import integrate_midpoint
from samaudio_daw.separation.sam_audio.processor import prepare_batch
from samaudio_daw.separation.sam_audio.text import TextFeatures

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
pytestmark = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"SAM-Audio reference fixtures not found at {REFERENCE}"
)
CASES = [
    "a_single_text",
    "b_single_text_anchor",
    "c_batch2_text",
    "d_batch2_anchors",
    "e_single_short_reflectpad",
]
SHORT_SAMPLES = 62400
# (atol, rtol), the reference's recommended fp32 tolerances.
LATENT = (1e-5, 1e-4)
FIRST_EVAL = (2e-5, 1e-4)
ODE = (1e-4, 1e-4)
WAVE = (1e-4, 1e-3)


def assert_close(
    actual: torch.Tensor, expected: torch.Tensor, tolerance: tuple[float, float], what: str = ""
) -> None:
    atol, rtol = tolerance
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol, msg=what or None)


@pytest.fixture(scope="module")
def model() -> SamAudio:
    """Loaded through the process-wide cache, which the backend tests share."""
    return process_cache().get(str(REFERENCE.resolve()), torch.device("cpu"), torch.float32)


@pytest.fixture(scope="module")
def mixture() -> torch.Tensor:
    return torch.load(REFERENCE / "mixture_2s_48k.pt", weights_only=True)


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> dict[str, Any]:
    return torch.load(REFERENCE / f"case_{request.param}.pt", weights_only=True)  # type: ignore[no-any-return]


def case_audios(case: dict[str, Any], mixture: torch.Tensor) -> list[torch.Tensor]:
    """Case inputs: the mixture, its first 1.3 s, or both (README: item 1 = mixture[:, :62400])."""
    if case["case"].startswith("e_"):
        return [mixture[:, :SHORT_SAMPLES]]
    if len(case["descriptions"]) == 2:
        return [mixture, mixture[:, :SHORT_SAMPLES]]
    return [mixture]


def case_anchors(case: dict[str, Any]) -> list[list[Anchor]] | None:
    if case["anchors"] is None:
        return None
    return [[Anchor(*a) for a in item] for item in case["anchors"]]


def reference_conditioning(model: SamAudio, case: dict[str, Any], mixture: torch.Tensor) -> Any:
    batch = prepare_batch(case_audios(case, mixture), case_anchors(case), 48000, 1920)
    text = TextFeatures(case["text_features"], case["text_mask"])
    return model.condition(case["codec_latent"], batch.labels, text)


# 1. Loader ------------------------------------------------------------------------------------


def test_every_checkpoint_key_is_consumed_or_known_unused(model: SamAudio) -> None:
    state = open_checkpoint(REFERENCE / "checkpoint.pt")
    account = account_keys(model, state, REFERENCE / "checkpoint.pt")
    assert account.consumed | account.unused == set(state)
    assert {k for k in account.unused if not k.startswith("vision_encoder.")} == {
        "align_masked_video.conv.weight"
    }
    assert not any(k.startswith("text_encoder.") for k in state)
    assert model.text_encoder is not None
    assert not any("vision" in name for name, _ in model.named_parameters())


def copy_reference(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "checkpoint.pt"):
        shutil.copy(REFERENCE / name, folder / name)
    (folder / "tiny_t5").symlink_to((REFERENCE / "tiny_t5").resolve())
    return folder


def test_checkpoint_with_an_unknown_key_fails_loudly(tmp_path: Path) -> None:
    folder = copy_reference(tmp_path)
    state = dict(torch.load(folder / "checkpoint.pt", weights_only=True))
    state["transformer.layers.9.attention.wq.weight"] = torch.zeros(64, 64)
    torch.save(state, folder / "checkpoint.pt")
    with pytest.raises(CheckpointMismatchError, match=r"1 unexpected keys.*layers\.9"):
        load_model(folder, torch.device("cpu"), torch.float32)


def test_checkpoint_with_a_missing_key_fails_loudly(tmp_path: Path) -> None:
    folder = copy_reference(tmp_path)
    state = dict(torch.load(folder / "checkpoint.pt", weights_only=True))
    del state["embed_anchors.gate"]
    torch.save(state, folder / "checkpoint.pt")
    with pytest.raises(CheckpointMismatchError, match=r"1 missing keys.*embed_anchors\.gate"):
        load_model(folder, torch.device("cpu"), torch.float32)


def test_config_of_another_size_fails_with_the_key_and_shapes(tmp_path: Path) -> None:
    folder = copy_reference(tmp_path)
    raw = json.loads((folder / "config.json").read_text())
    raw["transformer"]["n_layers"] = 3
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointMismatchError, match="missing keys.*layers.2"):
        load_model(folder, torch.device("cpu"), torch.float32)
    raw["transformer"]["n_layers"] = 2
    raw["transformer"]["n_heads"] = 8
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointMismatchError, match=r"q_norm.weight has shape \(16,\).*\(8,\)"):
        load_model(folder, torch.device("cpu"), torch.float32)


def test_hub_id_without_access_says_how_to_get_the_weights(tmp_path: Path) -> None:
    code = (
        "from samaudio_daw.separation.sam_audio.loader import resolve_model_dir\n"
        "resolve_model_dir('facebook/sam-audio-large')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "ModelNotFoundError" in done.stderr
    assert "request access on https://huggingface.co/facebook/sam-audio-large" in done.stderr


def test_missing_model_folder_says_how_to_get_the_weights(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="request access"):
        load_model(tmp_path / "nowhere" / "model", torch.device("cpu"), torch.float32)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="no checkpoint.pt"):
        load_model(tmp_path, torch.device("cpu"), torch.float32)


def test_config_reads_the_reference_sizes() -> None:
    config = read_config(REFERENCE)
    assert config.transformer.ffn_hidden_dim == 192
    assert config.codec.hop_samples == 1920
    assert config.transformer.rope_theta == 20000.0


# 2. Preprocessing -----------------------------------------------------------------------------


def test_preprocessing_is_exact(
    model: SamAudio, case: dict[str, Any], mixture: torch.Tensor
) -> None:
    batch = prepare_batch(case_audios(case, mixture), case_anchors(case), 48000, 1920)
    assert torch.equal(batch.audio, case["batch_audios"])
    assert torch.equal(batch.sample_counts, case["wav_sizes"])
    assert torch.equal(batch.frame_counts, case["feature_sizes"].long())
    assert torch.equal(batch.labels.frame_mask, case["audio_pad_mask"])
    assert torch.equal(batch.labels.anchor_ids, case["anchor_ids"])
    assert torch.equal(batch.labels.anchor_alignment, case["anchor_alignment"])
    assert model.text_encoder is not None
    ids, mask = model.text_encoder.tokenize(case["descriptions"])
    assert torch.equal(ids, case["text_input_ids"])
    assert torch.equal(mask, case["text_mask"])


# 3-4. Codec latent and text features ---------------------------------------------------------


def test_codec_latent(model: SamAudio, case: dict[str, Any]) -> None:
    assert_close(model.encode_audio(case["batch_audios"]), case["codec_latent"], LATENT)


def test_text_features(model: SamAudio, case: dict[str, Any]) -> None:
    assert model.text_encoder is not None
    text = model.text_encoder.encode_ids(case["text_input_ids"], case["text_mask"])
    assert_close(text.features, case["text_features"], LATENT)
    assert torch.equal(text.mask, case["text_mask"])


# 5. First vector-field evaluation -------------------------------------------------------------

HOOKED = {
    "dit_x_embedder_out_BCT": "transformer.x_embedder.block",
    "dit_t_embedder_out": "transformer.t_embedder",
    "dit_t_block_out": "transformer.t_block",
    "dit_y_embedder_out": "transformer.y_embedder",
    "dit_layer0_out": "transformer.layers.0",
    "dit_layer1_out": "transformer.layers.1",
}


def test_first_evaluation_and_its_intermediates(
    model: SamAudio, case: dict[str, Any], mixture: torch.Tensor
) -> None:
    first, expected = case["first_eval"], case["first_eval_intermediates"]
    cond = reference_conditioning(model, case, mixture)
    seen: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[path].register_forward_hook(
            lambda _m, _i, out, key=key: seen.__setitem__(key, out)  # type: ignore[misc]
        )
        for key, path in HOOKED.items()
    ]
    try:
        output = model.velocity(first["noisy_audio"], first["time"], cond)
    finally:
        for handle in handles:
            handle.remove()
    assert_close(output, first["output"], FIRST_EVAL)
    for key in HOOKED:
        assert_close(seen[key], expected[key], FIRST_EVAL, key)
    features = cond.audio_features
    x_in = torch.cat([first["noisy_audio"], torch.zeros_like(features), features], -1)
    proj_out = model.proj(x_in)
    assert_close(proj_out, expected["proj_out"], FIRST_EVAL)
    after_video = proj_out + model.video_term
    assert_close(after_video, expected["after_align_video"], FIRST_EVAL)
    after_anchors = after_video + cond.anchor_term
    assert_close(after_anchors, expected["after_embed_anchors"], FIRST_EVAL)


def test_first_evaluation_memory(
    model: SamAudio, case: dict[str, Any], mixture: torch.Tensor
) -> None:
    from samaudio_daw.separation.sam_audio.dit import timestep_sinusoid

    cond = reference_conditioning(model, case, mixture)
    time = case["first_eval"]["time"]
    memory = cond.memory + timestep_sinusoid(time, model.config.transformer.dim)[:, None]
    assert_close(memory, case["first_eval"]["memory"], FIRST_EVAL)


# 6. ODE ---------------------------------------------------------------------------------------


def test_ode_states(model: SamAudio, case: dict[str, Any], mixture: torch.Tensor) -> None:
    cond = reference_conditioning(model, case, mixture)
    times: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []

    def recording_field(time: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        out = model.velocity(state, time.expand(state.shape[0]), cond)
        times.append(time)
        outputs.append(out)
        return out

    final = integrate_midpoint(recording_field, case["noise"], steps=16)
    assert torch.equal(torch.stack(times), case["eval_times"])
    assert_close(final, case["ode_final_state"], ODE)
    if "eval_outputs_all" in case:
        assert_close(torch.stack(outputs), case["eval_outputs_all"], ODE)


# 7. Decoder, trimming, round trip -------------------------------------------------------------


def test_decoder_output(model: SamAudio, case: dict[str, Any]) -> None:
    torch.testing.assert_close(
        split_target_residual(case["ode_final_state"]), case["decoder_input"], atol=0.0, rtol=0.0
    )
    raw = model.decode(case["decoder_input"], case["wm_message"])
    assert_close(raw, case["decoder_output_raw"], WAVE)


def test_codec_round_trip(model: SamAudio) -> None:
    case = torch.load(REFERENCE / "case_a_single_text.pt", weights_only=True)
    wav = model.decode(case["codec_latent"], case["codec_roundtrip_message"])
    assert_close(wav, case["codec_roundtrip_wav"], WAVE)


# 8. End to end --------------------------------------------------------------------------------


def test_separate_end_to_end(model: SamAudio, case: dict[str, Any], mixture: torch.Tensor) -> None:
    result = model.separate(
        case_audios(case, mixture),
        case["descriptions"],
        anchors=case["anchors"],
        noise=case["noise"],
        watermark_bits=case["wm_message"],
    )
    assert len(result.target) == len(case["target"])
    for ours, theirs in zip(
        result.target + result.residual, case["target"] + case["residual"], strict=True
    ):
        assert ours.shape == theirs.shape  # ceil(len/hop)·hop samples, not the input length
        assert_close(ours, theirs, WAVE)
