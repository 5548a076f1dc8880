"""Permutation tests: the exact p-value rule, direction, the pair rule, calibration under the null, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.stats.permutation import p_value


def test_exact_rule_and_strong_effect(gauss):
    X, Y = gauss
    r = rl.stats.permutation_test(X, Y, "cka", n=99, seed=0)
    assert r.value == pytest.approx(rl.compare(X, Y, "cka"), rel=1e-12)
    assert r.null.shape == (99,)
    assert r.p == pytest.approx((1 + np.sum(r.null >= r.value)) / 100)
    assert r.p == pytest.approx(0.01)  # never 0: the observed value counts as one of the permutations
    assert "p = 0.01" in str(r)


def test_null_values_are_permutations_of_y(gauss):
    X, Y = gauss
    r = rl.stats.permutation_test(X, Y, "cka", n=3, seed=4)
    rng = np.random.default_rng(4)
    for b in range(3):
        perm = rng.permutation(40)
        assert r.null[b] == pytest.approx(rl.compare(X, Y[perm], "cka"), rel=1e-12)


def test_distance_form_gives_the_same_p(gauss):
    """arccos(CKA) is a decreasing function of CKA: with "smaller is more similar" the p-value is the same."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    sim = rl.stats.permutation_test(X, Y, "cka", n=200, seed=1)
    dist = rl.stats.permutation_test(X, Y, "cka", n=200, seed=1, angular=True)
    assert not dist.larger_is_similar
    assert 0.05 < sim.p < 1
    assert dist.p == pytest.approx(sim.p)
    for alt in ("dissimilar", "two-sided"):
        a = rl.stats.permutation_test(X, Y, "cka", n=200, seed=1, alternative=alt)
        b = rl.stats.permutation_test(X, Y, "cka", n=200, seed=1, alternative=alt, angular=True)
        assert a.p == pytest.approx(b.p)


def test_alternatives():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert p_value(0.35, null, "similar", True) == pytest.approx(2 / 5)
    assert p_value(0.35, null, "dissimilar", True) == pytest.approx(4 / 5)
    assert p_value(0.35, null, "two-sided", True) == pytest.approx(4 / 5)
    assert p_value(0.05, null, "two-sided", True) == pytest.approx(2 / 5)
    assert p_value(0.35, null, "similar", False) == pytest.approx(4 / 5)
    assert p_value(0.3, null, "similar", True) == pytest.approx(3 / 5)  # ties count as at least as extreme


def test_pairwise_measure_permutes_rdm_rows_and_columns(rdm_measure, gauss):
    """For RDM measures the null is the Mantel test: Y's RDM with rows and columns permuted together."""
    X, Y = gauss
    r = rl.stats.permutation_test(X, Y, rdm_measure, n=3, seed=2)
    rng = np.random.default_rng(2)
    for b in range(3):
        perm = rng.permutation(40)
        assert r.null[b] == pytest.approx(rl.compare(X, Y[perm], rdm_measure), rel=1e-10)


def test_p_values_are_uniform_under_the_null():
    """Calibration: 300 simulated independent pairs, KS test of the p-values against U(0, 1).

    A cheap measure (linear CKA, 12 stimuli, 2 features) and 49 permutations per simulation. The exact
    rule's p-values are discrete (multiples of 1/50) but valid, so the KS distance stays within
    sampling error plus 1/50."""
    rng = np.random.default_rng(2024)
    ps = []
    for s in range(300):
        X, Y = rng.normal(size=(12, 2)), rng.normal(size=(12, 2))
        ps.append(rl.stats.permutation_test(X, Y, "cka", n=49, seed=s).p)
    ps = np.array(ps)
    ks = sps.kstest(ps, "uniform")
    assert ks.pvalue > 0.01, ks
    assert np.mean(ps <= 0.05) <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 300)  # not anti-conservative


def test_power_against_a_real_effect():
    rng = np.random.default_rng(9)
    ps = []
    for s in range(30):
        X = rng.normal(size=(20, 3))
        Y = X + 1.0 * rng.normal(size=(20, 3))
        ps.append(rl.stats.permutation_test(X, Y, "cka", n=49, seed=s).p)
    assert np.mean(np.array(ps) <= 0.05) > 0.8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "at least 1"),
        ({"alternative": "greater"}, "`alternative` must be one of"),
        ({"seed": "x"}, "`seed` must be"),
    ],
)
def test_argument_errors(gauss, kwargs, match):
    with pytest.raises(ReprlabError, match=match):
        rl.stats.permutation_test(*gauss, "cka", **kwargs)


def test_too_few_stimuli(gauss):
    X, Y = gauss
    with pytest.raises(ReprlabError, match="3 stimuli; a permutation test needs at least 4"):
        rl.stats.permutation_test(X[:3], Y[:3], "cka")
    assert rl.stats.permutation_test(X[:4], Y[:4], "cka", n=10).p > 0
