"""Streaming CCA, linear regression and shape metrics: compare_all over stores equals pairwise rl.compare in memory."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.stream import moments
from tests.engine.test_compare_all import layers, pairwise, to_zarr

SPECS = [
    "cca",
    "cca(summary=mean_r2)",
    "cca(summary=svcca)",
    "cca(summary=svcca, var_kept=0.6)",
    "cca(summary=svcca, dims=3)",
    "cca(summary=pwcca)",
    "linear_regression",
    "linear_regression(direction=y_to_x)",
]
# the shape metric's own rank and error cases are in test_shape_metric.py
SHAPE_SPECS = [
    "shape",
    "shape(alpha=0.5)",
    "shape(alpha=0)",
    "shape(alpha=0.5, score=euclidean)",
    "shape(score=euclidean)",
    "shape(alpha=0.3, convention=repsim, dim=4)",
    "shape(group=permutation)",
    "shape(group=permutation, alpha=0.5, score=euclidean)",
]


def rank_deficient(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Layers with exactly dependent units: rank 4 in 12 units, a duplicated unit, a constant unit."""
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(n, 4)) @ rng.normal(size=(4, 12)) + 20.0
    base = rng.normal(size=(n, 6)) + low[:, :6] + 5.0
    dup = np.c_[base, base[:, 2], 2.0 * base[:, 4] - base[:, 1]]
    const = np.c_[rng.normal(size=(n, 5)) + low[:, 6:11], np.full(n, 3.0)]
    return {"low": low, "dup": dup, "const": const}


class CountingStore:
    """A store array that records how many rows each read returns (and how many rows in total)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype = data, data.shape, data.dtype
        self.reads: list[int] = []

    def __getitem__(self, key: slice) -> np.ndarray:
        out = self.data[key]
        self.reads.append(out.shape[0])
        return out


def symmetric(spec: str) -> bool:
    return rl.measures.info(spec).symmetric_for(rl._registry.parse_spec(spec)[1])


@pytest.mark.parametrize("spec", SPECS + SHAPE_SPECS)
def test_stores_equal_pairwise_in_memory_within_and_across(tmp_path, monkeypatch, spec):
    A = layers(n=301, widths=(5, 12, 9, 30), offset=30.0)  # first chunk's mean far from the global one
    B = layers(n=301, widths=(7, 4), seed=3)
    sa, sb = to_zarr(tmp_path, A, chunk=32), to_zarr(tmp_path, B, chunk=32, name="b.zarr")
    monkeypatch.setattr(moments, "ACC_BUDGET", 8 * 1000)  # several passes over the stores
    assert len(moments.make_plan([5, 12, 9, 30], None, 8, 8 * 1000).passes) == 3
    within = rl.compare_all(sa, None, spec, chunk_rows=32)
    assert within.meta["path"] == "stream" and within.meta["chunk_rows"] == 32
    np.testing.assert_allclose(within.values, pairwise(A, None, spec), rtol=0, atol=1e-10)
    assert np.allclose(within.values, within.values.T) == symmetric(spec)
    across = rl.compare_all(sa, sb, spec, chunk_rows=48)
    np.testing.assert_allclose(across.values, pairwise(A, B, spec), rtol=0, atol=1e-10)
    forced = rl.compare_all(A, B, spec, stream=True, chunk_rows=50)  # in-memory arrays, streamed
    assert forced.meta["path"] == "stream"
    np.testing.assert_allclose(forced.values, across.values, rtol=0, atol=1e-10)


@pytest.mark.parametrize("spec", SPECS)
def test_rank_deficient_inputs_lose_the_same_directions(tmp_path, spec):
    A = rank_deficient(n=240)
    store = to_zarr(tmp_path, A, chunk=40)
    res = rl.compare_all(store, None, spec, chunk_rows=40)
    np.testing.assert_allclose(res.values, pairwise(A, None, spec), rtol=0, atol=1e-10)


@pytest.mark.parametrize("spec", SPECS)
def test_more_units_than_stimuli(tmp_path, spec):
    A = layers(n=30, widths=(40, 35, 8), offset=3.0)
    store = to_zarr(tmp_path, A, chunk=8)
    with warnings.catch_warnings(record=True) as streamed:
        warnings.simplefilter("always")
        res = rl.compare_all(store, None, spec, chunk_rows=8)
    with warnings.catch_warnings(record=True) as in_memory:
        warnings.simplefilter("always")
        ref = pairwise(A, None, spec)
    np.testing.assert_allclose(res.values, ref, rtol=0, atol=1e-10)

    def ranks(caught) -> set[frozenset[str]]:  # the rank pairs warned about (a symmetric pair is run once)
        return {frozenset(re.search(r"ranks (\d+) and (\d+)", str(w.message)).groups()) for w in caught}

    assert ranks(streamed) == ranks(in_memory)
    if spec in ("cca", "cca(summary=pwcca)"):
        assert {frozenset({"29"}), frozenset({"29", "8"})} == ranks(streamed)
        assert np.allclose(res.values, 1.0)  # n - 1 = 29 centred directions: every correlation is 1


def test_float32_chunks_use_float32_rank_tolerance(tmp_path):
    """Rank is decided at the compute dtype's precision even with float64 accumulation."""
    A = rank_deficient(n=400)
    store = to_zarr(tmp_path, A, chunk=64)
    for spec in ("cca", "linear_regression"):
        res = rl.compare_all(store, None, spec, dtype="float32", accumulate="float64", chunk_rows=64)
        np.testing.assert_allclose(res.values, pairwise(A, None, spec), rtol=0, atol=1e-4)


def test_in_memory_arrays_keep_the_per_pair_svd_path():
    """Covariances cannot resolve a unit that differs from another by 1e-9; the SVD of the data can."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6))
    X = np.c_[X, X[:, 0] + 1e-9 * rng.normal(size=300)]
    Y = 0.3 * X[:, :5] + rng.normal(size=(300, 5))
    for spec in ("cca", "linear_regression"):
        res = rl.compare_all({"x": X}, {"y": Y}, spec)
        assert res.meta["path"] == "pairs"
        assert res.values[0, 0] == pytest.approx(rl.compare(X, Y, spec), rel=1e-13)


@pytest.mark.parametrize("spec", ["cka(estimator=unbiased)", "cca(summary=pwcca)", "linear_regression"])
def test_streamed_reads_are_bounded_by_the_chunk(spec):
    A = layers(n=200, widths=(6, 9, 4))
    stores = {k: CountingStore(v) for k, v in A.items()}
    res = rl.compare_all(stores, None, spec, chunk_rows=16)
    assert res.meta["path"] == "stream"
    for s in stores.values():
        assert max(s.reads) == 16
        assert sum(s.reads) - 16 == 200  # the shift's first chunk, then every row once (one pass)
    np.testing.assert_allclose(res.values, pairwise(A, None, spec), rtol=0, atol=1e-10)


def test_errors_match_in_memory(tmp_path):
    A = layers(n=50, widths=(5, 4))
    bad = {**A, "dead": np.full((50, 3), 0.7)}
    store = to_zarr(tmp_path, bad, chunk=16)
    for where in (bad, store):
        with pytest.raises(ReprlabError, match=r"zero variance across stimuli.*canonical correlations"):
            rl.compare_all(where, None, "cca", stream=True)
        with pytest.raises(ReprlabError, match="target representation of linear_regression has zero variance"):
            rl.compare_all(where, None, "linear_regression", stream=True)
    with pytest.raises(ReprlabError, match=r"A\['dead'\] has zero variance"):
        rl.compare_all(store, None, "cca(summary=svcca)")
    # a constant predictor explains nothing (R^2 = 0), as in memory
    res = rl.compare_all({"dead": store["dead"]}, {k: store[k] for k in A}, "linear_regression", chunk_rows=16)
    np.testing.assert_array_equal(res.values, 0.0)
    one = to_zarr(tmp_path, {"a": np.ones((1, 3)), "b": np.arange(3.0)[None]}, chunk=1, name="one.zarr")
    with pytest.raises(ReprlabError, match="CCA needs at least 2 stimuli"):
        rl.compare_all(one, None, "cca")
    with pytest.raises(ReprlabError, match="cannot be computed in a stream"):
        rl.compare_all(A, None, "cca(summary=pwcca, pwcca_weights=google)", stream=True)


def test_google_pwcca_weights_load_stores_into_memory(tmp_path):
    A, B = layers(n=80, widths=(4, 6)), layers(n=80, widths=(9, 7), seed=2)  # d1 <= d2 for every pair
    store = to_zarr(tmp_path, A, chunk=16)
    spec = "cca(summary=pwcca, pwcca_weights=google)"
    res = rl.compare_all(store, B, spec, chunk_rows=16)
    assert res.meta["path"] == "pairs"
    np.testing.assert_allclose(res.values, pairwise(A, B, spec), rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def dask_client():
    import distributed

    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize(
    "spec", ["cca(summary=pwcca)", "linear_regression(direction=y_to_x)"], ids=["cca", "linear_regression"]
)
def test_dask_local_cluster(tmp_path, dask_client, spec):
    A = layers(n=160, offset=10.0)
    B = layers(n=160, seed=4, widths=(3, 5))
    store = to_zarr(tmp_path, A, chunk=20)
    res = rl.compare_all(store, None, spec, client=dask_client, chunk_rows=20)
    assert res.meta["path"] == "dask-stream"
    np.testing.assert_allclose(res.values, pairwise(A, None, spec), rtol=0, atol=1e-10)
    res = rl.compare_all(store, B, spec, client=dask_client, chunk_rows=20)
    np.testing.assert_allclose(res.values, pairwise(A, B, spec), rtol=0, atol=1e-10)
    res = rl.compare_all(A, B, spec, client=dask_client)  # in-memory arrays: the per-pair path
    assert res.meta["path"] == "dask-pairs"
    np.testing.assert_allclose(res.values, pairwise(A, B, spec), rtol=0, atol=1e-10)
