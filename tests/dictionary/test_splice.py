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


def _reference_losses(model, prep, layer_module, sae, texts):
    """CE clean / SAE / zero pooled over every predicted token, one text at a time (no padding), with a
    plain forward hook replacing the layer's output: dictionary_learning's frac_recovered formula
    (loss_zero - loss_reconstructed) / (loss_zero - loss_original) with the losses pooled over tokens."""
    totals = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    kl_total, n = 0.0, 0
    for text in texts:
        inputs = prep([text])
        ids = inputs["input_ids"][0]
        logp = {}
        for name in totals:

            def hook(mod, args, out, name=name):
                h = out[0] if isinstance(out, tuple) else out
                if name == "sae":
                    new = torch.from_numpy(sae.reconstruct(h[0].detach().numpy()))[None].to(h.dtype)
                else:
                    new = torch.zeros_like(h)
                return (new, *out[1:]) if isinstance(out, tuple) else new

            handle = layer_module.register_forward_hook(hook) if name != "clean" else None
            with torch.no_grad():
                logits = model(**inputs).logits[0, :-1].double()
            if handle is not None:
                handle.remove()
            logp[name] = torch.log_softmax(logits, -1)
            totals[name] += float(torch.nn.functional.nll_loss(logp[name], ids[1:], reduction="sum"))
        kl_total += float((logp["clean"].exp() * (logp["clean"] - logp["sae"])).sum())
        n += len(ids) - 1
    return {k: v / n for k, v in totals.items()}, kl_total / n, n


def test_loss_recovered_equals_a_hand_spliced_reference(lm):
    model, prep = lm
    acts = rl.extract(model, TEXTS * 20, preprocess=prep, layers="model.layers.1", pool="none", progress=False)
    sae = rl.dictionary.train(acts, "model.layers.1", kind="topk", k=4, n_latents=64, steps=60, batch_size=64,
                              progress=False)  # fmt: skip
    res = rl.dictionary.loss_recovered(sae, model, "model.layers.1", TEXTS, batch_size=3, preprocess=prep)
    ce, kl, n = _reference_losses(model, prep, model.model.layers[1], sae, TEXTS)
    assert res.n_tokens == n
    assert res.ce_clean == pytest.approx(ce["clean"], rel=1e-6)
    assert res.ce_sae == pytest.approx(ce["sae"], rel=1e-6)
    assert res.ce_zero == pytest.approx(ce["zero"], rel=1e-6)
    assert res.kl_sae == pytest.approx(kl, rel=1e-5)
    want = (ce["zero"] - ce["sae"]) / (ce["zero"] - ce["clean"])
    assert 0.0 < want < 1.0 and res.recovered == pytest.approx(want, abs=1e-6)
