"""Alignment with human reference data: fixed RDM targets and word-similarity ratings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import pdist, squareform

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.stats.human import model_rdm


@pytest.fixture
def target_and_model():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(30, 4))
    X = latent @ rng.normal(size=(4, 12)) + 0.5 * rng.normal(size=(30, 12))
    human = pdist(latent + 0.5 * rng.normal(size=latent.shape), "cosine")
    return X, human


@pytest.mark.parametrize("method", ["cosine", "correlation", "euclidean", "sqeuclidean"])
def test_model_rdm_matches_scipy(method):
    X = np.random.default_rng(0).normal(size=(10, 5))
    np.testing.assert_allclose(model_rdm(X, method), squareform(pdist(X, method)), atol=1e-12)


def test_rdm_alignment_value_and_interval(target_and_model):
    X, human = target_and_model
    r = rl.stats.rdm_alignment(X, human, n=100, seed=0)
    assert r.value == pytest.approx(sps.spearmanr(pdist(X, "cosine"), human).statistic, rel=1e-10)
    assert r.ci_low < r.value < r.ci_high and r.rule == "distinct_pairs"
    same = rl.stats.rdm_alignment(squareform(pdist(X, "cosine")), squareform(human), n=100, seed=0)
    np.testing.assert_allclose(same.samples, r.samples, rtol=1e-10)
    pearson = rl.stats.rdm_alignment(X, human, compare="pearson", rdm="euclidean", n=10, method="bca")
    assert pearson.value == pytest.approx(np.corrcoef(pdist(X), human)[0, 1])


def test_rdm_alignment_drops_self_pairs(target_and_model):
    X, human = target_and_model
    r = rl.stats.rdm_alignment(X, human, n=1, seed=4)
    idx = np.random.default_rng(4).integers(0, 30, 30)
    D, H = squareform(pdist(X, "cosine")), squareform(human)
    a, b = np.triu_indices(30, 1)
    keep = idx[a] != idx[b]
    want = sps.spearmanr(D[idx[a[keep]], idx[b[keep]]], H[idx[a[keep]], idx[b[keep]]]).statistic
    assert r.samples[0] == pytest.approx(want, rel=1e-10)


def test_layerwise_alignment_shares_resamples(target_and_model):
    X, human = target_and_model
    res = rl.stats.layerwise_rdm_alignment({"l0": X, "l1": X[:, :6]}, human, n=20, seed=1)
    assert list(res) == ["l0", "l1"]
    assert res["l0"].value == pytest.approx(rl.stats.rdm_alignment(X, human, n=1).value)


def test_target_rdm_of_the_wrong_size(target_and_model):
    X, human = target_and_model
    with pytest.raises(ReprlabError, match="target RDM covers 29 stimuli but the model has 30"):
        rl.stats.rdm_alignment(X, pdist(X[:29]))
    with pytest.raises(ReprlabError, match="not n\\(n-1\\)/2"):
        rl.stats.rdm_alignment(X, human[:-1])
    with pytest.raises(ReprlabError, match="`compare` must be one of"):
        rl.stats.rdm_alignment(X, human, compare="kendall")
    with pytest.raises(ReprlabError, match="`rdm` must be one of"):
        rl.stats.rdm_alignment(X, human, rdm="manhattan")
    with pytest.raises(ReprlabError, match="zero norm"):
        rl.stats.rdm_alignment(np.vstack([np.zeros(12), X[1:]]), human)


def test_word_similarity_from_vectors():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    vecs = {w: rng.normal(size=8) for w in words}
    pairs = [(words[i], words[(i * 7 + 3) % 40]) for i in range(40)]
    cos = np.array([vecs[a] @ vecs[b] / (np.linalg.norm(vecs[a]) * np.linalg.norm(vecs[b])) for a, b in pairs])
    ratings = 5 * cos + 0.3 * rng.normal(size=40)
    r = rl.stats.word_similarity_from_vectors(vecs, pairs, ratings, n=200, seed=0)
    assert r.value == pytest.approx(sps.spearmanr(cos, ratings).statistic, rel=1e-12)
    assert r.ci_low < r.value < r.ci_high and r.rule == "pairs"
    idx = np.random.default_rng(0).integers(0, 40, 40)
    assert r.samples[0] == pytest.approx(sps.spearmanr(cos[idx], ratings[idx]).statistic, rel=1e-12)
    with pytest.raises(ReprlabError, match="No vector for 1 word"):
        rl.stats.word_similarity_from_vectors(vecs, [*pairs, ("w0", "zebra")], [*ratings, 1.0])
    with pytest.raises(ReprlabError, match="one rating per pair"):
        rl.stats.word_similarity_from_vectors(vecs, pairs, ratings[:-1])
    with pytest.raises(ReprlabError, match="all tied"):
        rl.stats.word_similarity_from_vectors(vecs, pairs, np.ones(40), n=5)
    with pytest.raises(ReprlabError, match="is zero"):
        rl.stats.word_similarity_from_vectors({**vecs, "w0": np.zeros(8)}, pairs, ratings)


def test_square_representation_is_not_mistaken_for_an_rdm(target_and_model):
    _, human = target_and_model
    Xsq = np.random.default_rng(0).normal(size=(30, 30))
    r = rl.stats.rdm_alignment(Xsq, human, n=1)
    assert r.value == pytest.approx(sps.spearmanr(pdist(Xsq, "cosine"), human).statistic, rel=1e-10)
