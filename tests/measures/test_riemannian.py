"""riemannian: wrongu/repsim parity, the +inf case raised, the PCA-truncation peer bug, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import eigh

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.measures.riemannian import affine_invariant_distance
from tests.conftest import assert_oracle, oracle_inputs, oracle_records
from tests.measures._props import check_declared_properties


@pytest.mark.parametrize(
    "measure_id, params",
    [
        ("riemannian.affine_invariant.gram.kernel=linear.eps=0.1", {"eps": 0.1}),
        (
            "riemannian.affine_invariant.gram.kernel=sqexp_median.eps=0",
            {"kernel": "rbf", "sigma_scale": 1 / math.sqrt(2), "eps": 0.0},
        ),
        ("riemannian.affine_invariant.cov.p=20.eps=0", {"mode": "cov", "p": 20, "eps": 0.0}),
        ("riemannian.affine_invariant.cov.p=40.eps=0", {"mode": "cov", "p": 40, "eps": 0.0}),
        ("riemannian.affine_invariant.cov.p=64.eps=0", {"mode": "cov", "p": 64, "eps": 0.0}),
    ],
)
def test_matches_wrongu(measure_id, params):
    for rec in oracle_records(measure_id):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.riemannian(X, Y, **params), rec)


def test_linear_gram_without_ridge_raises_instead_of_inf():
    """wrongu returns +inf by design (a centred Gram matrix has rank <= n - 1); reprlab raises and says why."""
    for rec in oracle_records("riemannian.affine_invariant.gram.kernel=linear.eps=0"):
        assert rec["value"] == math.inf
        X, Y = oracle_inputs(rec)
        with pytest.raises(ReprlabError, match=r"singular \(rank \d+ < \d+\).*Use eps > 0"):
            rl.measures.riemannian(X, Y, eps=0.0)


def test_pca_truncation_uses_the_principal_axes():
    """wrongu truncates with ``x @ v[:, :p]`` where torch's svd returns V^T (not V): not the principal axes.

    reprlab projects onto the top-p principal axes, so its value differs from the recorded one; the
    recorded value is reproduced by the peer's columns of V^T, which explains the difference.
    """
    (rec,) = oracle_records("riemannian.affine_invariant.cov.p=15.eps=0")
    X, Y = oracle_inputs(rec)  # X has 30 features, Y 15
    n = X.shape[0]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    _, _, Vh = np.linalg.svd(Xc)
    cov = lambda A: torch.tensor(A.T @ A / (n - 1))  # noqa: E731
    peer = affine_invariant_distance(cov(Xc @ Vh[:, :15]), cov(Yc))
    assert float(peer) == pytest.approx(rec["value"], rel=1e-9)
    correct = affine_invariant_distance(cov(Xc @ Vh[:15].T), cov(Yc))
    got = rl.measures.riemannian(X, Y, mode="cov", p=15, eps=0.0)
    assert got == pytest.approx(float(correct), rel=1e-10)
    assert abs(got - rec["value"]) > 0.1


def test_generalised_eigenvalue_formula(rng):
    X, Y = rng.normal(size=(20, 4)), rng.normal(size=(20, 6))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    A, B = Xc @ Xc.T + 0.3 * np.eye(20), Yc @ Yc.T + 0.3 * np.eye(20)
    lam = eigh(B, A, eigvals_only=True)
    want = np.sqrt(np.sum(np.log(lam) ** 2))
    assert rl.compare(X, Y, "riemannian", eps=0.3) == pytest.approx(want, rel=1e-10)
    # p = None takes the smaller width (4); the wider one is PCA-truncated.
    assert rl.compare(X, Y, "riemannian(mode=cov, eps=0)") == pytest.approx(
        rl.compare(X, Y, "riemannian", mode="cov", p=4, eps=0.0), rel=1e-12
    )


def test_declared_properties():
    g = np.random.default_rng(14)
    X, Y, Z = (g.normal(size=(40, w)) for w in (6, 8, 10))
    # mode='cov' with p=None compares min(d_X, d_Y) principal axes; compare equal widths there.
    check_declared_properties("riemannian", X, Y, Z, rtol=1e-6)


def test_errors(rng):
    X = rng.normal(size=(12, 3))
    with pytest.raises(ReprlabError, match=r"5 x 5 covariance \(\+ 0.0 I\) of a representation is singular"):
        rl.compare(X, X, "riemannian", mode="cov", p=5, eps=0.0)
    with pytest.raises(ReprlabError, match="median heuristic gives a bandwidth of 0"):
        rl.compare(X, np.ones((12, 2)), "riemannian", kernel="rbf")
    with pytest.raises(ReprlabError, match="'p' parameter of 'riemannian' must be a positive integer"):
        rl.compare(X, X, "riemannian", mode="cov", p=0)
