"""Our CLAP ranker (clap.py, htsat.py) against LAION-CLAP's own code, with the same random
weights: the official model's sizes (HTSAT-tiny, no fusion; RoBERTa-base's shapes), built
by laion_clap's ``CLAP`` class, saved as a checkpoint in the 630k-best.pt layout, loaded
strictly by ours; then the audio and text embeddings of both.

Needs ``laion_clap`` and ``torchlibrosa`` (pip, in a separate environment that also sees
this project's packages); nothing is downloaded: RoBERTa is built from a config, the
tokenizer is a small byte-level BPE trained here. ``torchvision`` is only imported by
laion_clap for a helper that inference never calls; a stand-in module is used when it is
absent.

    PYTHONPATH=$PWD:$VENV_SITE_PACKAGES /tmp/clapref/bin/python benchmarks/clap_vs_laion.py

Prints the max abs difference of the unit-length embeddings (audio, text) and writes the
key inventory of the checkpoint (``--keys FILE``, JSON: key → shape) that the tests check
our module tree against.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

import torch


def _laion():  # type: ignore[no-untyped-def]
    # transformers first: it probes for torchvision itself.
    from transformers import BartModel, BertModel, RobertaModel  # noqa: F401

    try:
        import torchvision  # noqa: F401
    except ImportError:
        for name in ("", ".ops", ".ops.misc", ".transforms", ".datasets"):
            stand_in = types.ModuleType("torchvision" + name)
            stand_in.__path__ = []  # type: ignore[attr-defined]
            stand_in.__getattr__ = lambda attr: type(attr, (), {})  # type: ignore[attr-defined]
            sys.modules[stand_in.__name__] = stand_in
    from laion_clap.clap_module import model as laion_model
    from laion_clap.clap_module.factory import _MODEL_CONFIGS  # type: ignore[attr-defined]
    from laion_clap.training.data import get_audio_features

    return laion_model, _MODEL_CONFIGS, get_audio_features


def _tokenizer_folder(folder: Path) -> Path:
    from tokenizers import ByteLevelBPETokenizer

    texts = ["a dog barking", "the bass guitar", "drums and a snare", "vocals singing"] * 20
    bpe = ByteLevelBPETokenizer()
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(texts, vocab_size=400, min_frequency=1, special_tokens=special)
    bpe.save_model(str(folder))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=Path, help="write the checkpoint's key inventory here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    laion_model, configs, get_audio_features = _laion()
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    from samaudio_daw.separation.sam_audio.clap import load_clap

    torch.manual_seed(args.seed)
    # The official text branch is RobertaModel.from_pretrained("roberta-base"): same
    # module, random weights here.
    roberta = RobertaModel(
        RobertaConfig(
            layer_norm_eps=1e-5,
            pad_token_id=1,
            type_vocab_size=1,
            max_position_embeddings=514,
            vocab_size=50265,
        )
    )
    laion_model.RobertaModel.from_pretrained = staticmethod(lambda *a, **k: roberta)  # type: ignore[method-assign]
    cfg = dict(configs["HTSAT-tiny"])
    cfg["text_cfg"] = dict(cfg["text_cfg"], model_type="roberta")
    theirs = laion_model.CLAP(**cfg, enable_fusion=False).eval()
    with torch.no_grad():  # every weight random, batch-norm statistics too
        for name, tensor in theirs.state_dict().items():
            if tensor.is_floating_point() and "extractor" not in name:
                scale = name.endswith("running_var") or (
                    tensor.dim() == 1 and name.endswith("weight")
                )
                tensor.copy_(torch.randn_like(tensor) * 0.05 + float(scale))
    state = {"module." + k: v for k, v in theirs.state_dict().items()}
    state["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    if args.keys:
        args.keys.write_text(json.dumps({k: list(v.shape) for k, v in state.items()}, indent=0))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "630k-layout.pt"
        torch.save({"epoch": 1, "state_dict": state}, path)
        ours = load_clap(path, _tokenizer_folder(Path(tmp)), torch.device("cpu"))
        tokenizer = RobertaTokenizer.from_pretrained(tmp)

    g = torch.Generator().manual_seed(args.seed)
    t = torch.arange(480_000) / 48_000
    waves = [
        0.3 * torch.randn(480_000, generator=g),  # exactly 10 s
        0.5 * torch.sin(2 * torch.pi * 440 * t[:96_000]),  # 2 s: repeated to 10 s
        0.2 * torch.randn(130_001, generator=g),  # repeated 3 times, then zero-padded
    ]
    with torch.no_grad():
        quantised = [(w.clamp(-1, 1) * 32767.0).to(torch.int16) / 32767.0 for w in waves]
        features = [
            get_audio_features({}, q.float(), 480000, "rand_trunc", "repeatpad", cfg["audio_cfg"])
            for q in quantised
        ]
        their_audio = theirs.get_audio_embedding(features)
        our_audio = torch.cat([ours.audio_embedding(w[None]) for w in waves])
        texts = ["a dog barking", "the bass guitar and drums", "vocals"]
        their_text = theirs.get_text_embedding(
            dict(
                tokenizer(
                    texts, padding="max_length", truncation=True, max_length=77, return_tensors="pt"
                )
            )
        )
        our_text = ours.text_embedding(texts)
    audio_diff = float((their_audio - our_audio).abs().max())
    text_diff = float((their_text - our_text).abs().max())
    print(f"audio embedding (3 clips, 512-d, unit length): max abs difference {audio_diff:.3g}")
    print(f"text embedding (3 texts, 512-d, unit length): max abs difference {text_diff:.3g}")
    cosine = float((their_audio * our_audio).sum(-1).min())
    print(f"lowest cosine between the two audio embeddings of one clip: {cosine:.6f}")
    spread = float((their_audio[:, None] - their_audio[None]).abs().max())
    print(f"for scale: max abs difference between the embeddings of different clips {spread:.3g}")


if __name__ == "__main__":
    main()
