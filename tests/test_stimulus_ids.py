"""Rows matched by stimulus id before any measure runs (stores, RDMs with labels, pandas objects)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.stats.human import model_rdm
from tests.store.test_store import Net

S = torch.randn(200, 6, generator=torch.Generator().manual_seed(3))
IDS = [f"s{i:03d}" for i in range(200)]


def _store(tmp_path, name, order, net_seed=0):
    out = tmp_path / name
    rl.extract(
        Net(net_seed),
        S[order],
        layers="all",
        pool="mean",
        ids=[IDS[i] for i in order],
        out=out,
        batch_size=64,
        progress=False,
    )
    return rl.Activations.open(out)


def test_stores_of_the_same_stimuli_in_different_orders_compare_as_aligned(tmp_path):
    order = np.random.default_rng(0).permutation(200)
    a = _store(tmp_path, "a", np.arange(200))
    b_same = _store(tmp_path, "b_same", np.arange(200), net_seed=1)
    b_shuffled = _store(tmp_path, "b_shuffled", order, net_seed=1)
    aligned = rl.compare_all(a, b_same, "cka")
    shuffled = rl.compare_all(a, b_shuffled, "cka")
    np.testing.assert_allclose(shuffled.values, aligned.values, rtol=1e-10, atol=1e-12)
    self_shuffled = rl.compare_all(a, _store(tmp_path, "a_shuffled", order), "cka")
    np.testing.assert_allclose(np.diag(self_shuffled.values), 1.0, rtol=1e-6)
    corr = rl.stats.layer_correspondence(a, b_shuffled, "cka", n=20)
    ref = rl.stats.layer_correspondence(a, b_same, "cka", n=20)
    assert corr.best_b == ref.best_b


def test_different_stimulus_sets_are_refused_or_intersected(tmp_path):
    a = _store(tmp_path, "a", np.arange(200))
    b = _store(tmp_path, "b", np.arange(3, 200))
    c = a.subset(IDS[:197])
    with pytest.raises(
        ReprlabError, match=r"different stimuli.*`B` lacks 3 id\(s\): 's000', 's001', 's002'.*intersect=True"
    ):
        rl.compare_all(a, b, "cka")
    with pytest.raises(ReprlabError, match=r"`A` lacks 3 id\(s\): 's197'.*`B` lacks 3 id\(s\): 's000'"):
        rl.compare_all(c, b, "cka")
    with pytest.warns(UserWarning, match=r"using the 197 stimuli that `A`, `B` share \(of 200, 197\)"):
        res = rl.compare_all(a, b, "cka", intersect=True)
    assert res.meta["n_stimuli"] == 197
    np.testing.assert_allclose(res.values, rl.compare_all(a.subset(IDS[3:]), b, "cka").values, rtol=1e-10)
    with pytest.raises(ReprlabError, match=r"`layers_a` lacks 3 id\(s\)") as err:
        rl.stats.layer_correspondence(b, a, "cka", n=20)
    assert "intersect" not in str(err.value)


def test_rdm_labels_and_pandas_indices_are_matched():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 5))
    Y = X @ rng.normal(size=(5, 4)) + 0.3 * rng.normal(size=(30, 4))
    ids = [f"w{i}" for i in range(30)]
    perm = rng.permutation(30)
    dx, dy = pd.DataFrame(X, index=ids), pd.DataFrame(Y, index=ids).iloc[perm]
    assert rl.compare(dx, dy, "cka") == pytest.approx(rl.compare(X, Y, "cka"), rel=1e-12)
    target = rl.RDM(model_rdm(Y), labels=np.asarray(ids, dtype=object))
    shuffled = rl.RDM(target.square[np.ix_(perm, perm)], labels=np.asarray(ids, dtype=object)[perm])
    want = rl.stats.rdm_alignment(rl.RDM(model_rdm(X), labels=np.asarray(ids, dtype=object)), target, n=50)
    got = rl.stats.rdm_alignment(rl.RDM(model_rdm(X), labels=np.asarray(ids, dtype=object)), shuffled, n=50)
    assert got.value == pytest.approx(want.value, rel=1e-12)
    with pytest.raises(ReprlabError, match=r"`Y` lacks 1 id\(s\): 'w0'"):
        rl.compare(dx, dy.drop(index="w0"), "cka")
