"""The RSA measure through the statistics: the distinct-pairs rule with rsatoolbox parity."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import rsatoolbox

import reprlab as rl
from reprlab.errors import ReprlabError


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8))
    return X, X @ rng.normal(size=(8, 6)) + 2 * rng.normal(size=(30, 6))


def _rsatoolbox_rdm(X):
    rdm = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation")
    return rsatoolbox.rdm.RDMs(rdm.get_vectors())  # with the default 'index' pattern descriptor


@pytest.mark.parametrize("compare, peer", [("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine")])
def test_rsa_bootstrap_matches_rsatoolbox_subsampling(data, compare, peer):
    X, Y = data
    r = rl.stats.bootstrap(X, Y, "rsa", n=5, seed=3, compare=compare)
    assert r.rule == "distinct_pairs"
    assert r.value == pytest.approx(rl.compare(X, Y, "rsa", compare=compare), rel=1e-12)
    DX, DY = _rsatoolbox_rdm(X), _rsatoolbox_rdm(Y)
    rng = np.random.default_rng(3)
    for b in range(5):
        idx = rng.integers(0, 30, 30)
        want = rsatoolbox.rdm.compare(DX.subsample_pattern("index", idx), DY.subsample_pattern("index", idx), peer)
        assert r.samples[b] == pytest.approx(float(want[0, 0]), rel=1e-9)


def test_rsa_permutation_is_the_mantel_test(data):
    X, Y = data
    r = rl.stats.permutation_test(X, Y, "rsa", n=3, seed=1)
    rng = np.random.default_rng(1)
    for b in range(3):
        assert r.null[b] == pytest.approx(rl.compare(X, Y[rng.permutation(30)], "rsa"), rel=1e-10)


def test_rsa_comparators_needing_the_whole_rdm_are_refused(data):
    with pytest.raises(ReprlabError, match="compare='bures' needs the whole RDM"):
        rl.stats.bootstrap(*data, "rsa", compare="bures")


def test_noise_ceiling_uses_compare_rdms(monkeypatch):
    rsa = importlib.import_module("reprlab.measures.rsa.comparators")  # where compare_rdms lives

    calls = []
    real = rsa.compare_rdms
    monkeypatch.setattr(rsa, "compare_rdms", lambda *a, **k: calls.append(k) or real(*a, **k))
    rl.stats.noise_ceiling(np.random.default_rng(0).random((3, 10)), method="kendall_tau_a")
    assert calls and calls[0]["method"] == "kendall_tau_a"
