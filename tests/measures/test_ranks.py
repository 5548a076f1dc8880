"""Rank statistics behind the RSA comparators: ranks with ties, Kendall's tau in O(m log m)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reprlab.measures import _ranks


def brute_force_tau(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """O(m^2) tau-a and tau-b straight from the definition (ties count as neither)."""
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(x.size, 1)
    s = (sx * sy)[iu].sum()
    tot = iu[0].size
    nx, ny = (sx[iu] != 0).sum(), (sy[iu] != 0).sum()
    return s / tot, (s / np.sqrt(nx * ny) if nx and ny else np.nan)


def tied_vector(g: np.random.Generator, m: int, levels: int) -> np.ndarray:
    return g.integers(0, levels, size=m).astype(float)


@pytest.mark.parametrize("method", _ranks.RANK_METHODS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 60), levels=st.integers(1, 80))
def test_rankdata_matches_scipy(method, seed, m, levels):
    x = tied_vector(np.random.default_rng(seed), m, levels)
    got = _ranks.rankdata(torch.from_numpy(x), method).numpy()
    np.testing.assert_array_equal(got, scipy.stats.rankdata(x, method=method))


def test_rankdata_rows_of_a_stack():
    x = np.random.default_rng(0).integers(0, 5, size=(3, 20)).astype(float)
    got = _ranks.rankdata(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, scipy.stats.rankdata(x, axis=1))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(2, 50), lx=st.integers(1, 60), ly=st.integers(1, 60))
def test_kendall_tau_matches_definition_with_ties(seed, m, lx, ly):
    g = np.random.default_rng(seed)
    x, y = tied_vector(g, m, lx), tied_vector(g, m, ly)
    a, b = _ranks.tau_prepare(torch.from_numpy(x)), _ranks.tau_prepare(torch.from_numpy(y))
    want_a, want_b = brute_force_tau(x, y)
    assert _ranks.kendall_tau(a, b, "a") == pytest.approx(want_a, abs=1e-12)
    if np.isfinite(want_b):
        assert _ranks.kendall_tau(a, b, "b") == pytest.approx(want_b, abs=1e-12)
        assert _ranks.kendall_tau(a, b, "b") == pytest.approx(scipy.stats.kendalltau(x, y).statistic, abs=1e-12)
    assert _ranks.kendall_tau(b, a, "a") == _ranks.kendall_tau(a, b, "a")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 300), lx=st.integers(1, 400), ly=st.integers(1, 400))
def test_numpy_fallback_counts_the_same_discordant_pairs(seed, m, lx, ly):
    """The pure-NumPy merge count equals SciPy's compiled count and the O(m^2) count."""
    g = np.random.default_rng(seed)
    x, y = tied_vector(g, m, lx), tied_vector(g, m, ly)
    a, b = _ranks.tau_prepare(torch.from_numpy(x)), _ranks.tau_prepare(torch.from_numpy(y))
    xs, ys = a.sorted_ranks, b.ranks[a.order]
    iu = np.triu_indices(m, 1)
    brute = int(((xs[iu[0]] < xs[iu[1]]) & (ys[iu[0]] > ys[iu[1]])).sum())
    assert _ranks._discordant_numpy(xs, ys) == brute
    assert _ranks.discordant_pairs(xs, ys) == brute


def test_fallback_is_used_without_scipy_routine(monkeypatch):
    g = np.random.default_rng(3)
    x, y = tied_vector(g, 400, 50), tied_vector(g, 400, 30)
    a, b = _ranks.tau_prepare(torch.from_numpy(x)), _ranks.tau_prepare(torch.from_numpy(y))
    want = _ranks.kendall_tau(a, b, "b")
    monkeypatch.setattr(_ranks, "_scipy_kendall_dis", None)
    assert _ranks.kendall_tau(a, b, "b") == want == pytest.approx(scipy.stats.kendalltau(x, y).statistic, abs=1e-12)


def test_tau_is_not_quadratic():
    """m = 300,000 entries (an RDM of ~775 conditions): O(m^2) would take minutes, O(m log m) well under 1 s."""
    g = np.random.default_rng(0)
    x = torch.from_numpy(g.normal(size=300_000))
    y = x + torch.from_numpy(g.normal(size=300_000))
    a, b = _ranks.tau_prepare(x), _ranks.tau_prepare(y)
    t = time.process_time()
    tau = _ranks.kendall_tau(a, b, "a")
    assert time.process_time() - t < 5.0
    sub = slice(0, 3000)  # the tau of a subsample agrees roughly (same population value)
    assert tau == pytest.approx(scipy.stats.kendalltau(x[sub].numpy(), y[sub].numpy()).statistic, abs=0.05)
