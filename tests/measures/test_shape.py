"""Generalized shape metrics: parity with netrep and wrongu/repsim, independent checks, metric axioms, errors."""

from __future__ import annotations

import importlib
import itertools
import math
import re

import numpy as np
import pytest
import scipy.linalg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprlab as rl
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_doc, oracle_inputs, oracle_records

SHAPE_IDS = sorted({r["measure_id"] for r in oracle_doc()["records"] if r["measure_id"].startswith("shape_metric.")})


def params_of(measure_id: str) -> dict:
    """The reprlab parameters that an oracle id describes (parsed from its key=value tokens)."""
    p: dict = {"score": re.search(r"score=(\w+)", measure_id).group(1)}
    if measure_id.startswith("shape_metric.permutation."):
        p["group"] = "permutation"
    else:
        p["alpha"] = float(re.search(r"alpha=([0-9.]+?)\.score", measure_id).group(1))
    if ".whiten=cov_over_n.no_rescale." in measure_id:
        p["convention"] = "repsim"
        p["dim"] = int(re.search(r"\.p=(\d+)$", measure_id).group(1))
    return p


def test_every_shape_id_is_covered():
    assert len(SHAPE_IDS) >= 30
    for mid in SHAPE_IDS:
        params_of(mid)  # parses


@pytest.mark.parametrize("measure_id", SHAPE_IDS)
def test_shape_matches_peers(measure_id):
    params = params_of(measure_id)
    for rec in oracle_records(measure_id):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.shape(X, Y, **params), rec)


def _orth(d, g):
    Q, R = np.linalg.qr(g.normal(size=(d, d)))
    return Q * np.sign(np.diag(R))


def _pair(g, n=50, d1=7, d2=5):
    L = g.normal(size=(n, 3))
    X = L @ g.normal(size=(3, d1)) + 0.5 * g.normal(size=(n, d1)) + 1.0
    Y = np.tanh(L @ g.normal(size=(3, d2))) + 0.3 * g.normal(size=(n, d2))
    return X, Y


def _pad(A, w):
    return np.pad(A, ((0, 0), (0, w - A.shape[1])))


def test_procrustes_alignment_equals_scipy_fit():
    """alpha=1: distance of the explicitly aligned matrices (scipy orthogonal_procrustes)."""
    X, Y = _pair(np.random.default_rng(0))
    Xc, Yc = _pad(X - X.mean(0), 7), _pad(Y - Y.mean(0), 7)
    R, _ = scipy.linalg.orthogonal_procrustes(Xc, Yc)
    want = np.linalg.norm(Xc @ R - Yc)
    assert rl.measures.shape(X, Y, score="euclidean") == pytest.approx(want, rel=1e-10)
    cos = np.sum((Xc @ R) * Yc) / (np.linalg.norm(Xc) * np.linalg.norm(Yc))
    assert rl.measures.shape(X, Y) == pytest.approx(math.acos(cos), rel=1e-10)


def _whiten_netrep(Xc, alpha, width):
    """netrep's whitening written from its documented formula on the zero-padded D x D covariance."""
    A = _pad(Xc, width)
    lam, V = np.linalg.eigh(A.T @ A)
    lam = np.maximum(lam, 1e-7)
    d = alpha + (1 - alpha) / np.sqrt(lam)
    new_var = np.sum((alpha * np.sqrt(lam) + 1 - alpha) ** 2)
    d = d * np.sqrt(lam.sum() / new_var)
    return A @ V @ np.diag(d) @ V.T


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.8])
def test_partial_whitening_equals_explicit_netrep_formula(alpha):
    X, Y = _pair(np.random.default_rng(1), d1=6, d2=4)
    Xw, Yw = _whiten_netrep(X - X.mean(0), alpha, 6), _whiten_netrep(Y - Y.mean(0), alpha, 6)
    R, _ = scipy.linalg.orthogonal_procrustes(Xw, Yw)
    want = np.linalg.norm(Xw @ R - Yw)
    assert rl.measures.shape(X, Y, alpha=alpha, score="euclidean") == pytest.approx(want, rel=1e-9)


def test_netrep_convention_preserves_variance_at_full_rank():
    """For full-rank data of equal widths the rescaled whitening keeps |Xw|_F = |Xc|_F."""
    import torch

    from reprlab.measures.shape import whiten

    X = np.random.default_rng(2).normal(size=(30, 5)) @ np.diag([5, 2, 1, 0.5, 0.1])
    Xc = torch.tensor(X - X.mean(0))
    F, rescale = whiten(Xc, 0.4)
    assert float(torch.linalg.matrix_norm(F * rescale.factor(5))) == pytest.approx(float(torch.linalg.matrix_norm(Xc)))


def test_fully_whitened_angle_is_arccos_of_mean_canonical_correlation():
    """alpha=0, equal full-rank widths: cos(shape) = mean canonical correlation (both conventions)."""
    g = np.random.default_rng(3)
    X, Y = _pair(g, d1=5, d2=5)
    want = math.acos(rl.measures.cca(X, Y))
    assert rl.measures.shape(X, Y, alpha=0.0) == pytest.approx(want, rel=1e-9)
    assert rl.measures.shape(X, Y, alpha=0.0, convention="repsim") == pytest.approx(want, rel=1e-9)


def test_permutation_group_equals_brute_force():
    g = np.random.default_rng(4)
    X, Y = _pair(g, d1=5, d2=4)
    Xc, Yc = X - X.mean(0), _pad(Y - Y.mean(0), 5)
    best = max(np.sum(Xc[:, list(p)] * Yc) for p in itertools.permutations(range(5)))
    nx, ny = np.linalg.norm(Xc), np.linalg.norm(Yc)
    assert rl.measures.shape(X, Y, group="permutation") == pytest.approx(math.acos(best / (nx * ny)), rel=1e-10)
    want = math.sqrt(nx**2 + ny**2 - 2 * best)
    assert rl.measures.shape(X, Y, group="permutation", score="euclidean") == pytest.approx(want, rel=1e-10)


def test_euclidean_is_accurate_for_nearly_identical_shapes():
    g = np.random.default_rng(5)
    X = 1e3 * g.normal(size=(40, 8))
    Q = _orth(8, g)
    assert rl.measures.shape(X, X @ Q + 7.0, score="euclidean") < 1e-8
    assert rl.measures.shape(X, X @ Q, score="euclidean", alpha=0.5) < 1e-8
    assert rl.measures.shape(X, X @ Q) == pytest.approx(0.0, abs=1e-7)


def test_rank_deficient_input_is_finite_and_consistent():
    """Duplicated / collinear units: no NaN; fully whitened, they add nothing to the column space."""
    g = np.random.default_rng(6)
    X, Y = _pair(g, d1=4, d2=4)
    X_dup = np.hstack([X, X[:, :2] @ g.normal(size=(2, 3))])
    for params in ({"alpha": 0.0}, {"alpha": 0.0, "convention": "repsim"}):
        got = rl.measures.shape(X_dup, Y, **params)
        assert math.isfinite(got)
        assert got == pytest.approx(rl.measures.shape(X, Y, **params), rel=1e-8)
    for alpha in (0.5, 1.0):
        for score in ("angular", "euclidean"):
            assert math.isfinite(rl.measures.shape(X_dup, Y, alpha=alpha, score=score))


def test_repsim_projection_dim():
    """dim=p projects the wider representation onto its top p principal axes (wrongu's p)."""
    g = np.random.default_rng(7)
    X, Y = _pair(g, d1=9, d2=4)
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    Xp = Xc @ Vt[:4].T
    got = rl.measures.shape(X, Y, alpha=0.5, convention="repsim", dim=4)
    assert got == pytest.approx(rl.measures.shape(Xp, Y, alpha=0.5, convention="repsim"), rel=1e-10)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    alpha=st.floats(0.0, 1.0),
    score=st.sampled_from(["angular", "euclidean"]),
    convention=st.sampled_from(["netrep", "repsim"]),
)
def test_metric_axioms_for_any_alpha(seed, alpha, score, convention):
    """Triangle inequality, symmetry, identity for random alpha (representations of equal width)."""
    g = np.random.default_rng(seed)
    L = g.normal(size=(30, 3))
    X, Y, Z = (np.tanh(L @ g.normal(size=(3, 6))) + 0.4 * g.normal(size=(30, 6)) for _ in range(3))
    d = lambda a, b: rl.measures.shape(a, b, alpha=alpha, score=score, convention=convention)  # noqa: E731
    dxy, dyz, dxz = d(X, Y), d(Y, Z), d(X, Z)
    assert dxz <= dxy + dyz + 1e-9
    assert d(Y, X) == pytest.approx(dxy, rel=1e-9)
    assert d(X, X @ _orth(6, g) + 2.0) == pytest.approx(0.0, abs=1e-6)


def test_compare_all_prepares_once_and_matches_pairs(monkeypatch):
    shape_module = importlib.import_module("reprlab.measures.shape.core")
    g = np.random.default_rng(8)
    reps = {f"L{i}": g.normal(size=(30, 5 + i)) for i in range(4)}
    calls = []
    real = shape_module.whiten

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(shape_module, "whiten", counting)
    res = rl.compare_all(reps, None, "shape(alpha=0.5, score=euclidean)")
    assert len(calls) == 4  # one whitening per representation, not per pair
    for i, a in enumerate(reps):
        for j, b in enumerate(reps):
            want = rl.measures.shape(reps[a], reps[b], alpha=0.5, score="euclidean")
            assert res.values[i, j] == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_float32_agrees():
    rec = oracle_records("shape_metric.linear.alpha=0.5.score=angular")[0]
    X, Y = oracle_inputs(rec)
    got = rl.measures.shape(X.astype(np.float32), Y.astype(np.float32), alpha=0.5, dtype="float32")
    assert got == pytest.approx(rec["value"], rel=1e-4)


def test_degenerate_full_whitening_warns():
    g = np.random.default_rng(9)
    X, Y = g.normal(size=(10, 12)), g.normal(size=(10, 12))
    with pytest.warns(UserWarning, match=r"rank 9 = n - 1 .* degenerate"):
        d = rl.measures.shape(X, Y, alpha=0.0)
    assert d == pytest.approx(0.0, abs=1e-6)


def test_errors():
    g = np.random.default_rng(10)
    X = g.normal(size=(10, 3))
    with pytest.raises(ReprlabError, match=r"'alpha' parameter of 'shape' must be a number in \[0, 1\]"):
        rl.measures.shape(X, X, alpha=1.5)
    with pytest.raises(ReprlabError, match=r"'alpha' parameter of 'shape' must be a number in \[0, 1\]"):
        rl.measures.shape(X, X, alpha=-0.1)
    with pytest.raises(ReprlabError, match="'score' parameter of 'shape' must be one of 'angular', 'euclidean'"):
        rl.measures.shape(X, X, score="angle")
    with pytest.raises(ReprlabError, match="'group' parameter of 'shape' must be one of"):
        rl.measures.shape(X, X, group="rotation")
    with pytest.raises(ReprlabError, match="'dim' parameter of 'shape' must be None or a positive integer"):
        rl.measures.shape(X, X, dim=0)
    with pytest.raises(ReprlabError, match="at least 2 stimuli"):
        rl.measures.shape(X[:1], X[:1])
    with pytest.raises(ReprlabError, match=r"zero variance .* angular shape distance is undefined"):
        rl.measures.shape(X, np.ones((10, 2)))
    # A constant representation is the origin: its Euclidean distance is defined (|Yc|).
    Xc = X - X.mean(0)
    assert rl.measures.shape(np.ones((10, 2)), X, score="euclidean") == pytest.approx(np.linalg.norm(Xc))


@pytest.mark.parametrize("spread", [1.0, 1e-4, 1e-9])
def test_nuclear_norm_fast_path_is_accurate(spread):
    """The eigenvalue route to |Fx^T Fy|_* agrees with the SVD, also for widely spread spectra."""
    import torch

    from reprlab.measures.shape import nuclear_inner

    g = np.random.default_rng(11)
    Fx = torch.tensor(g.normal(size=(60, 8)) @ np.diag(np.geomspace(1.0, spread, 8)))
    Fy = torch.tensor(g.normal(size=(60, 6)))
    want = float(torch.linalg.svdvals(Fx.T @ Fy).sum())
    assert float(nuclear_inner(Fx, Fy)) == pytest.approx(want, rel=1e-10)
    assert float(nuclear_inner(Fx.float(), Fy.float())) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("t", [1e-9, 1e-6, 1e-4, 1e-2])
def test_small_angles_are_exact_to_rounding(t):
    """Y = X cos t + W sin t with W orthogonal to X's columns and |W| = |X|: the angle is exactly t.

    ``arccos`` of a cosine within 1e-6 of 1 keeps only ~1e-8 absolute accuracy; the angle is then
    taken from the explicitly aligned unit matrices instead."""
    g = np.random.default_rng(3)
    X = g.normal(size=(50, 6))
    X -= X.mean(0)
    W = g.normal(size=(50, 6))
    W -= W.mean(0)
    W -= X @ np.linalg.lstsq(X, W, rcond=None)[0]
    W *= np.linalg.norm(X) / np.linalg.norm(W)
    Y = X * math.cos(t) + W * math.sin(t)
    Q = _orth(6, g)
    assert rl.measures.shape(X, Y @ Q + 3.0) == pytest.approx(t, rel=1e-8, abs=1e-15)
    assert rl.compare(X, X @ Q, "shape") < 1e-14
    assert rl.compare(X, X @ Q, "procrustes", variant="orthogonal_angular") < 1e-14


@pytest.mark.parametrize("score", ["angular", "euclidean"])
def test_permuted_copies_are_at_distance_zero_to_rounding(score):
    g = np.random.default_rng(4)
    X = g.normal(size=(40, 7))
    Y = X[:, g.permutation(7)] - 5.0
    assert rl.compare(X, Y, "shape", group="permutation", score=score) < 1e-13
    wider = np.c_[Y, np.zeros(40)]  # one more (constant) unit: matched with zero padding
    assert rl.compare(X, wider, "shape", group="permutation", score=score) < 1e-13
    # uncentred: the best matching leaves the shift, |5|_F over 40 x 7 entries
    assert rl.compare(X, Y, "procrustes", variant="permutation_uncentered") == pytest.approx(np.sqrt(7000.0), rel=1e-12)
