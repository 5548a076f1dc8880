"""rl.steer_sweep on a tiny random Llama with a character tokenizer: zero side effect at alpha 0,
growing with |alpha|; the bootstrap interval covers the mean; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError


class CharTokenizer:
    """Each character is one token (id = code point mod 60 + 2); 0 pads. Enough for the sweep."""

    padding_side = "right"
    pad_token_id = 0

    def __call__(self, texts, return_tensors=None, padding=False, add_special_tokens=True):
        single = isinstance(texts, str)
        rows = [[ord(c) % 60 + 2 for c in t] for t in ([texts] if single else texts)]
        if return_tensors is None:
            return {"input_ids": rows[0] if single else rows}
        n = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), n, dtype=torch.long)
        mask = torch.zeros(len(rows), n, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i) + 60) for i in ids)


PROMPTS = ["I think it is", "The weather was", "My day felt", "Soup tastes", "A song that is", "Trains are"]
NEUTRAL = ["Hundreds of people left their homes today.", "The minister spoke to reporters on Tuesday."]


def test_sweep_dose_response(tiny_lm):
    tok = CharTokenizer()
    v = torch.randn(32, generator=torch.Generator().manual_seed(0))
    alphas = [-4.0, -2.0, 0.0, 2.0, 4.0]
    s = rl.steer_sweep(
        tiny_lm,
        v,
        layer="model.layers.1",
        alphas=alphas,
        prompts=PROMPTS,
        answers=(["g", "h"], ["b", "c"]),
        neutral=NEUTRAL,
        n_boot=300,
        tokenizer=tok,
    )
    assert s.effect.shape == (5,) and s.effect_per_prompt.shape == (5, len(PROMPTS))
    assert s.side_effect_kl[2] == 0.0  # alpha 0 is bit-identical to no hook
    assert s.side_effect_kl[1] < s.side_effect_kl[0] and s.side_effect_kl[3] < s.side_effect_kl[4]
    assert np.all(s.side_effect_kl[[0, 1, 3, 4]] > 0)
    assert np.all(s.effect_ci[0] <= s.effect + 1e-12) and np.all(s.effect + 1e-12 >= s.effect_ci[0])
    assert np.all(s.effect_ci[1] >= s.effect - 1e-12)
    # Perplexity at alpha 0 equals the unsteered model's, computed directly.
    enc = tok(NEUTRAL, return_tensors="pt", padding=True)
    with torch.no_grad():
        lp = torch.log_softmax(tiny_lm(**enc).logits[:, :-1].float(), -1)
    m = enc["attention_mask"][:, 1:].bool()
    nll = -lp.gather(-1, enc["input_ids"][:, 1:, None])[..., 0].double()
    assert s.perplexity[2] == pytest.approx(float(torch.exp(nll[m].mean())), rel=1e-6)
    # The metric at alpha 0 is the log-odds of the answer sets, computed directly for the first prompt.
    with torch.no_grad():
        z = torch.log_softmax(tiny_lm(**tok([PROMPTS[0]], return_tensors="pt")).logits[0, -1].double(), -1)
    g, h, b, c = (ord(x) % 60 + 2 for x in "ghbc")
    want = torch.logsumexp(z[[g, h]], 0) - torch.logsumexp(z[[b, c]], 0)
    assert s.effect_per_prompt[2, 0] == pytest.approx(float(want), abs=1e-9)
    assert s.to_dict()["layer"] == "model.layers.1"


def test_steer_generate(tiny_lm):
    from reprlab.intervene.steering import steer_generate

    tiny_lm.generation_config.eos_token_id = None
    v = torch.randn(32, generator=torch.Generator().manual_seed(4)) * 3
    out = steer_generate(
        tiny_lm, v, layer="model.layers.1", prompt="Hello", alphas=[0, 3], max_new_tokens=8, tokenizer=CharTokenizer()
    )
    assert set(out) == {0.0, 3.0} and all(len(t) == 8 for t in out.values())
    assert out[0.0] != out[3.0]


def test_sweep_bad_input(tiny_lm):
    tok = CharTokenizer()
    with pytest.raises(ReprlabError, match="`answers` must be"):
        rl.steer_sweep(tiny_lm, torch.ones(32), layer="model.layers.1", alphas=[0, 1], prompts=PROMPTS, tokenizer=tok)
    with pytest.raises(ReprlabError, match="at least two finite"):
        rl.steer_sweep(
            tiny_lm,
            torch.ones(32),
            layer="model.layers.1",
            alphas=[1],
            prompts=PROMPTS,
            tokenizer=tok,
            answers=("g", "b"),
        )
    with pytest.raises(ReprlabError, match="width 31"):
        rl.steer_sweep(
            tiny_lm,
            torch.ones(31),
            layer="model.layers.1",
            alphas=[0, 1],
            prompts=PROMPTS,
            tokenizer=tok,
            answers=("g", "b"),
            neutral=NEUTRAL,
        )
