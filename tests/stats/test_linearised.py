"""The linearised bootstrap rule of the neighbourhood measures (reprlab.stats.resampling, docs/stats.md).

The influence hooks are checked against a brute-force construction from the neighbour lists (every
stimulus's credit ``W[i, j]`` in row ``i``, written out with Python loops) and against the derivative
that defines them; the bootstrap built on them is checked to be centred on the value (the rows rule
was 2-7 bootstrap SDs above it) and to agree with the statistics that share the evaluator.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab._registry import resolve
from reprlab.stats.resampling import Evaluator

LINEARISED = ("mutual_knn", "jaccard_knn", "rank_knn")
K = 5


def _pair(n=60, seed=0):
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, 6))
    return X, X[:, :5] + g.normal(size=(n, 5))


def _lists(name, X, Y):
    m, p = resolve(name, {"k": K})
    PX, PY = (m.prepare_one(torch.as_tensor(A), p) for A in (X, Y))
    return m, p, PX, PY


def _credit_matrix(name, ix, iy):
    """``W[i, j]``: stimulus j's credit in row i's score, from the measure's definition, with loops."""
    n = len(ix)
    W = np.zeros((n, n))
    for i in range(n):
        shared = [j for j in ix[i] if j in iy[i]]
        m = len(shared)
        for j in shared:
            if name == "mutual_knn":
                W[i, j] = 1.0 / K
            elif name == "jaccard_knn":
                W[i, j] = 1.0 / (2 * K - m)
            else:  # rank_knn: 2 / ((1 + |rx - ry|)(rx + ry)) over the harmonic number H(m)
                rx, ry = list(ix[i]).index(j) + 1, list(iy[i]).index(j) + 1
                W[i, j] = 2.0 / ((1 + abs(rx - ry)) * (rx + ry)) / sum(1.0 / t for t in range(1, m + 1))
    return W


@pytest.mark.parametrize("name", LINEARISED)
def test_influence_is_row_score_plus_credit_minus_twice_the_value(name):
    X, Y = _pair(40)
    m, p, PX, PY = _lists(name, X, Y)
    W = _credit_matrix(name, PX.idx.tolist(), PY.idx.tolist())
    n = W.shape[0]
    v = W.sum() / n
    assert float(m.core(PX, PY, **p)) == pytest.approx(v, abs=1e-14)
    psi = m.hooks.influence(PX, PY, **p).numpy()
    np.testing.assert_allclose(psi, W.sum(1) + W.sum(0) - 2.0 * v, atol=1e-14)
    assert abs(psi.sum()) < 1e-12


def test_influence_is_the_derivative_of_the_weighted_statistic():
    """With the lists fixed, v(pi) = n sum_ij pi_i W_ij pi_j (uniform pi: the measure); psi_i is its
    derivative towards stimulus i, d/de v((1 - e) u + e delta_i) at e = 0."""
    X, Y = _pair(30, seed=3)
    m, p, PX, PY = _lists("mutual_knn", X, Y)
    W = _credit_matrix("mutual_knn", PX.idx.tolist(), PY.idx.tolist())
    n = W.shape[0]
    u = np.full(n, 1.0 / n)

    def v(pi):
        return n * pi @ W @ pi

    psi = m.hooks.influence(PX, PY, **p).numpy()
    e = 1e-6
    for i in (0, 7, 29):
        d = np.zeros(n)
        d[i] = 1.0
        deriv = (v((1 - e) * u + e * d) - v((1 + e) * u - e * d)) / (2 * e)
        assert deriv == pytest.approx(psi[i], abs=1e-7)


@pytest.mark.parametrize("name", LINEARISED)
def test_bootstrap_is_centred_on_the_value(name):
    """Independent representations (the case docs/stats.md measured): the rows rule put the bootstrap
    mean 2.1-6.9 bootstrap SDs above the value; the linearised rule is centred by construction."""
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(60, 6)), g.normal(size=(60, 5))
    r = rl.stats.bootstrap(X, Y, f"{name}(k={K})", n=400, seed=1)
    assert r.rule == "linearised"
    assert r.value == rl.compare(X, Y, name, k=K)
    assert abs(r.samples.mean() - r.value) < 0.2 * r.se
    assert r.ci_low < r.value < r.ci_high


def test_bca_uses_the_influence_values():
    X, Y = _pair()
    r = rl.stats.bootstrap(X, Y, "mutual_knn", k=K, n=300, seed=0, method="bca")
    m, p, PX, PY = _lists("mutual_knn", X, Y)
    psi = m.hooks.influence(PX, PY, **p).numpy()
    ev = Evaluator.resolve("mutual_knn", {"k": K})
    TX, TY = torch.as_tensor(X), torch.as_tensor(Y)
    # a jackknife value is v + mean(psi without k) = v - psi_k / (n - 1)
    jack = ev.on(TX, TY, torch.arange(1, 60))
    assert jack == pytest.approx(r.value - psi[0] / 59, abs=1e-14)
    assert r.ci_low < r.value < r.ci_high


def test_permutation_recomputes_the_measure():
    """Permutations have no repeats: they take the measure on the permuted rows, not the linearisation."""
    X, Y = _pair()
    t = rl.stats.permutation_test(X, Y, "mutual_knn", k=K, n=5, seed=4)
    rng = np.random.default_rng(4)
    direct = [rl.compare(X, Y[rng.permutation(60)], "mutual_knn", k=K) for _ in range(5)]
    np.testing.assert_array_equal(t.null, direct)


def test_paired_and_correspondence_values_are_the_measure():
    X, Y = _pair()
    B = np.random.default_rng(9).normal(size=(60, 4))
    pb = rl.stats.paired_bootstrap(X, B, Y, "mutual_knn", k=K, n=50)
    assert pb.value_a == rl.compare(X, Y, "mutual_knn", k=K)
    assert pb.value_b == rl.compare(B, Y, "mutual_knn", k=K)
    c = rl.stats.layer_correspondence({"x": X, "b": B}, {"y": Y}, "jaccard_knn", k=K, n=30)
    np.testing.assert_array_equal(
        c.values[:, 0], [rl.compare(X, Y, "jaccard_knn", k=K), rl.compare(B, Y, "jaccard_knn", k=K)]
    )


@pytest.mark.parametrize("name", ["lcs_knn", "edit_distance_knn", "second_order_cosine", "cknna"])
def test_other_neighbourhood_measures_use_the_jackknife(name):
    """The neighbourhood measures without an influence hook are bootstrapped by the jackknife rule: no
    resample repeats a stimulus, so the values are centred on the measure's (the rows rule put their mean
    2.2-6.9 bootstrap SDs above it, docs/stats.md), and nothing warns."""
    X, Y = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = rl.stats.bootstrap(X, Y, name, k=K, n=200)
        rl.stats.permutation_test(X, Y, name, k=K, n=3)
    assert r.rule == "jackknife" and r.ci_low <= r.value <= r.ci_high
    assert abs(np.mean(r.samples) - r.value) < 0.25 * r.se
