"""evaluate: each metric's formula, exact cases, and parity with dictionary_learning's evaluate."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.dictionary import SparseAutoencoder

from .conftest import planted


def _sae(d: int, m: int, kind: str = "relu", k: int | None = None, seed: int = 0) -> SparseAutoencoder:
    g = torch.Generator().manual_seed(seed)
    sae = SparseAutoencoder(d, m, kind, k)
    with torch.no_grad():
        W = torch.randn(m, d, generator=g)
        sae.W_dec.copy_(W / W.norm(dim=1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T + 0.1 * torch.randn(d, m, generator=g))
        sae.b_enc.copy_(-0.3 + 0.1 * torch.randn(m, generator=g))
        sae.b_enc[:3] = -100.0  # three latents that never fire
        sae.b_dec.copy_(0.1 * torch.randn(d, generator=g))
        sae.scale_.fill_(1.7)
    return sae.eval()


def test_mean_prediction_gives_fvu_one_and_identity_gives_zero(rng):
    X = rng.normal(size=(500, 6)).astype(np.float32) + 3.0
    mean_sae = SparseAutoencoder(6, 4, "relu")
    with torch.no_grad():
        mean_sae.W_dec.copy_(torch.eye(4, 6))
        mean_sae.b_enc.fill_(-1.0)  # every code is 0: x_hat = b_dec / scale = the mean
        mean_sae.b_dec.copy_(torch.from_numpy(X.astype(np.float64).mean(0)).float())
    ev = rl.dictionary.evaluate(mean_sae, X)
    assert ev.fvu == pytest.approx(1.0, abs=1e-6)
    assert ev.l0 == 0 and ev.dead_fraction == 1.0

    ident = SparseAutoencoder(6, 12, "relu")  # relu(x) - relu(-x) = x
    with torch.no_grad():
        ident.W_enc.copy_(torch.cat([torch.eye(6), -torch.eye(6)], dim=1))
        ident.W_dec.copy_(torch.cat([torch.eye(6), -torch.eye(6)], dim=0))
    ev = rl.dictionary.evaluate(ident, X)
    assert ev.fvu == pytest.approx(0.0, abs=1e-12)
    assert ev.cosine == pytest.approx(1.0) and ev.shrinkage == pytest.approx(1.0)


def test_formulas_over_all_rows_and_independent_of_block_size():
    X, _, _ = planted(3000, 40, 12, 3, seed=1)
    sae = _sae(12, 40)
    Z = sae.encode(X).astype(np.float64)
    Xh = sae.decode(Z.astype(np.float32)).astype(np.float64)
    x = X.astype(np.float64)
    ev = rl.dictionary.evaluate(sae, X, batch_size=1000)
    assert ev.fvu == pytest.approx(((x - Xh) ** 2).sum() / ((x - x.mean(0)) ** 2).sum(), rel=1e-6)
    assert ev.mse == pytest.approx(((x - Xh) ** 2).mean(), rel=1e-6)
    assert ev.l0 == pytest.approx((Z != 0).sum(1).mean(), rel=1e-12)
    cos = (x * Xh).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(Xh, axis=1))
    assert ev.cosine == pytest.approx(cos.mean(), rel=1e-6)
    assert ev.shrinkage == pytest.approx((np.linalg.norm(Xh, axis=1) / np.linalg.norm(x, axis=1)).mean(), rel=1e-6)
    np.testing.assert_allclose(ev.density, (Z != 0).mean(0))
    assert ev.dead_fraction == pytest.approx(((Z != 0).sum(0) == 0).mean())
    counts, edges = ev.density_hist
    assert counts.sum() == (ev.density > 0).sum() and edges[0] == -7.0
    small = rl.dictionary.evaluate(sae, X, batch_size=7)
    assert small.fvu == pytest.approx(ev.fvu, rel=1e-9) and small.l0 == ev.l0


@pytest.fixture
def dictionary_learning_peer(monkeypatch):
    """dictionary_learning 0.1.0, installed without its dependencies (pip install --no-deps): its
    evaluation module imports nnsight's LanguageModel only for the loss-recovered path, which these
    tests do not take, so a bare module object stands in for nnsight at import time."""
    if "nnsight" not in sys.modules:
        fake = types.ModuleType("nnsight")
        fake.LanguageModel = type("LanguageModel", (), {})
        monkeypatch.setitem(sys.modules, "nnsight", fake)
    from dictionary_learning import evaluation
    from dictionary_learning.dictionary import AutoEncoder

    return evaluation, AutoEncoder


def _peer_autoencoder(AutoEncoder, sae: SparseAutoencoder):
    """The same SAE in dictionary_learning's parametrisation (scale folded into the weights)."""
    s = sae.scale
    ae = AutoEncoder(sae.d, sae.m).double()
    with torch.no_grad():
        ae.bias.copy_(sae.b_dec.double() / s)
        ae.encoder.weight.copy_(s * sae.W_enc.double().T)
        ae.encoder.bias.copy_(sae.b_enc.double())
        ae.decoder.weight.copy_(sae.W_dec.double().T / s)
    return ae


def test_parity_with_dictionary_learning_evaluate(dictionary_learning_peer):
    evaluation, AutoEncoder = dictionary_learning_peer
    X, _, _ = planted(2000, 48, 10, 3, seed=2)
    sae = _sae(10, 48).double()
    peer = evaluation.evaluate(_peer_autoencoder(AutoEncoder, sae), iter([torch.from_numpy(X).double()]))
    ev = rl.dictionary.evaluate(sae, X)
    assert 0 < ev.dead_fraction < 1 and 0 < ev.l0 < 48
    assert ev.l0 == pytest.approx(peer["l0"], rel=1e-6)
    assert 1 - ev.dead_fraction == pytest.approx(peer["frac_alive"], rel=1e-6)
    assert ev.cosine == pytest.approx(peer["cossim"], rel=1e-6)
    assert ev.shrinkage == pytest.approx(peer["l2_ratio"], rel=1e-6)
    # dictionary_learning centres the residual too: 1 - FVE = fvu - n ||mean(x - x_hat)||^2 / sum ||x - mean(x)||^2
    x = X.astype(np.float64)
    r = x - sae.reconstruct(torch.from_numpy(x)).numpy()
    shift = len(x) * (r.mean(0) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert shift > 1e-3  # the definitions differ here
    assert ev.fvu - shift == pytest.approx(1 - peer["frac_variance_explained"], rel=1e-6)


def test_parity_with_dictionary_learning_on_a_trained_topk_sae(dictionary_learning_peer):
    evaluation, _ = dictionary_learning_peer
    X, _, _ = planted(3000, 48, 10, 3, seed=3)
    sae = rl.dictionary.train(X, kind="topk", k=3, n_latents=48, steps=60, batch_size=200, progress=False).double()

    class Adapter(torch.nn.Module):  # dictionary_learning's interface over our SAE's forward pass
        dict_size, activation_dim = sae.m, sae.d

        def forward(self, x, output_features=False):
            z = sae.activate(sae.pre_activations(x * sae.scale))
            return sae.decode_scaled(z) / sae.scale, z

    peer = evaluation.evaluate(Adapter(), iter([torch.from_numpy(X).double()]))
    ev = rl.dictionary.evaluate(sae, X)
    assert ev.l0 == pytest.approx(peer["l0"], rel=1e-6) == 3.0
    assert 1 - ev.dead_fraction == pytest.approx(peer["frac_alive"], rel=1e-6)
    assert ev.cosine == pytest.approx(peer["cossim"], rel=1e-6)


def test_evaluate_errors():
    sae = _sae(6, 10)
    with pytest.raises(rl.ReprlabError, match="6"):
        rl.dictionary.evaluate(sae, np.ones((10, 5)))
    with pytest.raises(rl.ReprlabError, match="every row is the same"):
        rl.dictionary.evaluate(sae, np.ones((10, 6)))
    bad = np.random.default_rng(0).normal(size=(50, 6))
    bad[7, 2] = np.nan
    with pytest.raises(rl.ReprlabError, match="NaN"):
        rl.dictionary.evaluate(sae, bad)
