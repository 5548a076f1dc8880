"""train: every kind learns, deterministic under a seed, streams from a store in shuffled chunks,
resumes after kill -9 to the same weights, and rejects bad input clearly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.dictionary.data import Rows

from .conftest import planted

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("kind", ["topk", "batchtopk", "relu", "jumprelu"])
def test_every_kind_reconstructs_better_than_the_mean(kind):
    X, _, _ = planted(4000, 64, 16, 3, seed=4)
    # short runs: a wider JumpReLU kernel than the default 0.001 lets the thresholds move within 300 steps
    sae = rl.dictionary.train(
        X, kind=kind, k=3, n_latents=64, steps=300, batch_size=256, l1_coeff=1.0, bandwidth=0.05, progress=False
    )
    ev = rl.dictionary.evaluate(sae, X)
    assert ev.fvu < 0.6, ev
    assert sae.info["scale"] == pytest.approx(4.0 / np.linalg.norm(X[:4096], axis=1).mean(), rel=0.05)
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-5)  # unit atoms
    if kind in ("topk", "batchtopk", "jumprelu"):
        assert ev.l0 < 12, ev  # sparse around k (BatchTopK and JumpReLU: on average)


def test_same_seed_same_weights_other_seed_differs():
    X, _, _ = planted(2000, 32, 8, 2, seed=5)
    kw = dict(kind="topk", k=2, n_latents=32, steps=40, batch_size=100, progress=False)
    a, b = rl.dictionary.train(X, seed=3, **kw), rl.dictionary.train(X, seed=3, **kw)
    c = rl.dictionary.train(X, seed=4, **kw)
    for name, p in a.state_dict().items():
        assert torch.equal(p, b.state_dict()[name]), name
    assert not torch.equal(a.W_dec, c.W_dec)


class _CountingArray:
    """An on-disk-like array: records every row range read."""

    def __init__(self, arr: np.ndarray, chunk: int) -> None:
        self.arr, self.shape, self.dtype, self.chunks = arr, arr.shape, arr.dtype, (chunk, arr.shape[1])
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key):
        self.reads.append((key.start, key.stop))
        return self.arr[key]


def test_stream_reads_chunks_and_mixes_them_in_each_batch():
    X = np.arange(10_000, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # row i holds i
    arr = _CountingArray(X, chunk=500)
    acts = rl.Activations({"layer": arr}, [str(i) for i in range(10_000)])
    rows = Rows(acts, "layer")
    stream = rows.stream(batch_size=250, seed=0, buffer_rows=2000)
    batches = [next(stream) for _ in range(80)]  # two passes (40 batches of 250 each)
    assert max(b - a for a, b in arr.reads) <= 500  # never more than one chunk per read
    first_pass = torch.cat(batches[:40])[:, 0].long()
    assert sorted(first_pass.tolist()) == list(range(10_000))  # each row once per pass
    chunks_per_batch = [len(set((b[:, 0].long() // 500).tolist())) for b in batches]
    assert min(chunks_per_batch) >= 3  # rows of several chunks meet in a batch
    assert not torch.equal(torch.cat(batches[:40]), torch.cat(batches[40:]))  # a new order each pass
    resumed = rows.stream(batch_size=250, seed=0, buffer_rows=2000, start_step=57)
    assert torch.equal(next(resumed), batches[57])


def test_store_and_array_train_the_same():
    zarr = pytest.importorskip("zarr")
    X, _, _ = planted(3000, 32, 8, 2, seed=6)
    z = zarr.create_array(store=zarr.storage.MemoryStore(), shape=X.shape, chunks=(4096, 8), dtype="float32")
    z[...] = X
    acts = rl.Activations({"model.layers.0": z}, [str(i) for i in range(3000)])
    kw = dict(kind="topk", k=2, n_latents=32, steps=30, batch_size=100, progress=False)
    a = rl.dictionary.train(acts, "model.layers.0", **kw)
    b = rl.dictionary.train(X, **kw)
    assert a.layer == "model.layers.0"
    assert torch.equal(a.W_dec, b.W_dec)


_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, reprlab as rl
    X = np.load(sys.argv[1])
    sae = rl.dictionary.train(X, kind="topk", k=2, n_latents=32, steps=int(sys.argv[4]), batch_size=64, seed=1,
                              checkpoint=sys.argv[2], checkpoint_every=10, progress=False)
    sae.save(sys.argv[3])
    """
)


def _child(tmp_path: Path, ckpt: str, out: str, steps: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _CHILD, str(tmp_path / "X.npy"), str(tmp_path / ckpt), str(tmp_path / out), str(steps)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_killed_mid_training_resumes_to_the_same_weights(tmp_path):
    X, _, _ = planted(3000, 32, 8, 2, seed=7)
    np.save(tmp_path / "X.npy", X)
    steps = 300
    full = _child(tmp_path, "full.pt", "full", steps)
    victim = _child(tmp_path, "ckpt.pt", "resumed", steps)
    ckpt = tmp_path / "ckpt.pt"
    deadline = time.time() + 240
    while time.time() < deadline and victim.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=False)["step"] >= 40:
            break
        time.sleep(0.05)
    assert victim.poll() is None, "the run ended before it could be killed: raise `steps`"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = torch.load(ckpt, weights_only=False)["step"]
    assert 40 <= killed_at < steps
    resumed = _child(tmp_path, "ckpt.pt", "resumed", steps)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    assert full.wait(timeout=600) == 0, full.stderr.read().decode()
    a, b = rl.dictionary.load(tmp_path / "full"), rl.dictionary.load(tmp_path / "resumed")
    assert b.info["resumed_from"] >= killed_at and a.info["resumed_from"] == 0
    for name, p in a.state_dict().items():
        assert torch.allclose(p, b.state_dict()[name], rtol=0, atol=1e-6), name


def test_checkpoint_of_another_run_is_refused(tmp_path):
    X, _, _ = planted(1000, 16, 8, 2, seed=8)
    kw = dict(kind="topk", n_latents=16, steps=5, batch_size=100, progress=False, checkpoint=tmp_path / "c.pt")
    rl.dictionary.train(X, k=2, **kw)
    with pytest.raises(rl.ReprlabError, match=r"different run.*k \(2 there, 3 now\)"):
        rl.dictionary.train(X, k=3, **kw)


def test_bad_input_is_reported():
    X, _, _ = planted(500, 16, 8, 2, seed=9)
    with pytest.raises(rl.ReprlabError, match=r"`k` \(100\) is larger than the number of latents \(64"):
        rl.dictionary.train(X, k=100, expansion=8, progress=False)
    with pytest.raises(rl.ReprlabError, match="`kind` must be one of"):
        rl.dictionary.train(X, kind="gated", progress=False)
    acts = rl.Activations({"model.layers.6": X}, [str(i) for i in range(500)])
    with pytest.raises(rl.ReprlabError, match=r"no layer 'model\.layers\.7'.*Did you mean 'model\.layers\.6'"):
        rl.dictionary.train(acts, "model.layers.7", progress=False)
    bad = X.copy()
    bad[123] = np.nan
    with pytest.raises(rl.ReprlabError, match=r"NaN or Inf values in 1 row.*rows \[123\]"):
        rl.dictionary.train(bad, k=2, n_latents=16, batch_size=100, steps=3, progress=False)
    bad_store = rl.Activations({"model.layers.6": bad}, [str(i) for i in range(500)])  # NaN rows in a store
    with pytest.raises(rl.ReprlabError, match=r"layer 'model\.layers\.6'.*NaN or Inf values in 1 row.*rows \[123\]"):
        rl.dictionary.train(bad_store, "model.layers.6", k=2, n_latents=16, batch_size=100, steps=3, progress=False)
    with pytest.raises(rl.ReprlabError, match="batch_size"):
        rl.dictionary.train(X, k=2, batch_size=1000, progress=False)
    with pytest.raises(rl.ReprlabTypeError, match="must be an array"):
        rl.dictionary.train("not data", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(rl.ReprlabError, match="CUDA is not available"):
            rl.dictionary.train(X, k=2, n_latents=16, batch_size=100, steps=3, device="cuda", progress=False)
    sae = rl.dictionary.train(X, k=2, n_latents=16, batch_size=100, steps=3, device="cpu", progress=False)
    assert sae.W_dec.device.type == "cpu" and sae.info["device"] == "cpu"


def test_codes_are_a_representation_for_compare_and_describe():
    X, _, _ = planted(600, 32, 8, 2, seed=10)
    kw = dict(kind="topk", k=2, n_latents=32, steps=60, batch_size=100, progress=False)
    a, b = rl.dictionary.train(X, seed=0, **kw), rl.dictionary.train(X, seed=1, **kw)
    za, zb = a.encode(X), b.encode(X)
    assert za.shape == (600, 32) and isinstance(za, np.ndarray)
    assert 0.3 < rl.compare(za, zb, "cka") <= 1.0  # the two seeds' codes agree
    assert rl.describe(za, "anisotropy") > 0
    m = rl.dictionary.match(a, b)
    assert len(m.pairs) == 32 and m.cosine.mean() <= m.mmcs + 1e-12


@pytest.mark.parametrize("dead_latents", [[1, 4, 7, 8, 11, 19], [i for i in range(20) if i not in (2, 5)]])
def test_sparse_topk_loss_has_the_dense_formulas_value_and_gradients(dead_latents):
    """The TopK training loss (sparse gather gradients, AuxK on dead latents) against autograd on the
    dense formula: relu(topk(pre)) W_dec + b_dec, and AuxK decoding the k_aux largest dead latents."""
    from reprlab.dictionary.train import _loss

    g = torch.Generator().manual_seed(0)
    d, m, k, n = 6, 20, 3, 15
    sae = rl.dictionary.SparseAutoencoder(d, m, "topk", k).double()
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    dead = torch.zeros(m, dtype=torch.bool)
    dead[dead_latents] = True  # 6 dead: AuxK dense over the dead columns; 18 dead: by gathers
    loss, fired, active, err = _loss(sae, x, 0, 10, dead, 0.0, 0.0, 0.0, 0.25)
    loss.backward()
    got = {name: p.grad.clone() for name, p in sae.named_parameters()}

    ref = rl.dictionary.SparseAutoencoder(d, m, "topk", k).double()
    ref.load_state_dict(sae.state_dict())
    pre = (x - ref.b_dec) @ ref.W_enc + ref.b_enc
    vals, idx = pre.topk(k, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, idx, vals.clamp_min(0))
    e = x - (z @ ref.W_dec + ref.b_dec)
    aux_pre = torch.where(dead, pre, torch.full_like(pre, -torch.inf))
    av, ai = aux_pre.topk(3, dim=-1)  # k_aux = min(d / 2, number dead) = 3
    z_aux = torch.zeros_like(pre).scatter(-1, ai, av.clamp_min(0))
    ed = e.detach()
    want = e.pow(2).sum(-1).mean() + 0.25 * (z_aux @ ref.W_dec - ed).pow(2).sum() / (ed - ed.mean(0)).pow(2).sum()
    want.backward()
    assert float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-12)
    for name, p in ref.named_parameters():
        torch.testing.assert_close(got[name], p.grad, rtol=1e-10, atol=1e-12, msg=name)
    assert torch.equal(fired, (z > 0).any(0)) and int(active) == int((z > 0).sum())
    torch.testing.assert_close(err, e.detach(), rtol=1e-12, atol=1e-12)
