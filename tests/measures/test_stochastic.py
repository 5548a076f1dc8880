"""stochastic_shape: netrep parity (gaussian alpha 0/1/2, energy), the groups netrep crashes on, optimality, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.linalg import expm, sqrtm
from scipy.stats import ortho_group

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.measures.stochastic import _gaussian_loss, _prepare, stochastic_shape_from_moments
from tests.conftest import oracle_case, oracle_inputs, oracle_records
from tests.measures._props import check_declared_properties

CASE = "stochastic_c10_r8_n5"


def bures_sq(A, B):
    ra = sqrtm(A).real
    return np.trace(A) + np.trace(B) - 2 * np.trace(sqrtm(ra @ B @ ra).real)


def gaussian_reference(X, Y, alpha, T):
    """The Gaussian stochastic distance for a fixed transform T (y -> y T), with scipy's sqrtm."""
    mx, my = X.mean(1), Y.mean(1)
    terms = []
    for c in range(X.shape[0]):
        Sx, Sy = np.cov(X[c].T), T.T @ np.cov(Y[c].T) @ T
        terms.append(alpha * np.sum((mx[c] - my[c] @ T) ** 2) + (2 - alpha) * bures_sq(Sx, Sy))
    return np.sqrt(np.mean(terms))


def energy_reference(X, Y, T):
    """netrep's energy estimator for a fixed transform T, written with explicit loops over repeats."""
    r = X.shape[1]
    d_xy = np.mean([np.mean([np.linalg.norm(x - y @ T) for x in X[c] for y in Y[c]]) for c in range(len(X))])
    pairs = list(itertools.combinations(range(r), 2))
    d_xx = np.mean([np.mean([np.linalg.norm(X[c][i] - X[c][j]) for i, j in pairs]) for c in range(len(X))])
    d_yy = np.mean([np.mean([np.linalg.norm(Y[c][i] - Y[c][j]) for i, j in pairs]) for c in range(len(Y))])
    return np.sqrt(max(0.0, d_xy - (d_xx + d_yy) / 2))


@pytest.mark.parametrize("alpha", [0, 1, 2])
def test_gaussian_matches_netrep(alpha):
    """netrep fits iteratively (exact: false): agreement to 1e-5 relative (observed ~1e-9)."""
    (rec,) = oracle_records(f"stochastic_shape.gaussian.alpha={alpha}.group=orth")
    got = stochastic_shape_from_moments(*oracle_inputs(rec), alpha=float(alpha))
    assert got == pytest.approx(rec["value"], rel=1e-5)
    # The same from the raw repeats (means over repeats, covariances with ddof=1, as the case was built).
    arrays = oracle_case(CASE)
    assert rl.compare(arrays["X"], arrays["Y"], "stochastic_shape", alpha=float(alpha)) == pytest.approx(got, rel=1e-10)


def test_energy_matches_netrep():
    """netrep stops its reweighted Procrustes at a loss change of 1e-6; reprlab converges further (~6e-6 apart)."""
    (rec,) = oracle_records("stochastic_shape.energy.group=orth")
    X, Y = oracle_inputs(rec)
    assert rl.compare(X, Y, "stochastic_shape", method="energy") == pytest.approx(rec["value"], rel=1e-4)


@pytest.mark.parametrize("method", ["gaussian", "energy"])
def test_identity_group_netrep_crashes_on(method):
    """netrep raises for group='identity' (README bug 8, skipped records): the closed form with T = I."""
    mid = (
        "stochastic_shape.gaussian.alpha=1.group=identity"
        if method == "gaussian"
        else "stochastic_shape.energy.group=identity"
    )
    for rec in oracle_records(mid, status="skipped"):
        assert "Einstein sum" in rec["error"]
    arrays = oracle_case(CASE)
    X, Y = arrays["X"], arrays["Y"]
    got = rl.compare(X, Y, "stochastic_shape", method=method, group="identity")
    eye = np.eye(X.shape[-1])
    want = gaussian_reference(X, Y, 1.0, eye) if method == "gaussian" else energy_reference(X, Y, eye)
    assert got == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize("method", ["gaussian", "energy"])
def test_perm_group_recovers_a_planted_permutation(method):
    """group='perm' (netrep crashes, README bug 8): equals the brute-force minimum over all 4! permutations."""
    g = np.random.default_rng(21)
    X = g.normal(size=(12, 6, 4)) + 2 * g.normal(size=(12, 1, 4))
    Y = X[..., g.permutation(4)] + 0.2 * g.normal(size=X.shape)
    ref = gaussian_reference if method == "gaussian" else energy_reference
    args = (1.0,) if method == "gaussian" else ()
    brute = min(ref(X, Y, *args, T=np.eye(4)[:, list(p)]) for p in itertools.permutations(range(4)))
    got = rl.compare(X, Y, "stochastic_shape", method=method, group="perm")
    assert got == pytest.approx(brute, rel=1e-8)
    assert got < rl.compare(X, Y, "stochastic_shape", method=method, group="identity")


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.7])
def test_orth_fit_is_stationary_and_matches_the_formula(alpha):
    """The fitted T is a local minimum (no small rotation lowers the loss) and the value is the formula at T."""
    g = np.random.default_rng(22)
    X = g.normal(size=(8, 10, 3)) * np.array([1.0, 0.5, 2.0]) + g.normal(size=(8, 1, 3))
    Y = X @ ortho_group.rvs(3, random_state=1) * 1.2 + 0.4 * g.normal(size=X.shape)
    mX, cX, mY, cY = X.mean(1), np.stack([np.cov(x.T) for x in X]), Y.mean(1), np.stack([np.cov(y.T) for y in Y])
    value, T = stochastic_shape_from_moments(mX, cX, mY, cY, alpha=alpha, return_transform=True)
    np.testing.assert_allclose(T.T @ T, np.eye(3), atol=1e-10)
    assert value == pytest.approx(gaussian_reference(X, Y, alpha, T), rel=1e-8)
    sx = _prepare(torch.tensor(X), method="gaussian")
    sy = _prepare(torch.tensor(Y), method="gaussian")
    for _ in range(20):
        A = g.normal(size=(3, 3))
        R = expm(1e-3 * (A - A.T))
        assert float(_gaussian_loss(sx, sy, torch.tensor(T @ R), alpha)) >= value**2 - 1e-12


def test_rotated_copy_is_at_distance_zero():
    g = np.random.default_rng(23)
    X = g.normal(size=(6, 5, 3))
    Y = X @ ortho_group.rvs(3, random_state=2)
    assert rl.compare(X, Y, "stochastic_shape") == pytest.approx(0.0, abs=1e-6)
    assert rl.compare(X, Y, "stochastic_shape", method="energy") == pytest.approx(0.0, abs=1e-6)


def test_singular_covariances_are_clipped():
    """Repeats <= features: singular sample covariances; netrep returns NaN there, reprlab a finite value."""
    g = np.random.default_rng(24)
    X, Y = g.normal(size=(5, 3, 6)), g.normal(size=(5, 3, 6))
    assert np.isfinite(rl.compare(X, Y, "stochastic_shape"))


def test_different_widths_are_zero_padded():
    g = np.random.default_rng(25)
    X = g.normal(size=(6, 5, 3))
    Y = np.concatenate([X, np.zeros((6, 5, 2))], axis=2) @ ortho_group.rvs(5, random_state=3)
    assert rl.compare(X, Y, "stochastic_shape") == pytest.approx(0.0, abs=1e-6)


def test_declared_properties():
    g = np.random.default_rng(26)
    X, Y, Z = (g.normal(size=(8, 4, 3)) + g.normal(size=(8, 1, 3)) for _ in range(3))
    check_declared_properties("stochastic_shape", X, Y, Z, rtol=1e-6, atol=1e-8)


def test_errors():
    g = np.random.default_rng(27)
    X = g.normal(size=(6, 4, 3))
    with pytest.raises(ReprlabError, match="The repeats axis is missing"):
        rl.compare(X[:, 0], X[:, 0], "stochastic_shape")
    with pytest.raises(ReprlabError, match=r"has 1 repeat per condition .* at least 2 repeats"):
        rl.compare(X[:, :1], X[:, :1], "stochastic_shape")
    with pytest.raises(ReprlabError, match="same rows"):
        rl.compare(X, X[:5], "stochastic_shape")
    with pytest.raises(ReprlabError, match="'alpha' parameter of 'stochastic_shape' must be a number in \\[0, 2\\]"):
        rl.compare(X, X, "stochastic_shape", alpha=2.5)
    with pytest.raises(ReprlabError, match=r"group='identity'.* needs the same number of units; got 3 and 2"):
        rl.compare(X, X[..., :2], "stochastic_shape", group="identity")
    m, c = X.mean(1), np.stack([np.cov(x.T) for x in X])
    with pytest.raises(ReprlabError, match=r"`covs_y` must have shape .* = \(6, 3, 3\)"):
        stochastic_shape_from_moments(m, c, m, c[:, :2, :2])
    with pytest.raises(ReprlabError, match="`covs_x` must hold symmetric"):
        stochastic_shape_from_moments(m, c + np.triu(np.ones((3, 3)), 1), m, c)
    with pytest.raises(ReprlabError, match="`covs_x` must hold positive semi-definite"):
        stochastic_shape_from_moments(m, c - 10 * np.eye(3), m, c)
    with pytest.raises(ReprlabError, match="same conditions in the same order; got 6 and 5"):
        stochastic_shape_from_moments(m, c, m[:5], c[:5])
    with pytest.raises(ReprlabError, match="`means_x` must be a 2-D array"):
        stochastic_shape_from_moments(X, c, m, c)
