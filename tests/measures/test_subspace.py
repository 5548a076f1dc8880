"""eigenspace_overlap and gulp: ReSi parity, independent formulas, properties, errors."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_inputs, oracle_records
from tests.measures._props import check_declared_properties


def test_matches_resi():
    for rec in oracle_records("gulp.lambda=0"):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.gulp(X, Y), rec)
    for rec in oracle_records("eigenspace_overlap"):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.eigenspace_overlap(X, Y), rec)


def _gulp_covariance_form(X, Y, lam):
    """The GULP formula in covariance form (Boix-Adsera et al. 2022), with explicit inverses."""
    n = X.shape[0]

    def norm(A):
        A = A - A.mean(0)
        return A * np.sqrt(n) / np.linalg.norm(A)

    X, Y = norm(X), norm(Y)
    Sx, Sy, Sxy = X.T @ X / n, Y.T @ Y / n, X.T @ Y / n
    Ix, Iy = np.linalg.inv(Sx + lam * np.eye(len(Sx))), np.linalg.inv(Sy + lam * np.eye(len(Sy)))
    t1 = np.trace((Sx @ Ix) @ (Sx @ Ix))
    t2 = np.trace((Sy @ Iy) @ (Sy @ Iy))
    t3 = np.trace(Ix @ Sxy @ Iy @ Sxy.T)
    return t1 + t2 - 2 * t3


@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.1, 2.0])
def test_gulp_equals_covariance_form(rng, lam):
    X = rng.normal(size=(60, 6))
    Y = X[:, :4] @ rng.normal(size=(4, 9)) + 0.5 * rng.normal(size=(60, 9))
    want = _gulp_covariance_form(X, Y, lam)
    assert rl.compare(X, Y, "gulp", lmbda=lam) == pytest.approx(want, rel=1e-9)
    assert rl.compare(X, Y, "gulp", lmbda=lam, squared=False) == pytest.approx(np.sqrt(want), rel=1e-9)


def test_gulp_zero_is_rank_sum_minus_canonical_correlations(rng):
    X, Y = rng.normal(size=(50, 5)), rng.normal(size=(50, 7))
    qx, _ = np.linalg.qr(X - X.mean(0))
    qy, _ = np.linalg.qr(Y - Y.mean(0))
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)
    assert rl.compare(X, Y, "gulp") == pytest.approx(5 + 7 - 2 * np.sum(rho**2), rel=1e-10)
    # A rank-deficient representation (d > n - 1) uses the pseudo-inverse: finite, and 0 against itself.
    W = rng.normal(size=(10, 30))
    assert np.isfinite(rl.compare(W, rng.normal(size=(10, 4)), "gulp"))
    assert rl.compare(W, W @ rng.normal(size=(30, 30)), "gulp") == pytest.approx(0.0, abs=1e-9)


def test_eigenspace_overlap_fresh_data(rng):
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 8))
    ux, uy = np.linalg.svd(X, full_matrices=False)[0], np.linalg.svd(Y, full_matrices=False)[0]
    want = np.linalg.norm(ux.T @ uy) ** 2 / 8
    assert rl.compare(X, Y, "eigenspace_overlap") == pytest.approx(want, rel=1e-12)
    # Column space of X inside that of Y: overlap = d_X / max(d_X, d_Y).
    Y2 = np.c_[X @ rng.normal(size=(5, 5)), rng.normal(size=(40, 3))]
    assert rl.compare(X, Y2, "eigenspace_overlap") == pytest.approx(5 / 8, rel=1e-12)


@pytest.mark.parametrize("name", ["eigenspace_overlap", "gulp"])
def test_declared_properties(name):
    g = np.random.default_rng(13)
    X, Y, Z = (g.normal(size=(40, w)) for w in (6, 8, 10))
    check_declared_properties(name, X, Y, Z)


def test_errors(rng):
    X = rng.normal(size=(12, 3))
    with pytest.raises(ReprlabError, match="gulp: a representation has zero variance"):
        rl.compare(X, np.ones((12, 2)), "gulp")
    with pytest.raises(ReprlabError, match="eigenspace_overlap: a representation is all zeros"):
        rl.compare(X, np.zeros((12, 2)), "eigenspace_overlap")
    with pytest.raises(ReprlabError, match="'lmbda' parameter of 'gulp' must be a number >= 0"):
        rl.compare(X, X, "gulp", lmbda=-1.0)
