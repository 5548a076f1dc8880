"""Neural collapse (NC1-NC4) and VCI: known answers, formulas against NumPy, errors."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError


def _simplex(C: int, d: int, seed: int = 0) -> np.ndarray:
    """C class means forming a simplex equiangular tight frame in R^d (rows)."""
    g = np.random.default_rng(seed)
    U, _ = np.linalg.qr(g.normal(size=(d, C)))
    return 10.0 * (np.eye(C) - 1.0 / C) @ U.T


def _features(means: np.ndarray, per_class: int, noise: float, seed: int = 1):
    g = np.random.default_rng(seed)
    C, d = means.shape
    y = np.repeat(np.arange(C), per_class)
    return means[y] + noise * g.normal(size=(len(y), d)), y


def test_collapsed_features_give_zero():
    M = _simplex(5, 12)
    H, y = _features(M, 20, 1e-6)
    res = rl.describe(H, "neural_collapse", labels=y, weights=M)
    assert res["nc1"] < 1e-10
    assert res["vci"] < 1e-10
    assert res["nc2_equinorm"] < 1e-6 and res["nc2_equiangle"] < 1e-6 and res["nc2_maxangle"] < 1e-6
    assert res["nc3"] == pytest.approx(0.0, abs=1e-12)  # the classifier equals the (centred) means
    assert res["nc4"] == 0.0 and res["ncc_accuracy"] == 1.0 and res["n_classes"] == 5
    assert rl.describe(H, "nc1", labels=y) == pytest.approx(res["nc1"], rel=1e-12)


def test_nc1_and_vci_formulas_against_numpy():
    g = np.random.default_rng(3)
    H = g.normal(size=(60, 7))
    y = g.integers(0, 4, size=60)
    y[:8] = np.arange(8) % 4  # every class present with >= 2 members
    classes = np.unique(y)
    mu_g = H.mean(0)
    means = np.stack([H[y == c].mean(0) for c in classes])
    Sw = sum(np.outer(h - means[c], h - means[c]) for h, c in zip(H, y)) / len(H)
    Sb = (means - mu_g).T @ (means - mu_g) / len(classes)
    nc1 = np.trace(Sw @ np.linalg.pinv(Sb)) / len(classes)
    assert rl.describe(H, "nc1", labels=y) == pytest.approx(nc1, rel=1e-9)
    counts = np.array([(y == c).sum() for c in classes])
    Sbw = ((means - mu_g).T * counts) @ (means - mu_g) / len(H)
    St = np.cov(H.T, bias=True)
    vci = 1 - np.trace(np.linalg.pinv(St) @ Sbw) / np.linalg.matrix_rank(Sbw)
    assert rl.describe(H, "vci", labels=y) == pytest.approx(vci, rel=1e-9)
    # labels of any kind, given as strings, give the same numbers
    assert rl.describe(H, "nc1", labels=np.array(["abcd"[c] for c in y])) == pytest.approx(nc1, rel=1e-9)


def test_nc4_counts_disagreement_with_the_classifier():
    M = _simplex(3, 6)
    H, y = _features(M, 10, 0.5)
    W = M.copy()
    W[[0, 1]] = W[[1, 0]]  # swap two classes' weights: the classifier now disagrees on those classes
    res = rl.describe(H, "neural_collapse", labels=y, weights=W, bias=np.zeros(3))
    ncc = np.argmin(((H[:, None] - np.stack([H[y == c].mean(0) for c in range(3)])[None]) ** 2).sum(-1), 1)
    assert res["nc4"] == pytest.approx(np.mean(np.argmax(H @ W.T, 1) != ncc))
    assert res["nc4"] > 0.5


def test_vci_invariant_to_invertible_linear_maps():
    g = np.random.default_rng(5)
    H, y = _features(_simplex(4, 6), 15, 2.0)
    A = g.normal(size=(6, 6))
    assert rl.describe(H @ A + 1, "vci", labels=y) == pytest.approx(rl.describe(H, "vci", labels=y), rel=1e-8)


def test_errors():
    H, y = _features(_simplex(3, 5), 4, 0.1)
    with pytest.raises(ReprlabError, match="`labels` has 11 entries but the representation has 12 rows"):
        rl.describe(H, "neural_collapse", labels=y[:-1])
    y1 = y.copy()
    y1[0] = 7  # class 7 has one member
    with pytest.raises(ReprlabError, match=r"at least 2 members in every class.*label 7 with 1"):
        rl.describe(H, "nc1", labels=y1)
    with pytest.raises(ReprlabError, match="at least 2 classes"):
        rl.describe(H, "neural_collapse", labels=np.zeros(12))
    with pytest.raises(ReprlabError, match="needs `labels`"):
        rl.describe(H, "neural_collapse")
    with pytest.raises(ReprlabError, match=r"`weights` must have shape \(n_classes, n_features\) = \(3, 5\)"):
        rl.describe(H, "neural_collapse", labels=y, weights=np.ones((2, 5)))
    with pytest.raises(ReprlabError, match="`bias` was given without `weights`"):
        rl.describe(H, "neural_collapse", labels=y, bias=np.zeros(3))
    with pytest.raises(ReprlabError, match=r"`bias` must have shape \(3,\)"):
        rl.describe(H, "neural_collapse", labels=y, weights=np.ones((3, 5)), bias=np.zeros(4))
