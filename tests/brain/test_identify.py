"""rl.identification: the analytic accuracy at a known signal-to-noise ratio, the permutation null, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import f as f_dist

import reprlab as rl
from reprlab.errors import ReprlabError


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.5])
def test_pairwise_accuracy_matches_the_analytic_value(sigma):
    # Y_i = s_i + sigma e_i, prediction s_i. With a = Y_i - s_i ~ N(0, sigma^2 I) and
    # b = Y_j - s_i ~ N(0, (2 + sigma^2) I) independent, P(|a| < |b|) = P(F(C, C) < (2 + sigma^2) / sigma^2).
    rng = np.random.default_rng(int(sigma * 10))
    n, c = 600, 10
    S = rng.normal(size=(n, c))
    Y = S + sigma * rng.normal(size=(n, c))
    res = rl.identification(S, Y, metric="euclidean", n_perm=100)
    analytic = f_dist.cdf((2 + sigma**2) / sigma**2, c, c)
    assert abs(res.pairwise - analytic) < 0.02
    assert res.p_pairwise < 0.05 and res.chance_pairwise == 0.5 and res.chance_top1 == 1 / n


def test_noise_lies_within_the_permutation_null():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    res = rl.identification(X, Y, n_perm=1000)
    lo, hi = np.quantile(res.null_pairwise, [0.025, 0.975])
    assert lo <= res.pairwise <= hi
    assert res.p_pairwise > 0.05
    assert abs(res.null_pairwise.mean() - 0.5) < 0.005
    assert abs(res.null_top1.mean() - 1 / 200) < 0.002


def test_perfect_prediction_and_ranks():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(30, 5))
    res = rl.identification(Y, Y, n_perm=50)
    assert res.pairwise == 1.0 and res.top1 == 1.0 and res.mean_rank == 1.0
    assert res.p_pairwise == pytest.approx(1 / 51)
    assert list(res.to_pandas().index) == ["pairwise", "top1", "mean_rank"]


def test_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ReprlabError, match="same rows"):
        rl.identification(rng.normal(size=(10, 3)), rng.normal(size=(9, 3)))
    with pytest.raises(ReprlabError, match="same channels"):
        rl.identification(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(ReprlabError, match="at least 3"):
        rl.identification(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    with pytest.raises(ReprlabError, match="`metric`"):
        rl.identification(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), metric="manhattan")
    with pytest.raises(ReprlabError, match="constant across channels"):
        rl.identification(np.ones((5, 3)), rng.normal(size=(5, 3)))
