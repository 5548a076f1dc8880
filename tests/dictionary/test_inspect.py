"""top_examples equals a brute-force argsort over a 10,000-token store and carries the token text."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.capture.zoo import TextPreprocess
from tests.tiny_lms import VOCAB, tiny_lm, tiny_tokenizer


@pytest.fixture(scope="module")
def token_store(tmp_path_factory):
    g = np.random.default_rng(0)
    words = VOCAB[2:]
    texts = [" ".join(g.choice(words, size=25)) for _ in range(400)]  # 400 x 25 = 10,000 tokens
    prep = TextPreprocess(tiny_tokenizer(), padding_side="right")
    out = tmp_path_factory.mktemp("tok") / "store.zarr"
    acts = rl.extract(
        tiny_lm("llama"), texts, preprocess=prep, layers="model.layers.1", pool="none", batch_size=50, out=out,
        progress=False,
    )  # fmt: skip
    return acts, texts


def test_top_examples_equal_brute_force_argsort(token_store):
    acts, texts = token_store
    X = acts["model.layers.1"]
    assert X.shape[0] == 10_000
    sae = rl.dictionary.train(acts, "model.layers.1", kind="topk", k=4, n_latents=64, steps=40, batch_size=500,
                              progress=False)  # fmt: skip
    Z = sae.encode(X)
    latents = [0, 5, 17, 63]
    got = rl.dictionary.top_examples(sae, acts, texts, latents=latents, k=10, batch_size=1500)
    idx = acts.index("model.layers.1")
    for latent in latents:
        recs = [r for r in got if r["latent"] == latent]
        order = np.argsort(-Z[:, latent], kind="stable")
        want = [int(i) for i in order[:10] if Z[i, latent] > 0]
        rows = [r["row"] for r in recs]
        # identical prefixes give identical activations (a causal model), so tied rows may swap
        assert len(set(rows)) == len(rows) == len(want)
        np.testing.assert_allclose([r["activation"] for r in recs], Z[want, latent], rtol=1e-5)
        np.testing.assert_allclose(Z[rows, latent], Z[want, latent], rtol=1e-5)
        assert set(np.flatnonzero(Z[:, latent] > Z[want[-1], latent])) <= set(rows)
        for r in recs:
            row = r["row"]
            assert r["stimulus"] == acts.ids[idx.stimulus[row]] and r["position"] == idx.position[row]
            word = texts[idx.stimulus[row]].split()[idx.position[row]]
            assert r["token"].strip() == word and f"[[{r['token']}]]" in r["context"]


def test_top_examples_errors(token_store):
    acts, _ = token_store
    sae = rl.dictionary.SparseAutoencoder(7, 14, "relu")
    with pytest.raises(rl.ReprlabError, match="expects 7"):
        rl.dictionary.top_examples(sae, acts, layer="model.layers.1")
