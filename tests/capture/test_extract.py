"""rl.extract on small synthetic models: layer selection, order, early stop, hook cleanup, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.capture.hooks import LayerCapture, default_layers, first_tensor, resolve_layers
from reprlab.errors import ReprlabError, ReprlabTypeError


class Blocks(torch.nn.Module):
    """stem -> 4 identical blocks -> head, with a call counter on the head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Linear(5, 8)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(8, 8) for _ in range(4)])
        self.head = torch.nn.Linear(8, 3)
        self.head_calls = 0

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = torch.tanh(b(x))
        self.head_calls += 1
        return self.head(x)


def _reference(net: Blocks, X: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = {"stem": net.stem(X)}
        x = out["stem"]
        for i, b in enumerate(net.blocks):
            out[f"blocks.{i}"] = b(x)
            x = torch.tanh(out[f"blocks.{i}"])
        out["head"] = net.head(x)
    return {k: v.numpy() for k, v in out.items()}


X = torch.randn(23, 5, generator=torch.Generator().manual_seed(1))


def test_outputs_equal_a_direct_computation_in_stimulus_order():
    net = Blocks()
    ref = _reference(net, X)
    for bs in (1, 4, 23, 50):
        acts = rl.extract(net, X, layers=["stem", "blocks.*", "head"], batch_size=bs, progress=False)
        assert acts.names == ["stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "head"]
        assert acts.ids == [str(i) for i in range(23)]
        for name in acts.names:
            np.testing.assert_allclose(acts[name], ref[name], rtol=1e-6, atol=1e-6)


def test_all_means_the_blocks_and_names_follow_network_order():
    class Reordered(torch.nn.Module):  # defined head first, run last
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(4, 2)
            self.body = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(3)])

        def forward(self, x):
            return self.head(self.body(x))

    net = Reordered()
    assert default_layers(net) == ["body.0", "body.1", "body.2"]
    acts = rl.extract(net, torch.randn(6, 4), layers=["head", "body.1"], progress=False)
    assert acts.names == ["body.1", "head"]
    assert default_layers(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())) == ["0", "1"]


def test_forward_stops_after_the_deepest_requested_layer():
    net = Blocks()
    a = rl.extract(net, X, layers="blocks.1", batch_size=8, progress=False)
    assert net.head_calls == 0
    b = rl.extract(net, X, layers="blocks.1", batch_size=8, progress=False, stop_early=False)
    assert net.head_calls == 3
    np.testing.assert_array_equal(a["blocks.1"], b["blocks.1"])


def _hook_count(net: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in net.modules())


def test_hooks_are_removed_even_when_the_forward_pass_raises():
    class Boom(Blocks):
        def forward(self, x):
            self.stem(x)
            raise RuntimeError("boom")

    net = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        rl.extract(net, X, layers=["stem", "head"], progress=False)
    assert _hook_count(net) == 0
    net = Blocks()
    net.train()
    rl.extract(net, X, layers="all", progress=False)
    assert _hook_count(net) == 0 and net.training  # training mode restored


@dataclasses.dataclass
class Out:
    hidden: torch.Tensor
    extra: int = 0


class Structured(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)
        self.tup = TupleOut()
        self.dc = DataclassOut()
        self.dic = DictOut()

    def forward(self, x):
        h = self.lin(x)
        a = self.tup(h)[0]
        b = self.dc(a).hidden
        return self.dic(b)["y"]


class TupleOut(torch.nn.Module):
    def forward(self, x):
        return (x * 2, None)


class DataclassOut(torch.nn.Module):
    def forward(self, x):
        return Out(x + 1)


class DictOut(torch.nn.Module):
    def forward(self, x):
        return {"aux": 3, "y": x - 5}


def test_tuple_dataclass_and_mapping_outputs():
    net = Structured()
    x = torch.randn(7, 3)
    acts = rl.extract(net, x, layers=["tup", "dc", "dic"], progress=False)
    with torch.no_grad():
        h = net.lin(x)
    np.testing.assert_allclose(acts["tup"], (h * 2).numpy(), rtol=1e-6)
    np.testing.assert_allclose(acts["dc"], (h * 2 + 1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(acts["dic"], (h * 2 + 1 - 5).numpy(), rtol=1e-6)
    assert first_tensor(("a", [None, {"k": h}])) is h
    assert first_tensor(3) is None


class TokenModel(torch.nn.Module):
    """input_ids + attention_mask -> (B, T, D) embeddings, then a linear map per token."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(20, 6)
        self.proj = torch.nn.Linear(6, 6)

    def forward(self, input_ids, attention_mask):
        return self.proj(self.embed(input_ids))


def _token_inputs(side: str) -> dict[str, torch.Tensor]:
    seqs = [[3, 4, 5], [6], [7, 8, 9, 10], [11, 12]]
    ids = torch.zeros(4, 4, dtype=torch.long)
    mask = torch.zeros(4, 4, dtype=torch.long)
    for i, s in enumerate(seqs):
        sl = slice(0, len(s)) if side == "right" else slice(4 - len(s), 4)
        ids[i, sl] = torch.tensor(s)
        mask[i, sl] = 1
    return {"input_ids": ids, "attention_mask": mask}


def test_mapping_inputs_use_the_attention_mask_on_either_padding_side():
    net = TokenModel()
    for pool in ("mean", "last", "first", "max", "none"):
        r = rl.extract(net, _token_inputs("right"), layers="proj", pool=pool, batch_size=3, progress=False)
        l = rl.extract(net, _token_inputs("left"), layers="proj", pool=pool, batch_size=3, progress=False)
        np.testing.assert_allclose(r["proj"], l["proj"], rtol=1e-6, atol=1e-7)
    stim, pos, _, _ = r.index("proj")
    assert stim.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 3, 3]
    assert pos.tolist() == [0, 1, 2, 0, 0, 1, 2, 3, 0, 1]
    with torch.no_grad():
        direct = net.proj(net.embed(torch.tensor([7, 8, 9, 10])))
    last = rl.extract(net, _token_inputs("left"), layers="proj", pool="last", progress=False)
    np.testing.assert_allclose(last["proj"][2], direct[-1].numpy(), rtol=1e-6)


def test_per_layer_pooling_and_tokenizer_like_preprocess():
    net = TokenModel()
    calls = []

    def prep(items):
        calls.append(len(items))
        n = max(len(s) for s in items)
        ids = torch.tensor([[ord(c) % 20 for c in s] + [0] * (n - len(s)) for s in items])
        mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in items])
        return {"input_ids": ids, "attention_mask": mask}

    acts = rl.extract(
        net, ["abc", "de", "fghij"], layers="all", pool={"proj": "last"}, preprocess=prep, batch_size=2, progress=False
    )
    assert calls == [2, 1]
    assert acts.names == ["embed", "proj"] and acts.attrs["pooling"] == {"embed": "mean", "proj": "last"}
    with torch.no_grad():
        want = net.proj(net.embed(torch.tensor([ord(c) % 20 for c in "de"])))
    np.testing.assert_allclose(acts["proj"][1], want[-1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        acts["embed"][1], net.embed.weight[[ord("d") % 20, ord("e") % 20]].mean(0).detach(), rtol=1e-6
    )


def test_lists_of_arrays_are_stacked_and_ids_kept():
    net = Blocks()
    items = [np.asarray(r) for r in X[:5].numpy()]
    acts = rl.extract(net, items, layers="head", ids=list("abcde"), progress=False)
    assert acts.ids == list("abcde")
    np.testing.assert_allclose(acts["head"], _reference(net, X[:5])["head"], rtol=1e-6, atol=1e-6)
    assert acts["head"].dtype == np.float32
    assert rl.extract(net, X[:5], layers="head", store_dtype="float64", progress=False)["head"].dtype == np.float64


def test_dtype_is_a_deprecated_alias_of_store_dtype():
    net = Blocks()
    with pytest.warns(DeprecationWarning, match="store_dtype"):
        acts = rl.extract(net, X[:5], layers="head", dtype="float16", progress=False)
    assert acts["head"].dtype == np.float16
    with pytest.raises(ReprlabError, match="disagree"), pytest.warns(DeprecationWarning):
        rl.extract(net, X[:5], layers="head", dtype="float16", store_dtype="float64", progress=False)
    with pytest.raises(TypeError, match="positional"):
        rl.extract(net, X[:5], "head")  # everything after (model, stimuli) is keyword-only


def test_layer_errors_suggest_close_names():
    net = Blocks()
    with pytest.raises(ReprlabError, match=r"no module named 'blocks\.7'.*Did you mean 'blocks\.[0-3]'"):
        rl.extract(net, X, layers="blocks.7", progress=False)
    with pytest.raises(ReprlabError, match="Did you mean 'stem'"):
        resolve_layers(net, ["stme"])
    with pytest.raises(ReprlabError, match="matches no module"):
        resolve_layers(net, "encoder.*")
    with pytest.raises(ReprlabTypeError, match="`layers` must be"):
        resolve_layers(net, [3])


def test_shared_and_unused_modules_are_reported():
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.act = torch.nn.ReLU()
            self.lin = torch.nn.Linear(3, 3)
            self.out = torch.nn.Linear(3, 3)
            self.unused = torch.nn.Linear(3, 3)

        def forward(self, x):
            return self.out(self.act(self.lin(self.act(x))))

    net = Shared()
    with pytest.raises(ReprlabError, match="ran more than once"):
        rl.extract(net, torch.randn(4, 3), layers=["act", "out"], progress=False)
    with pytest.raises(ReprlabError, match=r"did not run during the forward pass"):
        rl.extract(net, torch.randn(4, 3), layers=["unused"], progress=False)
    assert _hook_count(net) == 0


def test_pooling_errors_through_extract():
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 2, 3))
    imgs = torch.randn(3, 1, 9, 9)
    with pytest.raises(ReprlabError, match="pool='last' needs a token sequence"):
        rl.extract(conv, imgs, layers="all", pool="last", progress=False)
    acts = rl.extract(conv, imgs, layers="all", pool="spatial_mean", progress=False)
    assert acts.shape("1") == (3, 2)
    with pytest.raises(ReprlabError, match="`pool` names layers that are not extracted"):
        rl.extract(conv, imgs, layers="0", pool={"1": "max"}, progress=False)


def test_input_errors():
    net = Blocks()
    with pytest.raises(ReprlabError, match="a bare torch module cannot take"):
        rl.extract(net, ["some text", "more"], progress=False)
    with pytest.raises(ReprlabError, match="different shapes"):
        rl.extract(net, [np.zeros(5), np.zeros(4)], progress=False)
    with pytest.raises(ReprlabError, match="`ids` has 2 entries but there are 23"):
        rl.extract(net, X, ids=["a", "b"], progress=False)
    with pytest.raises(ReprlabError, match="`ids` must be unique"):
        rl.extract(net, X[:2], ids=["a", "a"], progress=False)
    with pytest.raises(ReprlabError, match="`stimuli` is empty"):
        rl.extract(net, [], progress=False)
    with pytest.raises(ReprlabError, match="`batch_size` must be a positive integer"):
        rl.extract(net, X, batch_size=0, progress=False)
    with pytest.raises(ReprlabError, match="`store_dtype` must be one of"):
        rl.extract(net, X, store_dtype="int8", progress=False)
    with pytest.raises(ReprlabError, match="`dtype` must be one of"), pytest.warns(DeprecationWarning):
        rl.extract(net, X, dtype="int8", progress=False)
    with pytest.raises(ReprlabTypeError, match=r"`model` must be a torch\.nn\.Module"):
        rl.extract("minilm-l6", X, progress=False)
    with pytest.raises(ReprlabTypeError, match="`stimuli` must be"):
        rl.extract(net, "one string", progress=False)
    with pytest.raises(ReprlabError, match="same first dimension"):
        rl.extract(net, {"a": torch.zeros(3, 2), "b": torch.zeros(4, 2)}, progress=False)
    with pytest.raises(ReprlabTypeError, match="`preprocess` must be callable"):
        rl.extract(net, X, preprocess=3, progress=False)


def test_progress_bar_reports_stimuli_per_second(capsys):
    net = Blocks()
    rl.extract(net, X, layers="head", batch_size=8, progress=False)
    assert capsys.readouterr().err == ""
    rl.extract(net, X, layers="head", batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "23/23" in err and "stim/s" in err


def test_capture_context_removes_hooks():
    net = Blocks()
    seen = []
    with LayerCapture(net, ["stem", "head"], lambda n, t: seen.append(n)) as cap:
        assert _hook_count(net) == 2
        cap.run(lambda: net(X[:2]))
    assert seen == ["stem", "head"] and _hook_count(net) == 0


def test_progress_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    rl.extract(Blocks(), X, layers="head", batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "23/23 stimuli" in err and "stimuli/s" in err
