"""Pooling of token sequences and feature maps, checked against direct loops over real tokens."""

from __future__ import annotations

import pytest
import torch

from reprlab.capture.pooling import POOLINGS, check_fits, check_pool, pool_output
from reprlab.errors import ReprlabError

LENGTHS = [3, 5, 1, 4]


def _tokens(side: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """A padded (B, T, D) batch with the given padding side, its mask, and the unpadded sequences."""
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randn(n, 6, generator=g, dtype=torch.float64) for n in LENGTHS]
    t = max(LENGTHS)
    h = torch.full((len(seqs), t, 6), 99.0, dtype=torch.float64)  # padding holds junk
    mask = torch.zeros(len(seqs), t, dtype=torch.long)
    for i, s in enumerate(seqs):
        sl = slice(0, len(s)) if side == "right" else slice(t - len(s), t)
        h[i, sl] = s
        mask[i, sl] = 1
    return h, mask, seqs


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_poolings_use_only_real_tokens(side):
    h, mask, seqs = _tokens(side)
    torch.testing.assert_close(pool_output(h, "mean", mask), torch.stack([s.mean(0) for s in seqs]))
    torch.testing.assert_close(pool_output(h, "max", mask), torch.stack([s.amax(0) for s in seqs]))
    torch.testing.assert_close(pool_output(h, "last", mask), torch.stack([s[-1] for s in seqs]))
    torch.testing.assert_close(pool_output(h, "first", mask), torch.stack([s[0] for s in seqs]))
    rows, stim, pos = pool_output(h, "none", mask)
    torch.testing.assert_close(rows, torch.cat(seqs))
    assert stim.tolist() == [i for i, n in enumerate(LENGTHS) for _ in range(n)]
    assert pos.tolist() == [p for n in LENGTHS for p in range(n)]


def test_left_and_right_padding_agree():
    for pool in ("mean", "last", "first", "max"):
        hr, mr, _ = _tokens("right")
        hl, ml, _ = _tokens("left")
        torch.testing.assert_close(pool_output(hr, pool, mr), pool_output(hl, pool, ml))


def test_tokens_without_mask_use_every_position():
    h = torch.randn(2, 3, 4)
    torch.testing.assert_close(pool_output(h, "mean", None), h.mean(1))
    torch.testing.assert_close(pool_output(h, "max", None), h.amax(1))
    torch.testing.assert_close(pool_output(h, "first", None), h[:, 0])
    torch.testing.assert_close(pool_output(h, "last", None), h[:, -1])
    torch.testing.assert_close(pool_output(h, "flatten", None), h.reshape(2, 12))
    rows, stim, pos = pool_output(h, "none", None)
    torch.testing.assert_close(rows, h.reshape(6, 4))
    assert stim.tolist() == [0, 0, 0, 1, 1, 1] and pos.tolist() == [0, 1, 2, 0, 1, 2]


def test_feature_maps():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(pool_output(x, "spatial_mean", None), x.mean(dim=(2, 3)))
    torch.testing.assert_close(pool_output(x, "mean", None), x.mean(dim=(2, 3)))
    torch.testing.assert_close(pool_output(x, "max", None), x.amax(dim=(2, 3)))
    torch.testing.assert_close(pool_output(x, "flatten", None), x.reshape(2, 60))
    rows, stim, pos = pool_output(x, "none", None)
    assert rows.shape == (40, 3)
    torch.testing.assert_close(rows[7], x[0, :, 1, 2])  # position 7 = row 1, column 2
    assert stim[7] == 0 and pos[7] == 7 and stim[27] == 1 and pos[27] == 7


def test_vectors_pass_through():
    v = torch.randn(3, 4)
    for pool in ("mean", "last", "first", "max", "spatial_mean", "flatten"):
        check_fits(tuple(v.shape), pool, "fc", None)
        assert pool_output(v, pool, None) is v
    rows, stim, pos = pool_output(v, "none", None)
    assert rows is v and stim.tolist() == [0, 1, 2] and pos.tolist() == [0, 0, 0]


def test_pooling_that_does_not_fit_the_shape():
    with pytest.raises(ReprlabError, match="needs a token sequence"):
        check_fits((2, 3, 4, 5), "last", "conv", None)
    with pytest.raises(ReprlabError, match="is for convolutional maps"):
        check_fits((2, 7, 4), "spatial_mean", "layer", None)
    with pytest.raises(ReprlabError, match="pool='none' to keep every token"):
        check_fits((2, 7, 4), "flatten", "layer", torch.ones(2, 7))
    with pytest.raises(ReprlabError, match="token axis does not match"):
        check_fits((2, 5, 4), "mean", "layer", torch.ones(2, 7))
    with pytest.raises(ReprlabError, match=r"returned an output of shape \(2,\)"):
        check_fits((2,), "mean", "layer", None)


def test_unknown_pooling_suggests():
    assert set(POOLINGS) >= {"mean", "last", "first", "max", "none", "spatial_mean", "flatten"}
    with pytest.raises(ReprlabError, match="Did you mean 'mean'"):
        check_pool("maen")
