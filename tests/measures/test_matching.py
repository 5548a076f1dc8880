"""correlation_match: ReSi parity (hard, soft), brute-force checks, the transport variant, the matching itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.measures.matching import Matching
from tests.conftest import assert_oracle, oracle_inputs, oracle_records
from tests.measures._props import check_declared_properties


def corr(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return (Xc / np.linalg.norm(Xc, axis=0)).T @ (Yc / np.linalg.norm(Yc, axis=0))


@pytest.mark.parametrize(
    "measure_id, soft", [("neuron_match.correlation.hard", False), ("neuron_match.correlation.soft", True)]
)
def test_matches_resi(measure_id, soft):
    for rec in oracle_records(measure_id):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.correlation_match(X, Y, soft=soft), rec)


def test_hard_matching_is_the_best_permutation(rng):
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    C = corr(X, Y)
    best = max(np.mean(C[np.arange(5), list(p)]) for p in itertools.permutations(range(5)))
    m = rl.compare(X, Y, "correlation_match", return_matching=True)
    assert isinstance(m, Matching)
    assert m.score == pytest.approx(best, rel=1e-12)
    assert sorted(m.pairs[:, 0]) == list(range(5)) and sorted(m.pairs[:, 1]) == list(range(5))
    np.testing.assert_allclose(m.correlations, C[m.pairs[:, 0], m.pairs[:, 1]], rtol=1e-12)
    assert float(m) == m.score


def test_recovers_a_shuffled_copy(rng):
    X = rng.normal(size=(50, 8))
    perm = rng.permutation(8)
    Y = 3.0 * X[:, perm] + 1.0
    m = rl.compare(X, Y, "correlation_match", return_matching=True)
    assert m.score == pytest.approx(1.0, abs=1e-12)
    assert all(perm[j] == i for i, j in m.pairs)


def test_soft_semi_matching_formula(rng):
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 4))
    C = corr(X, Y)
    want = (C.max(1).mean() + C.max(0).mean()) / 2
    m = rl.compare(X, Y, "correlation_match", soft=True, return_matching=True)
    assert m.score == pytest.approx(want, rel=1e-12)
    assert m.pairs.shape == (10, 2)
    np.testing.assert_allclose(m.correlations[:6], C.max(1), rtol=1e-12)


def test_transport_matching(rng):
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 6))
    # Equal widths: the optimal plan is a permutation (Birkhoff), so transport = hard matching.
    hard = rl.compare(X, Y, "correlation_match")
    assert rl.compare(X, Y, "correlation_match", soft=True, method="transport") == pytest.approx(hard, rel=1e-9)
    # Unequal widths: marginals are uniform and the score is the plan-weighted correlation, between
    # the mean correlation and the best semi-matching score.
    Y3 = Y[:, :3]
    m = rl.compare(X, Y3, "correlation_match", soft=True, method="transport", return_matching=True)
    np.testing.assert_allclose(m.plan.sum(1), np.full(6, 1 / 6), atol=1e-9)
    np.testing.assert_allclose(m.plan.sum(0), np.full(3, 1 / 3), atol=1e-9)
    C = corr(X, Y3)
    assert m.score == pytest.approx(np.sum(m.plan * C), rel=1e-12)
    assert C.mean() <= m.score <= (C.max(1).mean() + C.max(0).mean()) / 2 + 1e-12


def test_dead_unit_counts_as_uncorrelated(rng):
    X = rng.normal(size=(30, 3))
    Y = np.c_[X[:, :2], np.zeros(30)]
    # Units 0 and 1 match perfectly; X's unit 2 can only be paired with the dead unit (correlation 0).
    assert rl.compare(X, Y, "correlation_match") == pytest.approx(2 / 3, rel=1e-12)


def test_declared_properties():
    g = np.random.default_rng(15)
    X, Y, Z = (g.normal(size=(40, w)) for w in (6, 8, 10))
    check_declared_properties("correlation_match", X, Y, Z)


def test_errors(rng):
    X = rng.normal(size=(10, 3))
    with pytest.raises(
        ReprlabError, match="'method' parameter of 'correlation_match' must be one of 'semi', 'transport'"
    ):
        rl.compare(X, X, "correlation_match", soft=True, method="sinkhorn")
    with pytest.raises(ReprlabError, match="'soft' parameter of 'correlation_match' must be one of False, True"):
        rl.compare(X, X, "correlation_match", soft="yes")
    with pytest.raises(ReprlabError, match="method='transport' chooses a soft matching but soft=False"):
        rl.compare(X, X, "correlation_match", method="transport")
