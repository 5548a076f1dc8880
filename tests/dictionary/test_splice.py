"""loss_recovered: the identity splice recovers 1.0 with KL 0, the zero splice 0, wrong widths raise."""

from __future__ import annotations

import pytest
import torch

import reprlab as rl
from reprlab.capture.zoo import TextPreprocess
from reprlab.dictionary import SparseAutoencoder
from tests.tiny_lms import TEXTS, tiny_lm, tiny_tokenizer


def _identity(d: int) -> SparseAutoencoder:
    sae = SparseAutoencoder(d, 2 * d, "relu", layer="model.layers.1")  # relu(x) - relu(-x) = x
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([torch.eye(d), -torch.eye(d)], dim=1))
        sae.W_dec.copy_(torch.cat([torch.eye(d), -torch.eye(d)], dim=0))
        sae.scale_.fill_(0.5)
    return sae.eval()


@pytest.fixture(scope="module")
def lm():
    """A tiny Llama fitted for 60 steps to the texts, so that its layers matter to its loss."""
    model, prep = tiny_lm("llama"), TextPreprocess(tiny_tokenizer())
    inputs = prep(TEXTS)
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        model(**inputs, labels=labels).loss.backward()
        opt.step()
    return model.eval(), prep


def test_identity_recovers_everything_and_zero_nothing(lm):
    model, prep = lm
    res = rl.dictionary.loss_recovered(_identity(32), model, "model.layers.1", TEXTS, batch_size=3, preprocess=prep)
    assert res.recovered == pytest.approx(1.0, abs=1e-6)
    assert res.kl_sae == pytest.approx(0.0, abs=1e-8) and res.kl_zero > 0.01
    assert res.ce_sae == pytest.approx(res.ce_clean, abs=1e-6)
    zero = SparseAutoencoder(32, 8, "relu")
    with torch.no_grad():
        zero.W_dec.copy_(torch.eye(8, 32))
        zero.b_enc.fill_(-1e9)  # no code fires and b_dec = 0: the reconstruction is 0
    res0 = rl.dictionary.loss_recovered(zero, model, "model.layers.1", TEXTS, batch_size=4, preprocess=prep)
    assert res0.recovered == pytest.approx(0.0, abs=1e-9)
    assert res0.ce_clean == pytest.approx(res.ce_clean, rel=1e-6)  # batching does not change the pooled loss
    assert res0.n_tokens == res.n_tokens == sum(len(t.split()) - 1 for t in TEXTS)


def test_trained_sae_lies_between_and_bad_width_raises(lm):
    model, prep = lm
    acts = rl.extract(model, TEXTS * 20, preprocess=prep, layers="model.layers.1", pool="none", progress=False)
    sae = rl.dictionary.train(acts, "model.layers.1", kind="topk", k=8, n_latents=128, steps=150, batch_size=64,
                              progress=False)  # fmt: skip
    res = rl.dictionary.loss_recovered(sae, model, "model.layers.1", TEXTS, preprocess=prep)
    assert 0.0 < res.recovered < 1.0 and res.kl_sae < res.kl_zero
    with pytest.raises(rl.ReprlabError, match=r"input width 16 but 'model\.layers\.1' outputs width 32"):
        rl.dictionary.loss_recovered(SparseAutoencoder(16, 32, "relu"), model, "model.layers.1", TEXTS, preprocess=prep)
