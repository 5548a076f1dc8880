"""rl.direction against the peers repeng and steering-vectors on the same activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(7)
    n, d = 40, 24
    concept = rng.normal(size=d)
    base = rng.normal(size=(n, d)) * 2.0
    pos = base + concept + 0.3 * rng.normal(size=(n, d))
    neg = base - concept + 0.3 * rng.normal(size=(n, d))
    return pos, neg


def test_mean_diff_and_pca_equal_steering_vectors(pairs):
    agg = pytest.importorskip("steering_vectors.aggregators")
    pos, neg = pairs
    P, N = torch.as_tensor(pos), torch.as_tensor(neg)
    md = rl.direction(pos, neg, method="mean_diff")
    np.testing.assert_allclose(md.vector, agg.mean_aggregator()(P, N).numpy(), rtol=0, atol=1e-5)
    pc = rl.direction(pos, neg, method="pca")
    np.testing.assert_allclose(pc.vector, agg.pca_aggregator()(P, N).numpy(), rtol=0, atol=1e-5)
    assert abs(np.linalg.norm(pc.vector) - 1) < 1e-12


def test_centered_pca_equals_repeng(pairs, monkeypatch):
    # repeng 0.4.0 refers to np.float_, removed in NumPy 2; give it the alias it expects for the import.
    monkeypatch.setattr(np, "float_", np.float64, raising=False)
    extract = pytest.importorskip("repeng.extract")
    pos, neg = pairs
    h = np.empty((2 * pos.shape[0], pos.shape[1]))
    h[::2], h[1::2] = pos, neg  # repeng's order: positive, negative, positive, ...
    from sklearn.decomposition import PCA

    # repeng.read_representations needs a model; its "pca_diff" step on given hiddens is this:
    train = h[::2] - h[1::2]
    ref = PCA(n_components=1, whiten=False).fit(train).components_.astype(np.float32).squeeze(axis=0)
    proj = extract.project_onto_direction(h, ref)
    if np.mean(proj[::2] < proj[1::2]) > np.mean(proj[::2] > proj[1::2]):
        ref = -ref
    got = rl.direction(pos, neg, method="pca", center=True)
    np.testing.assert_allclose(got.vector, ref, rtol=0, atol=1e-5)


def test_logistic_matches_sklearn_objective(pairs):
    linear_model = pytest.importorskip("sklearn.linear_model")
    pos, neg = pairs
    mid = (pos + neg) / 2
    X = np.vstack([pos - mid, neg - mid])
    y = np.r_[np.ones(len(pos)), -np.ones(len(neg))]
    ref = linear_model.LogisticRegression(fit_intercept=False, C=0.05, tol=1e-12, max_iter=10_000).fit(X, y).coef_[0]
    got = rl.direction(pos, neg, method="logistic", C=0.05)
    np.testing.assert_allclose(got.vector, ref / np.linalg.norm(ref), rtol=0, atol=1e-5)


def test_direction_is_an_array_and_an_edit_vector(pairs):
    pos, neg = pairs
    d = rl.direction(pos, neg, layer="model.layers.3")
    assert np.asarray(d).shape == (24,)
    assert d.layer == "model.layers.3"
    assert np.all(d.score(pos) > d.score(neg).mean())
    edit = rl.add(d, alpha=2.0)
    np.testing.assert_array_equal(edit.vector.numpy(), d.vector)


def test_direction_bad_input(pairs):
    pos, neg = pairs
    with pytest.raises(ReprlabError, match="same width"):
        rl.direction(pos, neg[:, :5])
    with pytest.raises(ReprlabError, match="needs contrast pairs"):
        rl.direction(pos, neg[:10], method="pca")
    with pytest.raises(ReprlabError, match="`method` must be one of"):
        rl.direction(pos, neg, method="lda")
    with pytest.raises(ReprlabError, match="identical"):
        rl.direction(pos, pos, method="pca")
