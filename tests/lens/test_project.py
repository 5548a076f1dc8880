"""rl.lens.project: the tokens a residual direction promotes and suppresses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.capture.hooks import default_layers
from reprlab.capture.zoo import TextPreprocess, ZooModel
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.tiny_lms import tiny_lm, tiny_tokenizer


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_scores_are_the_unembedding_of_the_normed_direction(arch):
    model, tok = tiny_lm(arch), tiny_tokenizer()
    lm = ZooModel("t", model, TextPreprocess(tok), default_layers(model), "text", "none", tokenizer=tok)
    v = np.random.default_rng(0).normal(size=32)
    norm = model.get_submodule(default_layers(model)[-1])
    u = torch.as_tensor(v)
    if arch == "gpt2":  # LayerNorm centres; RMSNorm does not
        u = u - u.mean()
    want = model.get_output_embeddings().weight.double() @ (u * norm.weight.double())
    p = rl.lens.project(v, lm, k=5)
    np.testing.assert_allclose(p.scores, want.detach().numpy(), rtol=1e-10)
    order = np.argsort(-p.scores)
    assert [t for t, _ in p.promoted] == [tok.decode([i]) for i in order[:5]]
    assert [t for t, _ in p.suppressed] == [tok.decode([i]) for i in order[::-1][:5]]
    assert p.promoted[0][1] >= p.promoted[-1][1] and p.suppressed[0][1] <= p.suppressed[-1][1]
    raw = rl.lens.project(torch.as_tensor(v), lm, through_norm=False)
    np.testing.assert_allclose(
        raw.scores, (model.get_output_embeddings().weight.double() @ torch.as_tensor(v)).detach().numpy()
    )

    class Probe:
        direction = v

    np.testing.assert_array_equal(rl.lens.project(Probe(), lm).scores, p.scores)
    with pytest.raises(ReprlabError, match="must have 32 values"):
        rl.lens.project(np.ones(31), lm)
    with pytest.raises(ReprlabError, match="not all zero"):
        rl.lens.project(np.zeros(32), lm)
    with pytest.raises(ReprlabTypeError, match="`direction` must be a vector"):
        rl.lens.project("up", lm)
