"""rl.lens.train_tuned_lens / tuned_lens / TunedLens on a tiny random Llama."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.capture.hooks import default_layers
from reprlab.capture.zoo import TextPreprocess, ZooModel
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.tiny_lms import VOCAB, tiny_lm, tiny_tokenizer


def _zoo(arch: str = "llama", seed: int = 0) -> ZooModel:
    model, tok = tiny_lm(arch, seed=seed), tiny_tokenizer()
    return ZooModel(f"tiny-{arch}", model, TextPreprocess(tok), default_layers(model), "text", "none", tokenizer=tok)


def _texts(n: int, seed: int) -> list[str]:
    g = np.random.default_rng(seed)
    return [" ".join(g.choice(VOCAB[2:], size=int(g.integers(6, 14)))) for _ in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    lm = _zoo()
    store = rl.extract(lm, _texts(40, 0), pool="none", out=tmp_path_factory.mktemp("t") / "s.zarr", progress=False)
    lens = rl.lens.train_tuned_lens(lm, store, steps=60, lr=1e-2, rows_per_step=64, train_vocab=None, window=128)
    return lm, store, lens


def test_an_untrained_lens_is_the_logit_lens():
    lm = _zoo()
    lens = rl.lens.TunedLens(["model.embed_tokens", "model.layers.0", "model.layers.1", "model.layers.2"], 32,
                             "tiny-llama")  # fmt: skip
    texts = _texts(5, 1)
    a, b = rl.lens.tuned_lens(lm, texts, lens), rl.lens.logit_lens(lm, texts)
    assert a.kind == "tuned" and b.kind == "logit"
    np.testing.assert_allclose(a.kl_to_final, b.kl_to_final, rtol=1e-6, atol=1e-9)


def test_training_lowers_the_held_out_kl_and_the_record_is_kept(trained):
    lm, store, lens = trained
    assert lens.layers == ["model.embed_tokens", "model.layers.0", "model.layers.1", "model.layers.2"]
    assert len(lens.history) == 60 and lens.history[-1] < lens.history[0]
    assert lens.config["n_train_tokens"] + lens.config["n_held_out_tokens"] == store.shape("model.layers.0")[0]
    assert len(lens.config["held_out_stimuli"]) == 8  # 20 % of 40 stimuli, whole stimuli
    assert np.all(lens.held_out_kl[:-1] < 0.7 * lens.held_out_logit_kl[:-1])
    assert lens.held_out_kl[-1] == 0.0 and not lens.weight[-1].any()  # the last block: the output itself
    # the held-out figures equal a tuned_lens run on the held-out stimuli
    held = store.subset(lens.config["held_out_stimuli"])
    res = rl.lens.tuned_lens(lm, held, lens)
    per_token = res.kl_to_final.mean(axis=1)
    np.testing.assert_allclose(per_token, lens.held_out_kl, rtol=1e-5)


def test_save_load_round_trip_and_memory_equals_store_streaming(trained, tmp_path):
    lm, store, lens = trained
    path = lens.save(tmp_path / "lens.pt")
    back = rl.lens.TunedLens.load(path)
    assert back.layers == lens.layers and back.config == lens.config and back.history == lens.history
    torch.testing.assert_close(back.weight, lens.weight)
    np.testing.assert_array_equal(back.held_out_kl, lens.held_out_kl)
    mem = rl.Activations({n: store[n] for n in store.names}, store.ids, store.attrs,
                         {n: tuple(store.index(n)[:3]) for n in store.names}, vocab=None)  # fmt: skip
    again = rl.lens.train_tuned_lens(lm, mem, steps=60, lr=1e-2, rows_per_step=64, train_vocab=None, window=128)
    torch.testing.assert_close(again.weight, lens.weight, rtol=1e-5, atol=1e-6)


def test_a_restricted_training_vocabulary_and_texts_as_input():
    lm = _zoo()
    lens = rl.lens.train_tuned_lens(lm, _texts(20, 3), steps=30, lr=1e-2, rows_per_step=64, train_vocab=16)
    assert lens.config["train_vocab"] == 16
    assert np.all(lens.held_out_kl[:-1] < lens.held_out_logit_kl[:-1])


def test_errors(trained, tmp_path):
    lm, store, lens = trained
    with pytest.raises(ReprlabError, match="trained for 'tiny-llama', not for 'tiny-qwen2'"):
        rl.lens.tuned_lens(_zoo("qwen2"), ["the cat"], lens)
    with pytest.raises(ReprlabTypeError, match="`lens` must be a TunedLens"):
        rl.lens.tuned_lens(lm, ["the cat"], "lens.pt")
    with pytest.raises(ReprlabError, match="`steps` must be a positive integer"):
        rl.lens.train_tuned_lens(lm, store, steps=0)
    with pytest.raises(ReprlabError, match=r"`held_out` must lie in \(0, 1\)"):
        rl.lens.train_tuned_lens(lm, store, held_out=1.0)
    (tmp_path / "x.pt").write_bytes(b"not a lens")
    with pytest.raises(ReprlabError, match="is not a tuned lens"):
        rl.lens.TunedLens.load(tmp_path / "x.pt")
    with pytest.raises(ReprlabError, match="no tuned lens at"):
        rl.lens.TunedLens.load(tmp_path / "missing.pt")
