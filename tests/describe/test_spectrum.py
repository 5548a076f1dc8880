"""Spectral dimensions: participation ratio, effective rank, RankMe, alpha-ReQ, spectrum decay."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError


def _with_spectrum(lam: np.ndarray, n: int = 200, seed: int = 0) -> np.ndarray:
    """n points whose covariance eigenvalues (ddof=1) are exactly ``lam``, in a random basis."""
    g = np.random.default_rng(seed)
    d = len(lam)
    A = g.normal(size=(n, d))
    A -= A.mean(0)
    Q, _ = np.linalg.qr(A)  # orthonormal, centred columns
    R, _ = np.linalg.qr(g.normal(size=(d, d)))
    return 3.0 + Q * np.sqrt(lam * (n - 1)) @ R


def test_participation_ratio_formula_and_both_forms():
    lam = np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    X = _with_spectrum(lam)
    assert rl.describe(X, "participation_ratio") == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-10)
    wide = np.random.default_rng(1).normal(size=(8, 30))  # n < d: the n x n Gram form
    ev = np.linalg.eigvalsh(np.cov(wide.T))
    assert rl.describe(wide, "participation_ratio") == pytest.approx(ev.sum() ** 2 / (ev**2).sum(), rel=1e-9)


def test_alpha_req_recovers_a_power_law():
    i = np.arange(1, 21)
    for alpha in (0.8, 1.0, 2.0):
        X = _with_spectrum(i**-alpha)
        assert rl.describe(X, "alpha_req") == pytest.approx(alpha, rel=1e-9)
        assert rl.describe(X, "alpha_req", start=3, stop=15) == pytest.approx(alpha, rel=1e-9)


def test_effective_rank_and_rankme():
    g = np.random.default_rng(2)
    Q, _ = np.linalg.qr(g.normal(size=(50, 6)))
    assert rl.describe(Q, "effective_rank") == pytest.approx(6.0, rel=1e-12)  # equal singular values
    assert rl.describe(Q, "rankme") == pytest.approx(6.0, rel=1e-5)  # + eps in every p_k
    s = np.array([4.0, 2.0, 1.0, 1.0])
    p = s / s.sum()
    X = Q[:, :4] * s
    assert rl.describe(X, "effective_rank") == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-12)
    pe = p + 1e-7
    assert rl.describe(X, "rankme") == pytest.approx(np.exp(-(pe * np.log(pe)).sum()), rel=1e-12)
    assert rl.describe(X + 5, "effective_rank", center=True) == pytest.approx(
        rl.describe(X - X.mean(0), "effective_rank"), rel=1e-10
    )


def test_spectrum_summary():
    lam = np.array([6.0, 2.0, 1.0, 0.6, 0.4])
    res = rl.describe(_with_spectrum(lam), "spectrum")
    np.testing.assert_allclose(res["explained_variance_ratio"], lam / lam.sum(), rtol=1e-10)
    assert (res["n50"], res["n90"], res["n99"]) == (1, 3, 5)  # 0.6, 0.8, 0.9, 0.96, 1
    assert res["participation_ratio"] == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-10)


def test_errors():
    with pytest.raises(ReprlabError, match="zero variance"):
        rl.describe(np.ones((10, 3)), "participation_ratio")
    with pytest.raises(ReprlabError, match="zero variance"):
        rl.describe(np.zeros((10, 3)), "rankme")
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ReprlabError, match="needs at least two nonzero eigenvalues"):
        rl.describe(X, "alpha_req", start=3)
    with pytest.raises(ReprlabError, match="'stop' parameter of 'alpha_req' must be an integer >= 2"):
        rl.describe(X, "alpha_req", stop=1)
