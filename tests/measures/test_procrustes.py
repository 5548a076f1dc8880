"""Procrustes distances and aligned cosine: parity with ReSi and netrep, independent checks, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.linalg

import reprlab as rl
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_inputs, oracle_records


@pytest.mark.parametrize(
    "measure_id, params",
    [
        ("procrustes.centered_unit_frobenius.euclidean", {}),
        ("procrustes.permutation.uncentered.euclidean", {"variant": "permutation_uncentered"}),
        ("shape_metric.linear.alpha=1.score=angular", {"variant": "orthogonal_angular"}),
        ("shape_metric.linear.alpha=1.score=euclidean", {"variant": "size_and_shape"}),
    ],
)
def test_procrustes_matches_peers(measure_id, params):
    for rec in oracle_records(measure_id):  # ReSi, and netrep for the shape_metric ids
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.procrustes(X, Y, **params), rec)


def test_aligned_cosine_matches_resi():
    for rec in oracle_records("procrustes.aligned_cosine"):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.aligned_cosine(X, Y), rec)


def _pair(g, n=40, d1=6, d2=4):
    L = g.normal(size=(n, 3))
    return L @ g.normal(size=(3, d1)) + g.normal(size=(n, d1)) + 2.0, np.tanh(L @ g.normal(size=(3, d2)) + 0.5)


def _pad(A, w):
    return np.pad(A, ((0, 0), (0, w - A.shape[1])))


def test_variants_against_explicit_alignment():
    """Each variant equals the distance of matrices aligned by scipy's orthogonal Procrustes fit."""
    X, Y = _pair(np.random.default_rng(0))
    Xc, Yc = X - X.mean(0), _pad(Y - Y.mean(0), 6)
    Xn, Yn = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    R, _ = scipy.linalg.orthogonal_procrustes(Xn, Yn)
    assert rl.measures.procrustes(X, Y) == pytest.approx(np.linalg.norm(Xn @ R - Yn), rel=1e-10)
    cos = np.sum((Xn @ R) * Yn)
    assert rl.measures.procrustes(X, Y, variant="orthogonal_angular") == pytest.approx(math.acos(cos), rel=1e-10)
    R, _ = scipy.linalg.orthogonal_procrustes(Xc, Yc)
    want = np.linalg.norm(Xc @ R - Yc)
    assert rl.measures.procrustes(X, Y, variant="size_and_shape") == pytest.approx(want, rel=1e-10)


def test_normalized_and_angular_forms_are_related():
    """centered_normalized = sqrt(2 - 2 cos(orthogonal_angular)) (the oracle README's relation)."""
    X, Y = _pair(np.random.default_rng(1))
    theta = rl.measures.procrustes(X, Y, variant="orthogonal_angular")
    assert rl.measures.procrustes(X, Y) == pytest.approx(math.sqrt(2 - 2 * math.cos(theta)), rel=1e-10)
    assert theta == pytest.approx(rl.measures.shape(X, Y), rel=1e-12)


def test_permutation_uncentered_equals_brute_force():
    X, Y = _pair(np.random.default_rng(2), d1=5, d2=3)
    Yp = _pad(Y, 5)
    want = min(np.linalg.norm(X[:, list(p)] - Yp) for p in itertools.permutations(range(5)))
    assert rl.measures.procrustes(X, Y, variant="permutation_uncentered") == pytest.approx(want, rel=1e-10)
    # not centred: a translation changes it, unlike netrep's centred permutation metric
    assert rl.measures.procrustes(X + 1.0, Y, variant="permutation_uncentered") != pytest.approx(want, rel=1e-3)


def test_aligned_cosine_against_scipy_fit():
    g = np.random.default_rng(3)
    for d1, d2 in ((6, 4), (4, 6), (5, 5)):
        X, Y = _pair(g, d1=d1, d2=d2)
        w = max(d1, d2)
        Xp, Yp = _pad(X, w), _pad(Y, w)
        R, _ = scipy.linalg.orthogonal_procrustes(Xp, Yp)
        XR = Xp @ R
        want = np.mean(np.sum(XR * Yp, 1) / (np.linalg.norm(XR, axis=1) * np.linalg.norm(Yp, axis=1)))
        assert rl.measures.aligned_cosine(X, Y) == pytest.approx(want, rel=1e-10)
        assert rl.measures.aligned_cosine(Y, X) == pytest.approx(want, rel=1e-10)


def test_identity_and_transformed_copies():
    g = np.random.default_rng(4)
    X = g.normal(size=(30, 6))
    Q, _ = np.linalg.qr(g.normal(size=(6, 6)))
    assert rl.measures.aligned_cosine(X, 3.0 * X @ Q) == pytest.approx(1.0, abs=1e-12)
    for variant in ("centered_normalized", "orthogonal_angular"):
        assert rl.measures.procrustes(X, 2.0 * X @ Q + 1.0, variant=variant) == pytest.approx(0.0, abs=1e-7)
    assert rl.measures.procrustes(X, X @ Q + 1.0, variant="size_and_shape") < 1e-9


def test_errors():
    g = np.random.default_rng(5)
    X = g.normal(size=(10, 3))
    with pytest.raises(ReprlabError, match=r"'variant' parameter of 'procrustes' must be one of .*Did you mean"):
        rl.measures.procrustes(X, X, variant="size_shape")
    with pytest.raises(ReprlabError, match="at least 2 stimuli"):
        rl.measures.procrustes(X[:1], X[:1])
    with pytest.raises(ReprlabError, match=r"zero variance .* centered_normalized Procrustes distance"):
        rl.measures.procrustes(X, np.full((10, 2), 3.0))
    Z = X.copy()
    Z[[2, 7]] = 0.0
    with pytest.raises(ReprlabError, match=r"undefined for all-zero rows: 2 row\(s\) .* \(rows 2, 7\)"):
        rl.measures.aligned_cosine(Z, X)
    with pytest.raises(ReprlabError, match="Unknown parameter 'variant' for measure 'aligned_cosine'"):
        rl.measures.aligned_cosine(X, X, variant="x")


def test_float32_agrees():
    rec = oracle_records("procrustes.aligned_cosine")[0]
    X, Y = oracle_inputs(rec)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    assert rl.measures.aligned_cosine(X32, Y32, dtype="float32") == pytest.approx(rec["value"], rel=1e-4)
    want = rl.measures.procrustes(X, Y)
    assert rl.measures.procrustes(X32, Y32, dtype="float32") == pytest.approx(want, rel=1e-4)
