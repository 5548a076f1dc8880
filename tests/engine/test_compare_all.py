"""compare_all: equal to pairwise rl.compare on every path (all-pairs hook, moments, streaming, Dask)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

import reprlab as rl
from reprlab import _registry
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.conftest import temporary_measure


def layers(n: int = 60, widths=(5, 7, 9, 4), seed: int = 0, offset: float = 4.0) -> dict[str, np.ndarray]:
    """Gaussian layers sharing a low-rank signal, with large column means (tests the centring)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 3))
    return {
        f"layer.{i}": shared @ rng.normal(size=(3, d)) + rng.normal(size=(n, d)) + offset * rng.normal(size=d)
        for i, d in enumerate(widths)
    }


def pairwise(A: dict, B: dict | None, measure: str, **params) -> np.ndarray:
    B = A if B is None else B
    return np.array([[rl.compare(x, y, measure, **params) for y in B.values()] for x in A.values()])


def to_zarr(tmp_path, reps: dict[str, np.ndarray], chunk: int, name: str = "acts.zarr") -> dict:
    root = zarr.open_group(str(tmp_path / name), mode="w")
    for k, v in reps.items():
        arr = root.create_array(k, shape=v.shape, chunks=(chunk, v.shape[1]), dtype=v.dtype)
        arr[:] = v
    return {k: root[k] for k in reps}


CKA_PARAMS = [
    {"estimator": "biased"},
    {"estimator": "unbiased"},
    {"estimator": "lange"},
    {"estimator": "unbiased", "angular": True},
    {"eps": 1e-6},
]


@pytest.mark.parametrize("params", CKA_PARAMS)
def test_linear_cka_feature_space_within_and_across(params):
    A, B = layers(), layers(seed=1, widths=(3, 6))
    res = rl.compare_all(A, None, "cka", **params)
    assert res.meta["path"] == "moments"
    np.testing.assert_allclose(res.values, pairwise(A, None, "cka", **params), rtol=0, atol=1e-10)
    assert res.rows == res.cols == list(A)
    res = rl.compare_all(A, B, "cka", chunk_rows=7, **params)  # many chunks: float64 sums across chunks
    np.testing.assert_allclose(res.values, pairwise(A, B, "cka", **params), rtol=0, atol=1e-10)
    assert res.values.shape == (4, 2)


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "lange"])
def test_linear_cka_sample_space_when_features_outnumber_stimuli(estimator):
    A = layers(n=25, widths=(80, 120, 60))
    B = layers(n=25, widths=(90,), seed=3)
    res = rl.compare_all(A, None, "cka", estimator=estimator)
    assert res.meta["path"] == "all_pairs"
    np.testing.assert_allclose(res.values, pairwise(A, None, "cka", estimator=estimator), rtol=0, atol=1e-10)
    res = rl.compare_all(A, B, "cka", estimator=estimator, chunk_rows=4)
    np.testing.assert_allclose(res.values, pairwise(A, B, "cka", estimator=estimator), rtol=0, atol=1e-10)


def test_sample_space_hook_declines_other_kernels_and_wider_stimuli():
    from reprlab.measures.cka.batched import all_pairs
    from reprlab.stream.moments import Options

    defaults = _registry.get("cka").info.defaults()
    opts = Options(torch.float64, torch.device("cpu"), torch.float64, labels=["a", "b"])
    X = [torch.randn(30, 40, dtype=torch.float64), torch.randn(30, 50, dtype=torch.float64)]
    assert all_pairs(X, None, {**defaults, "kernel": "rbf"}, opts) is None
    assert all_pairs(X, None, defaults, opts) is not None  # n=30 < d: sample space
    tall = [torch.randn(300, 4, dtype=torch.float64)] * 2
    assert all_pairs(tall, None, defaults, opts) is None  # n >> d: feature space (moments)


def test_non_linear_kernels_use_prepare_once_and_core_per_pair():
    A = layers(n=40)
    res = rl.compare_all(A, None, "cka(kernel=rbf, estimator=unbiased)")
    assert res.meta["path"] == "pairs"
    np.testing.assert_allclose(res.values, pairwise(A, None, "cka", kernel="rbf", estimator="unbiased"), atol=1e-10)


def test_float32_compute_with_float64_accumulation():
    A = layers(n=500, widths=(20, 30, 25), offset=50.0)
    ref = pairwise(A, None, "cka")
    plain = rl.compare_all(A, None, "cka", dtype="float32", chunk_rows=64)
    acc = rl.compare_all(A, None, "cka", dtype="float32", accumulate="float64", chunk_rows=64)
    assert acc.meta["accumulate"] == "float64" and acc.meta["dtype"] == "float32"
    np.testing.assert_allclose(acc.values, ref, atol=1e-5)
    np.testing.assert_allclose(plain.values, ref, atol=1e-4)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_units_first_chunks_equal_row_major_ones(monkeypatch, estimator):
    """float32 chunks laid out units-first (for oneDNN) give the row-major chunks' values; the
    transposing copy runs in blocks of rows with a remainder (50-row chunks, 8-row blocks)."""
    from reprlab._linalg import onednn_enabled
    from reprlab.stream import moments

    A = layers(n=230, widths=(20, 30, 25), offset=5.0)
    ref = pairwise(A, None, "cka", estimator=estimator)
    copy = moments._sub_into
    got, layouts = {}, {}
    for name, threshold in (("units_first", 0), ("row_major", 1 << 62)):
        seen = layouts[name] = set()
        monkeypatch.setattr(moments, "ROWS_FIRST_MIN_MACS", threshold)
        monkeypatch.setattr(moments, "TRANSPOSE_ROWS", 8)
        monkeypatch.setattr(
            moments, "_sub_into", lambda out, x, s, seen=seen: (seen.add(out.stride(0)), copy(out, x, s))
        )
        got[name] = rl.compare_all(
            A, None, "cka", estimator=estimator, dtype="float32", accumulate="float64", chunk_rows=50
        ).values
        np.testing.assert_allclose(got[name], ref, atol=1e-5)
    assert layouts["row_major"] == {75}  # rows of all three layers side by side
    assert layouts["units_first"] == ({1} if onednn_enabled(torch.float32, torch.device("cpu")) else {75})
    np.testing.assert_allclose(got["units_first"], got["row_major"], atol=1e-6)


def test_blocked_transposing_copy_is_exact():
    from reprlab.stream.moments import TRANSPOSE_ROWS, _sub_into

    g = torch.Generator().manual_seed(0)
    for m in (TRANSPOSE_ROWS - 1, 3 * TRANSPOSE_ROWS + 5):
        x, shift = torch.randn(m, 7, generator=g), torch.randn(7, generator=g)
        Z = torch.empty(9, m).T  # a units-first chunk: columns 1..7 are this source's
        _sub_into(Z[:, 1:8], x, shift)
        assert torch.equal(Z[:, 1:8], x - shift)
        R = torch.empty(m, 9)  # row-major
        _sub_into(R[:, 2:9], x, shift)
        assert torch.equal(R[:, 2:9], x - shift)


def test_row_norms_of_a_units_first_chunk():
    from reprlab.stream.moments import NORM_UNITS, _row_sq_norms

    g = torch.Generator().manual_seed(1)
    spans = [slice(0, 3), slice(3, 3 + 2 * NORM_UNITS + 7)]
    Zr = torch.randn(40, spans[-1].stop, generator=g)
    Zu = torch.empty(Zr.shape[1], 40).T
    Zu.copy_(Zr)
    want = torch.stack([(Zr[:, s] ** 2).sum(1) for s in spans])
    torch.testing.assert_close(_row_sq_norms(Zr, spans), want)
    torch.testing.assert_close(_row_sq_norms(Zu, spans), want)


def test_asymmetric_measure_within_and_across():
    """A registered test-only asymmetric streamable measure: |C_xy|_F^2 / |C_xx|_F^2."""
    from reprlab.stream.moments import StreamSpec

    def prep(X, **_):
        return X - X.mean(0)

    def asym(X, Y):
        return torch.linalg.matrix_norm(X.T @ Y) ** 2 / torch.linalg.matrix_norm(X.T @ X) ** 2

    def stream(p):
        return StreamSpec(rep=lambda st: (st.cross**2).sum(), pair=lambda st, hx, hy: (st.cross**2).sum() / hx)

    hooks = _registry.Hooks(stream=stream)
    with temporary_measure(
        "_engine_test_asym", asym, symmetric=False, range=(0.0, float("inf")), prepare=prep, hooks=hooks
    ) as name:
        A, B = layers(), layers(seed=5, widths=(2, 8, 3))
        for measure_b in (None, B):
            ref = pairwise(A, measure_b, name)
            res = rl.compare_all(A, measure_b, name, chunk_rows=11)
            assert res.meta["path"] == "moments"
            np.testing.assert_allclose(res.values, ref, rtol=1e-12, atol=1e-10)
        within = rl.compare_all(A, None, name)
        assert not np.allclose(within.values, within.values.T)
        _registry._REGISTRY[name].hooks = _registry.Hooks()
        res = rl.compare_all(A, None, name)
        assert res.meta["path"] == "pairs"
        np.testing.assert_allclose(res.values, pairwise(A, None, name), atol=1e-10)


@pytest.mark.parametrize(
    "params", [{"estimator": "biased"}, {"estimator": "unbiased", "angular": True}, {"estimator": "lange"}]
)
def test_streaming_from_a_zarr_store_equals_in_memory(tmp_path, params):
    A = layers(n=203, offset=30.0)  # the first chunk's mean is far from the global mean: shift corrections
    store = to_zarr(tmp_path, A, chunk=32)
    res = rl.compare_all(store, None, "cka", **params)
    assert res.meta["path"] == "stream"
    mem = rl.compare_all(A, None, "cka", **params)
    np.testing.assert_allclose(res.values, mem.values, rtol=0, atol=1e-10)
    small = rl.compare_all(store, None, "cka", chunk_rows=32, **params)
    np.testing.assert_allclose(small.values, mem.values, rtol=0, atol=1e-10)


def test_streaming_memmap_across_sets_and_tiny_budget(tmp_path, monkeypatch):
    from reprlab.stream import moments

    A, B = layers(n=150), layers(n=150, seed=2, widths=(6, 3))
    mm = {}
    for k, v in B.items():
        m = np.lib.format.open_memmap(tmp_path / f"{k}.npy", mode="w+", dtype=v.dtype, shape=v.shape)
        m[:] = v
        mm[k] = m
    monkeypatch.setattr(moments, "ACC_BUDGET", 8 * 40)  # forces one pass per task and split task rows
    opts_budget = moments.make_plan([5, 7, 9, 4], [6, 3], 8, 8 * 40)
    assert len(opts_budget.passes) > 3
    res = rl.compare_all(A, mm, "cka", estimator="unbiased", chunk_rows=16, stream=True)
    np.testing.assert_allclose(res.values, pairwise(A, B, "cka", estimator="unbiased"), atol=1e-10)


def test_multi_pass_plan_matches(monkeypatch):
    from reprlab.stream import moments

    A = layers(n=80, widths=(5, 7, 9, 4, 6))
    monkeypatch.setattr(moments, "ACC_BUDGET", 8 * 60)
    assert len(moments.make_plan([5, 7, 9, 4, 6], None, 8, 8 * 60).passes) > 3
    res = rl.compare_all(A, None, "cka", estimator="lange")
    np.testing.assert_allclose(res.values, pairwise(A, None, "cka", estimator="lange"), atol=1e-10)


def test_dask_local_cluster_equals_local(tmp_path):
    import distributed

    A = layers(n=160, offset=10.0)
    B = layers(n=160, seed=4, widths=(3, 5))
    store = to_zarr(tmp_path, A, chunk=20)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = rl.compare_all(store, B, "cka", estimator="unbiased", client=client, chunk_rows=20)
        assert res.meta["path"] == "dask-stream"
        local = rl.compare_all(A, B, "cka", estimator="unbiased")
        np.testing.assert_allclose(res.values, local.values, rtol=0, atol=1e-10)
        res = rl.compare_all(A, None, "cka(kernel=rbf)", client=client)
        assert res.meta["path"] == "dask-pairs"
        np.testing.assert_allclose(res.values, rl.compare_all(A, None, "cka(kernel=rbf)").values, atol=1e-10)


def test_errors():
    A = layers(n=30)
    with pytest.raises(ReprlabError, match=r"same rows.*A\['layer.0'\] has 30 rows and B\['x'\] has 29"):
        rl.compare_all(A, {"x": np.ones((29, 3))}, "cka")
    with pytest.raises(ReprlabError, match="same rows"):
        rl.compare_all([np.random.rand(10, 3), np.random.rand(11, 3)], None, "cka(kernel=rbf)")
    with pytest.raises(ReprlabError, match="at least one representation"):
        rl.compare_all({}, None, "cka")
    with pytest.raises(ReprlabError, match="at least one representation"):
        rl.compare_all(A, [], "cka")
    with pytest.raises(ReprlabTypeError, match="mapping of name"):
        rl.compare_all(np.ones((4, 4)) if False else 3, None, "cka")
    with pytest.raises(ReprlabError, match="cannot be computed in a stream"):
        rl.compare_all(A, None, "cka(kernel=rbf)", stream=True)
    with pytest.raises(ReprlabError, match="chunk_rows"):
        rl.compare_all(A, None, "cka", chunk_rows=0)
    with pytest.raises(ReprlabError, match="accumulate"):
        rl.compare_all(A, None, "cka", accumulate="float32")
    with pytest.raises(ReprlabError, match="zero variance"):
        rl.compare_all({**A, "dead": np.ones((30, 4))}, None, "cka")
    with pytest.raises(ReprlabError, match="at least 4 stimuli"):
        rl.compare_all([np.random.rand(3, 2)] * 2, None, "cka", estimator="unbiased")
    with pytest.raises(ReprlabError, match="non-finite"):
        bad = A["layer.0"].copy()
        bad[3, 1] = np.nan
        rl.compare_all({"bad": bad}, None, "cka")


def test_non_finite_rows_in_a_store_are_reported_with_their_chunk(tmp_path):
    A = layers(n=64)
    A["layer.1"][40, 0] = np.inf
    store = to_zarr(tmp_path, A, chunk=16)
    with pytest.raises(ReprlabError, match=r"A\['layer.1'\] rows 32:48.*non-finite"):
        rl.compare_all(store, None, "cka", chunk_rows=16)


def test_non_scalar_measure_is_refused():
    with temporary_measure("_engine_test_vector", lambda X, Y: {"a": 1.0}) as name:
        with pytest.raises(ReprlabError, match="scalar value"):
            rl.compare_all(layers(n=10), None, name)


def test_result_labels_and_provenance(tmp_path):
    A = layers(n=40)
    res = rl.compare_all(list(A.values())[:2], None, "cka", estimator="unbiased")
    assert res.rows == ["0", "1"] and res.measure == "cka(estimator=unbiased)"
    assert res.meta["n_stimuli"] == 40
    back = rl.ComparisonResult.load(res.save(tmp_path / "r.json"))
    np.testing.assert_allclose(back.values, res.values)
