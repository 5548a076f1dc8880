"""Layer correspondence with bootstrap support, and Kornblith et al.'s layer identification."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError
from reprlab.experiments.digits import digits_networks


@pytest.fixture(scope="module")
def nets():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the per-test one-thread fixture
    try:
        return [n.layers for n in digits_networks(seeds=(0, 1, 2), epochs=3, test_size=200)]
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def chain():
    """Two 'networks' whose layers are noisy rotations of the same three latent stages."""
    rng = np.random.default_rng(0)
    h1 = rng.normal(size=(50, 6))
    h2 = np.tanh(h1 @ rng.normal(size=(6, 6)))
    h3 = rng.normal(size=(50, 6))
    rot = lambda h: h @ np.linalg.qr(rng.normal(size=(6, 6)))[0] + 0.1 * rng.normal(size=h.shape)  # noqa: E731
    return {"a1": rot(h1), "a2": rot(h2), "a3": rot(h3)}, {"b1": rot(h1), "b2": rot(h2), "b3": rot(h3)}


def test_layer_correspondence(chain):
    A, B = chain
    c = rl.stats.layer_correspondence(A, B, "cka", n=40, seed=0)
    assert c.best_b == ["b1", "b2", "b3"] and c.best_a == ["a1", "a2", "a3"]
    assert c.values.shape == (3, 3) and c.samples.shape == (40, 3, 3)
    assert c.values[1, 2] == pytest.approx(rl.compare(A["a2"], B["b3"], "cka"))
    np.testing.assert_allclose(c.best_b_share, 1.0)
    assert c.best_b_interval == [("b1", "b1"), ("b2", "b2"), ("b3", "b3")]


def test_correspondence_respects_distance_direction(chain):
    A, B = chain
    c = rl.stats.layer_correspondence(A, B, "cka", n=10, seed=0, angular=True)
    assert c.best_b == ["b1", "b2", "b3"]


def test_correspondence_with_the_pair_rule(rdm_measure, chain):
    A, B = chain
    c = rl.stats.layer_correspondence(A, B, rdm_measure, n=10, seed=0)
    assert c.best_b[2] == "b3" and c.values[0, 0] == pytest.approx(rl.compare(A["a1"], B["b1"], rdm_measure))


def test_layer_identification_on_digits(nets):
    r = rl.stats.layer_identification(nets, "cka")
    assert r.n_networks == 3 and r.layers == ["layer1", "layer2", "layer3", "layer4", "logits"]
    assert r.matches.shape == (3, 3, 5) and (np.diagonal(r.matches, axis1=0, axis2=1) == -1).all()
    # the best match of layer i of network 0 in network 1, by hand
    M = np.array([[rl.compare(nets[0][a], nets[1][b], "cka") for b in r.layers] for a in r.layers])
    np.testing.assert_array_equal(r.matches[0, 1], M.argmax(1))
    np.testing.assert_array_equal(r.matches[1, 0], M.argmax(0))
    correct = [r.matches[s, t, i] == i for s in range(3) for t in range(3) if s != t for i in range(5)]
    assert r.accuracy == pytest.approx(np.mean(correct))
    assert r.per_layer["layer1"] == 1.0  # the first hidden layers are unmistakable


def test_asymmetric_or_distance_measures_use_the_right_direction(nets):
    sim = rl.stats.layer_identification(nets, "cka")
    dist = rl.stats.layer_identification(nets, "cka", angular=True)
    np.testing.assert_array_equal(sim.matches, dist.matches)


def test_layer_identification_errors(nets):
    with pytest.raises(ReprlabError, match="at least 2 mappings"):
        rl.stats.layer_identification(nets[:1], "cka")
    with pytest.raises(ReprlabError, match="at least 2 mappings"):
        rl.stats.layer_identification(nets[0], "cka")
    other = {k: v for k, v in nets[1].items() if k != "logits"}
    with pytest.raises(ReprlabError, match="same layers in the same order"):
        rl.stats.layer_identification([nets[0], other], "cka")
    short = {k: v[:100] for k, v in nets[1].items()}
    with pytest.raises(ReprlabError, match="same stimuli"):
        rl.stats.layer_identification([nets[0], short], "cka")


def test_correspondence_errors(chain):
    A, B = chain
    with pytest.raises(ReprlabTypeError, match="non-empty mapping"):
        rl.stats.layer_correspondence([], B, "cka")
    with pytest.raises(ReprlabError, match="at least 5"):
        rl.stats.layer_correspondence({k: v[:4] for k, v in A.items()}, {k: v[:4] for k, v in B.items()}, "cka")


def test_asymmetric_measures_compute_both_orders(nets, asymmetric_measure):
    r = rl.stats.layer_identification(nets[:2], asymmetric_measure)
    for s, t in [(0, 1), (1, 0)]:
        M = np.array([[rl.compare(nets[s][a], nets[t][b], asymmetric_measure) for b in r.layers] for a in r.layers])
        np.testing.assert_array_equal(r.matches[s, t], M.argmax(1))
