"""itda: the sequential rule as defined, planted atoms recovered when they occur alone, determinism,
the dictionary object working with pursuit / evaluate / match / save, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl


def _planted(seed: int, m: int = 40, d: int = 32, n: int = 2000, pure: float = 0.5):
    """Rows of 1 atom (fraction ``pure``) or 2 atoms of ``m`` unit atoms, coefficients in [0.5, 1.5]."""
    g = np.random.default_rng(seed)
    D = g.normal(size=(m, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    active = np.where(g.random(n) < pure, 1, 2)
    X = np.stack([g.uniform(0.5, 1.5, a) @ D[g.choice(m, a, replace=False)] for a in active])
    return X, D


def _omp_error(u, atoms, k):
    """||u - u_hat||^2 of OMP with k steps over unit atoms (numpy, least squares on the chosen atoms)."""
    r, chosen = u.copy(), []
    for _ in range(min(k, len(atoms))):
        c = np.abs(atoms @ r)
        c[chosen] = -1
        chosen.append(int(np.argmax(c)))
        A = atoms[chosen].T
        coef = np.linalg.lstsq(A, u, rcond=None)[0]
        r = u - A @ coef
    return float(r @ r)


def test_batch_size_one_is_the_sequential_rule():
    X, _ = _planted(3, n=300)
    X[17] = 0.0  # an all-zero row is skipped
    dic = rl.dictionary.itda(X, k=2, threshold=0.15, batch_size=1)
    atoms, rows = [], []
    for i, x in enumerate(X):
        if not np.linalg.norm(x) > 0:
            continue
        u = x / np.linalg.norm(x)
        if not atoms or _omp_error(u, np.array(atoms), 2) > 0.15:
            atoms.append(u)
            rows.append(i)
    assert dic.rows.tolist() == rows
    np.testing.assert_allclose(dic.atoms.numpy(), np.array(atoms), atol=1e-6)
    assert dic.info["zero_rows_skipped"] == 1 and dic.info["n_rows_seen"] == 300


def test_recovers_planted_atoms_that_occur_alone():
    for seed in (0, 1):
        X, D = _planted(seed)
        dic = rl.dictionary.itda(X, k=2, threshold=0.1, batch_size=256)
        m = rl.dictionary.match(D, dic)
        assert m.recovered(0.9) >= 0.9, (seed, m)
        assert dic.m < len(X) / 5  # a dictionary, not a copy of the data
        ev = rl.dictionary.evaluate(dic, X)
        assert ev.fvu < 0.02 and ev.l0 <= 2.0, ev
        np.testing.assert_allclose(dic.atoms.numpy(), X[dic.rows] / np.linalg.norm(X[dic.rows], axis=1)[:, None],
                                   rtol=1e-5, atol=1e-6)  # fmt: skip


def test_within_a_batch_a_duplicate_row_is_not_added_twice():
    X, _ = _planted(4, n=200)
    X = np.concatenate([X[:50], 2.0 * X[:50], X[50:]])  # rows 50..99 repeat rows 0..49 (scaled)
    dic = rl.dictionary.itda(X, k=2, threshold=0.1, batch_size=256)
    assert not set(dic.rows.tolist()) & set(range(50, 100))
    U = dic.atoms.numpy()
    C = U @ U.T - np.eye(len(U))
    assert C.max() ** 2 <= 1 - 0.1 + 1e-9  # no two atoms closer than the threshold allows


def test_deterministic_limited_and_usable_as_a_dictionary(tmp_path):
    X, _ = _planted(5, n=1000)
    a = rl.dictionary.itda(X, n_atoms=30, k=3, threshold=0.2, batch_size=100)
    b = rl.dictionary.itda(torch.from_numpy(X), n_atoms=30, k=3, threshold=0.2, batch_size=100)
    assert a.m == 30 and torch.equal(a.W_dec, b.W_dec) and a.rows.tolist() == b.rows.tolist()
    Z = a.encode(X)
    assert Z.shape == (1000, 30) and ((Z != 0).sum(1) <= 3).all()
    np.testing.assert_allclose(Z, rl.dictionary.orthogonal_matching_pursuit(X, a, k=3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.reconstruct(X), Z @ a.atoms.numpy(), rtol=1e-5, atol=1e-6)
    mp = rl.dictionary.itda(X, n_atoms=30, k=3, threshold=0.2, batch_size=100, pursuit="mp")
    np.testing.assert_allclose(mp.encode(X), rl.dictionary.matching_pursuit(X, mp, k=3), rtol=1e-5, atol=1e-6)
    assert rl.dictionary.match(a, b).recovered(0.999) == 1.0
    a.save(tmp_path / "itda")
    c = rl.dictionary.load(tmp_path / "itda")
    assert isinstance(c, rl.dictionary.PursuitDictionary) and c.pursuit == "omp" and c.k == 3
    assert torch.equal(c.W_dec, a.W_dec) and c.rows.tolist() == a.rows.tolist()
    # the same atoms; float32 codes summed in another order (memory layout after loading) move the 11th digit
    assert rl.dictionary.evaluate(c, X).fvu == pytest.approx(rl.dictionary.evaluate(a, X).fvu, rel=1e-6)
    acts = rl.Activations({"model.layers.6": X.astype(np.float32)}, [str(i) for i in range(1000)])
    s = rl.dictionary.itda(acts, n_atoms=30, k=3, threshold=0.2, layer="model.layers.6", batch_size=100)
    assert s.layer == "model.layers.6" and s.rows.tolist() == a.rows.tolist()


def test_bad_input_is_reported():
    X, _ = _planted(6, n=100)
    with pytest.raises(rl.ReprlabError, match=r"`threshold` must be a number in \(0, 1\)"):
        rl.dictionary.itda(X, threshold=1.5)
    with pytest.raises(rl.ReprlabError, match="`k` must be an integer"):
        rl.dictionary.itda(X, k=0)
    with pytest.raises(rl.ReprlabError, match=r"`k` \(8\) is larger than `n_atoms` \(4\)"):
        rl.dictionary.itda(X, n_atoms=4, k=8)
    with pytest.raises(rl.ReprlabError, match="`pursuit` must be one of"):
        rl.dictionary.itda(X, pursuit="lasso")
    bad = X.copy()
    bad[7, 3] = np.nan
    with pytest.raises(rl.ReprlabError, match=r"NaN or Inf values.*rows \[7\]"):
        rl.dictionary.itda(bad)
    with pytest.raises(rl.ReprlabError, match="every row is all-zero"):
        rl.dictionary.itda(np.zeros((10, 4)))
    acts = rl.Activations({"model.layers.6": X}, [str(i) for i in range(100)])
    with pytest.raises(rl.ReprlabError, match=r"no layer 'model\.layers\.7'"):
        rl.dictionary.itda(acts, layer="model.layers.7")
    dic = rl.dictionary.itda(X, k=2)
    with pytest.raises(rl.ReprlabError, match="expects 32"):
        dic.encode(np.ones((3, 5)))
