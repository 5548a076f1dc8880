"""rl.intervene on the real SmolLM2: scale 0 is bit-identical; cached steered generation is exact."""

from __future__ import annotations

import pytest
import torch

import reprlab as rl

from .conftest import hook_count

pytestmark = pytest.mark.slow


def test_scale_zero_bit_identical_and_cleanup(smollm2):
    lm, tok = smollm2.model, smollm2.tokenizer
    enc = tok(["The capital of France is", "Paris is a city in"], return_tensors="pt", padding=True)
    v = torch.randn(576, generator=torch.Generator().manual_seed(0))
    n = hook_count(lm)
    with torch.no_grad():
        base = lm(**enc).logits
        with rl.intervene(lm, {"model.layers.6": rl.add(v, alpha=0.0)}):
            same = lm(**enc).logits
        with pytest.raises(RuntimeError):
            with rl.intervene(lm, {"model.layers.6": rl.add(v, alpha=8.0)}):
                lm(**enc)
                raise RuntimeError("inside the block")
        after = lm(**enc).logits
    assert torch.equal(base, same)
    assert torch.equal(base, after)
    assert hook_count(lm) == n


def test_steered_generation_with_cache_equals_without(smollm2):
    lm, tok = smollm2.model, smollm2.tokenizer
    enc = tok(["The capital of France is"], return_tensors="pt")
    v = torch.randn(576, generator=torch.Generator().manual_seed(0))
    v = 6.0 * v / v.norm()
    kw = dict(max_new_tokens=20, min_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        plain = lm.generate(**enc, **kw)
        with rl.intervene(lm, {"model.layers.6": rl.add(v, alpha=1.0)}):
            cached = lm.generate(**enc, use_cache=True, **kw)
            uncached = lm.generate(**enc, use_cache=False, **kw)
    new = cached.shape[1] - enc["input_ids"].shape[1]
    assert new == 20, tok.decode(cached[0])
    assert torch.equal(cached, uncached)
    assert not torch.equal(cached, plain)
