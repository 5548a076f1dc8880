"""Token-level capture: rl.extract(..., pool="none", capture=("resid", "attn", "logits")) on tiny
random Llama, GPT-2, GPT-NeoX and Qwen2 models with a word-level tokenizer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.capture.zoo import TextPreprocess
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.tiny_lms import ARCHS, TEXTS, tiny_lm, tiny_tokenizer

SRC = Path(__file__).resolve().parents[2] / "src"
ALL = ("resid", "attn", "logits")


def _extract(model, side: str, **kw):
    prep = TextPreprocess(tiny_tokenizer(), padding_side=side)
    return rl.extract(model, TEXTS, preprocess=prep, pool="none", capture=ALL, batch_size=3, progress=False, **kw)


@pytest.mark.parametrize("arch", ARCHS)
def test_rows_are_the_tokenizers_tokens_and_left_and_right_padding_agree(arch):
    model = tiny_lm(arch)
    tok = tiny_tokenizer()
    right, left = _extract(model, "right"), _extract(model, "left")
    assert model.config._attn_implementation == "sdpa"  # eager only during the capture
    assert right.names[-1] == "logits" and len(right.attention_layers) == 3
    want = [tok(t)["input_ids"] for t in TEXTS]
    n_real = sum(len(w) for w in want)
    for name in right.names:
        idx = right.index(name)
        assert right.shape(name)[0] == n_real  # padding never enters
        assert idx.stimulus.tolist() == [i for i, w in enumerate(want) for _ in w]
        assert idx.position.tolist() == [p for w in want for p in range(len(w))]
        assert idx.token_id.tolist() == [t for w in want for t in w]
        assert idx.token.tolist() == [tok.decode([t]) for w in want for t in w]
        for u, v in zip(idx, left.index(name)):
            np.testing.assert_array_equal(u, v)
        np.testing.assert_allclose(right[name], left[name], rtol=1e-5, atol=1e-5, err_msg=name)
    for block in right.attention_layers:
        for i, w in enumerate(want):
            a = right.attention(block, i)
            assert a.shape == (4, len(w), len(w))
            np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
            np.testing.assert_allclose(np.triu(a, 1), 0.0, atol=1e-7)  # causal
            np.testing.assert_allclose(a, left.attention(block, str(i)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_states_attention_and_logits_equal_an_unpadded_forward(arch):
    model = tiny_lm(arch)
    tok = tiny_tokenizer()
    acts = _extract(model, "left")
    idx = acts.index("logits")
    model.set_attn_implementation("eager")
    try:
        for i, text in enumerate(TEXTS):
            ids = torch.tensor([tok(text)["input_ids"]])
            with torch.no_grad():
                out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
            rows = idx.stimulus == i
            np.testing.assert_allclose(acts["logits"][rows], out.logits[0].numpy(), rtol=1e-5, atol=1e-5)
            for k, block in enumerate(acts.attention_layers):
                np.testing.assert_allclose(acts.attention(block, i), out.attentions[k][0].numpy(), atol=1e-5)
            # hidden_states[k] for 0 < k < n_layers is the raw output of block k - 1
            for k, name in ((1, acts.names[1]), (2, acts.names[2])):
                np.testing.assert_allclose(acts[name][rows], out.hidden_states[k][0].numpy(), rtol=1e-5, atol=1e-5)
    finally:
        model.set_attn_implementation("sdpa")


def test_store_equals_memory_and_keeps_the_token_texts(tmp_path):
    model = tiny_lm("llama")
    mem = _extract(model, "right")
    disk = _extract(model, "right", out=tmp_path / "tok.zarr", attn_layers=[0, "model.layers.2"])
    assert disk.attention_layers == ["model.layers.0", "model.layers.2"]
    assert disk.attrs["capture"] == list(ALL) and disk.attrs["attention_heads"] == {
        "model.layers.0": 4,
        "model.layers.2": 4,
    }
    for name in mem.names:
        np.testing.assert_array_equal(mem[name], disk[name])
        for u, v in zip(mem.index(name), disk.index(name)):
            np.testing.assert_array_equal(u, v)
    for i in range(len(TEXTS)):
        np.testing.assert_array_equal(mem.attention("model.layers.2", i), disk.attention("model.layers.2", i))
    sub = disk.subset(["3", "1"])
    assert sub.index("logits").stimulus.tolist() == [0] * 6 + [1] * 3
    assert sub.index("logits").token.tolist()[:2] == ["Rome", "is"]
    np.testing.assert_array_equal(sub.attention("model.layers.0", 1), disk.attention("model.layers.0", 1))
    with pytest.raises(ReprlabError, match=r"No attention kept for 'model\.layers\.1'"):
        disk.attention("model.layers.1", 0)
    with pytest.raises(ReprlabError, match="`stimulus`"):
        disk.attention("model.layers.0", 99)


def test_real_blocks_gather_equals_per_stimulus_slices():
    from reprlab.capture.tokens import real_blocks

    g = torch.Generator().manual_seed(0)
    w = torch.rand(4, 3, 6, 6, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [0, 1, 0, 1, 1, 0]])
    values, lengths = real_blocks(w, mask)
    real = mask.bool()
    expected = torch.cat([w[i][:, real[i]][:, :, real[i]].reshape(-1) for i in range(4)])
    assert lengths.tolist() == [6, 4, 2, 3] and torch.equal(values, expected)
    strided = w.transpose(2, 3).contiguous().transpose(2, 3)  # same values, other strides
    assert torch.equal(real_blocks(strided, mask)[0], expected)


@pytest.mark.parametrize("store_dtype", ["float32", "float16"])
def test_memory_rows_written_in_place_equal_the_store_and_batch_by_batch(tmp_path, store_dtype):
    """In memory, each token layer's rows (and each block's attention) are gathered straight into
    one array; they must equal the store's and one extraction per batch, to the bit."""
    model = tiny_lm("llama")
    prep = TextPreprocess(tiny_tokenizer(), padding_side="left")
    kw = dict(preprocess=prep, pool="none", capture=ALL, progress=False, store_dtype=store_dtype)
    mem = rl.extract(model, TEXTS, batch_size=2, **kw)
    disk = rl.extract(model, TEXTS, batch_size=2, out=tmp_path / "s.zarr", **kw)
    parts = [rl.extract(model, TEXTS[b : b + 2], batch_size=2, **kw) for b in range(0, len(TEXTS), 2)]
    for name in mem.names:
        assert mem[name].dtype == np.dtype(store_dtype) and mem[name].flags.c_contiguous
        assert mem[name].tobytes() == disk[name].tobytes()
        assert mem[name].tobytes() == np.concatenate([p[name] for p in parts]).tobytes()
        assert mem.index(name).stimulus.tolist() == disk.index(name).stimulus.tolist()
    for block in mem.attention_layers:
        for i in range(len(TEXTS)):
            a = mem.attention(block, i)
            assert a.tobytes() == disk.attention(block, i).tobytes()
            assert a.tobytes() == parts[i // 2].attention(block, i % 2).tobytes()


def test_only_attention_or_only_logits_and_pooled_logits():
    model = tiny_lm("gpt2")
    prep = TextPreprocess(tiny_tokenizer())
    only = rl.extract(model, TEXTS, preprocess=prep, capture="attn", attn_layers="transformer.h.1", progress=False)
    assert only.names == [] and only.attention_layers == ["transformer.h.1"]
    last = rl.extract(model, TEXTS, preprocess=prep, capture=("logits",), pool="last", progress=False)
    full = rl.extract(model, TEXTS, preprocess=prep, capture=("logits",), pool="none", progress=False)
    ends = [np.flatnonzero(full.index("logits").stimulus == i)[-1] for i in range(len(TEXTS))]
    np.testing.assert_allclose(last["logits"], full["logits"][ends], rtol=1e-6)


def test_capture_errors():
    model = tiny_lm("llama")
    prep = TextPreprocess(tiny_tokenizer())
    with pytest.raises(ReprlabError, match=r"`capture`: unknown 'attention'.*Did you mean 'attn'"):
        rl.extract(model, TEXTS, preprocess=prep, capture=("attention",), progress=False)
    with pytest.raises(ReprlabTypeError, match="`capture` must be"):
        rl.extract(model, TEXTS, preprocess=prep, capture=(), progress=False)
    with pytest.raises(ReprlabError, match=r"`attn_layers`: 'model.layers.9' is not a block"):
        rl.extract(model, TEXTS, preprocess=prep, capture="attn", attn_layers=["model.layers.9"], progress=False)
    with pytest.raises(ReprlabError, match="block index 7 is out of range"):
        rl.extract(model, TEXTS, preprocess=prep, capture="attn", attn_layers=7, progress=False)
    with pytest.raises(ReprlabError, match="whose output is the logits"):
        rl.extract(model, TEXTS, preprocess=prep, layers="lm_head", capture=ALL, progress=False)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    with pytest.raises(ReprlabError, match="capture='attn' needs a transformers model"):
        rl.extract(net, torch.randn(5, 3), capture="attn", progress=False)
    with pytest.raises(ReprlabError, match="capture='logits' needs a model with an output embedding"):
        rl.extract(net, torch.randn(5, 3), capture="logits", progress=False)


def _run(out, model):
    texts = [f"{a} {b}" for a in TEXTS for b in TEXTS[:4]]
    rl.extract(
        model,
        texts,
        preprocess=TextPreprocess(tiny_tokenizer()),
        layers="model.layers.1",
        pool="none",
        capture=ALL,
        attn_layers=[0, 2],
        batch_size=2,
        out=out,
        progress=False,
    )


SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from tests.capture.test_tokens import _run
from tests.tiny_lms import tiny_lm

model = tiny_lm("qwen2")
model.model.layers[0].register_forward_pre_hook(lambda *a: time.sleep(0.15))
_run(sys.argv[1], model)
"""


def _n_done(out: Path) -> int:
    import json

    try:
        return json.loads((out / "zarr.json").read_text())["attributes"]["n_done"]
    except (FileNotFoundError, KeyError, ValueError):
        return 0


def test_kill_9_and_resume_gives_the_uninterrupted_store_bit_for_bit(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(root=str(SRC.parent)))
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    killed, full = tmp_path / "killed", tmp_path / "full"
    proc = subprocess.Popen([sys.executable, str(script), str(killed)], env=env)
    deadline = time.monotonic() + 180
    while _n_done(killed) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _n_done(killed)
    assert 6 <= done < 28, f"the kill should land mid-run (n_done={done})"
    with pytest.raises(ReprlabError, match="incomplete"):
        rl.Activations.open(killed)
    _run(killed, tiny_lm("qwen2"))  # resume (here: the same model, built from the same seed)
    _run(full, tiny_lm("qwen2"))  # uninterrupted
    a, b = rl.Activations.open(killed), rl.Activations.open(full)
    assert a.names == b.names and a.attention_layers == b.attention_layers == ["model.layers.0", "model.layers.2"]
    for name in a.names:
        assert a[name].tobytes() == b[name].tobytes(), name
        for u, v in zip(a.index(name), b.index(name)):
            np.testing.assert_array_equal(u, v)
    for block in a.attention_layers:
        assert np.asarray(a._attention[block][0][...]).tobytes() == np.asarray(b._attention[block][0][...]).tobytes()
    assert np.asarray(a._attention[block][1][...]).tolist() == np.asarray(b._attention[block][1][...]).tolist()
    assert a.attrs["chunks"] == b.attrs["chunks"]  # the checksums of layers and attention arrays too
