"""sketched_cka: rank-m sketches of the kernel matrices, exact at m = n, with an error that covers the exact value."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.engine import sketched_cka
from reprlab.errors import ReprlabError
from tests.engine.test_compare_all import layers, to_zarr


def exact(A, B=None, **params) -> np.ndarray:
    return rl.compare_all(A, B, "cka", **params).values


@pytest.mark.parametrize("kernel", ["rbf", "laplace", "linear"])
@pytest.mark.parametrize("estimator", ["biased", "unbiased", "lange"])
def test_nystrom_with_every_stimulus_as_landmark_is_exact(kernel, estimator):
    A, B = layers(n=50, widths=(5, 8)), layers(n=50, seed=2, widths=(3,))
    res = sketched_cka(A, B, kernel=kernel, estimator=estimator, n_components=50, check_size=20)
    np.testing.assert_allclose(res.values, exact(A, B, kernel=kernel, estimator=estimator), rtol=0, atol=1e-8)
    assert np.max(res.meta["error"]) < 1e-8 and res.values.shape == (2, 1)
    assert res.meta["check_stimuli"].startswith("all stimuli")  # no stimulus is left out of the landmarks


def test_explicit_sigma_and_subsampled_median():
    A = layers(n=60, widths=(4, 6))
    res = sketched_cka(A, sigma=2.5, n_components=60, check_size=10)
    np.testing.assert_allclose(res.values, exact(A, kernel="rbf", sigma=2.5), atol=1e-8)
    assert res.meta["sigma_from"] == "given" and res.meta["sigma"]["A['layer.0']"] == 2.5
    res = sketched_cka(A, n_components=60, sigma_sample=30, check_size=10)
    assert "drawn with seed" in res.meta["sigma_from"]
    assert all(s > 0 for s in res.meta["sigma"].values())


CASES = [("nystrom", "rbf", 20), ("nystrom", "laplace", 40), ("rff", "rbf", 64), ("rff", "laplace", 64)]


@pytest.mark.parametrize(("method", "kernel", "m"), CASES)
def test_exact_value_lies_within_the_stated_error(method, kernel, m):
    A = layers(n=200, widths=(6, 9, 5), offset=2.0)
    for estimator in ("biased", "unbiased"):
        ex = exact(A, kernel=kernel, estimator=estimator)
        for seed in (0, 1, 2):
            res = sketched_cka(
                A, kernel=kernel, method=method, n_components=m, estimator=estimator, check_size=100, seed=seed
            )
            err, off = np.array(res.meta["error"]), ~np.eye(3, dtype=bool)
            assert (err[off] > 0).all() and (err[off] < 0.5).all()
            assert (np.abs(res.values - ex) <= err + 1e-12).all(), (seed, np.abs(res.values - ex), err)
            np.testing.assert_allclose(np.diag(res.values), 1.0)
            np.testing.assert_allclose(res.values, res.values.T, atol=1e-12)


@pytest.mark.parametrize(("method", "small", "large"), [("nystrom", 8, 120), ("rff", 16, 512)])
def test_error_shrinks_as_n_components_grows(method, small, large):
    A = layers(n=160, widths=(5, 7), offset=2.0)
    ex = exact(A, kernel="rbf")[0, 1]
    runs = [sketched_cka(A, method=method, n_components=m, check_size=40, seed=3) for m in (small, large)]
    stated = [r.meta["error"][0][1] for r in runs]
    actual = [abs(r.values[0, 1] - ex) for r in runs]
    gram = [r.meta["gram_error"]["A['layer.0']"] for r in runs]
    assert stated[1] < stated[0] / 3 and actual[1] < actual[0] and gram[1] < gram[0] / 2


def test_store_input_chunks_and_float32_agree(tmp_path):
    A = layers(n=90, widths=(6, 4))
    ref = sketched_cka(A, n_components=30, check_size=20)
    store = to_zarr(tmp_path, A, chunk=16)
    for res in (
        sketched_cka(store, n_components=30, check_size=20),
        sketched_cka(A, n_components=30, check_size=20, chunk_rows=7),
    ):
        np.testing.assert_allclose(res.values, ref.values, atol=1e-10)
        np.testing.assert_allclose(res.meta["error"], ref.meta["error"], atol=1e-10)
    res = sketched_cka(A, n_components=30, check_size=20, dtype="float32")
    np.testing.assert_allclose(res.values, ref.values, atol=1e-3)


def test_exact_kernel_cka_is_not_sketched():
    """rl.compare(..., kernel="rbf") stays the exact in-memory value (the sketch is opt-in only)."""
    X, Y = layers(n=40, widths=(3, 5)).values()
    sq = lambda Z: ((Z[:, None] - Z[None]) ** 2).sum(-1)  # noqa: E731
    med = lambda Z: np.sort(np.sqrt(sq(Z)[np.triu_indices(40, 1)]))[(780 + 1) // 2 - 1]  # noqa: E731
    H = np.eye(40) - 1 / 40
    K, L = (H @ np.exp(-sq(Z) / (2 * med(Z) ** 2)) @ H for Z in (X, Y))
    assert rl.compare(X, Y, "cka", kernel="rbf") == pytest.approx(
        (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())
    )


def test_errors():
    A = layers(n=30, widths=(3, 4))
    with pytest.raises(ReprlabError, match=r"n_components.*integer >= 1"):
        sketched_cka(A, n_components=0)
    with pytest.raises(ReprlabError, match="cannot exceed the 30 stimuli"):
        sketched_cka(A, n_components=31)
    with pytest.raises(ReprlabError, match=r"n_components.*integer >= 2"):
        sketched_cka(A, method="rff", n_components=1)
    with pytest.raises(ReprlabError, match="method"):
        sketched_cka(A, method="svd")
    with pytest.raises(ReprlabError, match="exact linear CKA"):
        sketched_cka(A, kernel="linear", method="rff")
    with pytest.raises(ReprlabError, match="kernel"):
        sketched_cka(A, kernel="poly")
    with pytest.raises(ReprlabError, match="estimator"):
        sketched_cka(A, estimator="mine")
    with pytest.raises(ReprlabError, match="repeats"):
        sketched_cka(A, repeats=1)
    with pytest.raises(ReprlabError, match="check_size"):
        sketched_cka(A, check_size=3)
    with pytest.raises(ReprlabError, match="sigma"):
        sketched_cka(A, sigma=-1.0)
    with pytest.raises(ReprlabError, match="same rows"):
        sketched_cka(A, {"x": np.ones((29, 2))})
    bad = dict(A)
    bad["layer.0"] = bad["layer.0"].copy()
    bad["layer.0"][3, 1] = np.nan
    with pytest.raises(ReprlabError, match="non-finite"):
        sketched_cka(bad)
    with pytest.raises(ReprlabError, match=r"median distance .* is 0"):
        sketched_cka({"c": np.ones((30, 2))}, n_components=10)
    with pytest.raises(ReprlabError, match="at least 4 stimuli"):
        sketched_cka({"x": np.eye(3)}, estimator="unbiased", n_components=3)
