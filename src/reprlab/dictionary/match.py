"""``rl.dictionary.match``: the atoms of two dictionaries paired one to one, and the MMCS.

With unit atoms ``a_i`` (rows of dictionary A) and ``b_j`` (of B), ``C_ij = <a_i, b_j>`` (cosine):

* ``mmcs`` (mean max cosine similarity, Sharkey et al. 2022, "Taking features out of superposition
  with sparse autoencoders"): ``mean_i max_j C_ij``, for each atom of A its closest atom of B
  (several atoms of A may pick the same atom of B).
* the one-to-one matching: the pairs maximising ``sum C_ij`` over a matching (the Hungarian
  algorithm, ``scipy.optimize.linear_sum_assignment``; Kuhn 1955); ``cosine`` holds each matched
  pair's cosine, so ``mean(cosine) <= mmcs``.

Used for the universality of features across seeds (two SAEs on the same layer) and for the
recovery of a planted dictionary (``match(sae, true_atoms).max_cosine > 0.9``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError
from .sae import SparseAutoencoder


@dataclass
class Match:
    """Result of :func:`match`.

    Attributes
    ----------
    pairs : ndarray (p, 2)
        Matched atom indices ``(i in A, j in B)``, ``p = min(m_A, m_B)``, sorted by ``i``.
    cosine : ndarray (p,)
        Cosine of each matched pair.
    max_cosine : ndarray (m_A,)
        For each atom of A, its largest cosine with any atom of B.
    mmcs : float
        ``mean(max_cosine)``.
    """

    pairs: np.ndarray
    cosine: np.ndarray
    max_cosine: np.ndarray
    mmcs: float

    def recovered(self, threshold: float = 0.9) -> float:
        """Fraction of A's atoms whose best cosine with B exceeds ``threshold``."""
        return float((self.max_cosine > threshold).mean())

    def __repr__(self) -> str:
        return f"Match({len(self.pairs)} pairs, mean matched cosine {self.cosine.mean():.3f}, MMCS {self.mmcs:.3f})"


def _atoms(obj: Any, name: str) -> torch.Tensor:
    from .._validation import as_tensor

    if isinstance(obj, SparseAutoencoder):
        D = obj.W_dec.detach().double().cpu()
    else:
        D = as_tensor(obj, name)
    norms = D.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ReprlabError(
            f"`{name}` has {int((norms == 0).sum())} all-zero atoms (rows); a cosine needs non-zero atoms."
        )
    return D / norms


def match(a: Any, b: Any) -> Match:
    """Match the atoms of ``a`` to those of ``b`` (SAEs, or arrays with one atom per row).

    Returns a :class:`Match`: the one-to-one Hungarian pairing on cosine and the MMCS of A in B.
    """
    from scipy.optimize import linear_sum_assignment

    A, B = _atoms(a, "a"), _atoms(b, "b")
    if A.shape[1] != B.shape[1]:
        raise ReprlabError(f"`a` atoms have {A.shape[1]} dimensions and `b` atoms {B.shape[1]}; they must agree.")
    C = (A @ B.T).numpy()
    rows, cols = linear_sum_assignment(C, maximize=True)
    max_cos = C.max(axis=1)
    return Match(np.stack([rows, cols], axis=1), C[rows, cols], max_cos, float(max_cos.mean()))
