"""minibatch_cka: an explicit approximate estimator whose stated error covers its distance to the exact value."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.engine import minibatch_cka
from reprlab.errors import ReprlabError
from tests.engine.test_compare_all import layers


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_minibatch_estimate_is_within_its_stated_error_of_the_exact_value(kernel):
    A = layers(n=800, widths=(6, 9, 5), offset=2.0)
    res = minibatch_cka(A, kernel=kernel, batch_size=100, seed=1)
    se = np.array(res.meta["stderr"])
    assert res.meta["n_batches"] == 8 and se.shape == (3, 3)
    exact = rl.compare_all(A, None, "cka", kernel=kernel, estimator="unbiased", sigma=None).values
    off = ~np.eye(3, dtype=bool)
    assert (se[off] > 1e-4).all() and (se[off] < 0.1).all()
    assert (np.abs(res.values - exact)[off] <= 4 * se[off] + 0.01).all()
    np.testing.assert_allclose(np.diag(res.values), 1.0, atol=1e-12)
    np.testing.assert_allclose(res.values, res.values.T, atol=1e-12)


def test_minibatch_across_sets_and_errors():
    A, B = layers(n=100), layers(n=100, seed=3, widths=(4,))
    res = minibatch_cka(A, B, kernel="linear", batch_size=20)
    assert res.values.shape == (4, 1) and np.array(res.meta["stderr"]).shape == (4, 1)
    with pytest.raises(ReprlabError, match="at least 2 batches"):
        minibatch_cka(A, batch_size=60)
    with pytest.raises(ReprlabError, match="batch_size"):
        minibatch_cka(A, batch_size=3)
    with pytest.raises(ReprlabError, match="kernel"):
        minibatch_cka(A, kernel="poly")
    with pytest.raises(ReprlabError, match="same rows"):
        minibatch_cka(A, {"x": np.ones((99, 2))})
