"""Regression measures: linear_regression parity with ReSi, ridge recovery of known maps, the
cross-validation never scoring a training stimulus, GCV alpha choice, sklearn cross-check, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.measures.regression import cv_folds, ridge_scores
from tests.conftest import assert_oracle, oracle_inputs, oracle_records


@pytest.mark.parametrize(
    "measure_id", ["linear_regression.r2.target=X.predictor=Y", "linear_regression.r2.target=Y.predictor=X"]
)
def test_linear_regression_matches_resi(measure_id):
    """ReSi's LinearRegression(R, Rp) explains its first argument R from Rp."""
    for rec in oracle_records(measure_id):
        target, predictor = oracle_inputs(rec)
        assert_oracle(rl.measures.linear_regression(predictor, target), rec)
        assert_oracle(rl.measures.linear_regression(target, predictor, direction="y_to_x"), rec)


def test_linear_regression_equals_sklearn_variance_weighted_r2():
    g = np.random.default_rng(0)
    X = g.normal(size=(80, 6))
    Y = X @ g.normal(size=(6, 4)) + g.normal(size=(80, 4)) * [0.5, 1.0, 2.0, 0.1] + 3.0
    fit = LinearRegression().fit(X, Y)
    want = r2_score(Y, fit.predict(X), multioutput="variance_weighted")
    assert rl.measures.linear_regression(X, Y) == pytest.approx(want, rel=1e-12)


def test_linear_regression_rank_deficient_predictor():
    """Duplicated columns do not change the column space (ReSi's inverse square root fails here)."""
    g = np.random.default_rng(1)
    X, Y = g.normal(size=(50, 4)), g.normal(size=(50, 3))
    Xdup = np.hstack([X, X[:, :2], X[:, :1] - 2 * X[:, 3:]])
    assert rl.measures.linear_regression(Xdup, Y) == pytest.approx(rl.measures.linear_regression(X, Y), rel=1e-10)
    wide = g.normal(size=(50, 60))  # n - 1 <= rank: a perfect in-sample fit
    assert rl.measures.linear_regression(wide, Y) == pytest.approx(1.0, abs=1e-10)
    assert rl.measures.linear_regression(np.ones((50, 2)), Y) == 0.0  # a constant predictor explains nothing


def _linear_data(seed: int, n: int, d: int, p: int, noise: float):
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, d))
    W = g.normal(size=(d, p))
    return X, X @ W + 2.0 + noise * g.normal(size=(n, p)), W


@pytest.mark.parametrize("score", ["pearson", "r2"])
def test_ridge_recovers_noise_free_map(score):
    X, Y, _ = _linear_data(2, 120, 6, 5, 0.0)
    assert rl.measures.ridge(X, Y, score=score) == pytest.approx(1.0, abs=1e-6)
    res = ridge_scores(X, Y, score=score)
    np.testing.assert_allclose(res.unit_scores, 1.0, atol=1e-6)
    assert np.all(res.alphas == 1e-6)  # GCV picks the weakest penalty on noise-free data


def test_ridge_noisy_map_in_expected_range():
    """Y = X W + sigma E with X ~ N(0, I_d). For unit j, the best possible prediction x.w_j has correlation
    rho_j = sqrt(s_j / (s_j + sigma^2)) with y_j (s_j = |w_j|^2). Fitting W from n_tr training stimuli adds
    an out-of-sample error of variance ~ sigma^2 d / n_tr to the prediction, so the held-out correlation is
    about rho_j / sqrt(1 + sigma^2 d / (n_tr s_j)) (slightly below rho_j), and the held-out R^2 about
    rho_j^2 - (1 - rho_j^2) d / n_tr. Sampling error of r over n = 400 stimuli is ~(1 - rho^2)/sqrt(n)
    per unit; averaged over 30 units the mean is within ~0.02 of its expectation."""
    n, d, p, sigma = 400, 8, 30, 3.0
    X, Y, W = _linear_data(3, n, d, p, sigma)
    s = (W**2).sum(0)
    rho = np.sqrt(s / (s + sigma**2))
    n_tr = n * 4 / 5
    want_r = np.mean(rho / np.sqrt(1 + sigma**2 * d / (n_tr * s)))
    want_r2 = np.mean(rho**2 - (1 - rho**2) * d / n_tr)
    assert 0.5 < want_r < 0.95  # a non-trivial regime
    assert rl.measures.ridge(X, Y) == pytest.approx(want_r, abs=0.03)
    assert rl.measures.ridge(X, Y, score="r2") == pytest.approx(want_r2, abs=0.04)


def test_cross_validation_never_scores_a_training_stimulus():
    """Changing the targets of the stimuli of one fold leaves their own predictions unchanged: each
    held-out stimulus is predicted by a model (weights, intercept and alpha choice) fitted without it."""
    X, Y, _ = _linear_data(4, 60, 5, 4, 1.0)
    res = ridge_scores(X, Y, cv=4, seed=3)
    for f in range(4):
        held = res.folds == f
        Y2 = Y.copy()
        Y2[held] = 1e3 * np.random.default_rng(f).normal(size=(held.sum(), 4))
        res2 = ridge_scores(X, Y2, cv=4, seed=3)
        np.testing.assert_allclose(res2.predictions[held], res.predictions[held], rtol=1e-10, atol=1e-10)
        assert not np.allclose(res2.predictions[~held], res.predictions[~held])


def test_leakage_would_show_on_overparameterised_noise():
    """With more features than training stimuli, any training stimulus is fitted almost perfectly at a
    small alpha; held-out scores of unrelated noise stay near 0."""
    g = np.random.default_rng(5)
    X, Y = g.normal(size=(40, 200)), g.normal(size=(40, 10))
    res = ridge_scores(X, Y, alphas=[1e-6])
    assert abs(res.score) < 0.3
    fit = Ridge(alpha=1e-6 * np.sum((X - X.mean(0)) ** 2) / 200).fit(X, Y)
    assert r2_score(Y, fit.predict(X)) > 0.99  # in-sample it would look perfect


def test_folds_are_deterministic_balanced_partitions():
    f = cv_folds(23, 5, seed=7)
    assert sorted(np.bincount(f)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(f, cv_folds(23, 5, seed=7))
    assert not np.array_equal(f, cv_folds(23, 5, seed=8))
    X, Y, _ = _linear_data(6, 50, 4, 3, 1.0)
    assert rl.measures.ridge(X, Y, seed=1) == rl.measures.ridge(X, Y, seed=1)
    assert rl.measures.ridge(X, Y, seed=1) != rl.measures.ridge(X, Y, seed=2)


def test_single_alpha_matches_sklearn_ridge_per_fold():
    X, Y, _ = _linear_data(7, 70, 9, 4, 2.0)
    a = 0.3
    res = ridge_scores(X, Y, alphas=[a], cv=5)
    for f in range(5):
        tr, te = res.folds != f, res.folds == f
        lam = a * np.sum((X[tr] - X[tr].mean(0)) ** 2) / X.shape[1]
        np.testing.assert_allclose(res.penalties[f], lam, rtol=1e-12)
        want = Ridge(alpha=lam).fit(X[tr], Y[tr]).predict(X[te])
        np.testing.assert_allclose(res.predictions[te], want, rtol=1e-9, atol=1e-9)
    r = [np.corrcoef(res.predictions[:, j], Y[:, j])[0, 1] for j in range(4)]
    np.testing.assert_allclose(res.unit_scores, r, rtol=1e-10)


def test_per_unit_alpha_minimises_gcv():
    """The alpha chosen for each unit in each fold minimises the GCV criterion written with explicit
    hat matrices (intercept included)."""
    g = np.random.default_rng(8)
    X = g.normal(size=(45, 6))
    Y = np.column_stack([X @ g.normal(size=6) + s * g.normal(size=45) for s in (0.01, 1.0, 10.0, 100.0)])
    alphas = [1e-4, 1e-2, 1.0, 1e2, 1e4]
    res = ridge_scores(X, Y, alphas=alphas, cv=3)
    for f in range(3):
        tr = res.folds != f
        A = X[tr] - X[tr].mean(0)
        m = A.shape[0]
        C = np.eye(m) - 1.0 / m  # centring
        for j in range(4):
            y = Y[tr, j]
            gcv = []
            for a in alphas:
                lam = a * np.sum(A**2) / 6
                H = A @ np.linalg.solve(A.T @ A + lam * np.eye(6), A.T) + (np.eye(m) - C)
                gcv.append(m * np.sum((y - H @ y) ** 2) / (m - np.trace(H)) ** 2)
            assert res.alphas[f, j] == alphas[int(np.argmin(gcv))]
    assert len(set(res.alphas[0])) > 1  # different units get different alphas


def test_direction_and_spec():
    X, Y, _ = _linear_data(9, 40, 3, 5, 1.0)
    assert rl.measures.ridge(X, Y, direction="y_to_x") == rl.measures.ridge(Y, X)
    assert rl.compare(X, Y, "ridge(alphas=[0.1, 1], cv=3, score=r2)") == rl.measures.ridge(
        X, Y, alphas=[0.1, 1], cv=3, score="r2"
    )


def test_errors():
    X, Y, _ = _linear_data(10, 12, 3, 2, 1.0)
    with pytest.raises(ReprlabError, match=r"`cv`=20 folds need at least 20 stimuli; got n=12"):
        rl.measures.ridge(X, Y, cv=20)
    with pytest.raises(ReprlabError, match="at least 2 training stimuli per fold"):
        rl.measures.ridge(X[:3], Y[:3], cv=2)
    with pytest.raises(ReprlabError, match="'cv' parameter of 'ridge' must be an integer >= 2"):
        rl.measures.ridge(X, Y, cv=1)
    with pytest.raises(ReprlabError, match="'alphas' parameter of 'ridge' must be a non-empty list"):
        rl.measures.ridge(X, Y, alphas=[])
    with pytest.raises(ReprlabError, match="'alphas' parameter of 'ridge' must be a non-empty list of finite"):
        rl.measures.ridge(X, Y, alphas=[1.0, -1.0])
    with pytest.raises(ReprlabError, match="'score' parameter of 'ridge' must be one of 'pearson', 'r2'"):
        rl.measures.ridge(X, Y, score="spearman")
    Yc = Y.copy()
    Yc[:, 1] = 4.0
    with pytest.raises(ReprlabError, match=r"1 target units are constant .*columns \[1\]"):
        rl.measures.ridge(X, Yc)
    with pytest.raises(ReprlabError, match="target representation of linear_regression has zero variance"):
        rl.measures.linear_regression(X, np.ones((12, 2)))
    with pytest.raises(ReprlabError, match="'direction' parameter of 'linear_regression' must be one of"):
        rl.measures.linear_regression(X, Y, direction="both")
    with pytest.raises(ReprlabError, match="same rows"):
        ridge_scores(X, Y[:10])
