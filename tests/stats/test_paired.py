"""Paired bootstrap (model A vs model B against one target), layer sweeps and Benjamini-Hochberg."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError


@pytest.fixture
def models():
    rng = np.random.default_rng(0)
    T = rng.normal(size=(60, 5))
    good = T @ np.linalg.qr(rng.normal(size=(5, 5)))[0] + 0.3 * rng.normal(size=(60, 5))
    bad = T @ np.linalg.qr(rng.normal(size=(5, 5)))[0] + 3.0 * rng.normal(size=(60, 5))
    return T, good, bad


def test_paired_bootstrap_finds_the_better_model(models):
    T, good, bad = models
    r = rl.stats.paired_bootstrap(good, bad, T, "cka", n=200, seed=0)
    assert r.value_a == pytest.approx(rl.compare(good, T, "cka"))
    assert r.value_b == pytest.approx(rl.compare(bad, T, "cka"))
    assert r.difference == pytest.approx(r.value_a - r.value_b)
    assert 0 < r.ci_low < r.difference < r.ci_high
    assert r.p == pytest.approx((1 + np.sum(r.samples <= 0)) / 201) and r.p < 0.05
    rev = rl.stats.paired_bootstrap(bad, good, T, "cka", n=200, seed=0)
    assert rev.p > 0.95 and rev.difference == pytest.approx(-r.difference)
    assert rl.stats.paired_bootstrap(bad, good, T, "cka", n=200, seed=0, alternative="two-sided").p < 0.05


def test_paired_samples_share_resamples(models):
    """The difference samples are value_a - value_b on the same resampled stimuli (each the jackknife-
    linearised value v + mean(psi[idx]), reprlab.stats.resampling)."""
    T, good, bad = models
    r = rl.stats.paired_bootstrap(good, bad, T, "cka", n=3, seed=5)
    a = rl.stats.bootstrap(good, T, "cka", n=3, seed=5)
    b = rl.stats.bootstrap(bad, T, "cka", n=3, seed=5)
    np.testing.assert_allclose(r.samples, a.samples - b.samples, rtol=1e-10)


def test_distance_measure_direction(models):
    """With arccos(CKA) (smaller = more similar) the better model has the smaller value and still p small."""
    T, good, bad = models
    r = rl.stats.paired_bootstrap(good, bad, T, "cka", n=200, seed=0, angular=True)
    assert r.difference < 0 and not r.larger_is_similar and r.p < 0.05
    assert r.p == pytest.approx((1 + np.sum(r.samples >= 0)) / 201)


def test_paired_bca(models):
    T, good, bad = models
    r = rl.stats.paired_bootstrap(good, bad, T, "cka", n=100, seed=0, method="bca")
    assert r.ci_low < r.difference < r.ci_high


def test_sweep_with_fdr(models):
    T, good, bad = models
    rng = np.random.default_rng(1)
    layers_a = {"l1": good, "l2": bad, "l3": T + 0.1 * rng.normal(size=T.shape)}
    base = T + 1.5 * rng.normal(size=T.shape)
    sweep = rl.stats.paired_sweep(layers_a, base, T, "cka", n=200, seed=0, q=0.05)
    assert sweep.names == ["l1", "l2", "l3"]
    assert list(sweep.significant) == [True, False, True]
    adj, _ = rl.stats.fdr_bh([r.p for r in sweep.results], 0.05)
    np.testing.assert_allclose(sweep.p_adjusted, adj)
    df = sweep.to_pandas()
    assert list(df["layer"]) == ["l1", "l2", "l3"] and df["significant"].tolist() == [True, False, True]
    by_name = rl.stats.paired_sweep(layers_a, {k: base for k in layers_a}, T, "cka", n=200, seed=0)
    np.testing.assert_allclose([r.p for r in by_name.results], [r.p for r in sweep.results])


def test_fdr_bh_matches_scipy():
    p = np.random.default_rng(0).uniform(size=30) ** 3
    adj, rej = rl.stats.fdr_bh(p, q=0.1)
    np.testing.assert_allclose(adj, sps.false_discovery_control(p, method="bh"))
    np.testing.assert_array_equal(rej, adj <= 0.1)


@pytest.mark.parametrize(
    "p, q, match",
    [([], 0.05, "non-empty 1-D"), ([0.1, 1.2], 0.05, r"lie in \[0, 1\]"), ([0.1], 0.0, "`q`")],
)
def test_fdr_errors(p, q, match):
    with pytest.raises(ReprlabError, match=match):
        rl.stats.fdr_bh(p, q)


def test_sweep_errors(models):
    T, good, bad = models
    with pytest.raises(ReprlabError, match="`layers_b` has no layer 'l2'"):
        rl.stats.paired_sweep({"l1": good, "l2": bad}, {"l1": bad}, T, "cka")
    with pytest.raises(ReprlabTypeError, match="non-empty mapping"):
        rl.stats.paired_sweep({}, bad, T, "cka")
    with pytest.raises(ReprlabError, match="has 50 rows but `target` has 60"):
        rl.stats.paired_sweep({"l1": good[:50]}, bad, T, "cka")
    with pytest.raises(ReprlabError, match="`alternative` must be one of"):
        rl.stats.paired_bootstrap(good, bad, T, "cka", alternative="less")


def test_paired_bootstrap_with_the_pair_rule(rdm_measure, models):
    T, good, bad = models
    r = rl.stats.paired_bootstrap(good, bad, T, rdm_measure, n=2, seed=1)
    one_a = rl.stats.bootstrap(good, T, rdm_measure, n=1, seed=1).samples[0]
    one_b = rl.stats.bootstrap(bad, T, rdm_measure, n=1, seed=1).samples[0]
    assert r.samples[0] == pytest.approx(one_a - one_b, rel=1e-10)  # the same resample for A and B
