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
    c = lens.config
    assert c["n_train_tokens"] + c["n_validation_tokens"] + c["n_held_out_tokens"] == store.shape("model.layers.0")[0]
    assert len(c["held_out_stimuli"]) == 8 and len(c["validation_stimuli"]) == 4  # 20 % and 10 % of 40 stimuli
    assert not set(c["held_out_stimuli"]) & set(c["validation_stimuli"])
    # every translator kept lowers the validation KL; a reset one is exactly the identity
    for i, name in enumerate(lens.layers[:-1]):
        kept = c["validation_kl"][i] < c["validation_logit_kl"][i]
        assert (name in lens.identity_layers) != kept
    assert np.all(lens.held_out_kl[:-1] < 0.7 * lens.held_out_logit_kl[:-1])
    assert lens.held_out_kl[-1] == 0.0 and not lens.weight[-1].any()  # the last block: the output itself
    # the held-out figures equal a tuned_lens run on the held-out stimuli
    held = store.subset(lens.config["held_out_stimuli"])
    res = rl.lens.tuned_lens(lm, held, lens)
    per_token = res.kl_to_final.mean(axis=1)
    np.testing.assert_allclose(per_token, lens.held_out_kl, rtol=1e-5)


def test_a_translator_worse_than_none_on_validation_is_reset_to_the_identity(trained):
    lm, store, _ = trained
    # a learning rate far too large: the translators of the blocks, whose logit lens is already close
    # to the output of this random model, end worse than none on the validation stimuli
    kw = dict(steps=3, lr=50.0, rows_per_step=64, train_vocab=None, window=128)
    bad = rl.lens.train_tuned_lens(lm, store, **kw)
    c = bad.config
    reset = [n for i, n in enumerate(bad.layers[:-1]) if not c["validation_kl"][i] < c["validation_logit_kl"][i]]
    assert bad.identity_layers == reset and len(reset) >= 2
    for name in reset:
        i = bad.layers.index(name)
        assert not bad.weight[i].any() and not bad.bias[i].any()
        assert bad.held_out_kl[i] == bad.held_out_logit_kl[i]  # exactly the logit lens, never higher
    # validation=0 keeps the trained translators, which are worse than none on the held-out stimuli too
    kept = rl.lens.train_tuned_lens(lm, store, validation=0.0, **kw)
    assert kept.identity_layers == [] and kept.config["validation_stimuli"] == []
    for name in reset:
        i = kept.layers.index(name)
        assert kept.held_out_kl[i] > kept.held_out_logit_kl[i]


def test_save_load_round_trip_and_memory_equals_store_streaming(trained, tmp_path):
    lm, store, lens = trained
    path = lens.save(tmp_path / "lens.pt")
    back = rl.lens.TunedLens.load(path)
    assert back.layers == lens.layers and back.config == lens.config and back.history == lens.history
    assert back.identity_layers == lens.identity_layers
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
    with pytest.raises(ReprlabError, match=r"`validation` must lie in \[0, 1\) and leave stimuli for training"):
        rl.lens.train_tuned_lens(lm, store, held_out=0.5, validation=0.5)
    with pytest.raises(ReprlabError, match="2 stimuli cannot be split into training, validation and held-out"):
        rl.lens.train_tuned_lens(lm, store.subset(store.ids[:2]), steps=1)
    (tmp_path / "x.pt").write_bytes(b"not a lens")
    with pytest.raises(ReprlabError, match="is not a tuned lens"):
        rl.lens.TunedLens.load(tmp_path / "x.pt")
    with pytest.raises(ReprlabError, match="no tuned lens at"):
        rl.lens.TunedLens.load(tmp_path / "missing.pt")
