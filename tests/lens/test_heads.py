"""rl.heads on a 2-layer attention-only model whose heads are wired by hand, and on tiny random LMs."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.capture.zoo import TextPreprocess, ZooModel
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.tiny_lms import TEXTS, tiny_lm, tiny_tokenizer

V, P, SCALE = 200, 64, 100.0


class Attn(torch.nn.Module):
    """Heads with fixed query / key / value maps: scores = SCALE * q k^T, causal softmax."""

    def __init__(self, wq: torch.Tensor, wk: torch.Tensor, wv: torch.Tensor) -> None:
        super().__init__()
        self.wq, self.wk, self.wv = (torch.nn.Parameter(w, requires_grad=False) for w in (wq, wk, wv))

    def forward(self, x, mask):
        q = torch.einsum("btd,hed->bhte", x, self.wq)
        k = torch.einsum("btd,hed->bhte", x, self.wk)
        v = torch.einsum("btd,hed->bhte", x, self.wv)
        s = SCALE * q @ k.transpose(-1, -2)
        t = x.shape[1]
        allowed = torch.tril(torch.ones(t, t, dtype=torch.bool)) & mask[:, None, None, :].bool()
        probs = torch.softmax(s.masked_fill(~allowed, -1e9), dim=-1)
        return (probs @ v).sum(dim=1), probs


class Block(torch.nn.Module):
    def __init__(self, attn: Attn) -> None:
        super().__init__()
        self.attn = attn

    def forward(self, x, mask):
        return x + self.attn(x, mask)[0]


class InductionModel(torch.nn.Module):
    """Residual slots: token one-hot [0, V), position one-hot [V, V+P), previous token [V+P, 2V+P).

    Layer 0, head 0 attends from i to i-1 (query: position i, key: position j+1) and copies the
    token into the previous-token slot; head 1 attends uniformly. Layer 1, head 0 is the induction
    head (query: current token, key: previous token of j); head 1 attends uniformly.
    """

    _can_record_outputs: ClassVar[dict] = {"attentions": Attn}

    def __init__(self) -> None:
        super().__init__()
        d = 2 * V + P
        self.tok = torch.nn.Embedding(V, d)
        self.pos = torch.nn.Embedding(P, d)
        with torch.no_grad():
            self.tok.weight.zero_()
            self.tok.weight[:, :V] = torch.eye(V)
            self.pos.weight.zero_()
            self.pos.weight[:, V : V + P] = torch.eye(P)
        zero = torch.zeros(2, d, d)
        q0, k0, v0 = zero.clone(), zero.clone(), zero.clone()
        q0[0, V : V + P, V : V + P] = torch.eye(P)  # query: own position
        k0[0, V + 1 : V + P, V : V + P - 1] = torch.eye(P - 1)  # key: position + 1
        v0[0, V + P :, :V] = torch.eye(V)  # copy the token into the previous-token slot
        q1, k1, v1 = zero.clone(), zero.clone(), zero.clone()
        q1[0, :V, :V] = torch.eye(V)  # query: current token
        k1[0, :V, V + P :] = torch.eye(V)  # key: the previous token stored at j
        self.layers = torch.nn.ModuleList([Block(Attn(q0, k0, v0)), Block(Attn(q1, k1, v1))])

    def get_input_embeddings(self):
        return self.tok

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        if position_ids is None:
            position_ids = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        x = self.tok(input_ids) + self.pos(position_ids)
        for block in self.layers:
            x = block(x, mask)
        return x


def test_hand_wired_induction_and_previous_token_heads():
    model = InductionModel()
    ind = rl.heads.score(model, kind="induction", n_sequences=10, length=12, seed=1)
    assert ind.shape == (2, 2) and ind.layers == ["layers.0", "layers.1"]
    assert ind.top(1)[0][0] == "layers.1.head0"
    assert ind.values[1, 0] > 0.9
    assert np.asarray(ind).max() == ind.values[1, 0]
    prev = rl.heads.score(model, kind="previous_token", n_sequences=10, length=12, seed=1)
    assert prev.values[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert prev.values[0, 1] < 0.5 and prev.top(1)[0] == ("layers.0.head0", prev.values[0, 0])
    dup = rl.heads.score(model, kind="duplicate_token", n_sequences=10, length=12, seed=1)
    first = rl.heads.score(model, kind="first_token", n_sequences=10, length=12, seed=1)
    # the uniform head puts 1/(i+1) on the first token: its mean over i = 1..23
    assert first.values[0, 1] == pytest.approx(np.mean(1 / np.arange(2, 25)), rel=1e-5)
    assert dup.values[1, 0] < 0.2  # induction attends to the token after the duplicate, not to it


def test_scores_equal_a_direct_computation_on_a_tiny_llama():
    model = tiny_lm("llama")
    tok = tiny_tokenizer()
    lm = ZooModel("tiny", model, TextPreprocess(tok), [], "text", "none", tokenizer=tok)
    prompts = [t + " " + t for t in TEXTS[:4]]
    got = {k: rl.heads.score(lm, prompts, kind=k) for k in ("previous_token", "first_token", "duplicate_token")}
    model.set_attn_implementation("eager")
    want = {k: np.zeros((3, 4)) for k in got}
    for text in prompts:
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            att = [a[0].numpy() for a in model(input_ids=ids, output_attentions=True).attentions]
        n = ids.shape[1]
        same = (ids[0, :, None] == ids[0, None, :]).numpy() & np.tril(np.ones((n, n), dtype=bool), -1)
        for layer, a in enumerate(att):
            want["previous_token"][layer] += np.mean([a[:, i, i - 1] for i in range(1, n)], axis=0) / len(prompts)
            want["first_token"][layer] += a[:, 1:, 0].mean(axis=1) / len(prompts)
            rows = same.any(axis=1)
            want["duplicate_token"][layer] += (a * same).sum(axis=2)[:, rows].mean(axis=1) / len(prompts)
    model.set_attn_implementation("sdpa")
    for k in got:
        np.testing.assert_allclose(got[k].values, want[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_attention_patterns_and_errors():
    model = tiny_lm("gpt2")
    tok = tiny_tokenizer()
    lm = ZooModel("tiny", model, TextPreprocess(tok), [], "text", "none", tokenizer=tok)
    pat = rl.heads.attention(lm, TEXTS[0], layers=[2])
    assert pat.tokens == TEXTS[0].split() and pat.layers == ["transformer.h.2"]
    assert pat.values[0].shape == (4, 6, 6)
    with pytest.raises(ReprlabError, match=r"`kind` must be one of.*Did you mean 'induction'"):
        rl.heads.score(lm, kind="inductin")
    with pytest.raises(ReprlabTypeError, match="`prompts` must be a non-empty list"):
        rl.heads.score(lm, "one text", kind="previous_token")
    with pytest.raises(ReprlabError, match="`length` must be an integer >= 2"):
        rl.heads.score(lm, kind="induction", length=1)
    with pytest.raises(ReprlabTypeError, match="`prompt` must be a non-empty text"):
        rl.heads.attention(lm, ["a list"])
