"""The SAM-Audio judge as a text ranker: loading its folder strictly, its score, and ranking
noise candidates by it alone or weighted with CLAP as config.json's ensemble says (tiny
random judges in the official layout, built here).

The layout is the official ``SAMAudioJudgeModel``'s: ``audio_codec.{encoder,quantizer}``
(the DAC-VAE's, weight-normalised convolutions as ``weight_g``/``weight_v``; here the
very tensors of the tiny SAM-Audio reference checkpoint), ``data_proj``, ``transformer``
and ``finetune_transformer`` (perception_models' names), ``text_model`` (ModernBERT),
``cat_audio_proj``, ``text_proj1/2``, ``layer_norm``, ``proj_audio_and_text``,
``finetune_data_proj``, ``head``, ``mean``, ``std``; beside it ModernBERT-style tokenizer
files (tokenizer.json, tokenizer_config.json, special_tokens_map.json). The expected
scores are computed here from the official forward, written out step by step.

Not covered: the released judge checkpoint (not downloadable here) and a reference
implementation of the judge (none could be run here; transformers has no SamAudioJudge
model), so the module tree at full size and ModernBERT's hidden-state indexing in the
released weights' transformers version are not checked.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from samaudio_daw.separation.base import Prompt
from samaudio_daw.separation.sam_audio import pipeline
from samaudio_daw.separation.sam_audio.cache import ModelCache, process_cache
from samaudio_daw.separation.sam_audio.clap import load_clap
from samaudio_daw.separation.sam_audio.codec import DacVaeEncoder
from samaudio_daw.separation.sam_audio.ensemble import EnsembleRanker, load_text_ranker
from samaudio_daw.separation.sam_audio.errors import CheckpointMismatchError
from samaudio_daw.separation.sam_audio.judge import (
    JudgeConfig,
    JudgeRanker,
    SamAudioJudge,
    fold_weight_norm,
    load_judge,
)
from samaudio_daw.separation.sam_audio.loader import load_model
from samaudio_daw.separation.sam_audio.masks import StftGrid
from samaudio_daw.separation.sam_audio.presence import presence_scores
from samaudio_daw.separation.sam_audio.rankers import named_rankers

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
RATE_HZ = 48000
WORDS = ["a", "sine", "tone", "the", "bass", "guitar", "drums", "vocals", "noise", "hum"]
SPECIAL = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
TEXT_MODEL = {
    "model_type": "modernbert", "vocab_size": 32, "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 3, "num_attention_heads": 2, "max_position_embeddings": 64,
    "global_attn_every_n_layers": 3, "local_attention": 8, "pad_token_id": 3,
    "cls_token_id": 1, "sep_token_id": 2, "bos_token_id": 1, "eos_token_id": 2,
}  # fmt: skip
PE = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
FINETUNE = {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}  # fmt: skip


def _rankers_tests():
    """The CLAP ranker tests' helpers (tiny CLAP, tokenizer cache, model folders)."""
    path = Path(__file__).with_name("test_sam_audio_rankers.py")
    spec = importlib.util.spec_from_file_location("sam_audio_rankers_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


clap_tests = _rankers_tests()


def judge_config(**changes: object) -> dict:
    """A tiny judge config.json: the reference model's codec, tiny transformers and BERT."""
    codec = json.loads((REFERENCE / "config.json").read_text())["audio_codec"]
    return {
        "audio_codec": codec,
        "transformer": PE,
        "finetune_transformer": FINETUNE,
        "text_model": TEXT_MODEL,
        "nth_text_layer": 2,
        "bottleneck_dim": 8,
    } | changes


def save_tokenizer(folder: Path) -> None:
    """A word-level tokenizer in ModernBERT's file layout ([CLS] text [SEP], [PAD] = 3)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(SPECIAL + WORDS)}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=words, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token="[MASK]",
    )  # fmt: skip
    fast.save_pretrained(str(folder))


def judge_state(seed: int, config: dict) -> dict[str, torch.Tensor]:
    """Every key of the official layout: the reference checkpoint's codec encoder (with its
    weight_g/weight_v), the rest random."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SamAudioJudge(JudgeConfig.from_dict(config, Path("config.json")))
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("audio_codec."):
            continue
        scale = 0.5 if name in ("mean", "std") else 0.3
        state[name] = torch.randn(tensor.shape, generator=g) * scale + (name == "std")
    reference = torch.load(REFERENCE / "checkpoint.pt", map_location="cpu", weights_only=True)
    for key, tensor in reference.items():
        if key.startswith(("audio_codec.encoder.", "audio_codec.quantizer.")):
            state[key] = tensor.clone()
    # The tiny random codec's latents barely follow the sound (their spread across sounds
    # is ~1 % of their offset): data_proj standardises them, as a trained one would
    # weigh what varies, so that the candidate counts in the score.
    folded = fold_weight_norm(state)
    codec = DacVaeEncoder(model.audio_codec.config)
    codec.load_state_dict({k.removeprefix("audio_codec."): v for k, v in folded.items() if k.startswith("audio_codec.")})  # fmt: skip
    with torch.inference_mode():
        latent = codec.encode(torch.randn(4, 1, 20_000, generator=g) * 0.3).transpose(1, 2)
    mean, spread = latent.mean(dim=(0, 1)), latent.std(dim=(0, 1))
    weight = state["data_proj.weight"] / spread
    state["data_proj.weight"], state["data_proj.bias"] = weight, -weight @ mean
    return state


def save_judge(folder: Path, seed: int = 0, **changes: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = judge_config(**changes)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.save(judge_state(seed, config), folder / "checkpoint.pt")
    save_tokenizer(folder)
    (folder / "LICENSE").write_text("SAM License (test copy)\n")
    return folder


def official_scores(judge: JudgeRanker, texts: list[str], mixture, candidate) -> torch.Tensor:
    """The official forward, step by step from the submodules: (B, 4)."""
    m = judge.model
    tokens = judge.tokenizer(texts, padding="longest", truncation=True, max_length=512, return_tensors="pt")  # fmt: skip
    hidden = m.text_model(
        input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], output_hidden_states=True
    ).hidden_states[m.config.nth_text_layer]  # fmt: skip
    text = m.text_proj1(hidden[:, 0])
    wav = torch.cat([mixture, candidate], 0)[:, None]
    latent = m.audio_codec.encode(wav)
    frames = m.transformer(m.data_proj(latent.transpose(1, 2)))[1]
    input_frames, hyp_frames = frames.chunk(2, 0)
    audio = m.cat_audio_proj(torch.cat([hyp_frames, input_frames], dim=2))
    t = m.layer_norm(m.text_proj2(text)).unsqueeze(1).expand_as(audio)
    x = m.proj_audio_and_text(torch.cat([audio, t], dim=2))
    out = m.finetune_transformer(m.finetune_data_proj(x))[1]
    return m.head(out).mean(dim=1) * m.std + m.mean


@pytest.fixture(scope="module")
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="module")
def cache(reference: Path) -> ModelCache:
    return process_cache()


def _sounds(n: int, samples: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / RATE_HZ
    level, base = 0.1 + 0.2 * (seed % 3), 110 * (1 + seed % 5)
    tones = torch.stack([level * torch.sin(2 * torch.pi * base * (2 + i) * t) for i in range(n)])
    return tones + 0.1 * torch.randn(n, samples, generator=g)


def test_the_judge_loads_strictly_and_scores_every_candidate_as_the_official_forward(
    reference: Path, tmp_path: Path
) -> None:
    judge = load_judge(save_judge(tmp_path / "judge"), torch.device("cpu"))
    k, n, samples = 3, 2, 30_000  # not a whole number of hops: reflect-padded
    mixtures = _sounds(n, samples, 1)
    waves = torch.stack([_sounds(n, samples, 10 + i) for i in range(k)])
    texts = ["a sine tone", "the bass guitar"]
    scores = judge.score(waves, mixtures, texts)
    assert scores.shape == (k, n) and scores.dtype == torch.float32
    with torch.inference_mode():
        for i in range(k):
            expected = official_scores(judge, texts, mixtures, waves[i])
            assert torch.allclose(scores[i], expected[:, 0], atol=1e-5)
            forward = judge.model(
                **{
                    k: v
                    for k, v in judge.tokenizer(
                        texts, padding="longest", return_tensors="pt"
                    ).items()
                    if k in ("input_ids", "attention_mask")
                },
                input_values=mixtures[:, None],
                separated_values=waves[i][:, None],
            )
            assert torch.allclose(forward, expected, atol=1e-5)
    # The score follows the text and the candidate.
    other_text = judge.score(waves, mixtures, ["drums", "vocals"])
    assert (other_text - scores).abs().min() > 1e-4
    assert (scores[0] - scores[1]).abs().min() > 1e-4
    # The candidate goes first: swapping it with the mixture changes the score.
    swapped = official_scores(judge, texts, waves[0], mixtures)[:, 0]
    assert (swapped - scores[0]).abs().min() > 1e-4


def test_the_judges_codec_is_the_sam_audio_codecs_encoder(reference: Path, tmp_path: Path) -> None:
    """The same weight_g/weight_v tensors give the judge the latents SAM-Audio's loader
    gives the separation model."""
    judge = load_judge(save_judge(tmp_path / "judge"), torch.device("cpu"))
    model = load_model(reference, torch.device("cpu"), torch.float32)
    wav = _sounds(2, 20_000, 3)[:, None]
    with torch.inference_mode():
        ours = judge.model.audio_codec.encode(wav)
        theirs = model.audio_codec.encode(wav)
    assert torch.equal(ours, theirs)


def _one_line(folder: Path) -> str:
    with pytest.raises(CheckpointMismatchError) as caught:
        load_judge(folder, torch.device("cpu"))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_what_is_not_the_judge_is_refused_in_one_line_naming_the_file(
    reference: Path, tmp_path: Path
) -> None:
    good = save_judge(tmp_path / "good")

    def copy(name: str) -> Path:
        return Path(shutil.copytree(good, tmp_path / name))

    sam_audio = copy("sam_audio")
    shutil.copy(reference / "config.json", sam_audio / "config.json")
    message = _one_line(sam_audio)
    assert f"{sam_audio / 'config.json'}: not a SAM-Audio judge config.json" in message
    assert "finetune_transformer" in message

    state = torch.load(good / "checkpoint.pt", weights_only=True)
    missing = copy("missing")
    torch.save({k: v for k, v in state.items() if k != "head.weight"}, missing / "checkpoint.pt")
    message = _one_line(missing)
    assert str(missing / "checkpoint.pt") in message and "1 missing keys" in message
    assert "'head.weight'" in message and "0 unexpected" in message

    extra = copy("extra")
    torch.save(state | {"visual_head.weight": torch.zeros(2)}, extra / "checkpoint.pt")
    assert "1 unexpected, e.g. ['visual_head.weight']" in _one_line(extra)

    shapes = copy("shapes")
    config = judge_config(bottleneck_dim=4)
    (shapes / "config.json").write_text(json.dumps(config))
    assert "has shape" in _one_line(shapes)

    unreadable = copy("unreadable")
    (unreadable / "checkpoint.pt").write_bytes(b"not a checkpoint")
    message = _one_line(unreadable)
    assert f"{unreadable / 'checkpoint.pt'}: not a readable judge checkpoint" in message

    wrapped = copy("wrapped")
    torch.save({"model": state, "epoch": 3}, wrapped / "checkpoint.pt")
    assert "not a judge checkpoint (no state dict of tensors)" in _one_line(wrapped)

    no_tokenizer = copy("no_tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    message = _one_line(no_tokenizer)
    assert f"{no_tokenizer}: no tokenizer" in message and "--with-rankers" in message

    deep = copy("deep")
    (deep / "config.json").write_text(json.dumps(judge_config(nth_text_layer=9)))
    assert "nth_text_layer=9, but text_model has 3 layers" in _one_line(deep)


ENSEMBLE_CLAP = {"kind": "clap", "checkpoint": "text_ranker/clap_tiny.pt"}
LOCAL_JUDGE = {"kind": "judge", "checkpoint_or_model_id": "judge"}


def ensemble(w_clap: float, w_judge: float) -> dict:
    return {"kind": "ensemble", "rankers": {"clap": [ENSEMBLE_CLAP, w_clap], "judge": [LOCAL_JUDGE, w_judge]}}  # fmt: skip


def test_the_config_names_the_judge_and_it_runs_with_its_weight(reference: Path, tmp_path: Path, monkeypatch) -> None:  # fmt: skip
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    clap_tests.cache_tokenizer(tmp_path / "hub")
    raw = {"text_ranker": ensemble(0.5, 2.0), "visual_ranker": {"kind": "imagebind"}}
    specs = named_rankers(raw)
    assert [(s.kind, s.runnable, s.weight) for s in specs] == [
        ("clap", True, 0.5),
        ("judge", True, 2.0),
        ("imagebind", False, None),
    ]
    folder = clap_tests.model_folder_naming(reference, tmp_path / "model", **raw)
    clap_tests.save_tiny_clap(folder / ENSEMBLE_CLAP["checkpoint"], 0)
    save_judge(folder / "judge")
    ranker, notes = load_text_ranker(folder, torch.device("cpu"))
    assert isinstance(ranker, EnsembleRanker)
    assert [(m.spec.kind, m.weight) for m in ranker.members] == [("clap", 0.5), ("judge", 2.0)]
    assert len(notes) == 1 and "ranks by the video" in notes[0]
    # A judge that is not here is named, and the ensemble's choice can differ.
    shutil.rmtree(folder / "judge")
    ranker, notes = load_text_ranker(folder, torch.device("cpu"))
    assert ranker is not None and [m.spec.kind for m in ranker.members] == ["clap"]
    assert "text_ranker (judge: judge): its config.json and checkpoint.pt are not on this machine" in notes[0]  # fmt: skip
    assert "ranks by the video" in notes[1] and notes[2] == (
        "the official ensemble also adds judge (weight 2); here only clap ranks, so a choice "
        "can differ from the official one"
    )


def _drawn(separator, audio: np.ndarray, prompts: list[Prompt]) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(every candidate of the one clip, decoded (K, 1, samples); the clip (1, samples))."""
    model = separator.model()
    with torch.inference_mode():
        view = pipeline.model_view(torch.from_numpy(audio), RATE_HZ, model)
        frames = view.mono.shape[-1] // model.hop_samples
        plan = pipeline.plan_chunks(frames, frames, separator.track_settings.overlap)
        inputs = pipeline.prepare_inputs(model, view, plan, prompts, separator.track_settings)
    return clap_tests._candidates(separator, audio, prompts), inputs.clips[[0]]


def _kept(out: np.ndarray, drawn: torch.Tensor) -> int:
    errors = [float(np.abs(out[0] - c[0, : out.shape[1]].numpy()).max()) for c in drawn]
    best = int(np.argmin(errors))
    assert errors[best] < 1e-4 and min(e for k, e in enumerate(errors) if k != best) > 1e-3
    return best


def _separate(separator, audio, prompts) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [out] = separator.separate(audio, RATE_HZ, prompts)
    return out, [str(w.message) for w in caught if "sam-audio:" in str(w.message)]


def test_the_kept_candidate_is_the_argmax_of_the_weighted_clap_and_judge_scores(
    cache: ModelCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    tokenizer = clap_tests.cache_tokenizer(tmp_path / "hub")
    folder = clap_tests.model_folder_naming(REFERENCE, tmp_path / "model", text_ranker=ensemble(1, 1))  # fmt: skip
    audio, prompts = clap_tests._tone(1.0), [Prompt("sine tone")]
    probe = clap_tests._separator(folder, cache, candidates="3")
    drawn, mixture = _drawn(probe, audio, prompts)
    clap_path = clap_tests.save_tiny_clap(folder / ENSEMBLE_CLAP["checkpoint"], 1)
    clap = load_clap(clap_path, tokenizer, torch.device("cpu")).score(drawn, ["sine tone"])[:, 0]
    # A judge and two pairs of weights under which the sums keep different candidates, one
    # of them not CLAP's: the choice shows the judge and both weights.
    weights = [float(w) for w in 10 ** torch.linspace(-2, 2, 41)]
    for seed in range(20):
        judge = load_judge(save_judge(tmp_path / f"j{seed}", seed), torch.device("cpu"))
        overall = judge.score(drawn, mixture, ["sine tone"])[:, 0]
        choices = {w: int((clap + w * overall).argmax()) for w in weights}
        if len(set(choices.values())) > 1:
            break
    w_low = weights[0]
    w_high = next(w for w in weights if choices[w] != choices[w_low])
    shutil.copytree(tmp_path / f"j{seed}", folder / "judge")
    kept = []
    for w_clap, w_judge in ((1 / w_low, 1.0), (1.0, w_high)):
        expected = int((w_clap * clap + w_judge * overall).argmax())
        config = json.loads((folder / "config.json").read_text())
        config["text_ranker"] = ensemble(w_clap, w_judge)
        (folder / "config.json").write_text(json.dumps(config))
        separator = clap_tests._separator(folder, cache, candidates="3")
        out, ours = _separate(separator, audio, prompts)
        assert not ours  # both members run: nothing to say
        kept.append(_kept(out, drawn))
        assert kept[-1] == expected
        # The presence score is CLAP's (1 + cos) / 2 of the kept candidate.
        [chunk] = separator.last_presence
        assert chunk.score == pytest.approx((1 + float(clap[expected])) / 2, abs=1e-5)
    assert kept[0] != kept[1] and int(clap.argmax()) in kept
    ranker = separator.settings()["ranker"]
    assert ranker.startswith("clap:clap_tiny.pt:") and ",judge:checkpoint.pt:" in ranker

    # Without the judge's files CLAP ranks alone, with one warning.
    shutil.rmtree(folder / "judge")
    alone = clap_tests._separator(folder, cache, candidates="3")
    out, ours = _separate(alone, audio, prompts)
    assert _kept(out, drawn) == int(clap.argmax())
    assert len(ours) == 1 and "here only clap ranks, so a choice can differ" in ours[0]
    assert alone.settings()["ranker"] == ranker.split(",")[0]


def test_the_judge_alone_ranks_and_presence_stays_the_mixture_based_score(
    cache: ModelCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty hub"))  # no CLAP tokenizer
    folder = clap_tests.model_folder_naming(
        REFERENCE, tmp_path / "model", text_ranker=ensemble(1, 1)
    )
    audio, prompts = clap_tests._tone(1.0), [Prompt("sine tone")]
    probe = clap_tests._separator(folder, cache, candidates="3")
    drawn, mixture = _drawn(probe, audio, prompts)
    for seed in range(20):
        judge = load_judge(save_judge(tmp_path / f"j{seed}", seed), torch.device("cpu"))
        overall = judge.score(drawn, mixture, ["sine tone"])[:, 0]
        if int(overall.argmax()) != 0:
            break
    shutil.copytree(tmp_path / f"j{seed}", folder / "judge")
    separator = clap_tests._separator(folder, cache, candidates="3")
    out, ours = _separate(separator, audio, prompts)
    best = _kept(out, drawn)
    assert best == int(overall.argmax())
    assert len(ours) == 1 and "here only judge ranks" in ours[0] and "checkpoint not on" in ours[0]
    [chunk] = separator.last_presence
    grid = StftGrid(RATE_HZ)
    expected = float(presence_scores(drawn[best], mixture, grid)[0])
    assert chunk.score == pytest.approx(expected, abs=1e-5)
