"""rl.patching on a tiny random Llama: exact endpoints, every component, both directions, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError

CLEAN = torch.tensor([[5, 17, 3, 40, 22, 9]])
CORRUPT = torch.tensor([[5, 17, 3, 41, 22, 9]])  # differs at position 3 only
ANS = (7, 12)


@pytest.mark.parametrize("metric", ["logit_diff", "probability", "kl"])
def test_resid_endpoints(tiny_lm, metric):
    res = rl.patching(tiny_lm, CLEAN, CORRUPT, metric=metric, answers=ANS)
    assert res.values.shape == (3, 6)
    # The last block's output at the last position determines the next-token logits: all restored.
    assert res.values[-1, -1] == pytest.approx(1.0, abs=1e-6)
    # Positions before the changed token hold the same states in both runs: nothing is restored.
    np.testing.assert_allclose(res.values[:, :3], 0.0, atol=1e-9)


def test_noise_direction(tiny_lm):
    res = rl.patching(tiny_lm, CLEAN, CORRUPT, answers=ANS, direction="noise")
    assert res.values[-1, -1] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(res.values[:, :3], 1.0, atol=1e-9)


@pytest.mark.parametrize("component", ["attn", "mlp", "heads"])
def test_components(tiny_lm, component):
    res = rl.patching(tiny_lm, CLEAN, CORRUPT, answers=ANS, component=component)
    assert res.values.shape == ((3, 4) if component == "heads" else (3, 6))
    assert np.all(np.isfinite(res.values))
    if component == "heads":
        assert res.cols == ["H0", "H1", "H2", "H3"]
        one = rl.patching(tiny_lm, CLEAN, CORRUPT, answers=ANS, component="heads", layers=[2], positions=[5])
        assert one.values.shape == (1, 4)
    else:
        np.testing.assert_allclose(res.values[:, :3], 0.0, atol=1e-9)


def test_all_heads_equal_the_attention_output(tiny_lm):
    # A custom edit on all heads at once must equal patching the attention module's output, since the
    # output projection is linear and sees nothing else.
    from reprlab.intervene.patching import _RowPatch

    states = {}
    attn = tiny_lm.get_submodule("model.layers.1.self_attn")
    h1 = attn.o_proj.register_forward_pre_hook(lambda m, a: states.update(x=a[0].reshape(1, 6, 4, 8)))
    h2 = attn.register_forward_hook(lambda m, a, o: states.update(o=o[0]))
    with torch.no_grad():
        tiny_lm(CLEAN)
    h1.remove()
    h2.remove()
    with torch.no_grad():
        with rl.intervene(tiny_lm, {"model.layers.1.self_attn": _RowPatch(states["x"], [([4], [0, 1, 2, 3])], True)}):
            a = tiny_lm(CORRUPT).logits
        with rl.intervene(tiny_lm, {"model.layers.1.self_attn": rl.patch(states["o"], positions=[4])}):
            b = tiny_lm(CORRUPT).logits
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_plot(tiny_lm):
    pytest.importorskip("matplotlib")
    res = rl.patching(tiny_lm, CLEAN, CORRUPT, answers=ANS)
    fig = res.plot()
    assert fig.axes
    assert res.to_dict()["rows"] == ["model.layers.0", "model.layers.1", "model.layers.2"]


def test_patching_bad_input(tiny_lm):
    with pytest.raises(ReprlabError, match="same token length"):
        rl.patching(tiny_lm, CLEAN, CORRUPT[:, :5], answers=ANS)
    with pytest.raises(ReprlabError, match="needs `answers="):
        rl.patching(tiny_lm, CLEAN, CORRUPT)
    with pytest.raises(ReprlabError, match="`component` must be one of"):
        rl.patching(tiny_lm, CLEAN, CORRUPT, answers=ANS, component="embed")
    with pytest.raises(ReprlabError, match="block index"):
        rl.patching(tiny_lm, CLEAN, CORRUPT, answers=ANS, layers=[3])
    with pytest.raises(ReprlabError, match="same logit_diff"):
        rl.patching(tiny_lm, CLEAN, CLEAN, answers=ANS)
