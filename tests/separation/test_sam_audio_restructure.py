"""The load-time restructurings of the DiT are exact rearrangements of the checkpoint's maths.

The golden tests prove the whole model against the official outputs; these pin the pieces
(head order, fused projections, the dropped all-valid mask) on random tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from samaudio_daw.separation.sam_audio.dit import (
    attention_mask,
    head_major_rows,
    restructure,
    restructured_sources,
    split_heads,
)


def interleaved_split(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The official split (SPEC §10): channel c is head c mod H, position c div H."""
    batch, frames, dim = x.shape
    return x.reshape(batch, frames, dim // n_heads, n_heads).permute(0, 3, 1, 2)


def test_head_major_rows_make_the_split_a_view_of_the_same_heads() -> None:
    dim, heads = 48, 6
    weight = torch.randn(dim, 16)
    x = torch.randn(2, 5, 16)
    official = interleaved_split(x @ weight.T, heads)
    ours = split_heads(x @ weight[head_major_rows(dim, heads)].T, heads)
    assert torch.equal(ours, official)
    assert ours._base is not None  # a view, no copy


def test_fused_parameters_name_their_checkpoint_parts_in_order() -> None:
    assert restructured_sources("transformer.layers.0.attention.wqkv.weight") == (
        "transformer.layers.0.attention.wq.weight",
        "transformer.layers.0.attention.wk.weight",
        "transformer.layers.0.attention.wv.weight",
    )
    assert restructured_sources("transformer.layers.3.cross_attention.wkv.bias") == (
        "transformer.layers.3.cross_attention.wk.bias",
        "transformer.layers.3.cross_attention.wv.bias",
    )
    assert restructured_sources("transformer.t_embedder.projection.w13.weight") == (
        "transformer.t_embedder.projection.w1.weight",
        "transformer.t_embedder.projection.w3.weight",
    )
    assert restructured_sources("transformer.layers.0.feed_forward.w2.weight") is None
    assert restructured_sources("transformer.layers.0.attention.wo.weight") is None


def test_fused_swiglu_rows_are_w1_then_w3_unreordered() -> None:
    w1, w3 = torch.randn(8, 4), torch.randn(8, 4)
    fused = restructure("x.w13.weight", [w1, w3], n_heads=2)
    assert torch.equal(fused, torch.cat([w1, w3]))


def test_fused_qkv_reorders_each_part_head_major() -> None:
    q, k, v = torch.randn(3, 12, 4).unbind(0)
    fused = restructure("x.wqkv.weight", [q, k, v], n_heads=3)
    order = head_major_rows(12, 3)
    assert torch.equal(fused, torch.cat([q[order], k[order], v[order]]))


def test_no_mask_when_every_key_is_valid_and_the_same_attention() -> None:
    valid = torch.ones(2, 7, dtype=torch.bool)
    assert attention_mask(valid) is None
    q, k, v = torch.randn(3, 2, 4, 7, 8).unbind(0)
    masked = F.scaled_dot_product_attention(q, k, v, attn_mask=valid[:, None, None, :])
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v), masked)


def test_padding_keeps_its_mask() -> None:
    padded = torch.ones(2, 7, dtype=torch.bool)
    padded[1, 5:] = False
    mask = attention_mask(padded)
    assert mask is not None and mask.shape == (2, 1, 1, 7)
    assert not mask[1, 0, 0, 5:].any()
