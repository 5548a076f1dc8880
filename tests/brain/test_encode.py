"""rl.encoding: recovery of a known lagged filter, the analytic held-out r, equality with scikit-learn's Ridge,
the batched penalty search, intervals under no relation, lags vs no lags on naplib's data, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError


def lagged_data(rng, n=4000, f=4, c=6, n_lags=5, noise=3.0):
    X = rng.normal(size=(n, f))
    h = rng.normal(size=(n_lags, f, c))
    S = sum(np.vstack([np.zeros((k, f)), X[: n - k]]) @ h[k] for k in range(n_lags))
    return X, S + noise * rng.normal(size=(n, c)), h


def test_recovers_the_filter_and_the_analytic_held_out_r(rng):
    X, Y, h = lagged_data(rng)
    e = rl.encoding(X, Y, lags=range(5), n_boot=200)
    signal = (h**2).sum((0, 1))  # white unit-variance features: signal variance per channel
    analytic = np.sqrt(signal / (signal + 3.0**2))
    np.testing.assert_array_less(np.abs(e.r - analytic), 0.02)
    for c in range(Y.shape[1]):
        assert np.corrcoef(e.coef[..., c].ravel(), h[..., c].ravel())[0, 1] > 0.95
    assert np.all(e.ci_low < e.score) and np.all(e.score < e.ci_high)
    assert e.coef.shape == (5, 4, 6) and e.predictions.shape == Y.shape


def test_shuffled_features_interval_includes_zero(rng):
    X, Y, _ = lagged_data(rng, c=20)
    e = rl.encoding(X[rng.permutation(len(X))], Y, lags=range(5), n_boot=500)
    covers = (e.ci_low <= 0) & (e.ci_high >= 0)
    assert covers.mean() >= 0.9, (e.ci_low, e.ci_high)
    assert np.abs(e.r).max() < 0.1


def test_fixed_penalty_equals_sklearn_ridge(rng):
    from sklearn.linear_model import Ridge

    X, Y, _ = lagged_data(rng, n=600)
    X = X + 3.0  # non-zero means exercise the intercept
    for alpha in (0.1, 10.0, 1e4):
        e = rl.encoding(X, Y, lags=[0], alphas=[alpha], n_boot=10)
        m = Ridge(alpha=alpha).fit(X, Y)
        np.testing.assert_allclose(e.coef[0], m.coef_.T, rtol=0, atol=1e-8 * np.abs(m.coef_).max())
        np.testing.assert_allclose(e.intercept, m.intercept_, rtol=0, atol=1e-8)


def test_held_out_predictions_equal_sklearn_per_fold(rng):
    from sklearn.linear_model import Ridge

    X, Y, _ = lagged_data(rng, n=500, n_lags=3)
    lags = [0, 1, 2]
    e = rl.encoding(X, Y, lags=lags, alphas=[5.0], cv=4, n_boot=10)
    D = np.hstack([np.vstack([np.zeros((k, X.shape[1])), X[: len(X) - k]]) for k in lags])
    for k in range(4):
        te = e.folds == k
        P = Ridge(alpha=5.0).fit(D[~te], Y[~te]).predict(D[te])
        np.testing.assert_allclose(e.predictions[te], P, atol=1e-9)


def test_batched_penalty_search_equals_a_loop(rng):
    X, Y, _ = lagged_data(rng, n=1500)
    alphas = [0.01, 1.0, 100.0, 1e4]
    batched = rl.encoding(X, Y, lags=range(3), alphas=alphas, n_boot=10)
    for i, a in enumerate(alphas):
        one = rl.encoding(X, Y, lags=range(3), alphas=[a], n_boot=10)
        np.testing.assert_allclose(batched.cv_sse[0, i], one.cv_sse[0, 0], rtol=1e-10)
    best = np.array(alphas)[np.argmin(batched.cv_sse[0], axis=0)]
    np.testing.assert_array_equal(batched.alpha, best)


def test_banded_ridge_penalises_an_uninformative_band_more(rng):
    n, c = 600, 8
    signal = rng.normal(size=(n, 3))
    clutter = rng.normal(size=(n, 60))
    Y = signal @ rng.normal(size=(3, c)) + 2.0 * rng.normal(size=(n, c))
    plain = rl.encoding(np.hstack([signal, clutter]), Y, lags=[0], n_boot=50)
    banded = rl.encoding({"signal": signal, "clutter": clutter}, Y, lags=[0], n_boot=50)
    assert banded.bands == {"signal": slice(0, 3), "clutter": slice(3, 63)}
    assert banded.band_alphas.shape == (c, 2)
    assert np.all(banded.band_alphas[:, 1] > banded.band_alphas[:, 0])
    assert banded.r.mean() > plain.r.mean()


def test_groups_keep_stimuli_whole_and_lags_inside_them(rng):
    X, Y, _ = lagged_data(rng, n=1200)
    groups = np.repeat(np.arange(12), 100)
    e = rl.encoding(X, Y, lags=range(5), groups=groups, cv=4, n_boot=50)
    for g in range(12):
        assert len(np.unique(e.folds[groups == g])) == 1
    # a lag never reaches into the previous stimulus: the first 4 samples of each stimulus see zeros
    one = rl.encoding(
        np.eye(1200)[:, :1] * 0 + (np.arange(1200) % 100 == 0)[:, None],
        Y[:, :1],
        lags=[1],
        alphas=[1.0],
        groups=groups,
        cv=4,
        n_boot=10,
    )
    assert np.isfinite(one.r).all()


def test_repeats_give_a_noise_ceiling(rng):
    X, Y, _ = lagged_data(rng, n=2000, c=3, noise=0.0)
    reps = Y[None] + 4.0 * rng.normal(size=(4, *Y.shape))
    e = rl.encoding(X, reps, lags=range(5), n_boot=100)
    rho = rl.stats.split_half_reliability(reps, seed=0)
    np.testing.assert_allclose(e.ceiling, np.sqrt(rho))
    np.testing.assert_allclose(e.normalised, e.r / np.sqrt(rho))
    assert np.all(e.normalised > 0.8) and np.all(e.normalised < 1.2)


def test_paired_comparison_and_table(rng):
    X, Y, _ = lagged_data(rng, n=2000)
    lagged = rl.encoding(X, Y, lags=range(5), n_boot=200)
    flat = rl.encoding(X, Y, lags=[0], n_boot=200)
    pr = lagged.paired(flat)
    assert pr.mean_p < 0.01 and np.all(pr.p < 0.05) and pr.mean_difference > 0
    df = lagged.to_pandas()
    assert list(df.columns[:3]) == ["r", "ci_low", "ci_high"] and len(df) == Y.shape[1]


@pytest.mark.slow
def test_lags_beat_no_lags_on_naplib_speech():
    d = rl.datasets.load("naplib-speech")
    trials = range(6)
    # 16-band spectrogram (mean of 8 adjacent bands), 100 Hz; the simulated channels are STRF responses to it
    feats = np.concatenate([d.stimuli["spectrogram"][i].reshape(-1, 16, 8).mean(2) for i in trials])
    resp = np.concatenate([d.responses[i] for i in trials])
    groups = np.concatenate([np.full(len(d.responses[i]), i) for i in trials])
    kw = {"groups": groups, "cv": 3, "block": 500, "n_boot": 300, "alphas": np.logspace(0, 6, 7)}
    with_lags = rl.encoding(feats, resp, lags=range(0, 30, 3), **kw)
    no_lags = rl.encoding(feats, resp, lags=[0], **kw)
    pr = with_lags.paired(no_lags)
    assert pr.mean_p < 0.05 and pr.mean_difference > 0


def test_bad_input():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(100, 3)), rng.normal(size=(90, 2))
    with pytest.raises(ReprlabError, match="90 samples but `features` has 100"):
        rl.encoding(X, Y)
    with pytest.raises(ReprlabError, match="longest lag"):
        rl.encoding(X, rng.normal(size=(100, 2)), lags=range(0, 25), cv=5)
    with pytest.raises(ReprlabError, match="`lags`"):
        rl.encoding(X, rng.normal(size=(100, 2)), lags=[0.5])
    with pytest.raises(ReprlabError, match="`lags` holds repeated"):
        rl.encoding(X, rng.normal(size=(100, 2)), lags=[1, 1])
    with pytest.raises(ReprlabError, match="`alphas`"):
        rl.encoding(X, rng.normal(size=(100, 2)), alphas=[-1.0])
    with pytest.raises(ReprlabError, match="cv=2 leaves no inner folds"):
        rl.encoding(X, rng.normal(size=(100, 2)), lags=[0], cv=2)
    with pytest.raises(ReprlabError, match="distinct stimuli but cv=5"):
        rl.encoding(X, rng.normal(size=(100, 2)), lags=[0], groups=np.repeat([0, 1, 2], [30, 30, 40]))
    with pytest.raises(ReprlabError, match="`groups` must give one label per sample"):
        rl.encoding(X, rng.normal(size=(100, 2)), groups=np.zeros(50))
    with pytest.raises(ReprlabError, match="`score`"):
        rl.encoding(X, rng.normal(size=(100, 2)), score="auc")
    with pytest.raises(ReprlabError, match="non-finite"):
        Z = rng.normal(size=(100, 2))
        Z[3, 1] = np.nan
        rl.encoding(X, Z)
    with pytest.raises(ReprlabError, match="constant"):
        rl.encoding(X, np.ones((100, 2)), lags=[0])


def test_dtype_and_device(rng):
    import torch

    X, Y, _ = lagged_data(rng, n=800, c=2)
    e64 = rl.encoding(X, Y, lags=range(3), n_boot=20, device="cpu")
    e32 = rl.encoding(torch.as_tensor(X, dtype=torch.float32), Y, lags=range(3), n_boot=20, dtype="float32")
    np.testing.assert_allclose(e32.r, e64.r, atol=1e-4)
    if not torch.cuda.is_available():
        with pytest.raises(ReprlabError, match="CUDA is not available"):
            rl.encoding(X, Y, device="cuda")


def test_validation_errors_and_nested_choice_equal_sklearn_also_with_a_singular_fold(rng):
    """cv_sse and the nested penalty choice against explicit scikit-learn fits; one fold's own Gram is
    singular (a feature is zero throughout it), which takes the eigendecomposition route for its root."""
    from sklearn.linear_model import Ridge

    X, Y, _ = lagged_data(rng, n=400, f=3, c=3, n_lags=3)
    X[200:300, 1] = 0.0  # fold 2 of 4
    lags, alphas, cv = [0, 1, 2], [0.3, 30.0, 3000.0], 4
    e = rl.encoding(X, Y, lags=lags, alphas=alphas, cv=cv, n_boot=10)
    D = np.hstack([np.vstack([np.zeros((k, X.shape[1])), X[: len(X) - k]]) for k in lags])
    assert np.linalg.matrix_rank(np.cov(D[e.folds == 2].T)) < D.shape[1]

    def sse(train, test, a):
        P = Ridge(alpha=a).fit(D[train], Y[train]).predict(D[test])
        return ((Y[test] - P) ** 2).sum(0)

    outer = np.array([sum(sse(e.folds != k, e.folds == k, a) for k in range(cv)) for a in alphas])
    np.testing.assert_allclose(e.cv_sse[0], outer, rtol=1e-9)
    for k in range(cv):
        inner = [
            sum(sse((e.folds != k) & (e.folds != j), e.folds == j, a) for j in range(cv) if j != k) for a in alphas
        ]
        chosen = np.argmin(inner, axis=0)
        te = e.folds == k
        for c in range(Y.shape[1]):
            P = Ridge(alpha=alphas[chosen[c]]).fit(D[~te], Y[~te, c]).predict(D[te])
            np.testing.assert_allclose(e.predictions[te, c], P, atol=1e-9)
