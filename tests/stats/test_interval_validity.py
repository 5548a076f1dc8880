"""Bootstrap intervals that contain their own estimate and cover what they estimate (generated from the registry).

For every compare measure in the registry (issue 16; the rows rule failed all of these for CKA, CCA and
the neighbourhood measures):

* the 95% interval contains the measure's value, on unrelated and on related representations;
* on unrelated representations it contains the measure's null expectation (the mean over independent
  samples of the same size) in >= 90% of runs.

Then, where the value the measure estimates is known in closed form (linear CKA and RSA with
squared-Euclidean RDMs and Pearson comparison from the covariance of the generating Gaussian, CCA from
its canonical correlations), 95% intervals cover it in 90-99% of runs. scripts/bootstrap_coverage.py
runs the same designs with more runs; docs/stats.md has its table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.stats import resampling

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from bootstrap_coverage import draw_cca, draw_gaussian, gaussian_cka_design

N_STIM, N_BOOT, NULL_RUNS, NULL_DRAWS = 30, 200, 10, 100


def _draw(info, g: np.random.Generator, related: bool) -> tuple[np.ndarray, np.ndarray]:
    if info.input_ndim == 3:  # (conditions, repeats, units)
        X = g.normal(size=(N_STIM, 1, 4)) + 0.3 * g.normal(size=(N_STIM, 4, 4))
        Y = (X[:, :1] if related else g.normal(size=(N_STIM, 1, 4))) + 0.3 * g.normal(size=(N_STIM, 4, 4))
        return X, Y
    X = g.normal(size=(N_STIM, 5))
    Y = X[:, :4] + 0.7 * g.normal(size=(N_STIM, 4)) if related else g.normal(size=(N_STIM, 4))
    return X, Y


COMPARE = [i for i in rl.measures.available(kind="compare") if i.name not in resampling.REFUSED]


@pytest.mark.parametrize("info", COMPARE, ids=lambda i: i.name)
def test_interval_contains_the_value_and_the_null_expectation(info):
    g = np.random.default_rng(0)
    X, Y = _draw(info, g, related=True)
    r = rl.stats.bootstrap(X, Y, info.name, n=N_BOOT, seed=0)
    assert r.ci_low <= r.value <= r.ci_high, (r, r.rule)
    null = np.mean([rl.compare(*_draw(info, g, related=False), info.name) for _ in range(NULL_DRAWS)])
    covered = 0
    for run in range(NULL_RUNS):
        X, Y = _draw(info, g, related=False)
        r = rl.stats.bootstrap(X, Y, info.name, n=N_BOOT, seed=run)
        assert r.ci_low <= r.value <= r.ci_high, (r, r.rule)
        covered += r.ci_low <= null <= r.ci_high
    assert covered >= 0.9 * NULL_RUNS, (covered, null, r.rule)


@pytest.mark.parametrize("info", [i for i in rl.measures.available(kind="compare") if i.name in resampling.REFUSED])
def test_refused_measures_point_to_the_permutation_test(info):  # pragma: no cover - none is refused today
    X, Y = _draw(info, np.random.default_rng(0), related=True)
    with pytest.raises(ReprlabError, match="permutation_test"):
        rl.stats.bootstrap(X, Y, info.name, n=10)


def test_a_refused_measure_is_refused_everywhere(monkeypatch, gauss):
    """The refusal (a measure in REFUSED) reaches bootstrap, the matrix intervals and the paired
    bootstrap, and names the permutation test, which still runs."""
    X, Y = gauss
    monkeypatch.setitem(resampling.REFUSED, "procrustes", "its resamples are biased in a test")
    for call in (
        lambda: rl.stats.bootstrap(X, Y, "procrustes", n=10),
        lambda: rl.stats.bootstrap_all({"x": X}, {"y": Y}, "procrustes", n=10),
        lambda: rl.stats.paired_bootstrap(X, X, Y, "procrustes", n=10),
    ):
        with pytest.raises(ReprlabError, match=r"no valid bootstrap.*biased in a test.*rl\.stats\.permutation_test"):
            call()
    assert 0 < rl.stats.permutation_test(X, Y, "procrustes", n=9).p <= 1


def _coverage(draw, spec: str, truth: float, runs: int, seed: int) -> float:
    g = np.random.default_rng(seed)
    hits = 0
    for run in range(runs):
        r = rl.stats.bootstrap(*draw(g), spec, n=N_BOOT, seed=run)
        hits += r.ci_low <= truth <= r.ci_high
    return hits / runs


POPULATION_RUNS = 100


@pytest.mark.slow
def test_linear_cka_covers_the_population_value():
    """x ~ N(0, diag(1, .8, .6, .4, .2)), y = x + 0.5 e, 60 stimuli: population CKA 0.740, covered by
    the unbiased estimator's intervals in 90-99% of runs."""
    cov, truth = gaussian_cka_design(0.5)
    draw = lambda g: draw_gaussian(g, cov, 60, 5)  # noqa: E731
    assert 0.90 <= _coverage(draw, "cka(estimator=unbiased)", truth, POPULATION_RUNS, 1) <= 0.99


@pytest.mark.slow
def test_biased_linear_cka_coverage_is_lowered_by_its_bias():
    """The default (biased) estimator overestimates the population CKA by O(1/n) (mean 0.750 for 0.740 at
    100 stimuli): its intervals covered it in 91.0% of 300 runs at 100 stimuli and 89% of 100 runs at 60
    and at 200 (docs/stats.md), the edge of the 90-99% band; this guards against anything worse."""
    cov, truth = gaussian_cka_design(0.5)
    assert 0.85 <= _coverage(lambda g: draw_gaussian(g, cov, 100, 5), "cka", truth, POPULATION_RUNS, 1) <= 0.99


@pytest.mark.slow
def test_cca_covers_the_mean_canonical_correlation():
    """Canonical correlations (0.8, 0.5, 0.3) of 3 + 3 units, 80 stimuli: population mean_rho 0.533."""
    rhos = np.array([0.8, 0.5, 0.3])
    cov = _coverage(lambda g: draw_cca(g, rhos, 80), "cca", float(rhos.mean()), POPULATION_RUNS, 2)
    assert 0.90 <= cov <= 0.99


@pytest.mark.slow
def test_rsa_covers_the_population_value():
    """Squared-Euclidean RDMs compared by Pearson: the population value equals the population linear
    CKA of the generating covariance (scripts/bootstrap_coverage.py derives it); 40 stimuli, 60 runs."""
    cov, truth = gaussian_cka_design(0.5)
    spec = "rsa(rdm=sqeuclidean, compare=pearson)"
    assert 0.90 <= _coverage(lambda g: draw_gaussian(g, cov, 40, 5), spec, truth, 60, 3) <= 0.99


def test_closed_form_population_values():
    """The closed forms the coverage tests rely on, checked against a large sample."""
    cov, truth = gaussian_cka_design(0.5)
    X, Y = draw_gaussian(np.random.default_rng(0), cov, 4000, 5)
    assert rl.compare(X, Y, "cka") == pytest.approx(truth, abs=0.01)
    assert rl.compare(X[:600], Y[:600], "rsa", rdm="sqeuclidean", compare="pearson") == pytest.approx(truth, abs=0.03)
    rhos = np.array([0.8, 0.5, 0.3])
    assert rl.compare(*draw_cca(np.random.default_rng(1), rhos, 4000), "cca") == pytest.approx(rhos.mean(), abs=0.02)
