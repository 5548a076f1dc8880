"""rl.intervene and its edits on a tiny random Llama: exactness, cleanup, KV cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError
from reprlab.intervene import Edit

from .conftest import hook_count

IDS = torch.tensor([[5, 17, 3, 40, 22, 9, 31]])
LAYER = "model.layers.1"


def logits(model, ids=IDS):
    with torch.no_grad():
        return model(ids).logits


def states(model, layer, ids=IDS):
    """The output of ``layer`` as the rest of the model sees it (hook registered after any edit)."""
    got = {}
    h = model.get_submodule(layer).register_forward_hook(
        lambda m, a, o: got.setdefault("h", o[0] if isinstance(o, tuple) else o)
    )
    try:
        logits(model, ids)
    finally:
        h.remove()
    return got["h"]


def test_scale_zero_is_bit_identical(tiny_lm):
    base = logits(tiny_lm)
    v = torch.randn(32) * 10
    with rl.intervene(tiny_lm, {LAYER: rl.add(v, alpha=0.0)}):
        same = logits(tiny_lm)
    assert torch.equal(base, same)
    with rl.intervene(tiny_lm, {LAYER: rl.add(v, alpha=1.0)}):
        moved = logits(tiny_lm)
    assert not torch.allclose(base, moved)


def test_add_at_position_only_changes_that_state(tiny_lm):
    v = torch.randn(32)
    base = states(tiny_lm, LAYER)
    with rl.intervene(tiny_lm, {LAYER: rl.add(v, alpha=2.5, positions=[3])}):
        got = states(tiny_lm, LAYER)
    want = base.clone()
    want[:, 3] += 2.5 * v
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    with rl.intervene(tiny_lm, {LAYER: rl.add(v, alpha=2.5, positions=-1)}):
        last = states(tiny_lm, LAYER)
    torch.testing.assert_close(last[:, -1], base[:, -1] + 2.5 * v, rtol=0, atol=1e-6)
    torch.testing.assert_close(last[:, :-1], base[:, :-1], rtol=0, atol=0)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_hooks_removed_after_exception(tiny_lm, exc):
    base = logits(tiny_lm)
    n = hook_count(tiny_lm)
    with pytest.raises(exc):
        with rl.intervene(
            tiny_lm, {LAYER: rl.add(torch.ones(32), alpha=5.0), "model.layers.0.self_attn": rl.ablate(heads=[0])}
        ):
            assert hook_count(tiny_lm) > n
            logits(tiny_lm)
            raise exc("stop")
    assert hook_count(tiny_lm) == n
    assert torch.equal(logits(tiny_lm), base)


def test_hooks_removed_after_error_inside_forward(tiny_lm):
    n = hook_count(tiny_lm)
    with pytest.raises(ReprlabError, match="width 31"):
        with rl.intervene(tiny_lm, {LAYER: rl.add(torch.ones(31))}):
            logits(tiny_lm)
    assert hook_count(tiny_lm) == n


@pytest.mark.parametrize(
    "layer,edit",
    [
        (LAYER, lambda: rl.add(torch.randn(32, generator=torch.Generator().manual_seed(1)), alpha=4.0)),
        (LAYER, lambda: rl.add(torch.randn(32, generator=torch.Generator().manual_seed(2)), alpha=8.0, positions=[2])),
        (LAYER, lambda: rl.project_out(torch.randn(32, generator=torch.Generator().manual_seed(3)))),
        ("model.layers.0.self_attn", lambda: rl.ablate("zero", heads=[1, 3])),
        ("model.layers.0.mlp", lambda: rl.ablate("zero", units=list(range(16)))),
    ],
)
def test_generate_with_cache_equals_without(tiny_lm, layer, edit):
    prompt = IDS[:, :5]
    plain = tiny_lm.generate(prompt, max_new_tokens=20, do_sample=False)
    with rl.intervene(tiny_lm, {layer: edit()}):
        cached = tiny_lm.generate(prompt, max_new_tokens=20, do_sample=False, use_cache=True)
        uncached = tiny_lm.generate(prompt, max_new_tokens=20, do_sample=False, use_cache=False)
    assert cached.shape[1] == 25
    assert torch.equal(cached, uncached)
    assert not torch.equal(cached, plain)  # the edit changed the continuation: the test can fail


def test_edit_at_prompt_position_applies_once_in_cached_generation(tiny_lm):
    v = torch.randn(32)
    applied = []

    class Counting(Edit):
        def edit(self, h, pos, mask, layer):
            applied.append(pos[mask].tolist())
            return h + 0.0

    with rl.intervene(tiny_lm, {LAYER: [Counting(positions=[2]), rl.add(v, 0.0)]}):
        tiny_lm.generate(IDS[:, :5], max_new_tokens=6, do_sample=False)
    assert applied == [[2]]


def test_ablations(tiny_lm):
    zero = None
    with rl.intervene(tiny_lm, {LAYER: rl.ablate("zero", positions=[0, 4])}):
        zero = states(tiny_lm, LAYER)
    base = states(tiny_lm, LAYER)
    assert torch.all(zero[:, [0, 4]] == 0)
    torch.testing.assert_close(zero[:, 1:4], base[:, 1:4], rtol=0, atol=0)

    ref = np.random.default_rng(0).normal(size=(6, 32))
    with rl.intervene(tiny_lm, {LAYER: rl.ablate("mean", reference=ref)}):
        mean = states(tiny_lm, LAYER)
    torch.testing.assert_close(mean[0], torch.as_tensor(ref.mean(0), dtype=torch.float32).expand(7, 32))

    with rl.intervene(tiny_lm, {LAYER: rl.ablate("resample", reference=ref, seed=3)}):
        res = states(tiny_lm, LAYER)
    rows = torch.as_tensor(ref, dtype=torch.float32)
    for t in range(7):
        assert torch.isclose(res[0, t][None], rows).all(dim=1).any()

    with rl.intervene(tiny_lm, {LAYER: rl.ablate("zero", units=[1, 30])}):
        units = states(tiny_lm, LAYER)
    assert torch.all(units[..., [1, 30]] == 0)
    torch.testing.assert_close(units[..., 2:30], base[..., 2:30], rtol=0, atol=0)


def test_head_ablation_zeroes_the_heads_slice(tiny_lm):
    proj = tiny_lm.get_submodule("model.layers.0.self_attn.o_proj")

    def o_proj_input():
        seen = {}
        h = proj.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0].clone()))
        try:
            logits(tiny_lm)
        finally:
            h.remove()
        return seen["x"]

    base = o_proj_input()
    with rl.intervene(tiny_lm, {"model.layers.0.self_attn": rl.ablate("zero", heads=[2])}):
        got = o_proj_input()
    assert torch.all(got[..., 16:24] == 0)
    torch.testing.assert_close(got[..., :16], base[..., :16], rtol=0, atol=0)
    torch.testing.assert_close(got[..., 24:], base[..., 24:], rtol=0, atol=0)


def test_project_out_removes_the_component(tiny_lm):
    V = torch.randn(2, 32)
    with rl.intervene(tiny_lm, {LAYER: rl.project_out(V)}):
        h = states(tiny_lm, LAYER)
    assert (h.double() @ V.double().T).abs().max() < 1e-4
    assert h.abs().max() > 0.05


def test_patch_all_positions_reproduces_the_source_run(tiny_lm):
    other = torch.tensor([[8, 2, 60, 11, 4, 50, 1]])
    src = states(tiny_lm, LAYER, other)
    with rl.intervene(tiny_lm, {LAYER: rl.patch(src)}):
        got = logits(tiny_lm)
    torch.testing.assert_close(got, logits(tiny_lm, other), rtol=0, atol=1e-5)
    with rl.intervene(tiny_lm, {LAYER: rl.patch(src, positions=[6])}):
        one = states(tiny_lm, LAYER)
    torch.testing.assert_close(one[:, 6], src[:, 6], rtol=0, atol=0)


def test_replace_takes_and_returns_hidden_states(tiny_lm):
    shapes = []

    def fn(h):
        shapes.append(tuple(h.shape))
        return h

    base = logits(tiny_lm)
    with rl.intervene(tiny_lm, {LAYER: rl.replace(fn)}):
        same = logits(tiny_lm)
    assert shapes == [(1, 7, 32)]
    assert torch.equal(base, same)
    with rl.intervene(tiny_lm, {LAYER: rl.replace(lambda h: 2 * h)}):
        doubled = states(tiny_lm, LAYER)
    torch.testing.assert_close(doubled, 2 * states(tiny_lm, LAYER), rtol=0, atol=0)
    with pytest.raises(ReprlabError, match=r"input's shape"):
        with rl.intervene(tiny_lm, {LAYER: rl.replace(lambda h: h[..., :4])}):
            logits(tiny_lm)


def test_bad_input_is_named(tiny_lm):
    n = hook_count(tiny_lm)
    with pytest.raises(ReprlabError, match=r"no module named 'model.layer.1'.*Did you mean"):
        with rl.intervene(tiny_lm, {"model.layer.1": rl.add(torch.ones(32))}):
            pass
    with pytest.raises(ReprlabError, match=r"index 4 is out of range.*4 heads"):
        with rl.intervene(tiny_lm, {"model.layers.0.self_attn": rl.ablate("zero", heads=[4])}):
            pass
    with pytest.raises(ReprlabError, match="needs an attention module"):
        with rl.intervene(tiny_lm, {"model.layers.0.mlp.act_fn": rl.ablate("zero", heads=[0])}):
            pass
    with pytest.raises(ReprlabError, match="`units`: index 32"):
        with rl.intervene(tiny_lm, {LAYER: rl.ablate("zero", units=[32])}):
            logits(tiny_lm)
    with pytest.raises(ReprlabError, match="`source` holds 3 positions"):
        with rl.intervene(tiny_lm, {LAYER: rl.patch(torch.zeros(1, 3, 32), positions=[5])}):
            logits(tiny_lm)
    with pytest.raises(ReprlabTypeError, match="must be an edit"):
        with rl.intervene(tiny_lm, {LAYER: torch.ones(32)}):
            pass
    with pytest.raises(ReprlabError, match="NaN"):
        rl.add(np.array([np.nan, 1.0]))
    with pytest.raises(ReprlabError, match='"zero", "mean" or "resample"'):
        rl.ablate("average")
    with pytest.raises(ReprlabError, match="needs exactly one of `mean`"):
        rl.ablate("mean")
    assert hook_count(tiny_lm) == n
