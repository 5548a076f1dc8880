"""MDL online code against a direct NumPy/SciPy implementation; feature_variance against rl.compare."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.probe.mdl import BLOCKS_PERCENT, transmission_order


def _numpy_codelength(X, y, K, order, C):
    """Voita & Titov's block schedule written out directly: standardise each prefix, fit the penalised
    multinomial logistic (weights and intercepts penalised) with SciPy, code the next block."""
    n, d = X.shape
    X, y = X[order], y[order]
    t = [max(1, int(np.floor(f * n / 100))) for f in BLOCKS_PERCENT]
    t[-1] = n
    bits = t[0] * np.log2(K)
    for i in range(len(t) - 1):
        Xp, yp = X[: t[i]], y[: t[i]]
        mu, sd = Xp.mean(0), Xp.std(0)
        sd[sd < 1e-12 * (1 + np.abs(mu))] = 1.0
        Z = (Xp - mu) / sd
        Y = np.eye(K)[yp]
        lam = 1.0 / (C * t[i])

        def f(theta, Z=Z, Y=Y, lam=lam):
            W, b = theta[: d * K].reshape(d, K), theta[d * K :]
            L = Z @ W + b
            m = L.max(1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(L - m).sum(1))
            P = np.exp(L - lse[:, None])
            val = np.mean(lse - (L * Y).sum(1)) + 0.5 * lam * ((W**2).sum() + (b**2).sum())
            G = (P - Y) / len(Y)
            return val, np.concatenate([(Z.T @ G + lam * W).ravel(), G.sum(0) + lam * b])

        opts = {"gtol": 1e-13, "ftol": 1e-16, "maxiter": 10000}
        res = minimize(f, np.zeros(d * K + K), jac=True, method="L-BFGS-B", options=opts)
        W, b = res.x[: d * K].reshape(d, K), res.x[d * K :]
        Lb = ((X[t[i] : t[i + 1]] - mu) / sd) @ W + b
        Lb = Lb - Lb.max(1, keepdims=True)
        logp = Lb - np.log(np.exp(Lb).sum(1, keepdims=True))
        bits += -logp[np.arange(len(Lb)), y[t[i] : t[i + 1]]].sum() / np.log(2)
    return bits


def test_mdl_codelength_equals_numpy_block_schedule():
    rng = np.random.default_rng(0)
    n, d, K = 600, 6, 3
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :K] * 2 + rng.gumbel(size=(n, K)), axis=1)
    r = rl.probe(X, y, kind="mdl", C=1.0, seed=4)
    ref = _numpy_codelength(X, y, K, transmission_order(n, None, 4), 1.0)
    assert r.codelength == pytest.approx(ref, rel=1e-6)
    assert r.uniform_codelength == pytest.approx(n * np.log2(K))
    assert r.compression == pytest.approx(n * np.log2(K) / ref, rel=1e-6)
    assert r.compression > 1.0


def test_mdl_random_labels_do_not_compress():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 5))
    r = rl.probe(X, rng.integers(0, 2, 500), kind="mdl", control="shuffle")
    assert r.compression < 1.05 and r.control_score < 1.05


def test_feature_variance_equals_linear_regression_y_to_x():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 20))
    f = rng.normal(size=150)
    X[:, :3] += np.outer(f, [1.0, -2.0, 0.5])
    fv = rl.feature_variance(X, {"f": f})
    ref = rl.compare(X, f.reshape(-1, 1), "linear_regression", direction="y_to_x")
    assert abs(fv.alone["f"] - ref) < 1e-10
    assert fv.unique["f"] == pytest.approx(fv.alone["f"], abs=1e-12)  # one feature: unique = alone
    c = rng.integers(0, 4, 150)
    fv2 = rl.feature_variance(X, {"f": f, "c": c})
    dummies = np.eye(4)[c][:, 1:]
    assert abs(fv2.alone["c"] - rl.compare(X, dummies, "linear_regression", direction="y_to_x")) < 1e-10
    both = rl.compare(X, np.c_[f, dummies], "linear_regression", direction="y_to_x")
    assert fv2.total == pytest.approx(both, abs=1e-10)
    assert fv2.unique["c"] == pytest.approx(both - fv2.alone["f"], abs=1e-10)
    assert fv2.unit_r2["f"].shape == (20,) and fv2.unit_r2["f"][1] > 0.5
    assert fv2.pc_share.shape[0] == 2 and fv2.decodability["f"] > 0.5


def test_feature_variance_bad_input():
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(ReprlabError, match="single value"):
        rl.feature_variance(X, {"c": np.zeros(30, dtype=int)})
    with pytest.raises(ReprlabError, match="one value per row"):
        rl.feature_variance(X, {"c": np.zeros(29)})
    with pytest.raises(ReprlabError, match="NaN"):
        rl.feature_variance(X, {"c": np.r_[np.zeros(29), np.nan]})
