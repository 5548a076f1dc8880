"""Identification (retrieval) decoding: which of N measured responses does each prediction belong to?

For predicted responses ``X_pred`` (N, C) and measured responses ``Y`` (N, C) of the same N stimuli,
``S[i, j] = sim(X_pred_i, Y_j)`` (Pearson correlation across channels, cosine, or minus the Euclidean
distance). Stimulus ``i`` is identified among the N candidates by where its own response ranks:

* **pairwise (rank) accuracy**: ``mean_i (#{j != i: S[i, j] < S[i, i]} + #{ties} / 2) / (N - 1)``, the
  share of two-alternative comparisons won (the normalised rank accuracy of Kay et al. 2008 and
  Pereira et al. 2018); analytic chance ``1/2``;
* **top-1 accuracy**: the share of stimuli whose own response is the most similar (ties share the
  win); analytic chance ``1/N``;
* **mean rank** of the own response among the N candidates (1 = best); chance ``(N + 1) / 2``.

The permutation test pairs predictions with the responses of randomly permuted stimuli (``S``'s
columns permuted), ``p = (1 + #{null >= observed}) / (1 + n_perm)``. Each row's ranks are computed
once, so a permutation costs one gather.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from .._validation import as_tensor, check_same_rows
from ..errors import ReprlabError

METRICS = ("correlation", "cosine", "euclidean")


@dataclass
class IdentificationResult:
    """Identification accuracy with its chance levels and permutation p-values (module docstring)."""

    pairwise: float
    top1: float
    mean_rank: float
    chance_pairwise: float
    chance_top1: float
    chance_mean_rank: float
    p_pairwise: float
    p_top1: float
    ranks: np.ndarray = field(repr=False)
    null_pairwise: np.ndarray = field(repr=False)
    null_top1: np.ndarray = field(repr=False)
    similarity: np.ndarray = field(repr=False)
    metric: str = "correlation"
    n_perm: int = 0

    @property
    def accuracy(self) -> float:
        """The pairwise (rank-based) accuracy."""
        return self.pairwise

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {
                "value": [self.pairwise, self.top1, self.mean_rank],
                "chance": [self.chance_pairwise, self.chance_top1, self.chance_mean_rank],
                "p": [self.p_pairwise, self.p_top1, float("nan")],
            },
            index=pd.Index(["pairwise", "top1", "mean_rank"], name="measure"),
        )


def _similarity(X: torch.Tensor, Y: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "euclidean":
        return -torch.cdist(X, Y)
    if metric == "correlation":
        X = X - X.mean(1, keepdim=True)
        Y = Y - Y.mean(1, keepdim=True)
    nx, ny = torch.linalg.vector_norm(X, dim=1), torch.linalg.vector_norm(Y, dim=1)
    for name, nrm in (("X_pred", nx), ("Y", ny)):
        if bool((nrm == 0).any()):
            row = int(torch.nonzero(nrm == 0)[0])
            what = "constant across channels" if metric == "correlation" else "all zero"
            raise ReprlabError(
                f"Row {row} of `{name}` is {what}, so its {metric} similarity is undefined; "
                "use metric='euclidean' or drop that stimulus."
            )
    return (X / nx[:, None]) @ (Y / ny[:, None]).T


def identification(
    X_pred: Any,
    Y: Any,
    *,
    metric: str = "correlation",
    n_perm: int = 1000,
    seed: Any = 0,
    dtype: Any = None,
    device: Any = None,
) -> IdentificationResult:
    """Identification accuracy of predicted responses ``X_pred`` among the measured ``Y`` (same stimuli, rows).

    Parameters
    ----------
    X_pred, Y : arrays (N, C)
        Predicted and measured responses, row i = stimulus i in both (N >= 3).
    metric : {"correlation", "cosine", "euclidean"}
        Similarity between a prediction and a candidate response.
    n_perm : int
        Permutations of the stimulus labels for the p-values (0: none).
    seed : int, None or numpy Generator

    Returns
    -------
    IdentificationResult

    Examples
    --------
    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> S = rng.normal(size=(50, 20))
    >>> res = rl.identification(S, S + 0.5 * rng.normal(size=S.shape), n_perm=200)
    >>> res.pairwise > 0.95 and res.p_pairwise < 0.01
    True
    """
    if metric not in METRICS:
        raise ReprlabError(f"`metric` must be one of {METRICS}; got {metric!r}.")
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 0:
        raise ReprlabError(f"`n_perm` must be a non-negative integer; got {n_perm!r}.")
    Xt = as_tensor(X_pred, "X_pred", dtype=dtype, device=device)
    Yt = as_tensor(Y, "Y", dtype=dtype, device=device)
    check_same_rows(Xt, Yt, ("X_pred", "Y"))
    if Xt.shape[1] != Yt.shape[1]:
        raise ReprlabError(
            f"`X_pred` has {Xt.shape[1]} channels and `Y` {Yt.shape[1]}; predictions and responses must have the "
            "same channels in the same order."
        )
    n = Xt.shape[0]
    if n < 3:
        raise ReprlabError(f"Identification needs at least 3 stimuli (candidates); got {n}.")
    S = _similarity(Xt, Yt, metric).cpu().numpy()
    # below[i, j] = #{l != j: S[i, l] < S[i, j]} + #{l != j: S[i, l] == S[i, j]} / 2
    below = rankdata(S, axis=1, method="average") - 1.0
    top = (below == n - 1).astype(float)
    own = np.arange(n)
    pairwise = float(below[own, own].mean() / (n - 1))
    ties_at_top = (S == S.max(1, keepdims=True)).sum(1)
    top1 = float(np.mean((S[own, own] == S.max(1)) / ties_at_top))
    ranks = n - below[own, own]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    null_pair, null_top = np.empty(n_perm), np.empty(n_perm)
    for b in range(n_perm):
        perm = rng.permutation(n)
        null_pair[b] = below[own, perm].mean() / (n - 1)
        null_top[b] = top[own, perm].mean()
    p_pair = float((1 + (null_pair >= pairwise).sum()) / (1 + n_perm))
    p_top = float((1 + (null_top >= top1).sum()) / (1 + n_perm))
    return IdentificationResult(
        pairwise=pairwise,
        top1=top1,
        mean_rank=float(ranks.mean()),
        chance_pairwise=0.5,
        chance_top1=1.0 / n,
        chance_mean_rank=(n + 1) / 2.0,
        p_pairwise=p_pair,
        p_top1=p_top,
        ranks=ranks,
        null_pairwise=null_pair,
        null_top1=null_top,
        similarity=S,
        metric=metric,
        n_perm=int(n_perm),
    )
