"""The one exact neighbour search (reprlab._neighbors): every metric, both candidate searches (row blocks
and symmetric tiles), with and without the float32 and low-rank screens, against brute force; ties by
index; the certificate's fallback; errors. The callers' own parity tests are in tests/describe
(Euclidean distances, scikit-dimension) and tests/measures (neighbour lists, platonic-rep and ReSi)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprlab import _neighbors
from reprlab._neighbors import _screens, search
from reprlab.errors import ReprlabError


def brute(X: np.ndarray, k: int, metric: str, include_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Reference scores (smaller = nearer) from the full matrix, self excluded by index, ties by index."""
    if metric == "euclidean":
        S = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    else:
        Z = X / np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else X
        S = -(Z @ Z.T)
    if not include_self:
        np.fill_diagonal(S, np.inf)
    idx = np.argsort(S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, idx, 1), idx


def check(X: np.ndarray, k: int, metric: str, include_self: bool = False, exact_ties: bool = False, **kw) -> None:
    score, idx = search(torch.tensor(X), k, metric, include_self=include_self, **kw)
    want_score, want_idx = brute(X, k, metric, include_self)
    np.testing.assert_allclose(score.numpy(), want_score, rtol=1e-12, atol=1e-12)
    if exact_ties:  # integer data: every score exact, so the lists themselves must agree
        np.testing.assert_array_equal(idx.numpy(), want_idx)
    else:  # the returned indices are at the returned scores, distinct, self only where allowed
        got = brute(X, len(X), metric, include_self)
        full = np.full((len(X), len(X)), np.nan)
        np.put_along_axis(full, got[1], got[0], 1)
        np.testing.assert_allclose(np.take_along_axis(full, idx.numpy(), 1), score.numpy(), rtol=1e-12, atol=1e-12)
    assert all(len(set(r)) == k for r in idx.tolist())
    if not include_self:
        assert not (idx == torch.arange(len(X))[:, None]).any()
    tied = score[:, 1:] == score[:, :-1]
    assert (idx[:, 1:][tied] > idx[:, :-1][tied]).all(), "equal scores come by increasing index"


METRICS = ["euclidean", "cosine", "inner_product"]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("tiles", [False, True])
@pytest.mark.parametrize("screen", [False, True])
@pytest.mark.parametrize("include_self", [False, True])
def test_integer_lattice_ties_every_path(metric, tiles, screen, include_self):
    """Small integer coordinates with mean exactly 0 (rows A and -A: centring changes nothing): every
    distance and product is exact in float32 and float64, so the many equal scores and the exact
    duplicates must come exactly as brute force orders them, by index. (Unit rows are rounded, so cosine
    ties are only checked for order, not against brute force's rounding.)"""
    g = np.random.default_rng(0)
    A = g.integers(-3, 4, size=(75, 5)).astype(np.float64)
    A[np.abs(A).sum(1) == 0, 0] = 1.0  # cosine needs nonzero rows
    A[40:45] = A[39]  # exact duplicates
    X = np.concatenate([A, -A])
    check(X, 7, metric, include_self, exact_ties=metric != "cosine", tiles=tiles, screen=screen, block_rows=16)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("tiles", [False, True])
def test_near_duplicates_take_the_fallback(metric, tiles):
    """Near-duplicates 1e-9 apart are below the float32 screen's resolution: those rows fail the
    certificate and are searched directly; the result is still that of a direct computation."""
    g = np.random.default_rng(1)
    X = g.normal(size=(200, 9)) + 0.5
    X[10:20] = X[0] * (1 + 1e-9 * g.normal(size=(10, 1))) + 1e-9 * g.normal(size=(10, 9))
    check(X, 6, metric, tiles=tiles, screen=True, block_rows=32)


@pytest.mark.parametrize("metric", METRICS)
def test_fallback_in_pieces(monkeypatch, metric):
    """The direct search of uncertified rows runs about BLOCK_ENTRIES scores at a time: here two rows."""
    monkeypatch.setattr(_neighbors, "BLOCK_ENTRIES", 400)
    g = np.random.default_rng(5)
    X = g.normal(size=(200, 9)) + 0.5
    X[10:20] = X[0] * (1 + 1e-9 * g.normal(size=(10, 1))) + 1e-9 * g.normal(size=(10, 9))
    check(X, 6, metric, tiles=True, screen=True, block_rows=40)


@pytest.mark.parametrize("metric", METRICS)
def test_low_rank_screen_for_every_metric(metric):
    """Near low-rank rows take the [P x, |x - P x|] screen first, a lower bound for distances and
    negated inner products alike; the result is exact."""
    g = np.random.default_rng(2)
    X = g.normal(size=(400, 3)) @ g.normal(size=(3, 20)) + 1e-3 * g.normal(size=(400, 20))
    Xc = _neighbors.features(torch.tensor(X), metric)
    assert [sc.Z.shape[1] for sc in _screens(Xc, True, metric == "euclidean")] == [4, 20]
    for tiles in (False, True):
        check(X, 8, metric, tiles=tiles, block_rows=50)


@pytest.mark.parametrize("metric", METRICS)
def test_wide_rows_take_the_tiles_and_agree_with_row_blocks(metric):
    """Rows of at least TILES_MIN_WIDTH coordinates are searched in symmetric tiles by default; both
    searches give the same lists, in float64 (screened) and float32 (direct for inner products)."""
    g = np.random.default_rng(3)
    X = g.normal(size=(300, _neighbors.TILES_MIN_WIDTH)) + 0.2
    check(X, 10, metric, block_rows=70)  # ragged last tile
    for dtype in (torch.float64, torch.float32):
        Xt = torch.tensor(X, dtype=dtype)
        a = search(Xt, 10, metric, block_rows=70)
        b = search(Xt, 10, metric, tiles=False)
        assert torch.equal(a[1], b[1])
        torch.testing.assert_close(a[0], b[0], rtol=1e-5 if dtype == torch.float32 else 1e-13, atol=1e-6)


def test_every_point_a_candidate():
    g = np.random.default_rng(4)
    X = g.normal(size=(12, 4))
    for metric in METRICS:
        check(X, 11, metric, tiles=True)
        check(X, 12, metric, include_self=True, tiles=False)


def test_errors():
    X = torch.zeros(5, 3)
    X[:, 0] = 1.0
    X[2] = 0.0
    with pytest.raises(ReprlabError, match=r"1 all-zero rows \(e.g. rows \[2\]\)"):
        search(X, 2, "cosine")
    with pytest.raises(ReprlabError, match="`metric`='manhattan' is not a neighbour metric"):
        search(X, 2, "manhattan")
    with pytest.raises(ReprlabError, match="needs at least 6 points; got n=5"):
        search(X, 5, "euclidean")
    assert search(X, 5, "inner_product", include_self=True)[1].shape == (5, 5)
