"""The Perception Encoder audio transformer against transformers' own port of it.

transformers' ``PeAudioEncoder`` is an independent implementation of the same encoder
(its own names: ``patch_embedder``, ``class_embedding``). With the same random weights,
renamed, both must give the same frames and pooled output; with another RoPE theta they
must not (so the comparison can fail). The released PE checkpoints are not run here.
"""

from __future__ import annotations

import pytest
import torch

from samaudio_daw.separation.sam_audio.pe_transformer import PeShape, PeTransformer

transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "PeAudioEncoder"):
    pytest.skip("this transformers has no PeAudioEncoder (added in 5.x)", allow_module_level=True)


def _pair(max_positions: int) -> tuple[PeTransformer, torch.nn.Module]:
    torch.manual_seed(0)
    config = transformers.PeAudioEncoderConfig(
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        head_dim=16,
        dac_config={"encoder_hidden_size": 8, "downsampling_ratios": [2, 2], "codebook_dim": 16},
    )
    theirs = transformers.PeAudioEncoder(config).eval()
    for p in theirs.parameters():
        torch.nn.init.normal_(p, std=0.2)
    shape = PeShape(
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=max_positions,
    )
    ours = PeTransformer(shape).eval()
    renamed = {
        k.replace("patch_embedder.class_embedding", "embeddings.cls_token").replace(
            "patch_embedder.", "embeddings."
        ): v
        for k, v in theirs.state_dict().items()
        if not k.startswith("embedder.")
    }
    ours.load_state_dict(renamed, strict=True)
    return ours, theirs


def _theirs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    h, _ = model.patch_embedder(x)
    rope = model.rotary_emb(h, torch.arange(h.shape[1])[None])
    for layer in model.layers:
        h = layer(h, attention_mask=None, position_embeddings=rope)
    return model.output(model.norm(h))


@torch.no_grad()
def test_matches_transformers_port_and_fails_with_another_rope() -> None:
    x = torch.randn(2, 37, 64, generator=torch.Generator().manual_seed(1))
    ours, theirs = _pair(max_positions=10_000)  # theta 20 000, the port's default
    pooled, frames = ours(x)
    expected = _theirs(theirs, x)
    assert expected.abs().mean() > 0.05
    torch.testing.assert_close(pooled, expected[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(frames, expected[:, 1:], atol=1e-5, rtol=1e-5)

    other, _ = _pair(max_positions=3_000)  # theta 10 000
    assert (other(x)[1] - expected[:, 1:]).abs().max() > 1e-3


def test_shape_reads_config_sections_and_leaves_the_rest() -> None:
    shape = PeShape.from_dict({"hidden_size": 32, "num_attention_heads": 2, "rope_theta": 5.0})
    assert (shape.hidden_size, shape.head_dim, shape.rope_theta) == (32, 16, 20_000.0)
