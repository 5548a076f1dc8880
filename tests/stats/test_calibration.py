"""Calibration of bootstrap intervals in simulation: 95% intervals cover the true value >= 90% of the time.

Linear CKA (below) and the linearised neighbourhood measures (the last test).

The truth is known for linear CKA between two one-dimensional representations: CKA(x, y) = corr(x, y)^2,
so for bivariate normal stimuli with correlation rho the population value is rho^2. Both interval
methods are read from one BCa run per simulation (the percentile interval is the quantiles of its
samples). Expected coverage is about 0.94 (a vectorised NumPy simulation of the same design with 1000
runs gives 0.939); with 250 simulations its standard error is 0.015.
"""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl

RHO, N_STIM, N_SIM, N_BOOT = 0.6, 60, 250, 150


def test_one_dimensional_linear_cka_is_squared_correlation():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    assert rl.compare(xy[:, :1], xy[:, 1:], "cka") == pytest.approx(np.corrcoef(xy.T)[0, 1] ** 2)


@pytest.mark.slow
def test_bootstrap_interval_coverage():
    rng = np.random.default_rng(2025)
    cov = np.array([[1.0, RHO], [RHO, 1.0]])
    truth = RHO**2
    hits = {"percentile": 0, "bca": 0}
    for s in range(N_SIM):
        xy = rng.multivariate_normal([0.0, 0.0], cov, size=N_STIM)
        r = rl.stats.bootstrap(xy[:, :1], xy[:, 1:], "cka", n=N_BOOT, seed=s, method="bca")
        lo, hi = np.quantile(r.samples, [0.025, 0.975])
        hits["percentile"] += lo <= truth <= hi
        hits["bca"] += r.ci_low <= truth <= r.ci_high
    coverage = {k: v / N_SIM for k, v in hits.items()}
    assert min(coverage.values()) >= 0.90, coverage


KNN_N, KNN_K, KNN_TRUTH_DRAWS, KNN_SIM = 60, 5, 1000, 200


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mutual_knn", "jaccard_knn", "rank_knn"])
def test_linearised_knn_bootstrap_coverage(name):
    """X ~ N(0, I_6), Y = X[:, :5] + N(0, I_5), 60 stimuli, k = 5: the truth is the mean of the measure
    over 1,000 independent samples of 60 (its SE ~0.001). The rows rule covered it in 0% of runs
    (docs/stats.md); the linearised rule in 96-99% (2026-11-22, 200 runs), with intervals about 1.3x
    wider than the sampling SD (conservative)."""

    def draw(g):
        X = g.normal(size=(KNN_N, 6))
        return X, X[:, :5] + g.normal(size=(KNN_N, 5))

    g = np.random.default_rng(123)
    truth = np.mean([rl.compare(*draw(g), name, k=KNN_K) for _ in range(KNN_TRUTH_DRAWS)])
    g = np.random.default_rng(7)
    hits = 0
    for s in range(KNN_SIM):
        r = rl.stats.bootstrap(*draw(g), name, k=KNN_K, n=200, seed=s)
        hits += r.ci_low <= truth <= r.ci_high
    assert hits / KNN_SIM >= 0.90, hits / KNN_SIM
