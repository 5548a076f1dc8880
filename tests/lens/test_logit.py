"""rl.lens.logit_lens against direct computations, on tiny random LMs and on SmolLM2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.capture.hooks import default_layers
from reprlab.capture.zoo import TextPreprocess, ZooModel
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.tiny_lms import ARCHS, TEXTS, tiny_lm, tiny_tokenizer


def _zoo(arch: str) -> ZooModel:
    model, tok = tiny_lm(arch), tiny_tokenizer()
    return ZooModel(f"tiny-{arch}", model, TextPreprocess(tok), default_layers(model), "text", "none", tokenizer=tok)


def _direct(model, norm, ids: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Residual states by hooks (block 0's input, every block's output) and the model's logits."""
    from reprlab.capture.tokens import blocks

    names = blocks(model)
    states: list[torch.Tensor] = []
    handles = [
        model.get_submodule(names[0]).register_forward_pre_hook(
            lambda m, a, k: states.append(a[0][0] if a else k["hidden_states"][0]), with_kwargs=True
        )
    ]
    for n in names:
        handles.append(
            model.get_submodule(n).register_forward_hook(
                lambda m, a, o: states.append((o[0] if isinstance(o, tuple) else o)[0])
            )
        )
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    for h in handles:
        h.remove()
    return states, logits


@pytest.mark.parametrize("arch", ARCHS)
def test_lens_equals_the_direct_computation_and_reproduces_the_logits(arch):
    lm = _zoo(arch)
    model, tok = lm.model, lm.tokenizer
    L = rl.lens.logit_lens(lm, TEXTS, targets="Paris")
    assert len(L.layers) == 4 and L.kl_to_final.shape == (4, sum(len(t.split()) for t in TEXTS))
    norm = model.get_submodule(default_layers(model)[-1])
    for p, text in enumerate(TEXTS):
        ids = torch.tensor([tok(text)["input_ids"]])
        states, logits = _direct(model, norm, ids)
        np.testing.assert_allclose(L.logits(L.layers[-1], p), logits.numpy(), rtol=1e-4, atol=1e-4)
        log_p = torch.log_softmax(logits.double(), -1)
        rows = L.index.stimulus == p
        for li, h in enumerate(states):
            with torch.no_grad():
                log_q = torch.log_softmax(model.get_output_embeddings()(norm(h)).double(), -1)
            kl = (log_p.exp() * (log_p - log_q)).sum(-1).numpy()
            np.testing.assert_allclose(L.kl_to_final[li, rows], kl, rtol=1e-3, atol=1e-7)
            np.testing.assert_allclose(L.entropy[li, rows], -(log_q.exp() * log_q).sum(-1).numpy(), rtol=1e-5)
            ce = -log_q[torch.arange(ids.shape[1] - 1), ids[0, 1:]].numpy()
            np.testing.assert_allclose(L.cross_entropy[li, rows][:-1], ce, rtol=1e-5)
            assert np.isnan(L.cross_entropy[li, rows][-1])
            t = tok.convert_tokens_to_ids("Paris")
            assert L.target_rank[li, p] == int((log_q[-1] > log_q[-1, t]).sum()) + 1
            assert L.target_prob[li, p] == pytest.approx(float(log_q[-1, t].exp()), rel=1e-6)
    np.testing.assert_array_equal(L.kl_to_final[-1], 0.0)
    ranks = L.rank("Paris")
    last = [np.flatnonzero(L.index.stimulus == p)[-1] for p in range(len(TEXTS))]
    np.testing.assert_array_equal(ranks[:, last], L.target_rank)
    top = L.top_tokens(L.layers[-1], -1, k=3, prompt=1)
    assert [t for t, _ in top] == [tok.decode([i]) for i in np.argsort(-L.logits(L.layers[-1], 1)[-1])[:3]]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_a_token_store_gives_the_live_result(arch, tmp_path):
    lm = _zoo(arch)
    live = rl.lens.logit_lens(lm, TEXTS, targets="the")
    acts = rl.extract(lm, TEXTS, pool="none", capture=("resid", "logits"), out=tmp_path / "s.zarr", progress=False)
    stored = rl.lens.logit_lens(lm, acts, targets="the")
    skip = 1 if arch == "gpt2" else 0  # GPT-2's wte output is not the residual stream: "all" leaves it out
    assert stored.layers == live.layers[skip:]
    for stat in ("kl_to_final", "entropy", "cross_entropy", "target_rank"):
        np.testing.assert_allclose(getattr(stored, stat), getattr(live, stat)[skip:], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(stored.index.token_id, live.index.token_id)
    assert list(stored.index.token) == list(live.index.token)
    if arch == "gpt2":
        with pytest.raises(ReprlabError, match="is not the residual stream"):
            rl.lens.logit_lens(lm, acts, layers=["transformer.wte", "transformer.h.0"])


def test_per_prompt_means_and_bad_input():
    lm = _zoo("qwen2")
    L = rl.lens.logit_lens(lm, TEXTS[:3])
    per = L.per_prompt("entropy")
    assert per.shape == (3, 4)
    np.testing.assert_allclose(per[1], L.entropy[:, L.index.stimulus == 1].mean(axis=1))
    np.testing.assert_allclose(L.by_layer("entropy"), per.mean(axis=0))
    with pytest.raises(ReprlabError, match="'capital of' is 2 tokens"):
        rl.lens.logit_lens(lm, TEXTS[:2], targets="capital of")
    with pytest.raises(ReprlabError, match=r"'model\.norm' is not a residual stream"):
        rl.lens.logit_lens(lm, TEXTS[:2], layers=["model.norm"])
    with pytest.raises(ReprlabError, match=r"'model\.layers\.0\.mlp' is not a residual stream"):
        rl.lens.logit_lens(lm, TEXTS[:2], layers="model.layers.0.mlp")
    with pytest.raises(ReprlabError, match="one target for all prompts or one per prompt"):
        rl.lens.logit_lens(lm, TEXTS[:2], targets=["a", "the", "of"])
    with pytest.raises(ReprlabTypeError, match="`prompts` must be a text"):
        rl.lens.logit_lens(lm, 42)
    with pytest.raises(ReprlabError, match="`stat` must be"):
        L.by_layer("kl")
    import transformers as tr

    torch.manual_seed(0)
    bert = tr.BertModel(tr.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=32))  # fmt: skip
    with pytest.raises(ReprlabError, match="has no unembedding"):
        rl.lens.logit_lens(bert, TEXTS[:2])


@pytest.mark.slow
def test_smollm2_paris_and_kl_by_layer_equal_the_direct_computation(smollm2):
    prompt = "The capital of France is"
    L = rl.lens.logit_lens(smollm2, prompt, targets=" Paris")
    assert L.top_tokens(L.layers[-1], -1, k=1)[0][0] == " Paris"
    assert L.target_rank[-1, 0] == 1 and len(L.layers) == 31
    model, tok = smollm2.model, smollm2.tokenizer
    ids = torch.tensor([tok(prompt)["input_ids"]])
    states, logits = _direct(model, model.model.norm, ids)
    np.testing.assert_allclose(L.logits(L.layers[-1]), logits.numpy(), rtol=1e-4, atol=1e-4)
    log_p = torch.log_softmax(logits.double(), -1)
    for li, h in enumerate(states):
        with torch.no_grad():
            log_q = torch.log_softmax(model.lm_head(model.model.norm(h)).double(), -1)
        kl = (log_p.exp() * (log_p - log_q)).sum(-1).numpy()
        np.testing.assert_allclose(L.kl_to_final[li], kl, rtol=1e-3, atol=1e-6, err_msg=L.layers[li])
    # the middle is poorly read by the logit lens (the measurement: ~13-30 nats)
    assert L.kl_to_final[5:20].mean() > 10


@pytest.mark.slow
def test_smollm2_token_store_matches_the_tokenizer_on_both_padding_sides(smollm2, tmp_path):
    texts = ["The capital of France is", "A cat", "Rome is the capital of Italy, and Paris is the capital of France."]
    tok = smollm2.tokenizer
    runs = {}
    for side in ("right", "left"):
        prep = TextPreprocess(tok, max_length=512, padding_side=side)
        runs[side] = rl.extract(smollm2, texts, preprocess=prep, layers=["model.layers.3", "model.layers.29"],
                                pool="none", capture=("resid", "attn", "logits"), attn_layers=[3], batch_size=3,
                                out=tmp_path / side, progress=False)  # fmt: skip
    want = [tok(t)["input_ids"] for t in texts]
    for name in runs["right"].names:
        idx = runs["right"].index(name)
        assert idx.token_id.tolist() == [t for w in want for t in w]
        assert idx.position.tolist() == [p for w in want for p in range(len(w))]
        assert list(idx.token) == [tok.decode([t]) for w in want for t in w]
        for u, v in zip(idx, runs["left"].index(name)):
            np.testing.assert_array_equal(u, v)
        np.testing.assert_allclose(runs["right"][name], runs["left"][name], rtol=1e-5, atol=1e-5, err_msg=name)
    for i in range(3):
        np.testing.assert_allclose(
            runs["right"].attention("model.layers.3", i), runs["left"].attention("model.layers.3", i), atol=1e-5
        )
