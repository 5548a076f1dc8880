"""Planted-dictionary data for the dictionary tests."""

from __future__ import annotations

import numpy as np


def planted(n: int, m: int, d: int, active: int, seed: int = 0, low: float = 0.8, high: float = 1.2):
    """``n`` rows, each a sum of ``active`` of ``m`` random unit atoms in ``d`` dimensions with
    coefficients uniform in [low, high]. Returns (X float32, atoms (m, d), support (n, active))."""
    g = np.random.default_rng(seed)
    D = g.normal(size=(m, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    support = np.argsort(g.random((n, m)), axis=1)[:, :active]
    coef = g.uniform(low, high, size=(n, active))
    X = np.einsum("nk,nkd->nd", coef, D[support]).astype(np.float32)
    return X, D, support
