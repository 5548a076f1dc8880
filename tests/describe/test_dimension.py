"""Intrinsic dimension: parity with scikit-dimension (stored values and fresh runs), known answers, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab._neighbors import count_within, knn
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_inputs, oracle_records

LPCA_VERSIONS = ["FO", "Fan", "maxgap", "ratio", "participation_ratio", "Kaiser", "broken_stick"]
LPCA_VERSIONS += ["MP", "GD", "KN", "Minka", "denoised", "scRMT"]

ORACLE_CALLS = [
    ("id.twonn.discard=0.1.fit=linear", "twonn", {}),
    ("id.twonn.discard=0.1.fit=mle", "twonn", {"fit": "mle"}),
    ("id.mle.k=20.comb=mle", "mle", {}),
    ("id.mle.k=20.pointwise", "local_dimension", {}),
    ("id.gride.n1=1.n2=2", "gride", {}),
    ("id.mom.k=100", "mom", {}),
    ("id.mom.k=100.pointwise", "local_dimension", {"estimator": "mom", "k": 100}),
    # the id says k=100, but the recorded call is MADA() whose default n_neighbors is 20
    ("id.mada.k=100", "mada", {"k": 20}),
    ("id.corrint.k1=10.k2=20", "corrint", {}),
    # the id says k=100, but the recorded call is TLE() whose default n_neighbors is 20
    ("id.tle.k=100", "tle", {"k": 20}),
    ("id.mind_mlk.k=20.D=10", "mind_ml", {}),
    ("id.lpca.ver=FO.pointwise.k=50", "local_dimension", {"estimator": "lpca", "k": 50}),
    *[(f"id.lpca.ver={v}", "lpca", {"ver": v}) for v in LPCA_VERSIONS],
]


@pytest.mark.parametrize("measure_id, name, params", ORACLE_CALLS, ids=[c[0] for c in ORACLE_CALLS])
def test_matches_scikit_dimension_oracles(measure_id, name, params):
    for rec in oracle_records(measure_id, peer="scikit-dimension"):
        (X,) = oracle_inputs(rec)
        got = rl.describe(X, name, **params)
        assert_oracle(got.numpy() if isinstance(got, torch.Tensor) else got, rec)


def test_randomised_lpca_parallel_oracle_is_a_sane_rank():
    """lPCA 'parallel' is randomised in scikit-dimension (not implemented here): the deterministic
    signal-rank rules land on the recorded parallel-analysis value for the linear case."""
    for rec in oracle_records("id.lpca.ver=parallel"):
        if rec["case"] == "id_linear5_in30_n400":
            (X,) = oracle_inputs(rec)
            assert rl.describe(X, "lpca", ver="MP") == rec["value"] == 5


def _data(seed: int, n: int = 240, d_in: int = 4, D: int = 12, noise: float = 0.02) -> np.ndarray:
    g = np.random.default_rng(seed)
    return g.normal(size=(n, d_in)) @ g.normal(size=(d_in, D)) + noise * g.normal(size=(n, D))


@pytest.mark.parametrize("seed", [0, 1])
def test_fresh_parity_with_scikit_dimension(seed):
    import skdim  # the `peers` extra

    X = _data(seed, D=30 if seed else 12)  # D > 25 takes skdim's pairwise-distance TwoNN path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = {
            ("twonn", ()): skdim.id.TwoNN().fit(X).dimension_,
            ("twonn", (("fit", "mle"), ("discard", 0.2))): skdim.id.TwoNN(method="mle", discard_fraction=0.2)
            .fit(X)
            .dimension_,
            ("mle", ()): skdim.id.MLE().fit(X).dimension_,
            ("mle", (("k", 10), ("comb", "mean"))): skdim.id.MLE().fit(X, n_neighbors=10, comb="mean").dimension_,
            ("mle", (("comb", "median"), ("unbiased", True))): skdim.id.MLE(unbiased=True)
            .fit(X, comb="median")
            .dimension_,
            ("gride", (("n1", 2), ("n2", 5))): skdim.id.GRIDE(n1=2, n2=5).fit(X).dimension_,
            ("mom", (("k", 30),)): skdim.id.MOM().fit(X, n_neighbors=30).dimension_,
            ("mada", (("k", 12),)): skdim.id.MADA().fit(X, n_neighbors=12).dimension_,
            ("corrint", (("k1", 5), ("k2", 15))): skdim.id.CorrInt(k1=5, k2=15).fit(X).dimension_,
            ("tle", (("k", 15),)): skdim.id.TLE().fit(X, n_neighbors=15).dimension_,
            ("mind_ml", (("k", 10), ("D", 8))): skdim.id.MiND_ML(k=10, D=8).fit(X).dimension_,
            ("mind_ml", (("ver", "MLi"),)): skdim.id.MiND_ML(ver="MLi").fit(X).dimension_,
        }
        for v in LPCA_VERSIONS if seed == 0 else LPCA_VERSIONS[:-1]:  # skdim's scRMT is slow: once
            want[("lpca", (("ver", v),))] = skdim.id.lPCA(ver=v, random_state=0).fit(X).dimension_
        want[("lpca", (("ver", "MP"), ("center", False)))] = skdim.id.lPCA(ver="MP", center=False).fit(X).dimension_
        want[("lpca", (("ver", "FO"), ("alpha_fo", 0.2)))] = skdim.id.lPCA(ver="FO", alphaFO=0.2).fit(X).dimension_
        pw_mle = skdim.id.MLE().fit(X, n_neighbors=15).dimension_pw_
        pw_lpca = skdim.id.lPCA(ver="Kaiser").fit_pw(X, n_neighbors=20).dimension_pw_
    for (name, params), value in want.items():
        assert rl.describe(X, name, **dict(params)) == pytest.approx(value, rel=1e-9), (name, params)
    np.testing.assert_allclose(rl.describe(X, "local_dimension", k=15), pw_mle, rtol=1e-9)
    np.testing.assert_array_equal(rl.describe(X, "local_dimension", estimator="lpca", ver="Kaiser", k=20), pw_lpca)


def test_twonn_drop_matches_scikit_dimension_on_duplicates():
    import skdim

    X = _data(3, n=200)
    X = np.vstack([X, X[:7]])  # 7 duplicated points: 14 rows with r1 = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = skdim.id.TwoNN().fit(X).dimension_
    assert rl.describe(X, "twonn", duplicates="drop") == pytest.approx(want, rel=1e-9)
    with pytest.raises(
        ReprlabError, match=r"14 of 207 points have a duplicate.*np.unique\(X, axis=0\).*duplicates='drop'"
    ):
        rl.describe(X, "twonn")
    with pytest.raises(ReprlabError, match="14 of 207 points have a duplicate"):
        rl.describe(X, "mle")


# --- known answers -----------------------------------------------------------------------------


def _sphere(n: int, d: int, D: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    S = g.normal(size=(n, d + 1))
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    Q, _ = np.linalg.qr(g.normal(size=(D, d + 1)))
    return S @ Q.T + 1e-3 * g.normal(size=(n, D))


@pytest.mark.parametrize("name", ["twonn", "mle", "gride", "mada", "corrint", "tle", "mind_ml"])
def test_known_dimension_subspace_and_sphere(name):
    """A 4-d linear subspace of R^20 and a 3-sphere in R^10, both with small noise: d within 0.6."""
    assert rl.describe(_data(7, n=1500, d_in=4, D=20, noise=1e-3), name) == pytest.approx(4, abs=0.6)
    assert rl.describe(_sphere(1500, 3, 10, 8), name) == pytest.approx(3, abs=0.6)


def test_known_dimension_spectral():
    X = _data(9, n=500, d_in=6, D=25, noise=1e-3)
    for ver in ("FO", "Kaiser", "maxgap", "MP", "GD", "KN", "Minka"):
        assert rl.describe(X, "lpca", ver=ver) == 6, ver
    g = np.random.default_rng(0)
    iso = g.normal(size=(4000, 5)) @ np.linalg.qr(g.normal(size=(30, 5)))[0].T
    assert rl.describe(iso, "participation_ratio") == pytest.approx(5, abs=0.1)
    assert rl.describe(iso, "effective_rank", center=True) == pytest.approx(5, abs=0.1)


# --- neighbour search --------------------------------------------------------------------------


def _brute(X: np.ndarray, k: int):
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, :k]


@pytest.mark.parametrize("screen", [True, False])
def test_knn_exact_and_chunked(screen):
    g = np.random.default_rng(2)
    X = 1e3 + g.normal(size=(150, 6))  # a large offset: the search centres first
    X[10:20] = X[0] + 1e-9 * g.normal(size=(10, 6))  # near-duplicates: ties at float32 resolution
    X[30] = X[31]  # an exact duplicate
    dist, idx = knn(torch.tensor(X), 7, block_rows=16, screen=screen)
    np.testing.assert_allclose(dist.numpy(), _brute(X, 7), rtol=1e-12, atol=1e-15)
    assert float(dist[30, 0]) == 0.0 and int(idx[30, 0]) == 31
    assert not (idx == torch.arange(150)[:, None]).any()  # never the point itself


@pytest.mark.parametrize("screen", [True, False])
def test_knn_low_rank_screen_is_exact(screen):
    """Low-rank data take the [P x, |residual|] lower-bound screen first; the result is still exact."""
    from reprlab._neighbors import _screens

    g = np.random.default_rng(5)
    X = g.normal(size=(300, 3)) @ g.normal(size=(3, 16)) + 1e-3 * g.normal(size=(300, 16))
    X[40:45] = X[39] + 1e-10 * g.normal(size=(5, 16))  # near-duplicates
    Xc = torch.tensor(X - X.mean(0))
    assert [sc.Z.shape[1] for sc in _screens(Xc, screen)] == [4, 16]  # 3 directions + the residual norm
    dist, _ = knn(torch.tensor(X), 10, block_rows=64, screen=screen)
    np.testing.assert_allclose(dist.numpy(), _brute(X, 10), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_knn_query_blocks_on_worker_threads_give_the_same_result(threads):
    g = np.random.default_rng(6)
    X = torch.tensor(g.normal(size=(2000, 3)) @ g.normal(size=(3, 12)) + 1e-3 * g.normal(size=(2000, 12)))
    X[100:104] = X[99]  # exact duplicates: ties ordered by index whichever thread runs the block
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        dist, idx = knn(X, 9, block_rows=37)
    finally:
        torch.set_num_threads(before)
    want_dist, want_idx = knn(X, 9, block_rows=2000)  # one block, no worker threads
    assert torch.equal(dist, want_dist) and torch.equal(idx, want_idx)
    np.testing.assert_allclose(dist.numpy(), _brute(X.numpy(), 9), rtol=1e-12, atol=1e-15)


def _check_knn(X: np.ndarray, k: int, **kw) -> None:
    """Distances equal brute force; every returned index is at its returned distance, never the query,
    distinct within a row, and equal distances come by increasing index."""
    dist, idx = knn(torch.tensor(X), k, **kw)
    np.testing.assert_allclose(dist.numpy(), _brute(X, k), rtol=1e-12, atol=1e-15)
    direct = np.sqrt(((X[idx.numpy()] - X[:, None, :]) ** 2).sum(-1))
    np.testing.assert_allclose(direct, dist.numpy(), rtol=1e-12, atol=1e-15)
    assert not (idx == torch.arange(len(X))[:, None]).any()
    assert all(len(set(r)) == k for r in idx.tolist())
    tied = dist[:, 1:] == dist[:, :-1]
    assert (idx[:, 1:][tied] > idx[:, :-1][tied]).all()


@pytest.fixture
def small_chunks(monkeypatch):
    """Tiny selection chunks, so that data of a few hundred rows take every level of the nested
    selection in ``_search`` (the default sizes need thousands of rows)."""
    from reprlab import _neighbors

    monkeypatch.setattr(_neighbors, "CHUNK", 4)
    monkeypatch.setattr(_neighbors, "SUPER", 2)
    monkeypatch.setattr(_neighbors, "SUB", 2)


@pytest.mark.parametrize("screen", [True, False])
def test_knn_nested_selection_ties_and_duplicates(small_chunks, screen):
    """A lattice (many exactly equal distances) with repeated points, embedded in 12-d: the low-rank
    screen and all selection levels run, and ties are resolved exactly."""
    g = np.random.default_rng(7)
    grid = np.stack(np.meshgrid(np.arange(15.0), np.arange(15.0)), -1).reshape(-1, 2)  # 225 points
    X = np.concatenate([grid, grid[:40], grid[:5]]) @ g.normal(size=(2, 12))  # 45 duplicates
    _check_knn(X, 6, block_rows=32, screen=screen)


@pytest.mark.parametrize("screen", [True, False])
def test_knn_nested_selection_without_low_rank_structure(small_chunks, screen):
    from reprlab._neighbors import _screens

    g = np.random.default_rng(8)
    X = g.normal(size=(260, 10))
    X[50:60] = X[49] + 1e-9 * g.normal(size=(10, 10))  # near-duplicates below float32 resolution
    assert len(_screens(torch.tensor(X - X.mean(0)), screen)) == 1  # no low-rank screen
    _check_knn(X, 5, block_rows=40, screen=screen)


def test_knn_default_chunks_on_a_few_thousand_rows():
    """The default selection sizes engage from about 256 (k + MARGIN) rows on."""
    g = np.random.default_rng(9)
    X = g.normal(size=(2100, 2)) @ g.normal(size=(2, 9)) + 1e-4 * g.normal(size=(2100, 9))
    X[100:103] = X[99]
    _check_knn(X, 3)


def test_count_within_matches_brute_force():
    g = np.random.default_rng(4)
    X = g.normal(size=(90, 3))
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    r = np.array([0.3, 0.8, 1.5])
    want = [(D < ri).sum() - 90 for ri in r]
    assert count_within(torch.tensor(X), torch.tensor(r), block_rows=7).tolist() == want


def test_float32_compute():
    X = _data(5).astype(np.float32)
    a = rl.describe(X, "twonn", dtype="float32")
    b = rl.describe(X.astype(np.float64), "twonn")
    assert a == pytest.approx(b, rel=1e-4)


# --- errors --------------------------------------------------------------------------------------


def test_errors():
    X = _data(6, n=30)
    with pytest.raises(ReprlabError, match=r"k=40 neighbours needs at least 41 stimuli \(rows\); got 30"):
        rl.describe(X, "mle", k=40)
    with pytest.raises(ReprlabError, match="GRIDE needs n1 < n2; got n1=3, n2=2"):
        rl.describe(X, "gride", n1=3, n2=2)
    with pytest.raises(ReprlabError, match="CorrInt needs k1 < k2"):
        rl.describe(X, "corrint", k1=5, k2=5)
    with pytest.raises(ReprlabError, match="TwoNN needs at least 3 stimuli"):
        rl.describe(X[:2], "twonn")
    with pytest.raises(ReprlabError, match="'discard' parameter of 'twonn' must be a number in"):
        rl.describe(X, "twonn", discard=1.5)
    with pytest.raises(ReprlabError, match="'ver' parameter of 'lpca' must be one of"):
        rl.describe(X, "lpca", ver="fo")
    with pytest.raises(ReprlabError, match="local_dimension\\(estimator='lpca'\\) takes ver in"):
        rl.describe(X, "local_dimension", estimator="lpca", ver="scRMT")
    with pytest.raises(ReprlabError, match="zero variance"):
        rl.describe(np.ones((20, 4)), "lpca")
    with pytest.raises(ReprlabError, match="compares two representations"):
        rl.describe(X, "cka")
    with pytest.raises(ReprlabError, match="describes one representation"):
        rl.compare(X, X, "twonn")


def test_describe_all_leaves_repeated_rows_out_of_the_neighbour_estimators():
    """lee300 holds 7 repeated documents: describe_all must not fail on it (issue 16)."""
    X = np.random.default_rng(3).normal(size=(120, 8))
    X[[10, 11, 50]] = X[[2, 2, 7]]
    with pytest.warns(UserWarning, match="3 of 120 rows repeat"):
        r = rl.describe_all({"a": X}, ["twonn", "participation_ratio"])
    assert r.values[0, 0] == pytest.approx(rl.describe(X, "twonn", duplicates="drop"))
    assert r.values[0, 1] == pytest.approx(rl.describe(X, "participation_ratio"))
    with pytest.raises(ReprlabError, match="duplicate"):
        rl.describe_all({"a": X}, ["twonn"], duplicates="raise")
    with pytest.raises(ReprlabError, match="duplicate"):
        rl.describe(X, "twonn")
