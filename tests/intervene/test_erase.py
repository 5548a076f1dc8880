"""rl.erase: LEACE against concept-erasure; erased data leave a fresh probe at chance; as an edit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError


def concept_data(n=300, d=16, k=2, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    y = rng.integers(0, k, size=n)
    means = rng.normal(size=(k, d)) * 1.5
    X = rng.normal(size=(n, d)) @ A + means[y] + 3.0
    return X, y


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("method,peer_method", [("leace", "leace"), ("mean_diff", "orth")])
def test_equals_concept_erasure(k, method, peer_method):
    ce = pytest.importorskip("concept_erasure")
    X, y = concept_data(k=k)
    Z = (y == 1).astype(float)[:, None] if k == 2 else np.eye(k)[y]
    fitter = ce.LeaceFitter.fit(
        torch.as_tensor(X), torch.as_tensor(Z), method=peer_method, shrinkage=False, constrain_cov_trace=False
    )
    ref = fitter.eraser(torch.as_tensor(X)).numpy()
    E = rl.erase(X, y, method=method)
    np.testing.assert_allclose(E(X), ref, rtol=0, atol=1e-6)
    assert E.rank == k - 1


def _probe_accuracy(X, y, seed):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    tr, te = order[: len(y) // 2], order[len(y) // 2 :]
    clf = LogisticRegression(max_iter=2000).fit(X[tr], y[tr])
    return clf.score(X[te], y[te])


def test_fresh_probe_is_at_chance_after_leace():
    # The eraser is fitted on one half and the probe trained and tested (its own split) on the other
    # half, so the probe sees data the eraser never saw.
    pytest.importorskip("sklearn")
    X, y = concept_data(n=1200, d=16)
    fit, held = np.arange(600), np.arange(600, 1200)
    before = _probe_accuracy(X[held], y[held], 0)
    erased = rl.erase(X[fit], y[fit], method="leace")(X[held])
    after = _probe_accuracy(erased, y[held], 0)
    rng = np.random.default_rng(1)
    null = [_probe_accuracy(erased, rng.permutation(y[held]), 0) for _ in range(200)]
    lo, hi = np.quantile(null, [0.025, 0.975])
    assert before > 0.9
    assert lo <= after <= hi, (after, lo, hi)


def test_eraser_as_an_intervention(tiny_lm):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 32))
    y = np.r_[np.zeros(25), np.ones(25)]
    X[y == 1] += 2.0
    E = rl.erase(X, y)
    ids = torch.tensor([[3, 14, 15, 9, 26]])
    seen = {}
    with rl.intervene(tiny_lm, {"model.layers.1": E}):
        hook = tiny_lm.get_submodule("model.layers.1").register_forward_hook(lambda m, a, o: seen.update(h=o))
        try:
            with torch.no_grad():
                tiny_lm(ids)
        finally:
            hook.remove()
    seen_raw = {}
    hook = tiny_lm.get_submodule("model.layers.1").register_forward_hook(lambda m, a, o: seen_raw.update(h=o))
    try:
        with torch.no_grad():
            tiny_lm(ids)
    finally:
        hook.remove()
    torch.testing.assert_close(seen["h"], E(seen_raw["h"]), rtol=0, atol=1e-6)
    assert seen["h"].dtype == torch.float32


def test_erase_bad_input():
    X, y = concept_data()
    with pytest.raises(ReprlabError, match="single value"):
        rl.erase(X, np.zeros(len(X)))
    with pytest.raises(ReprlabError, match="one label per row"):
        rl.erase(X, y[:-1])
    with pytest.raises(ReprlabError, match='"leace" or "mean_diff"'):
        rl.erase(X, y, method="inlp")
    with pytest.raises(ReprlabError, match="width 3"):
        rl.erase(X, y)(X[:, :3])
