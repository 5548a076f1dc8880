"""Every public entry point that takes ``device=`` gives the CPU's numbers on each available device.

The devices are the CPU and, where torch sees one, CUDA: on a machine without a GPU these tests run
the ``device="cpu"`` path of each entry point (never skipped); on a GPU machine the same tests check
the CUDA path against the CPU. Nothing here names a measure: every registered compare and describe
measure is checked at its defaults.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from tests.measures.test_properties import make_inputs

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _close(a, b, rtol: float, atol: float, what: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _close(a[k], b[k], rtol, atol, f"{what}[{k!r}]")
        return
    if hasattr(a, "_asdict"):
        _close(a._asdict(), b._asdict(), rtol, atol, what)
        return
    if isinstance(a, (str, type(None))):
        assert a == b, what
        return
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol,
                               err_msg=what)  # fmt: skip


def _measures(kind: str):
    return [pytest.param(info, id=info.name) for info in rl.measures.available(kind=kind)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("info", _measures("compare"))
def test_every_compare_measure_on_each_device(info, device):
    X, Y = make_inputs(info, np.random.default_rng(0))
    fn = getattr(rl.measures, info.name)
    _close(fn(X, Y, device=device), fn(X, Y), 1e-6, 1e-9, f"{info.name} on {device}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("info", _measures("describe"))
def test_every_describe_measure_on_each_device(info, device):
    # 150 rows (k=100 estimators need more than 100) and, where the measure takes labels, four classes
    g = np.random.default_rng(1)
    X = np.tanh(g.normal(size=(150, 4)) @ g.normal(size=(4, 8))) + 0.3 * g.normal(size=(150, 8))
    params = {"labels": np.arange(150) % 4} if "labels" in info.params else {}
    fn = getattr(rl.describe, info.name)
    _close(fn(X, device=device, **params), fn(X, **params), 1e-6, 1e-9, f"{info.name} on {device}")


@pytest.mark.parametrize("device", DEVICES)
def test_compare_all_bootstrap_and_permutation_on_each_device(device):
    g = np.random.default_rng(2)
    reps = {f"r{i}": np.tanh(g.normal(size=(50, 6 + i))) for i in range(3)}
    batched = [i.name for i in rl.measures.available("compare") if "all_pairs" in i.capabilities]
    for measure in [*batched, "mutual_knn"]:  # the batched all-pairs paths, and the pair loop
        a = rl.compare_all(reps, None, measure, device=device)
        b = rl.compare_all(reps, None, measure)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-12, err_msg=measure)
    X, Y = reps["r0"], reps["r1"]
    ba = rl.stats.bootstrap(X, Y, "cka", n=40, seed=0, device=device)
    bb = rl.stats.bootstrap(X, Y, "cka", n=40, seed=0)
    np.testing.assert_allclose(ba.samples, bb.samples, rtol=1e-9, atol=1e-12)
    pa = rl.stats.permutation_test(X, Y, "cka", n=30, seed=0, device=device)
    pb = rl.stats.permutation_test(X, Y, "cka", n=30, seed=0)
    np.testing.assert_allclose(pa.null, pb.null, rtol=1e-9, atol=1e-12)
    assert pa.p == pb.p


@pytest.mark.parametrize("device", DEVICES)
def test_probe_encoding_and_feature_variance_on_each_device(device):
    g = np.random.default_rng(3)
    y = np.repeat([0, 1], 40)
    X = g.normal(size=(80, 12)) + 0.8 * y[:, None] * (np.arange(12) < 2)
    a = rl.probe(X, y, cv=4, C=1.0, n_permutations=0, n_boot=0, seed=0, device=device)
    b = rl.probe(X, y, cv=4, C=1.0, n_permutations=0, n_boot=0, seed=0)
    assert a.score == pytest.approx(b.score, abs=1e-9)
    np.testing.assert_allclose(a.proba, b.proba, rtol=1e-6, atol=1e-7)
    S = g.normal(size=(300, 4))
    R = S @ g.normal(size=(4, 3)) + 0.5 * g.normal(size=(300, 3))
    ea = rl.encoding(S, R, cv=3, n_boot=10, device=device)
    eb = rl.encoding(S, R, cv=3, n_boot=10)
    np.testing.assert_allclose(ea.r, eb.r, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ea.alpha, eb.alpha)
    F = {"bit": y, "level": X[:, 0] + g.normal(size=80)}
    fa = rl.feature_variance(X, F, device=device)
    fb = rl.feature_variance(X, F)
    for k in ("alone", "unique", "decodability"):
        _close(getattr(fa, k), getattr(fb, k), 1e-6, 1e-9, k)
    np.testing.assert_allclose(fa.pc_share, fb.pc_share, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_batched_probes_mdl_and_mlp_on_each_device(device):
    g = np.random.default_rng(5)
    y = np.arange(120) % 3
    layers = {f"l{i}": g.normal(size=(120, 10)) + (0.6 + 0.3 * i) * np.eye(10)[y] for i in range(3)}
    groups = np.arange(120) // 4
    kw = dict(groups=groups, cv=4, n_permutations=19, n_boot=50, seed=0)
    a = rl.probe_layers(layers, y, device=device, **kw)  # C searched by inner folds, permutations, bootstrap
    b = rl.probe_layers(layers, y, **kw)
    for name in layers:
        assert a[name].chosen == b[name].chosen and a[name].p_value == b[name].p_value
        np.testing.assert_allclose(a[name].proba, b[name].proba, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose([a[name].ci_low, a[name].ci_high], [b[name].ci_low, b[name].ci_high], atol=1e-9)
    ma = rl.probe(layers["l2"], y, "mdl", groups=groups, C=1.0, device=device)
    mb = rl.probe(layers["l2"], y, "mdl", groups=groups, C=1.0)
    assert ma.score == pytest.approx(mb.score, rel=1e-6)
    pa = rl.probe(layers["l2"], y, "mlp", groups=groups, cv=4, n_permutations=0, n_boot=0, steps=100, device=device)
    pb = rl.probe(layers["l2"], y, "mlp", groups=groups, cv=4, n_permutations=0, n_boot=0, steps=100)
    assert abs(pa.score - pb.score) < 0.05  # float32 training: the same fit up to rounding


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["topk", "batchtopk", "relu", "jumprelu"])
def test_sae_training_on_each_device(device, kind):
    g = np.random.default_rng(4)
    atoms = g.normal(size=(32, 16))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = np.zeros((2000, 32))
    for row in codes:
        row[g.choice(32, 2, replace=False)] = g.uniform(0.5, 2.0, 2)
    X = (codes @ atoms).astype(np.float32)
    kw = dict(kind=kind, k=2, n_latents=32, steps=150, batch_size=200, seed=0, l1_coeff=1.0, bandwidth=0.05)
    a = rl.dictionary.train(X, device=device, progress=False, **kw)
    b = rl.dictionary.train(X, progress=False, **kw)
    assert a.info["device"].startswith(device)
    ea, eb = rl.dictionary.evaluate(a, X), rl.dictionary.evaluate(b, X)
    assert ea.fvu == pytest.approx(eb.fvu, abs=0.02) and ea.fvu < 0.5  # float32: the same training up to rounding
    assert ea.l0 == pytest.approx(eb.l0, rel=0.05)


def _tiny_zoo(device: str):
    from reprlab.capture.hooks import default_layers
    from reprlab.capture.zoo import TextPreprocess, ZooModel
    from tests.tiny_lms import tiny_lm, tiny_tokenizer

    model, tok = tiny_lm("llama", seed=0).to(device), tiny_tokenizer()
    return ZooModel("tiny-llama", model, TextPreprocess(tok), default_layers(model), "text", "none", tokenizer=tok)


@pytest.mark.parametrize("device", DEVICES)
def test_capture_lenses_and_interventions_of_a_model_on_each_device(device, tmp_path):
    from tests.tiny_lms import TEXTS

    on, cpu = _tiny_zoo(device), _tiny_zoo("cpu")
    kw = dict(pool="none", capture=("resid", "attn", "logits"), batch_size=3, progress=False)
    a, b = rl.extract(on, TEXTS, out=tmp_path / "a.zarr", **kw), rl.extract(cpu, TEXTS, **kw)
    for name in b.names:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)
    for block in b.attention_layers:
        np.testing.assert_allclose(a.attention(block, 0), b.attention(block, 0), rtol=1e-4, atol=1e-6)
    la, lb = rl.lens.logit_lens(on, TEXTS[:4]), rl.lens.logit_lens(cpu, TEXTS[:4])
    np.testing.assert_allclose(la.kl_to_final, lb.kl_to_final, rtol=1e-3, atol=1e-5)
    texts = [f"{x} {y}" for x in TEXTS for y in TEXTS[:4]]
    store = rl.extract(cpu, texts, pool="none", progress=False)
    ta = rl.lens.train_tuned_lens(cpu, store, steps=30, lr=1e-2, rows_per_step=64, train_vocab=None, device=device)
    tb = rl.lens.train_tuned_lens(_tiny_zoo("cpu"), store, steps=30, lr=1e-2, rows_per_step=64, train_vocab=None)
    assert ta.config["device"].startswith(device)
    np.testing.assert_allclose(ta.held_out_kl, tb.held_out_kl, rtol=1e-3, atol=1e-5)
    v = torch.randn(32, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([[5, 9, 12, 3, 7]])
    outs = []
    for lm in (on, _tiny_zoo("cpu")):  # train_tuned_lens(device=...) moved ``cpu``'s model
        model = lm.model
        with torch.no_grad(), rl.intervene(model, {"model.layers.1": rl.add(v, alpha=2.0)}):
            outs.append(model(ids.to(next(model.parameters()).device)).logits.cpu())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
