"""The PE-A-Frame span predictor (spans.py): strict loading and one-line refusals, the
spans it predicts, its ``+`` anchors reaching the DiT for prompts without spans, the
backend with and without it, and `separate --predict-spans` end to end.

A tiny random PE-A-Frame in perception_models' layout is built here: config.json
(``audio_model`` with a DacConfig dict and a transformer dict, ``text_model`` a
ModernBertConfig dict, ``output_dim``, ``nth_text_layer``), model.safetensors (every
weight, the DAC encoder and its VAE bottleneck included) and a ModernBERT-style tokenizer
(tokenizer.json made with the ``tokenizers`` library, tokenizer_config.json,
special_tokens_map.json). Its codec sizes fit the tiny SAM-Audio reference codec (8
channels, hop 1920 at 48 kHz). Not covered: the released pe-a-frame-large weights (not
downloadable here) and whether its spans help a trained model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from samaudio_daw.separation.backends import BackendOptions
from samaudio_daw.separation.base import Prompt, TimeSpan
from samaudio_daw.separation.sam_audio import pipeline
from samaudio_daw.separation.sam_audio.anchors import Anchor
from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator
from samaudio_daw.separation.sam_audio.cache import ModelCache, process_cache
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError
from samaudio_daw.separation.sam_audio.spans import (
    DAC_PREFIX,
    SPAN_THRESHOLD,
    FrameShape,
    SpanPredictor,
    load_span_predictor,
)
from samaudio_daw.separation.sam_audio.store import span_predictor_line

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / ".." / "shared" / "sam_audio_reference"
RATE_HZ = 48000
CPU = torch.device("cpu")

WORDS = ["a", "sine", "tone", "the", "bass", "guitar", "drums", "snare", "vocals", "noise", "hiss"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONFIG = {
    "audio_model": {
        "dac_vae_encoder": {
            "encoder_hidden_size": 4,
            "downsampling_ratios": [2, 8, 10, 12],
            "decoder_hidden_size": 8,
            "n_codebooks": 2,
            "codebook_size": 64,
            "codebook_dim": 8,
            "quantizer_dropout": 0,
            "sampling_rate": 48000,
        },
        "audio_transformer": {
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 512,
        },
    },
    "text_model": {
        "model_type": "modernbert",
        "vocab_size": len(SPECIAL) + len(WORDS),
        "hidden_size": 16,
        "intermediate_size": 24,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "global_attn_every_n_layers": 2,
        "local_attention": 8,
        "pad_token_id": 0,
        "cls_token_id": 2,
        "sep_token_id": 3,
        "bos_token_id": 2,
        "eos_token_id": 3,
    },
    "output_dim": 12,
    "nth_text_layer": 2,
}


def save_tokenizer(folder: Path) -> None:
    """A word-level tokenizer that adds [CLS] … [SEP], as ModernBERT's does."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {word: i for i, word in enumerate(SPECIAL + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    special = {
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
        "sep_token": "[SEP]", "mask_token": "[MASK]",
    }  # fmt: skip
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512} | special
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def codec_encoder_state(config: dict) -> dict[str, torch.Tensor]:
    """The DAC encoder and VAE bottleneck weights the official checkpoint holds."""
    from transformers import DacConfig
    from transformers.models.dac.modeling_dac import DacEncoder

    dac = DacConfig(**config["audio_model"]["dac_vae_encoder"])
    state = {f"encoder.{k}": v for k, v in DacEncoder(dac).state_dict().items()}
    size, dim = dac.codebook_size, dac.codebook_dim
    bottleneck = {
        "in_proj": torch.nn.Conv1d(size, 2 * dim, 1),
        "out_proj": torch.nn.Conv1d(dim, size, 1),
    }
    for name, conv in bottleneck.items():
        state |= {f"bottleneck.{name}.{k}": v for k, v in conv.state_dict().items()}
    return {DAC_PREFIX + k: v.detach().clone() for k, v in state.items()}


def tiny_state(seed: int, config: dict = CONFIG) -> dict[str, torch.Tensor]:
    """Every weight of a PE-A-Frame with ``config``'s sizes, random (seeded)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SpanPredictor(FrameShape.from_dict(config), tokenizer=None)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        state |= codec_encoder_state(config)
        g = torch.Generator().manual_seed(seed)
        for name, tensor in state.items():
            if name.endswith("norm.weight") or "layer_norm.weight" in name:
                continue
            tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.5)
        state["logit_scale"] = torch.tensor([1.0])
        state["logit_bias"] = torch.tensor([0.0])
    return state


def save_tiny_predictor(
    folder: Path, seed: int = 0, state: dict[str, torch.Tensor] | None = None
) -> Path:
    """config.json, model.safetensors and the tokenizer files in ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))
    weights = tiny_state(seed) if state is None else state
    save_file({k: v.contiguous() for k, v in weights.items()}, str(folder / "model.safetensors"))
    save_tokenizer(folder)
    return folder


def cache_predictor(cache: Path, name: str, seed: int = 0) -> Path:
    """The tiny predictor as ``facebook/NAME`` at revision perception_models in a hub
    cache, as `model pull --with-rankers` leaves it."""
    repo = cache / f"models--facebook--{name}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "perception_models").write_text("f" * 40)
    return save_tiny_predictor(repo / "snapshots" / ("f" * 40), seed)


def model_folder_naming(folder: Path, **fields: object) -> Path:
    """A copy of the reference model folder whose config.json sets ``fields`` (the ranker
    tests' helper)."""
    import importlib.util

    path = Path(__file__).with_name("test_sam_audio_rankers.py")
    spec = importlib.util.spec_from_file_location("sam_audio_rankers_tests", path)
    assert spec is not None and spec.loader is not None
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    return helpers.model_folder_naming(REFERENCE, folder, **fields)


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {REFERENCE}")
    return process_cache()


def _runs(probs: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Runs of frames above the threshold, found frame by frame."""
    found = []
    for row in probs.tolist():
        runs, start = [], None
        for i, p in enumerate([*row, 0.0]):
            if p > SPAN_THRESHOLD and start is None:
                start = i
            elif p <= SPAN_THRESHOLD and start is not None:
                runs.append((start, i))
                start = None
        found.append(runs)
    return found


def _by_hand(predictor: SpanPredictor, latents: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """The official forward written out with the loaded submodules: (n, frames) probabilities."""
    audio = predictor.audio_model
    frames = audio.audio_transformer(audio.data_proj(latents.transpose(1, 2)))[1]
    audio_embeds = predictor.audio_head(frames)
    tokens = predictor.tokenizer(texts, padding="longest", return_tensors="pt")
    hidden = predictor.text_model(**tokens, output_hidden_states=True).hidden_states
    text_embeds = predictor.text_head(hidden[CONFIG["nth_text_layer"]][:, 0])
    logits = torch.einsum("btd,bd->bt", audio_embeds, text_embeds)
    return torch.sigmoid(logits * predictor.logit_scale + predictor.logit_bias)


def test_loads_strictly_and_predicts_a_plus_span_per_run_of_active_frames(tmp_path: Path) -> None:
    predictor = load_span_predictor(save_tiny_predictor(tmp_path / "pe"), CPU)
    saved = tiny_state(0)
    for name, tensor in predictor.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    latents = torch.randn(3, 8, 50, generator=torch.Generator().manual_seed(1))
    texts = ["the bass guitar", "hiss", "a sine tone"]
    with torch.inference_mode():
        logits = torch.logit(_by_hand(predictor, latents, texts))
        # A bias that puts about half the frames above the threshold: several runs.
        predictor.logit_bias.fill_(
            float(torch.logit(torch.tensor(SPAN_THRESHOLD))) - float(logits.median())
        )
        probs = _by_hand(predictor, latents, texts)
        assert torch.allclose(predictor.probabilities(latents, texts), probs, atol=1e-5)
        spans = predictor.predict(latents, texts)
    expected = [
        tuple(Anchor("+", s * 1920 / 48000, e * 1920 / 48000) for s, e in runs)
        for runs in _runs(probs)
    ]
    assert spans == expected
    assert sum(len(item) for item in spans) >= 6
    with torch.inference_mode():
        predictor.logit_scale.fill_(0.0)
        predictor.logit_bias.fill_(-1.0)  # sigmoid(-1) = 0.27: no frame active
        assert predictor.predict(latents, texts) == [(), (), ()]
        predictor.logit_bias.fill_(-0.8)  # sigmoid(-0.8) = 0.31: every frame active
        assert predictor.predict(latents, texts) == [(Anchor("+", 0.0, 2.0),)] * 3


def _refused(folder: Path) -> str:
    with pytest.raises(CheckpointMismatchError) as caught:
        load_span_predictor(folder, CPU)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_every_damaged_checkpoint_is_refused_in_one_line_naming_the_file(tmp_path: Path) -> None:
    good = save_tiny_predictor(tmp_path / "good")

    def copy(name: str) -> Path:
        return Path(shutil.copytree(good, tmp_path / name))

    def resave(folder: Path, state: dict) -> None:
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"))

    folder = copy("no_config")
    (folder / "config.json").unlink()
    assert f"{folder / 'config.json'}: not a PE-A-Frame config.json" in _refused(folder)
    folder = copy("bad_json")
    (folder / "config.json").write_text("{")
    assert f"{folder / 'config.json'}:" in _refused(folder)
    folder = copy("no_weights")
    (folder / "model.safetensors").unlink()
    assert f"{folder / 'model.safetensors'}: not a readable safetensors file" in _refused(folder)
    folder = copy("torn")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    assert f"{folder / 'model.safetensors'}: not a readable" in _refused(folder)

    state = tiny_state(0)
    folder = copy("missing")
    resave(folder, {k: v for k, v in state.items() if k != "text_head.proj.weight"})
    message = _refused(folder)
    assert f"{folder / 'model.safetensors'}: weights do not fit" in message
    assert "1 missing, e.g. ['text_head.proj.weight']; 0 unexpected" in message
    folder = copy("unexpected")
    resave(folder, state | {"audio_model.extra.weight": torch.zeros(2)})
    assert "0 missing, e.g. []; 1 unexpected, e.g. ['audio_model.extra.weight']" in _refused(folder)
    folder = copy("shape")
    resave(folder, state | {"audio_head.proj.weight": torch.zeros(5, 16)})
    message = _refused(folder)
    assert "weights do not fit" in message and "audio_head.proj.weight" in message
    folder = copy("no_codec")
    resave(folder, {k: v for k, v in state.items() if not k.startswith(DAC_PREFIX)})
    assert "no PE-A-Frame codec encoder (0 audio_model.dac_vae_encoder.encoder.*" in _refused(
        folder
    )

    folder = copy("no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink()
    assert f"{folder}: no ModernBERT tokenizer files" in _refused(folder)
    folder = copy("deep_layer")
    config = json.loads((folder / "config.json").read_text()) | {"nth_text_layer": 9}
    (folder / "config.json").write_text(json.dumps(config))
    assert "nth_text_layer 9 is not a hidden state of a 3-layer text model" in _refused(folder)


def test_the_official_defaults_are_pe_a_frame_large() -> None:
    shape = FrameShape.from_dict({})
    assert (shape.codec_channels, shape.hop_length, shape.sampling_rate) == (128, 1920, 48000)
    assert (shape.text.num_hidden_layers, shape.text.hidden_size) == (28, 1024)
    assert (shape.output_dim, shape.nth_text_layer, shape.audio.hidden_size) == (1024, 22, 1024)


def _labels_seen(monkeypatch: pytest.MonkeyPatch, model) -> list:
    seen: list = []
    condition = model.condition

    def spy(latents, labels, text):
        seen.append(labels)
        return condition(latents, labels, text)

    monkeypatch.setattr(model, "condition", spy)
    return seen


def test_predicted_anchors_reach_the_dit_and_user_spans_win(
    cache: ModelCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor = load_span_predictor(save_tiny_predictor(tmp_path / "pe"), CPU)
    separator = SamAudioSeparator(
        BackendOptions(model=str(REFERENCE), chunk_s=1.0, steps=1, device="cpu"), cache
    )
    model = separator.model()
    t = np.arange(RATE_HZ * 2) / RATE_HZ
    audio = torch.from_numpy((0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32))
    user = TimeSpan(0.2, 0.6, "-")
    prompts = [Prompt("a sine tone"), Prompt("hiss", (user,))]
    settings = separator.track_settings
    with torch.inference_mode():
        view = pipeline.model_view(audio, RATE_HZ, model)
        frames = view.mono.shape[-1] // model.hop_samples
        plan = pipeline.plan_chunks(frames, 25, settings.overlap)
        plain = pipeline.prepare_inputs(model, view, plan, prompts, settings)
        predictor.logit_bias.fill_(20.0)  # every frame active: one span per clip
        inputs = pipeline.prepare_inputs(model, view, plan, prompts, settings, predictor)
        whole = (Anchor("+", 0.0, 25 * 1920 / 48000),)
        assert dict(inputs.predicted) == {(c, 0): whole for c in range(len(plan.starts))}
        assert torch.equal(inputs.latents, plain.latents)
        seen = _labels_seen(monkeypatch, model)
        items = [(0, 0), (0, 1)]
        pipeline.solve_targets(model, items, plan, prompts, plain, 1)
        pipeline.solve_targets(model, items, plan, prompts, inputs, 1)
    without, with_spans = seen
    # The prompt without spans: all frames now point at its '+' anchor.
    assert (without.anchor_alignment[0] == 0).all() and (with_spans.anchor_alignment[0] == 2).all()
    assert int(with_spans.anchor_ids[0, 2]) == 1  # PLUS_ID
    # The prompt with a span of its own keeps it, predicted or not.
    assert torch.equal(without.anchor_alignment[1], with_spans.anchor_alignment[1])
    assert int(with_spans.anchor_ids[1, 2]) == 2  # MINUS_ID


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)


def _separator(folder: Path, cache: ModelCache, **extra: str) -> SamAudioSeparator:
    options = BackendOptions(
        model=str(folder), chunk_s=1.0, steps=2, device="cpu", extra=tuple(extra.items())
    )
    return SamAudioSeparator(options, cache)


def _ours(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "sam-audio:" in str(w.message)]


def test_an_absent_predictor_is_one_warning_and_the_output_is_unchanged(
    cache: ModelCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = model_folder_naming(tmp_path / "model", span_predictor="pe-a-frame-large")
    audio, prompts = _tone(1.5), [Prompt("a sine tone")]
    asked = _separator(folder, cache, predict_spans="1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [out] = asked.separate(audio, RATE_HZ, prompts)
        asked.separate(audio, RATE_HZ, prompts)  # said once, not per call
    [line] = _ours(caught)
    assert "span predictor 'pe-a-frame-large' is not on this machine" in line
    assert "model pull --with-rankers" in line and "time selection" in line
    plain = _separator(folder, cache)
    [same] = plain.separate(audio, RATE_HZ, prompts)
    assert np.array_equal(out, same)
    assert asked.settings() == plain.settings()


def test_the_predictor_in_the_hub_cache_changes_the_stems_and_the_cache_key(
    cache: ModelCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cache_predictor(tmp_path / "hub", "pe-a-frame-tiny")
    folder = model_folder_naming(tmp_path / "model", span_predictor="pe-a-frame-tiny")
    audio = _tone(1.5)
    prompts = [Prompt("a sine tone"), Prompt("hiss", (TimeSpan(0.0, 0.5),))]
    asked = _separator(folder, cache, predict_spans="1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = asked.separate(audio, RATE_HZ, prompts)
    [line] = _ours(caught)
    assert line.startswith("sam-audio: span predictor heard 'a sine tone' ")
    plain = _separator(folder, cache)
    same = plain.separate(audio, RATE_HZ, prompts)
    assert not np.allclose(out[0], same[0], atol=1e-4)
    assert asked.settings()["span_predictor"].startswith("pe-a-frame-tiny:")
    assert "span_predictor" not in plain.settings()
    assert "at " in (span_predictor_line({"span_predictor": "pe-a-frame-tiny"}) or "")


def test_separate_with_predict_spans_from_the_command_line(tmp_path: Path) -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {REFERENCE}")
    import soundfile as sf

    cache_predictor(tmp_path / "hub", "pe-a-frame-tiny")
    folder = model_folder_naming(tmp_path / "model", span_predictor="pe-a-frame-tiny")
    source = tmp_path / "mix.wav"
    sf.write(source, _tone(2.0).T, RATE_HZ, subtype="FLOAT")
    out = tmp_path / "stems"
    command = [
        sys.executable, "-m", "samaudio_daw", "separate", str(source),
        "--backend", "sam-audio", "--model", str(folder), "--prompt", "a sine tone",
        "--steps", "2", "--chunk", "1", "--predict-spans", "-o", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "span predictor heard 'a sine tone'" in done.stderr
    assert (out / "result.json").is_file()
    # A damaged predictor is one line and exit 2, not a traceback.
    [weights] = (tmp_path / "hub").glob(
        "models--facebook--pe-a-frame-tiny/snapshots/*/model.safetensors"
    )
    weights.write_bytes(b"junk")
    command[command.index(str(out))] = str(tmp_path / "again")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"error: {weights}: not a readable safetensors file" in done.stderr
    assert "Traceback" not in done.stderr
