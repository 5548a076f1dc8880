"""Neighbourhood measures: parity with platonic-rep and ReSi, the blocked top-k search, duplicate rows
(oracle README bug 4), the sparse CKNNA, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.measures.knn import _lcs_lengths, _levenshtein, _sparse_hsic, nearest_neighbors
from tests.conftest import assert_oracle, oracle_inputs, oracle_records


def l2_rows(A: np.ndarray) -> np.ndarray:
    return A / np.linalg.norm(A, axis=1, keepdims=True)


PLATONIC = [
    ("knn.mutual.k=5.neighbors=inner_product", "mutual_knn", {"k": 5}),
    ("knn.mutual.k=10.neighbors=inner_product", "mutual_knn", {"k": 10}),
    ("knn.cycle.k=10.neighbors=inner_product", "cycle_knn", {"k": 10}),
    ("knn.lcs.k=10.neighbors=inner_product", "lcs_knn", {"k": 10, "normalize": False}),
    ("knn.edit_distance.k=10.neighbors=inner_product", "edit_distance_knn", {"k": 10}),
    ("cknna.k=10.unbiased", "cknna", {"k": 10, "eps": 1e-6}),
    ("cknna.k=10.biased", "cknna", {"k": 10, "eps": 1e-6, "estimator": "biased"}),
]


@pytest.mark.parametrize("measure_id, name, params", PLATONIC)
def test_platonic_raw_rows(measure_id, name, params):
    """platonic-rep on raw rows ranks neighbours by the inner product."""
    for rec in oracle_records(measure_id):
        X, Y = oracle_inputs(rec)
        assert_oracle(getattr(rl.measures, name)(X, Y, neighbors="inner_product", **params), rec)


@pytest.mark.parametrize("measure_id, name, params", PLATONIC)
def test_platonic_normalized_rows_is_cosine(measure_id, name, params):
    """platonic-rep's pipeline L2-normalises rows first: that is reprlab's default cosine neighbours on
    the raw rows, and inner-product neighbours on the normalised rows."""
    for rec in oracle_records(measure_id + ".input=l2_normalized_rows"):
        X, Y = oracle_inputs(rec)
        assert_oracle(getattr(rl.measures, name)(X, Y, **params), rec)
        assert_oracle(getattr(rl.measures, name)(l2_rows(X), l2_rows(Y), neighbors="inner_product", **params), rec)


@pytest.mark.parametrize(
    "measure_id, name",
    [
        ("knn.jaccard.k=10.metric=cosine", "jaccard_knn"),
        ("knn.rank.k=10.metric=cosine", "rank_knn"),
        ("knn.second_order_cosine.k=10.metric=cosine", "second_order_cosine"),
    ],
)
def test_resi_cosine_neighbours(measure_id, name):
    for rec in oracle_records(measure_id):
        X, Y = oracle_inputs(rec)
        assert_oracle(getattr(rl.measures, name)(X, Y, k=10), rec)


def _brute_neighbours(X: np.ndarray, k: int, neighbors: str, include_self: bool = False) -> np.ndarray:
    """Reference: full similarity matrix, self excluded by index, stable full sort (tests only)."""
    if neighbors == "cosine":
        Z = l2_rows(X)
        S = Z @ Z.T
    elif neighbors == "inner_product":
        S = X @ X.T
    else:
        S = -((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    if not include_self:
        np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("neighbors", ["cosine", "inner_product", "euclidean"])
@pytest.mark.parametrize("block", [None, 1, 7, 64])
def test_tiled_topk_equals_full_sort(neighbors, block):
    """Tiles of any side (1: every pair its own tile; 7: ragged last tile) give the full-sort lists."""
    g = np.random.default_rng(0)
    X = g.normal(size=(53, 6)) + 0.5
    for include_self in (False, True):
        idx, _ = nearest_neighbors(torch.tensor(X), 6, neighbors, block=block, include_self=include_self)
        np.testing.assert_array_equal(idx.numpy(), _brute_neighbours(X, 6, neighbors, include_self))
    idx, val = nearest_neighbors(torch.tensor(X), 6, neighbors, block=block)
    assert bool((val[:, :-1] >= val[:, 1:]).all()), "neighbours are ordered nearest first"
    if neighbors == "euclidean":
        d2 = ((X - X[idx[:, 0].numpy()]) ** 2).sum(1)
        np.testing.assert_allclose(-val[:, 0].numpy(), d2, rtol=1e-10)


def test_euclidean_neighbours_are_translation_invariant_and_cosine_are_not():
    g = np.random.default_rng(1)
    X, Y = g.normal(size=(60, 5)), g.normal(size=(60, 4))
    shift = X + 4.0
    assert rl.compare(X, Y, "mutual_knn", neighbors="euclidean") == rl.compare(
        shift, Y, "mutual_knn", neighbors="euclidean"
    )
    assert rl.compare(X, Y, "mutual_knn") != rl.compare(shift, Y, "mutual_knn")


def test_duplicate_rows_exclude_the_point_by_index():
    """Oracle README bug 4: ReSi drops the first returned neighbour, which for a duplicated row may be its
    twin rather than itself. The correct neighbour list of a duplicated row starts with its twin and never
    contains the row itself."""
    g = np.random.default_rng(2)
    Z = g.normal(size=(30, 5))
    X = np.vstack([Z, Z])  # row i and i + 30 are twins
    Q, _ = np.linalg.qr(g.normal(size=(5, 5)))
    Y = 2.0 * X @ Q + 0.05 * np.vstack([g.normal(size=(30, 5))] * 2)  # twins stay twins
    for neighbors in ("cosine", "euclidean", "inner_product"):
        idx = nearest_neighbors(torch.tensor(X), 5, neighbors)[0].numpy()
        twin = (np.arange(60) + 30) % 60
        if neighbors != "inner_product":  # inner products may rank a longer vector above the twin
            np.testing.assert_array_equal(idx[:, 0], twin)
        assert not (idx == np.arange(60)[:, None]).any()
    # An orthogonal copy with scaling keeps every neighbourhood: all set measures are exactly 1.
    for name in ("mutual_knn", "jaccard_knn", "rank_knn", "cycle_knn"):
        assert rl.compare(X, 3.0 * X @ Q, name, k=5) == pytest.approx(1.0, abs=1e-12)
    # Against the brute-force reference (odd k: twin + 2 twin pairs, no ties at the k-th place).
    k = 5
    a, b = _brute_neighbours(X, k, "cosine"), _brute_neighbours(Y, k, "cosine")
    shared = np.array([len(set(a[i]) & set(b[i])) for i in range(60)])
    assert rl.compare(X, Y, "jaccard_knn", k=k) == pytest.approx(np.mean(shared / (2 * k - shared)), abs=1e-12)
    assert rl.compare(X, Y, "mutual_knn", k=k) == pytest.approx(np.mean(shared / k), abs=1e-12)


def _rank_sim_reference(a, b):
    """Wang et al.'s rank similarity of two ordered lists, written from the formula."""
    shared = set(a) & set(b)
    if not shared:
        return 0.0
    ra = {j: p + 1 for p, j in enumerate(a)}
    rb = {j: p + 1 for p, j in enumerate(b)}
    s = sum(2.0 / ((1 + abs(ra[j] - rb[j])) * (ra[j] + rb[j])) for j in shared)
    return s / sum(1.0 / m for m in range(1, len(shared) + 1))


def test_rank_and_set_measures_against_formulas():
    g = np.random.default_rng(3)
    X, Y = g.normal(size=(70, 6)), g.normal(size=(70, 6))
    Y[:, :3] = X[:, :3]
    k = 8
    a, b = _brute_neighbours(X, k, "cosine"), _brute_neighbours(Y, k, "cosine")
    want_rank = np.mean([_rank_sim_reference(list(a[i]), list(b[i])) for i in range(70)])
    assert rl.compare(X, Y, "rank_knn", k=k) == pytest.approx(want_rank, abs=1e-12)
    cycle = np.mean([any(i in a[j] for j in b[i]) for i in range(70)])
    assert rl.compare(X, Y, "cycle_knn", k=k) == pytest.approx(cycle, abs=1e-12)
    cycle_yx = np.mean([any(i in b[j] for j in a[i]) for i in range(70)])
    assert rl.compare(Y, X, "cycle_knn", k=k) == pytest.approx(cycle_yx, abs=1e-12)
    # second-order cosine with Euclidean distances, from the definition
    ae, be = _brute_neighbours(X, k, "euclidean"), _brute_neighbours(Y, k, "euclidean")
    vals = []
    for i in range(70):
        U = sorted(set(ae[i]) | set(be[i]))
        dx = np.linalg.norm(X[U] - X[i], axis=1)
        dy = np.linalg.norm(Y[U] - Y[i], axis=1)
        vals.append(dx @ dy / np.linalg.norm(dx) / np.linalg.norm(dy))
    got = rl.compare(X, Y, "second_order_cosine", k=k, neighbors="euclidean")
    assert got == pytest.approx(np.mean(vals), abs=1e-12)


def _lcs_ref(x, y):
    m, n = len(x), len(y)
    dp = np.zeros((m + 1, n + 1), dtype=int)
    for i in range(m):
        for j in range(n):
            dp[i + 1, j + 1] = dp[i, j] + 1 if x[i] == y[j] else max(dp[i, j + 1], dp[i + 1, j])
    return dp[m, n]


def _lev_ref(x, y):
    m, n = len(x), len(y)
    dp = np.zeros((m + 1, n + 1), dtype=int)
    dp[:, 0], dp[0, :] = np.arange(m + 1), np.arange(n + 1)
    for i in range(m):
        for j in range(n):
            dp[i + 1, j + 1] = min(dp[i, j + 1] + 1, dp[i + 1, j] + 1, dp[i, j] + (x[i] != y[j]))
    return dp[m, n]


def test_sequence_dynamic_programs():
    g = np.random.default_rng(4)
    a = np.stack([g.choice(12, 6, replace=False) for _ in range(40)])
    b = np.stack([g.choice(12, 6, replace=False) for _ in range(40)])
    ta, tb = torch.tensor(a), torch.tensor(b)
    np.testing.assert_array_equal(_lcs_lengths(ta, tb).numpy(), [_lcs_ref(x, y) for x, y in zip(a, b)])
    np.testing.assert_array_equal(_levenshtein(ta, tb).numpy(), [_lev_ref(x, y) for x, y in zip(a, b)])


def _dense_cknna(X, Y, k, estimator, inner):
    """CKNNA from the definition with dense n x n masks and HSIC on the masked matrices (tests only)."""
    if not inner:
        X, Y = l2_rows(X), l2_rows(Y)
    n = X.shape[0]
    K, L = X @ X.T, Y @ Y.T

    def mask(M):
        S = M.copy()
        if estimator == "unbiased":
            np.fill_diagonal(S, -np.inf)
        out = np.zeros_like(M)
        out[np.arange(n)[:, None], np.argsort(-S, axis=1)[:, :k]] = 1.0
        return out

    def hsic(A, B):
        if estimator == "biased":
            H = np.eye(n) - 1.0 / n
            return np.trace(A @ H @ B @ H)
        A, B = A.copy(), B.copy()
        np.fill_diagonal(A, 0)
        np.fill_diagonal(B, 0)
        t = (A * B.T).sum() + A.sum() * B.sum() / ((n - 1) * (n - 2)) - 2 * (A @ B).sum() / (n - 2)
        return t / (n * (n - 3))

    mK, mL = mask(K), mask(L)
    M = mK * mL
    return hsic(M * K, M * L) / np.sqrt(hsic(mK * K, mK * K) * hsic(mL * L, mL * L))


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("neighbors", ["cosine", "inner_product"])
def test_sparse_cknna_equals_dense_definition(estimator, neighbors):
    g = np.random.default_rng(5)
    X = g.normal(size=(45, 7))
    Y = X @ g.normal(size=(7, 5)) + 0.8 * g.normal(size=(45, 5))
    inner = neighbors == "inner_product"
    for A, B in ((X, Y), (Y, X)):
        got = rl.compare(A, B, "cknna", k=6, estimator=estimator, neighbors=neighbors)
        assert got == pytest.approx(_dense_cknna(A, B, 6, estimator, inner), rel=1e-10)
    assert rl.compare(X, X, "cknna", k=6, estimator=estimator, neighbors=neighbors) == pytest.approx(1.0, abs=1e-12)


def _dense_cknna_paper(X, Y, k):
    """The paper's row-centred masked alignment with dense matrices (cosine kernels; tests only)."""
    X, Y = l2_rows(X), l2_rows(Y)
    K, L = X @ X.T, Y @ Y.T
    n = len(K)

    def mask(M):
        S = M.copy()
        np.fill_diagonal(S, -np.inf)
        out = np.zeros_like(M)
        out[np.arange(n)[:, None], np.argsort(-S, axis=1)[:, :k]] = 1.0
        return out

    Kc, Lc = K - K.mean(1, keepdims=True), L - L.mean(1, keepdims=True)
    mK, mL = mask(K), mask(L)
    return (mK * mL * Kc * Lc).sum() / np.sqrt((mK * Kc * Kc).sum() * (mL * Lc * Lc).sum())


def test_cknna_paper_form_is_symmetric_and_bounded_platonic_form_is_neither():
    """platonic-rep's HSIC of non-symmetric masked kernels is asymmetric and can exceed 1 when k is a
    large fraction of n (found on such a case); the paper's form is symmetric and in [-1, 1]."""
    g = np.random.default_rng(293)
    n, k = int(g.integers(12, 60)), int(g.integers(2, 15))  # n = 16, k = 10
    assert (n, k) == (16, 10)
    L_ = g.normal(size=(n, 3))
    X = np.tanh(L_ @ g.normal(size=(3, 8))) + g.uniform(0, 1) * g.normal(size=(n, 8)) + g.normal(size=8)
    Y = np.maximum(L_ @ g.normal(size=(3, 6)), 0) + 0.3 * g.normal(size=(n, 6))
    xy, yx = rl.compare(X, Y, "cknna", k=k), rl.compare(Y, X, "cknna", k=k)
    assert abs(xy - yx) > 0.05
    assert rl.compare(X, Y, "cknna", k=k, estimator="biased") > 1.0
    for A, B in ((X, Y), (Y, X)):
        got = rl.compare(A, B, "cknna", k=k, form="paper")
        assert got == pytest.approx(_dense_cknna_paper(A, B, k), rel=1e-10)
        assert -1.0 <= got <= 1.0
    assert rl.compare(X, Y, "cknna", k=k, form="paper") == pytest.approx(rl.compare(Y, X, "cknna", k=k, form="paper"))


def test_sparse_hsic_handles_asymmetric_supports():
    g = np.random.default_rng(6)
    n = 9
    A = (g.random((n, n)) < 0.4) * g.normal(size=(n, n))
    B = (A != 0) * g.normal(size=(n, n))
    r, c = np.nonzero(A)
    H = np.eye(n) - 1.0 / n
    t = torch.tensor
    got = _sparse_hsic(t(r), t(c), t(A[r, c]), t(B[r, c]), n, "biased")
    assert float(got) == pytest.approx(np.trace(A @ H @ B @ H), rel=1e-12)


def test_float32_agrees():
    rec = oracle_records("knn.jaccard.k=10.metric=cosine")[0]
    X, Y = oracle_inputs(rec)
    got = rl.measures.jaccard_knn(X.astype(np.float32), Y.astype(np.float32), dtype="float32")
    assert got == pytest.approx(rec["value"], rel=1e-6)
    got = rl.measures.second_order_cosine(X, Y, dtype="float32")
    assert got == pytest.approx(oracle_records("knn.second_order_cosine.k=10.metric=cosine")[0]["value"], rel=1e-4)


def test_compare_all_prepares_once_and_agrees():
    g = np.random.default_rng(7)
    acts = {f"l{i}": g.normal(size=(30, 4 + i)) for i in range(3)}
    res = rl.compare_all(acts, None, "mutual_knn(k=5)")
    assert res.values[0, 2] == pytest.approx(rl.compare(acts["l0"], acts["l2"], "mutual_knn", k=5))


def test_errors():
    g = np.random.default_rng(8)
    X = g.normal(size=(10, 3))
    assert rl.compare(X, g.normal(size=(10, 2)), "mutual_knn", k=9) == 1.0  # k = n - 1: everyone else
    idx, _ = nearest_neighbors(torch.tensor(X), 9, block=1)
    assert all(set(row) == set(range(10)) - {i} for i, row in enumerate(idx.tolist()))
    with pytest.raises(ReprlabError, match=r"`k`=10 is too large .* n=10 stimuli.*at most 9 \(k < n\)"):
        rl.compare(X, X, "mutual_knn")
    with pytest.raises(ReprlabError, match=r"`k`=12 is too large"):
        rl.compare(X, X, "cknna", k=12, estimator="biased")
    with pytest.raises(ReprlabError, match="'k' parameter of 'jaccard_knn' must be a positive integer"):
        rl.compare(X, X, "jaccard_knn", k=0)
    with pytest.raises(ReprlabError, match="'k' parameter of 'rank_knn' must be a positive integer"):
        rl.compare(X, X, "rank_knn", k=2.5)
    with pytest.raises(ReprlabError, match="'neighbors' parameter of 'cknna' must be one of 'cosine', 'inner_product'"):
        rl.compare(X, X, "cknna", neighbors="euclidean")
    Z = X.copy()
    Z[3] = 0.0
    with pytest.raises(ReprlabError, match=r"1 all-zero rows \(e.g. rows \[3\]\).*neighbors='euclidean'"):
        rl.compare(Z, X, "mutual_knn", k=3)
    assert 0.0 <= rl.compare(Z, X, "mutual_knn", k=3, neighbors="euclidean") <= 1.0
    with pytest.raises(ReprlabError, match="cknna needs k >= 2"):
        rl.compare(X, X, "cknna", k=1)
    with pytest.raises(ReprlabError, match="needs at least 4 stimuli; got n=3"):
        rl.compare(X[:3], X[:3], "cknna", k=2)
    dup = np.repeat(g.normal(size=(4, 3)), 3, axis=0)  # each row has two exact copies
    with pytest.raises(ReprlabError, match="distance profile is the zero vector"):
        rl.compare(dup, dup, "second_order_cosine", k=2)
    with pytest.raises(ReprlabError, match="cknna is undefined here"):
        rl.compare(np.eye(8), X[:8], "cknna", k=2)  # orthogonal rows: the masked kernel is 0


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_neighbour_lists_match_sklearn_on_fresh_data(metric):
    """Without duplicate rows sklearn's k+1 neighbours minus the first (the point itself) are the lists."""
    from sklearn.neighbors import NearestNeighbors

    g = np.random.default_rng(11)
    X = g.normal(size=(120, 9)) + 0.3
    _, want = NearestNeighbors(n_neighbors=8, metric=metric).fit(X).kneighbors(X)
    assert (want[:, 0] == np.arange(120)).all()
    idx, _ = nearest_neighbors(torch.tensor(X), 7, metric)
    np.testing.assert_array_equal(idx.numpy(), want[:, 1:])
