"""compare_all's batched shape-metric path: equal to pairwise rl.compare, and its building blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab._linalg import numpy_on_threads
from reprlab.errors import ReprlabError
from reprlab.measures.shape import nuclear_norms
from tests.engine.test_compare_all import layers, pairwise, to_zarr

PARAMS = [
    {},
    {"alpha": 0.5},
    {"alpha": 0.0},
    {"alpha": 0.5, "score": "euclidean"},
    {"score": "euclidean"},
    {"alpha": 0.3, "convention": "repsim", "dim": 4},
]


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    """The CI runs torch on one thread; with two, the representations are prepared on worker threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("params", PARAMS)
def test_all_pairs_path_equals_pairwise_within_and_across(params, threads):
    A, B = layers(widths=(5, 7, 9, 4)), layers(seed=1, widths=(3, 6))
    within = rl.compare_all(A, None, "shape", **params)
    assert within.meta["path"] == "all_pairs"
    np.testing.assert_allclose(within.values, pairwise(A, None, "shape", **params), rtol=1e-10, atol=1e-10)
    assert np.all(np.diag(within.values) == 0.0)
    across = rl.compare_all(A, B, "shape", **params)
    np.testing.assert_allclose(across.values, pairwise(A, B, "shape", **params), rtol=1e-10, atol=1e-10)


def test_more_features_than_stimuli_and_tiny_budget(monkeypatch):
    from reprlab.stream import moments

    A = layers(n=12, widths=(20, 5, 15, 30))  # d > n: points with at most n columns, rank-deficient
    monkeypatch.setattr(moments, "ACC_BUDGET", 8 * 12 * 12)  # one cross-product per block
    for params in ({"alpha": 0.5}, {"alpha": 1.0, "score": "euclidean"}):
        res = rl.compare_all(A, None, "shape", **params)
        assert res.meta["path"] == "all_pairs"
        np.testing.assert_allclose(res.values, pairwise(A, None, "shape", **params), rtol=1e-10, atol=1e-10)


def test_float32_compute(threads):
    A = layers(n=200, widths=(8, 6, 10))
    got = rl.compare_all(A, None, "shape", alpha=0.5, dtype="float32").values
    np.testing.assert_allclose(got, pairwise(A, None, "shape", alpha=0.5), atol=2e-4)


def test_permutation_group_in_memory_takes_the_per_pair_path():
    A = layers(widths=(5, 5, 5))
    res = rl.compare_all(A, None, "shape", group="permutation")
    assert res.meta["path"] == "pairs"
    np.testing.assert_allclose(res.values, pairwise(A, None, "shape", group="permutation"), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_nuclear_norms_equal_singular_value_sums(dtype):
    g = torch.Generator().manual_seed(0)
    full = torch.randn(6, 9, 7, generator=g, dtype=torch.float64)
    low = torch.randn(6, 9, 2, generator=g, dtype=torch.float64) @ torch.randn(
        6, 2, 7, generator=g, dtype=torch.float64
    )
    M = torch.cat([full, low]).to(dtype)  # full rank and rank 2 (null directions: the SVD fallback)
    bound = torch.linalg.matrix_norm(M.to(torch.float64)) * 10.0  # far from aligned
    want = torch.linalg.svdvals(M.to(torch.float64)).sum(-1)
    got = nuclear_norms(M, bound)
    assert got.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(got.to(torch.float64), want, rtol=tol, atol=0.0)
    torch.testing.assert_close(nuclear_norms(M.mT, bound).to(torch.float64), want, rtol=tol, atol=0.0)


def test_numpy_on_threads_equals_one_call_and_keeps_the_thread_count():
    before = torch.get_num_threads()
    P = np.random.default_rng(0).normal(size=(7, 5, 5))
    P = P @ P.transpose(0, 2, 1)
    torch.set_num_threads(3)  # three worker threads, whatever the machine
    try:
        got = numpy_on_threads(np.linalg.eigvalsh, P)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(got, np.linalg.eigvalsh(P))


@pytest.mark.parametrize("spec", ["shape(alpha=0.5)", "shape(score=euclidean)", "shape(group=permutation)"])
def test_stream_of_rank_deficient_and_wide_inputs(tmp_path, spec):
    g = np.random.default_rng(5)
    low = g.normal(size=(120, 3)) @ g.normal(size=(3, 10)) + 7.0  # rank 3 in 10 units
    wide = {f"w{i}": g.normal(size=(25, 30 + 5 * i)) for i in range(3)}  # d > n
    for k, reps in enumerate(({"low": low, "full": g.normal(size=(120, 6)), "dup": np.c_[low, low[:, :2]]}, wide)):
        store = to_zarr(tmp_path, reps, chunk=16, name=f"s{k}.zarr")
        res = rl.compare_all(store, None, spec, chunk_rows=16)
        np.testing.assert_allclose(res.values, pairwise(reps, None, spec), rtol=0, atol=1e-9)


def test_stream_float32_chunks_and_dask(tmp_path):
    import distributed

    A = layers(n=160, offset=10.0)
    store = to_zarr(tmp_path, A, chunk=20)
    want = pairwise(A, None, "shape", alpha=0.5)
    got = rl.compare_all(store, None, "shape(alpha=0.5)", dtype="float32", accumulate="float64", chunk_rows=20)
    np.testing.assert_allclose(got.values, want, atol=2e-4)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl,
        distributed.Client(cl) as client,
    ):
        res = rl.compare_all(store, None, "shape(alpha=0.5)", client=client, chunk_rows=20)
    assert res.meta["path"] == "dask-stream"
    np.testing.assert_allclose(res.values, want, rtol=0, atol=1e-10)


def test_stream_errors_and_declines(tmp_path):
    A = layers(n=40, widths=(5, 4))
    store = to_zarr(tmp_path, {**A, "dead": np.full((40, 3), 0.7)}, chunk=16)
    with pytest.raises(ReprlabError, match="zero variance across stimuli"):
        rl.compare_all(store, None, "shape")
    with pytest.raises(ReprlabError, match="cannot be computed in a stream"):
        rl.compare_all(A, None, "shape(group=permutation, dim=3)", stream=True)
    wide = to_zarr(tmp_path, {"a": np.random.default_rng(0).normal(size=(10, 12)), **A}, chunk=4, name="w.zarr")
    with pytest.warns(UserWarning, match=r"rank 9 = n - 1"):
        rl.compare_all({"a": wide["a"]}, None, "shape(alpha=0)", chunk_rows=4)


def test_spanning_warning_from_worker_threads(threads):
    A = layers(n=6, widths=(8, 9, 7))  # d >= n - 1: fully whitened, each spans every centred direction
    with pytest.warns(UserWarning, match="spans every centred direction"):
        rl.compare_all(A, None, "shape", alpha=0.0)
    assert torch.get_num_threads() == threads
