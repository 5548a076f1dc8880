"""Activation statistics: sparsity, dead units, massive activations, anisotropy, uniformity, alignment,
coding rate and rate reduction."""

from __future__ import annotations

import math

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError


def test_one_hot_code_sparsity():
    y = np.arange(40) % 10
    X = np.eye(10)[y]  # 40 one-hot rows over 10 units
    res = rl.describe(X, "sparsity", top_fraction=0.2)
    assert res["fraction_zero"] == pytest.approx(0.9)
    assert res["n_top_units"] == 2 and res["top_mass"] == pytest.approx(0.2)  # every unit fires equally
    X[:, 3] = 0  # unit 3 never fires
    assert rl.describe(X, "dead_units") == {"count": 1, "fraction": 0.1, "indices": [3]}
    assert rl.describe(X * 1e-4, "sparsity", threshold=1e-3)["fraction_zero"] == 1.0


def test_massive_activations_found_with_their_units():
    g = np.random.default_rng(0)
    X = g.normal(size=(30, 20))
    X[4, 7], X[9, 7], X[2, 15] = 900.0, -500.0, 300.0
    res = rl.describe(X, "massive_activations")
    assert res["count"] == 3 and res["units"] == [7, 15]
    assert res["largest"][0] == (900.0, 4, 7) and res["largest"][1] == (-500.0, 9, 7)
    assert res["median_abs"] == pytest.approx(np.median(np.abs(X)))
    assert rl.describe(X, "massive_activations", min_value=600.0)["count"] == 1
    relu = np.maximum(g.normal(size=(30, 20)) - 1.0, 0.0)
    with pytest.raises(ReprlabError, match=r"median \|activation\| is 0.*nonzero=True"):
        rl.describe(relu, "massive_activations")
    assert rl.describe(relu, "massive_activations", nonzero=True)["count"] == 0


def test_anisotropy_uniformity_alignment_against_brute_force():
    g = np.random.default_rng(1)
    X = g.normal(size=(25, 5)) + 0.5
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = U @ U.T
    n = len(X)
    assert rl.describe(X, "anisotropy") == pytest.approx((C.sum() - n) / (n * (n - 1)), rel=1e-12)
    assert rl.describe(np.tile(X[:1], (5, 1)), "anisotropy") == pytest.approx(1.0)
    D2 = ((U[:, None] - U[None]) ** 2).sum(-1)
    iu = np.triu_indices(n, 1)
    assert rl.describe(X, "uniformity") == pytest.approx(np.log(np.mean(np.exp(-2 * D2[iu]))), rel=1e-12)
    y = np.arange(n) % 3
    same = y[iu[0]] == y[iu[1]]
    want = np.mean(D2[iu][same])
    assert rl.describe(X, "alignment", labels=y) == pytest.approx(want, rel=1e-12)
    pairs = np.array([[0, 1], [2, 5]])
    want = np.mean(np.sqrt(D2[pairs[:, 0], pairs[:, 1]]) ** 3)
    assert rl.describe(X, "alignment", pairs=pairs, alpha=3.0) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("shape", [(30, 6), (6, 30)])
def test_coding_rate_and_rate_reduction(shape):
    g = np.random.default_rng(2)
    Z = g.normal(size=shape)
    n, d = shape
    want = 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * 0.5) * Z.T @ Z)[1]
    assert rl.describe(Z, "coding_rate") == pytest.approx(want, rel=1e-10)
    assert rl.describe(Z, "rate_reduction", labels=np.zeros(n)) == pytest.approx(0.0, abs=1e-10)
    y = np.arange(n) % 2
    within = sum(
        (y == j).sum()
        / n
        * 0.5
        * np.linalg.slogdet(np.eye(d) + d / ((y == j).sum() * 0.5) * Z[y == j].T @ Z[y == j])[1]
        for j in (0, 1)
    )
    assert rl.describe(Z, "rate_reduction", labels=y) == pytest.approx(want - within, rel=1e-10)


def test_errors():
    X = np.random.default_rng(3).normal(size=(10, 4))
    Z = X.copy()
    Z[2] = 0
    with pytest.raises(ReprlabError, match="1 row\\(s\\) of `X` are all zeros"):
        rl.describe(Z, "anisotropy")
    with pytest.raises(ReprlabError, match=r"give `labels`.*or `pairs`"):
        rl.describe(X, "alignment")
    with pytest.raises(ReprlabError, match="no positive pair"):
        rl.describe(X, "alignment", labels=np.arange(10))
    with pytest.raises(ReprlabError, match=r"outside 0\.\.9"):
        rl.describe(X, "alignment", pairs=np.array([[0, 10]]))
    with pytest.raises(ReprlabError, match="all zeros"):
        rl.describe(np.zeros((5, 3)), "sparsity")
    with pytest.raises(ReprlabError, match="rate_reduction needs `labels`"):
        rl.describe(X, "rate_reduction")
    with pytest.raises(ReprlabError, match="`labels` has 3 entries"):
        rl.describe(X, "rate_reduction", labels=[0, 1, 0])
    assert math.isfinite(rl.describe(X, "uniformity", normalize=False, t=0.5))
