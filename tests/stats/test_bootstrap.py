"""Bootstrap over stimuli: values, intervals (percentile, BCa), the distinct-pairs rule, errors."""

from __future__ import annotations

import numpy as np
import pytest
import rsatoolbox
from scipy import stats as sps

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError
from reprlab.stats.bootstrap import interval, run_bootstrap
from reprlab.stats.resampling import distinct_pairs
from tests.conftest import temporary_measure
from tests.stats.conftest import corr_rdm


def test_value_samples_and_percentile_interval(gauss):
    X, Y = gauss
    r = rl.stats.bootstrap(X, Y, "cka", n=100, seed=3)
    assert r.value == pytest.approx(rl.compare(X, Y, "cka"), rel=1e-12)
    assert r.samples.shape == (100,) and r.n == 100 and r.seed == 3 and r.method == "percentile"
    assert r.rule == "jackknife" and r.measure == "cka" and r.ci == 0.95
    lo, hi = np.quantile(r.samples, [0.025, 0.975])
    assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert r.ci_low < r.value < r.ci_high
    assert r.se == pytest.approx(np.std(r.samples, ddof=1))
    assert "cka" in str(r) and r.interval == (r.ci_low, r.ci_high)


def jackknife_influence(X, Y, spec, **params):
    """psi_i = (n - 1) (mean_j t_(j) - t_(i)), t_(i) the measure without stimulus i (by hand)."""
    n = X.shape[0]
    t = np.array([rl.compare(np.delete(X, i, 0), np.delete(Y, i, 0), spec, **params) for i in range(n)])
    return (n - 1) * (t.mean() - t)


def test_resamples_are_jackknife_linearised(gauss):
    """Each bootstrap value is v + mean(psi[idx]) for the jackknife influence psi, idx drawn by the seeded
    generator; no resample puts two copies of a stimulus into the measure."""
    X, Y = gauss
    r = rl.stats.bootstrap(X, Y, "cka", n=5, seed=11, kernel="rbf")
    psi = jackknife_influence(X, Y, "cka", kernel="rbf")
    assert psi.sum() == pytest.approx(0.0, abs=1e-10)
    rng = np.random.default_rng(11)
    for b in range(5):
        idx = rng.integers(0, 40, 40)
        assert r.samples[b] == pytest.approx(r.value + psi[idx].mean(), rel=1e-10)


def test_jackknife_influence_of_a_mean_is_the_centred_value():
    """For a mean of per-stimulus products the jackknife influence is exactly x_i y_i - mean(x y)
    (Efron & Tibshirani 1993, ch. 11), and a resample's value is the mean over the resample."""
    from reprlab.stats.resampling import Evaluator

    g = np.random.default_rng(0)
    X, Y = g.normal(size=(30, 1)), g.normal(size=(30, 1))
    with temporary_measure("_test_mean_product", lambda A, B: (A[:, 0] * B[:, 0]).mean(), range=(-10.0, 10.0)):
        ev = Evaluator.resolve("_test_mean_product", {})
        v, psi = ev.influence(ev.load(X, "X"), ev.load(Y, "Y"))
        r = rl.stats.bootstrap(X, Y, "_test_mean_product", n=4, seed=2)
    xy = X[:, 0] * Y[:, 0]
    assert v == pytest.approx(xy.mean()) and np.allclose(psi.numpy(), xy - xy.mean(), atol=1e-12)
    rng = np.random.default_rng(2)
    for b in range(4):
        assert r.samples[b] == pytest.approx(xy[rng.integers(0, 30, 30)].mean(), rel=1e-10)


def test_grouped_jackknife_above_the_group_limit(gauss, monkeypatch):
    """Above MAX_JACKKNIFE_GROUPS stimuli the jackknife leaves out groups; the variance is the grouped
    jackknife's, (G - 1) / G sum_g (t_(g) - t_bar)^2, whatever the number of stimuli per group."""
    from reprlab.stats import resampling
    from reprlab.stats.resampling import Evaluator, jackknife_groups

    X, Y = gauss
    monkeypatch.setattr(resampling, "MAX_JACKKNIFE_GROUPS", 8)
    group = jackknife_groups(40).numpy()
    assert sorted(np.bincount(group).tolist()) == [5] * 8
    ev = Evaluator.resolve("cka", {})
    TX, TY = ev.load(X, "X"), ev.load(Y, "Y")
    _, psi = ev.influence(TX, TY)
    t = np.array([rl.compare(X[group != k], Y[group != k], "cka") for k in range(8)])
    var_grouped = 7 / 8 * np.sum((t - t.mean()) ** 2)
    # the linear bootstrap variance of mean(psi[idx]) over n draws is mean(psi^2) / n; it is (G - 1) / G
    # times the jackknife variance, as for the delete-one jackknife ((n - 1) / n)
    assert np.mean(psi.numpy() ** 2) / 40 == pytest.approx(var_grouped * 7 / 8, rel=1e-9)


def test_seed_reproducible_and_params_in_spec(gauss):
    X, Y = gauss
    a = rl.stats.bootstrap(X, Y, "cka(estimator=unbiased)", n=20, seed=1)
    b = rl.stats.bootstrap(X, Y, "cka", n=20, seed=1, estimator="unbiased")
    c = rl.stats.bootstrap(X, Y, "cka", n=20, seed=2, estimator="unbiased")
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)
    assert a.measure == "cka(estimator=unbiased)"


def test_bca_matches_scipy_on_a_skewed_statistic():
    """BCa (jackknife acceleration) agrees with scipy.stats.bootstrap on the variance of skewed data."""
    rng = np.random.default_rng(0)
    x = rng.exponential(size=40)
    stat = lambda v: float(np.var(v, ddof=1))  # noqa: E731
    value, samples, jack = run_bootstrap(lambda ix: stat(x[ix]), 40, n=4000, rng=rng, jackknife=True)
    lo, hi = interval(samples, value, 0.9, "bca", jack)
    ref = sps.bootstrap((x,), stat, n_resamples=4000, confidence_level=0.9, method="BCa", vectorized=False, rng=1)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.08 * width)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.08 * width)
    _, phi = interval(samples, value, 0.9, "percentile")
    assert hi > phi  # right-skewed statistic: BCa shifts the interval up relative to the percentile one


def test_bca_through_a_measure(gauss):
    X, Y = gauss
    r = rl.stats.bootstrap(X, Y, "cka", n=200, seed=0, method="bca")
    assert r.method == "bca" and r.ci_low < r.value < r.ci_high


def test_bca_without_skew_or_bias_is_the_percentile_interval():
    samples = np.linspace(-1, 1, 201)
    jack = np.array([-1.0, 1.0, -2.0, 2.0])  # symmetric: zero acceleration
    lo, hi = interval(samples, np.array(0.0), 0.9, "bca", jack)
    plo, phi = interval(samples, np.array(0.0), 0.9, "percentile")
    assert (lo, hi) == (pytest.approx(plo), pytest.approx(phi))


def test_bca_undefined_raises():
    with pytest.raises(ReprlabError, match="BCa interval is undefined"):
        interval(np.zeros(50), np.array(1.0), 0.95, "bca", np.zeros(5))


def test_distinct_pairs():
    a, b = distinct_pairs(__import__("torch").tensor([2, 0, 2, 1]))
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_pairwise_rule_matches_rsatoolbox_subsampling(rdm_measure, gauss):
    """A resample's value equals rsatoolbox's: subsample_pattern (self-pairs NaN) then compare."""
    X, Y = gauss
    r = rl.stats.bootstrap(X, Y, rdm_measure, n=4, seed=5)
    assert r.rule == "distinct_pairs"
    assert r.value == pytest.approx(rl.compare(X, Y, rdm_measure), rel=1e-12)
    DX = rsatoolbox.rdm.RDMs(corr_rdm(__import__("torch").from_numpy(X)).numpy()[None])
    DY = rsatoolbox.rdm.RDMs(corr_rdm(__import__("torch").from_numpy(Y)).numpy()[None])
    rng = np.random.default_rng(5)
    for b in range(4):
        idx = rng.integers(0, 40, 40)
        ref = rsatoolbox.rdm.compare(DX.subsample_pattern("index", idx), DY.subsample_pattern("index", idx), "spearman")
        assert r.samples[b] == pytest.approx(float(ref[0, 0]), rel=1e-10)


def test_pairwise_rule_removes_the_duplicate_bias(rdm_measure):
    """Comparing the rows of resamples directly would add zero distances between copies in both RDMs and
    inflate the agreement of unrelated representations; the distinct-pairs rule does not."""
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    r = rl.stats.bootstrap(X, Y, rdm_measure, n=200, seed=0)
    naive = []
    for _ in range(200):
        idx = rng.integers(0, 30, 30)
        naive.append(rl.compare(X[idx], Y[idx], rdm_measure))
    assert abs(np.mean(r.samples) - r.value) < 0.02
    assert np.mean(naive) - r.value > 0.05  # the bias the rule avoids


def test_direction_is_read_from_variants(gauss):
    X, Y = gauss
    assert rl.stats.permutation_test(X, Y, "cka", n=5).larger_is_similar
    assert not rl.stats.permutation_test(X, Y, "cka", n=5, angular=True).larger_is_similar
    assert not rl.stats.permutation_test(X, Y, "cka", n=5, angular=True, kernel="rbf").larger_is_similar


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"n": 0}, ReprlabError, "at least 1"),
        ({"n": 2.5}, ReprlabTypeError, "must be an integer"),
        ({"ci": 1.0}, ReprlabError, "strictly between 0 and 1"),
        ({"ci": 95}, ReprlabError, "strictly between 0 and 1"),
        ({"ci": True}, ReprlabError, "strictly between 0 and 1"),
        ({"method": "basic"}, ReprlabError, "`method` must be one of"),
        ({"seed": -1}, ReprlabError, "`seed` must be"),
        ({"kernel": "poly"}, ReprlabError, "'kernel' parameter"),
    ],
)
def test_argument_errors(gauss, kwargs, err, match):
    X, Y = gauss
    with pytest.raises(err, match=match):
        rl.stats.bootstrap(X, Y, "cka", **kwargs)


def test_too_few_stimuli(gauss):
    X, Y = gauss
    with pytest.raises(ReprlabError, match="4 stimuli; a bootstrap over stimuli needs at least 5"):
        rl.stats.bootstrap(X[:4], Y[:4], "cka")


def test_rows_must_match(gauss):
    X, Y = gauss
    with pytest.raises(ReprlabError, match="same rows"):
        rl.stats.bootstrap(X, Y[:30], "cka")


def test_failing_resample_is_reported(fragile_measure, gauss):
    X, Y = gauss
    with pytest.raises(
        ReprlabError, match=r"could not be computed .* of the 40 stimuli.*jackknife: stimulus 0 left out"
    ):
        rl.stats.bootstrap(X, Y, fragile_measure, n=3)


def test_data_parameters_are_refused_under_the_jackknife_rule(rows_measure_with_data, gauss):
    X, Y = gauss
    with pytest.raises(ReprlabError, match="per-stimulus data parameter 'weights'"):
        rl.stats.bootstrap(X, Y, rows_measure_with_data, weights=np.ones(40))
    r = rl.stats.bootstrap(X, Y, rows_measure_with_data, n=10)
    assert r.value == pytest.approx(np.corrcoef(X[:, 0], Y[:, 0])[0, 1])


def test_describe_measures_are_refused(gauss, monkeypatch):
    from reprlab import _registry

    m = _registry.get("cka")
    monkeypatch.setattr(m, "info", __import__("dataclasses").replace(m.info, kind="describe"))
    with pytest.raises(ReprlabError, match="describes one representation"):
        rl.stats.bootstrap(*gauss, "cka")
