"""CCA family: canonical correlations, mean CCA / R^2, SVCCA and PWCCA against ReSi and independent formulas."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_inputs, oracle_records


def _cc_textbook(X, Y):
    """Canonical correlations from the textbook eigenproblem Sxx^-1 Sxy Syy^-1 Syx (full-rank input)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    ev = np.linalg.eigvals(np.linalg.solve(Sxx, Sxy) @ np.linalg.solve(Syy, Sxy.T))
    k = min(X.shape[1], Y.shape[1])
    return np.sqrt(np.clip(np.sort(ev.real)[::-1][:k], 0, None))


def _basis(A):
    """Orthonormal basis of the centred column space (QR), as an independent route."""
    Q, _ = np.linalg.qr(A - A.mean(0))
    return Q


def _pcs(A, k):
    Ac = A - A.mean(0)
    U, s, _ = np.linalg.svd(Ac, full_matrices=False)
    return U[:, :k] * s[:k]


def _k_for(A, var_kept):
    s = np.linalg.svd(A - A.mean(0), compute_uv=False)
    frac = np.cumsum(s**2) / np.sum(s**2)
    return int(np.searchsorted(frac, var_kept) + 1)


def test_canonical_correlations_match_resi():
    for rec in oracle_records("cca.canonical_correlations"):
        X, Y = oracle_inputs(rec)
        rho = rl.measures.cca.canonical_correlations(X, Y)
        assert_oracle(rho, rec)
        assert rl.measures.cca(X, Y) == pytest.approx(np.mean(rec["value"]), rel=1e-6)
        assert rl.measures.cca(X, Y, summary="mean_r2") == pytest.approx(np.mean(np.square(rec["value"])), rel=1e-6)


def test_canonical_correlations_against_textbook_formula():
    g = np.random.default_rng(0)
    L = g.normal(size=(60, 3))
    X = L @ g.normal(size=(3, 7)) + g.normal(size=(60, 7))
    Y = np.tanh(L @ g.normal(size=(3, 5))) + 0.5 * g.normal(size=(60, 5))
    np.testing.assert_allclose(rl.measures.cca.canonical_correlations(X, Y), _cc_textbook(X, Y), rtol=1e-9)
    np.testing.assert_allclose(rl.measures.cca.canonical_correlations(Y, X), _cc_textbook(X, Y), rtol=1e-9)


def test_svcca_is_cca_of_top_principal_components():
    """Correct SVCCA: mean canonical correlation of the PCs that explain 99% of the variance."""
    for rec in oracle_records("cca.svcca.var_kept=0.99"):
        X, Y = oracle_inputs(rec)
        kx, ky = _k_for(X, 0.99), _k_for(Y, 0.99)
        assert kx > 1 and ky > 1
        rho = np.linalg.svd(_basis(_pcs(X, kx)).T @ _basis(_pcs(Y, ky)), compute_uv=False)
        assert rl.measures.cca(X, Y, summary="svcca") == pytest.approx(rho.mean(), rel=1e-9)
        got = rl.measures.cca(X, Y, summary="svcca", var_kept=0.5)
        kx, ky = _k_for(X, 0.5), _k_for(Y, 0.5)
        rho = np.linalg.svd(_basis(_pcs(X, kx)).T @ _basis(_pcs(Y, ky)), compute_uv=False)
        assert got == pytest.approx(rho.mean(), rel=1e-9)


def test_resi_svcca_keeps_one_component():
    """Oracle README bug 1: ReSi's value is |corr(PC1 X, PC1 Y)| = svcca with dims=1, not 99% SVCCA."""
    for rec in oracle_records("cca.svcca.var_kept=0.99"):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.cca(X, Y, summary="svcca", dims=1), rec)
        pc1 = abs(np.corrcoef(_pcs(X, 1)[:, 0], _pcs(Y, 1)[:, 0])[0, 1])
        assert pc1 == pytest.approx(rec["value"], rel=1e-6)
        assert abs(rl.measures.cca(X, Y, summary="svcca") - rec["value"]) > 1e-3


def _pwcca_formula(X, Y):
    """Morcos et al. (2018): weights a_i = sum_j |<h_i, x_j>| with h_i the unit canonical variates of X."""
    Qx, Qy = _basis(X), _basis(Y)
    A, rho, _ = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    H = Qx @ A
    w = np.abs(H.T @ (X - X.mean(0))).sum(1)
    return float(np.sum(w * rho) / w.sum())


@pytest.mark.parametrize("measure_id", ["cca.pwcca.args=XY", "cca.pwcca.args=YX"])
def test_pwcca_google_weights_reproduce_resi(measure_id):
    """pwcca_weights='google' reproduces Google svcca's compute_pwcca as copied into ReSi."""
    for rec in oracle_records(measure_id):
        A, B = oracle_inputs(rec)
        assert_oracle(rl.measures.cca(A, B, summary="pwcca", pwcca_weights="google"), rec)


def test_pwcca_google_weights_refuse_wider_first_argument():
    g = np.random.default_rng(2)
    with pytest.raises(ReprlabError, match=r"pwcca_weights='google' is defined only when X has at most .* 6 > 4"):
        rl.measures.cca(g.normal(size=(30, 6)), g.normal(size=(30, 4)), summary="pwcca", pwcca_weights="google")


@pytest.mark.parametrize("measure_id", ["cca.pwcca.args=XY", "cca.pwcca.args=YX"])
def test_pwcca_follows_morcos_definition(measure_id):
    """The default PWCCA on the oracle inputs is Morcos et al.'s definition (module docstring)."""
    for rec in oracle_records(measure_id):
        A, B = oracle_inputs(rec)
        got = rl.measures.cca(A, B, summary="pwcca")
        assert got == pytest.approx(_pwcca_formula(A, B), rel=1e-9)
        rho = rl.measures.cca.canonical_correlations(A, B)
        assert rho.min() <= got <= rho.max()


def test_pwcca_for_wider_first_argument():
    """Oracle README bug 2: ReSi raises for d1 > d2; reprlab weights by X for any widths."""
    (rec,) = [r for r in oracle_records("cca.pwcca.args=XY", status="skipped") if "nonlinear" in r["case"]]
    X, Y = oracle_inputs(rec)
    assert X.shape[1] > Y.shape[1]
    assert rl.measures.cca(X, Y, summary="pwcca") == pytest.approx(_pwcca_formula(X, Y), rel=1e-9)


def test_pwcca_is_asymmetric_and_has_its_invariances():
    g = np.random.default_rng(1)
    L = g.normal(size=(50, 3))
    X = L @ g.normal(size=(3, 6)) + g.normal(size=(50, 6)) @ np.diag([3, 1, 1, 0.3, 0.3, 0.1])
    Y = np.tanh(L @ g.normal(size=(3, 6))) + 0.5 * g.normal(size=(50, 6))
    v = rl.measures.cca(X, Y, summary="pwcca")
    assert v != pytest.approx(rl.measures.cca(Y, X, summary="pwcca"), rel=1e-3)
    M = g.normal(size=(6, 6))
    assert rl.measures.cca(X, Y @ M + 4.0, summary="pwcca") == pytest.approx(v, rel=1e-9)  # any map of Y
    assert rl.measures.cca(3.0 * X[:, ::-1] - 2.0, Y, summary="pwcca") == pytest.approx(v, rel=1e-9)
    assert rl.measures.cca(X @ M, Y, summary="pwcca") != pytest.approx(v, rel=1e-3)  # not invariant in X


def test_platonic_svcca_is_close_in_sanity_range():
    """platonic-rep's SVCCA is randomised (svd_lowrank) with iterative sklearn CCA: compare loosely.

    Its recipe is standardised columns, 10 components: the exact counterpart is svcca(dims=10).
    """
    for rec in oracle_records("cca.svcca.lowrank_q=10.sklearn_cca"):
        X, Y = oracle_inputs(rec)
        z = lambda A: (A - A.mean(0)) / A.std(0)  # noqa: E731
        assert rl.measures.cca(z(X), z(Y), summary="svcca", dims=10) == pytest.approx(rec["value"], abs=0.12)


def test_degenerate_sample_size_warns_and_gives_ones():
    g = np.random.default_rng(2)
    X, Y = g.normal(size=(10, 12)), g.normal(size=(10, 15))
    with pytest.warns(UserWarning, match=r"Degenerate CCA: .* ranks 9 and 9 .* 9 of the 9 canonical"):
        v = rl.measures.cca(X, Y)
    assert v == pytest.approx(1.0, abs=1e-10)
    with warnings.catch_warnings():  # svcca with few components is fine at small n
        warnings.simplefilter("error")
        rl.measures.cca(X, Y, summary="svcca", dims=3)


def test_rank_deficient_input_drops_null_directions():
    """Collinear and constant units: no NaN, the same correlations as the full-rank core."""
    g = np.random.default_rng(3)
    X, Y = g.normal(size=(40, 4)), g.normal(size=(40, 5))
    X_def = np.hstack([X, X[:, :2] @ g.normal(size=(2, 3)), np.full((40, 1), 7.0)])
    rho = rl.measures.cca.canonical_correlations(X_def, Y)
    assert rho.shape == (4,) and np.all(np.isfinite(rho))
    np.testing.assert_allclose(rho, rl.measures.cca.canonical_correlations(X, Y), rtol=1e-9)
    # PWCCA weights sum over X's units, so added (collinear) units change it, but never to NaN
    assert rho.min() <= rl.measures.cca(X_def, Y, summary="pwcca") <= rho.max()


def test_svcca_dims_is_capped_at_rank():
    g = np.random.default_rng(4)
    X, Y = g.normal(size=(30, 3)), g.normal(size=(30, 4))
    assert rl.measures.cca(X, Y, summary="svcca", dims=20) == pytest.approx(rl.measures.cca(X, Y))


def test_compare_all_is_not_mirrored_for_pwcca():
    g = np.random.default_rng(5)
    reps = [g.normal(size=(30, 4)) + g.normal(size=(30, 1)) for _ in range(3)]
    res = rl.compare_all(reps, None, "cca(summary=pwcca)")
    for i in range(3):
        for j in range(3):
            assert res.values[i, j] == pytest.approx(rl.measures.cca(reps[i], reps[j], summary="pwcca"), rel=1e-12)


def test_errors():
    g = np.random.default_rng(6)
    X = g.normal(size=(10, 3))
    with pytest.raises(ReprlabError, match=r"'summary' parameter of 'cca' must be one of .*Did you mean 'svcca'"):
        rl.measures.cca(X, X, summary="svca")
    for bad in (0, 1.5):
        with pytest.raises(ReprlabError, match=r"'var_kept' parameter of 'cca' must be a number in \(0, 1\]"):
            rl.measures.cca(X, X, summary="svcca", var_kept=bad)
    with pytest.raises(ReprlabError, match="'dims' parameter of 'cca' must be None or a positive integer"):
        rl.measures.cca(X, X, summary="svcca", dims=0)
    with pytest.raises(ReprlabError, match="CCA needs at least 2 stimuli"):
        rl.measures.cca(X[:1], X[:1])
    with pytest.raises(ReprlabError, match="zero variance across stimuli"):
        rl.measures.cca(X, np.ones((10, 2)))
    with pytest.raises(ReprlabError, match="must have the same rows"):
        rl.measures.cca.canonical_correlations(X, X[:5])
    with pytest.raises(ReprlabError, match="non-finite"):
        rl.measures.cca.canonical_correlations(X, np.full((10, 2), math.nan))


def test_float32_and_spec_strings():
    rec = oracle_records("cca.canonical_correlations")[0]
    X, Y = oracle_inputs(rec)
    want = rl.measures.cca(X, Y)
    got = rl.measures.cca(X.astype(np.float32), Y.astype(np.float32), dtype="float32")
    assert got == pytest.approx(want, rel=1e-4)
    a = rl.compare(X, Y, "cca(summary=svcca, dims=5)")
    assert a == rl.measures.cca(X, Y, summary="svcca", dims=5)
