"""match: Hungarian pairing and MMCS; matching pursuit and OMP against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl


def test_match_recovers_a_permutation_and_mmcs():
    g = np.random.default_rng(0)
    A = g.normal(size=(20, 8))
    perm = g.permutation(20)
    B = 3.0 * A[perm] + 1e-3 * g.normal(size=(20, 8))  # scaled, permuted, barely perturbed
    m = rl.dictionary.match(A, B)
    assert np.array_equal(m.pairs[:, 1], np.argsort(perm))
    assert m.cosine.min() > 0.999 and m.recovered(0.99) == 1.0
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    Bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    assert m.mmcs == pytest.approx((An @ Bn.T).max(1).mean())
    half = rl.dictionary.match(A, B[:10])  # fewer atoms in B: min(m_A, m_B) pairs
    assert len(half.pairs) == 10 and half.cosine.min() > 0.999  # each atom of B finds its original
    assert np.array_equal(np.sort(half.pairs[:, 0]), np.sort(perm[:10]))
    with pytest.raises(rl.ReprlabError, match="dimensions"):
        rl.dictionary.match(A, B[:, :5])
    with pytest.raises(rl.ReprlabError, match="all-zero"):
        rl.dictionary.match(np.zeros((2, 8)), B)


def _mp_reference(x, D, k):
    U = D / np.linalg.norm(D, axis=1, keepdims=True)
    r, z = x.copy(), np.zeros(len(D))
    for _ in range(k):
        c = U @ r
        j = int(np.argmax(np.abs(c)))
        z[j] += c[j]
        r -= c[j] * U[j]
    return z / np.linalg.norm(D, axis=1)


def test_matching_pursuit_equals_its_definition():
    g = np.random.default_rng(1)
    D = g.normal(size=(30, 10)) * g.uniform(0.5, 2.0, size=(30, 1))
    X = g.normal(size=(25, 10))
    Z = rl.dictionary.matching_pursuit(X, D, k=6)
    want = np.stack([_mp_reference(x, D, 6) for x in X])
    np.testing.assert_allclose(Z, want, atol=1e-10)
    res = [np.linalg.norm(X - rl.dictionary.matching_pursuit(X, D, k=k) @ D, axis=1) for k in (1, 3, 6)]
    assert np.all(res[1] <= res[0] + 1e-12) and np.all(res[2] <= res[1] + 1e-12)  # the residual never grows


def test_omp_recovers_sparse_codes_over_an_incoherent_dictionary():
    g = np.random.default_rng(2)
    D = g.normal(size=(40, 64)) * 2.0  # 40 atoms in 64 dimensions: low coherence
    Z = np.zeros((50, 40))
    for i in range(50):
        Z[i, g.choice(40, 3, replace=False)] = g.uniform(1, 2, 3) * g.choice([-1, 1], 3)
    X = Z @ D
    got = rl.dictionary.orthogonal_matching_pursuit(X, D, k=3)
    np.testing.assert_allclose(got, Z, atol=1e-8)
    assert ((got != 0).sum(1) == 3).all()
    t = rl.dictionary.orthogonal_matching_pursuit(torch.from_numpy(X), D, k=3)
    assert isinstance(t, torch.Tensor)
    with pytest.raises(rl.ReprlabError, match="larger than the number of atoms"):
        rl.dictionary.matching_pursuit(X, D, k=41)
    with pytest.raises(rl.ReprlabError, match="one atom per row"):
        rl.dictionary.matching_pursuit(X, D.T, k=3)
