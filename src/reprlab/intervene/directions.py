"""Reading directions from contrasting activations: ``rl.direction(X_pos, X_neg, method=...)``.

A direction is one vector of a layer's width along which two sets of activations differ. It can be
added to a model (``rl.add``), projected out (``rl.project_out``), used for steering
(``rl.steer_sweep``) or read with a lens, since it behaves as an array (``np.asarray(d)``).

Methods (``X_pos``, ``X_neg`` of shape (n, width); the paired methods need row i of both to be a
contrast pair):

* ``"mean_diff"``: ``mean(X_pos) - mean(X_neg)``, not normalised (for pairs, the mean of the pair
  differences). Contrastive activation addition (Rimsky et al. 2024, arXiv:2312.06681); the default
  aggregator of ``steering-vectors``.
* ``"pca"``: the first principal direction of the pair differences ``D = X_pos - X_neg`` (unit
  norm), signed so that the mean projection of ``D`` is positive. ``center=False`` (default) takes
  the top right singular vector of ``D`` (uncentered PCA of ``[D; -D]``, as ``steering-vectors``'
  ``pca_aggregator``); ``center=True`` subtracts the mean difference first (the ``"pca_diff"`` of
  ``repeng``; Zou et al. 2023, "Representation engineering", arXiv:2310.01405).
* ``"logistic"``: the weight vector (unit norm) of an L2-regularised logistic regression without
  intercept separating ``X_pos`` (+1) from ``X_neg`` (-1) after centring each pair on its midpoint
  (unpaired: on the grand mean), minimising ``0.5 ||w||^2 + C sum log(1 + exp(-y w.x))`` by Newton's
  method in float64 (the objective of scikit-learn's ``LogisticRegression(fit_intercept=False)``,
  which ``steering-vectors``' ``logistic_aggregator`` calls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor
from ..errors import ReprlabError

_METHODS = ("mean_diff", "pca", "logistic")


@dataclass(frozen=True)
class Direction:
    """A direction in a layer's activation space.

    Attributes
    ----------
    vector : np.ndarray of shape (width,)
        The direction as the method defines it (``mean_diff`` keeps its length; the others are unit).
    method : str
    layer : str or None
        The layer it was read from, where known (informative; the edits check the width).
    """

    vector: np.ndarray
    method: str
    layer: str | None = None
    meta: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def unit(self) -> np.ndarray:
        """The direction scaled to unit length."""
        return self.vector / np.linalg.norm(self.vector)

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.vector if dtype is None else self.vector.astype(dtype)

    def __len__(self) -> int:
        return self.vector.shape[0]

    def score(self, X: Any) -> np.ndarray:
        """Projection of each row of ``X`` on the unit direction, ``X @ unit``."""
        x = as_tensor(X, "X")
        if x.shape[1] != self.vector.shape[0]:
            raise ReprlabError(f"`X` has width {x.shape[1]}, the direction has width {self.vector.shape[0]}.")
        return (x @ torch.from_numpy(self.unit)).numpy()

    def __repr__(self) -> str:
        where = f", layer={self.layer!r}" if self.layer else ""
        return f"Direction({self.method!r}, width={self.vector.shape[0]}, norm={self.norm:.4g}{where})"


def _logistic(X: torch.Tensor, y: torch.Tensor, C: float, max_iter: int = 100, tol: float = 1e-10) -> torch.Tensor:
    """Newton's method for ``0.5 ||w||^2 + C sum log(1 + exp(-y X w))`` (strictly convex)."""
    d = X.shape[1]
    w = torch.zeros(d, dtype=X.dtype)
    eye = torch.eye(d, dtype=X.dtype)
    for _ in range(max_iter):
        m = y * (X @ w)
        p = torch.sigmoid(-m)  # d/dm log(1 + e^-m) = -sigmoid(-m)
        grad = w - C * (X.T @ (y * p))
        s = p * (1 - p)
        H = eye + C * (X.T * s) @ X
        step = torch.linalg.solve(H, grad)
        w = w - step
        if float(step.abs().max()) < tol * max(1.0, float(w.abs().max())):
            break
    return w


def direction(
    X_pos: Any,
    X_neg: Any,
    method: str = "mean_diff",
    *,
    center: bool = False,
    C: float = 1.0,
    layer: str | None = None,
) -> Direction:
    """The direction along which ``X_pos`` and ``X_neg`` (activations, (n, width)) differ.

    See the module docstring for the methods and their references. ``"pca"`` needs pairs (the same
    number of rows, row i of each a contrast pair); ``"mean_diff"`` and ``"logistic"`` accept
    unpaired sets.
    """
    if method not in _METHODS:
        raise ReprlabError(f"`method` must be one of {list(_METHODS)}; got {method!r}.")
    P = as_tensor(X_pos, "X_pos")
    N = as_tensor(X_neg, "X_neg")
    if P.shape[1] != N.shape[1]:
        raise ReprlabError(
            f"`X_pos` and `X_neg` must have the same width (the same layer); got {P.shape[1]} and {N.shape[1]}."
        )
    paired = P.shape[0] == N.shape[0]
    if method == "mean_diff":
        v = P.mean(0) - N.mean(0)
    elif method == "pca":
        if not paired:
            raise ReprlabError(
                f'method="pca" needs contrast pairs: `X_pos` and `X_neg` with the same rows; got {P.shape[0]} '
                f'and {N.shape[0]}. Use method="mean_diff" or "logistic" for unpaired sets.'
            )
        D = P - N
        if not bool(D.abs().max() > 0):
            raise ReprlabError("`X_pos` and `X_neg` are identical, so their differences have no direction.")
        A = D - D.mean(0) if center else D
        _, _, Vh = torch.linalg.svd(A, full_matrices=False)
        v = Vh[0]
        if float((D @ v).mean()) < 0:
            v = -v
    else:
        if paired:
            mid = (P + N) / 2
            X = torch.cat([P - mid, N - mid])
        else:
            mu = torch.cat([P, N]).mean(0)
            X = torch.cat([P - mu, N - mu])
        y = torch.cat([torch.ones(P.shape[0], dtype=X.dtype), -torch.ones(N.shape[0], dtype=X.dtype)])
        if not C > 0:
            raise ReprlabError(f"`C` (inverse regularisation strength) must be positive; got {C!r}.")
        w = _logistic(X, y, float(C))
        v = w / w.norm()
    if not bool(torch.isfinite(v).all()) or float(v.norm()) == 0.0:
        raise ReprlabError(
            "`X_pos` and `X_neg` do not differ (the direction is zero); check that the two sets contrast."
        )
    return Direction(v.numpy().copy(), method, layer, {"n_pos": P.shape[0], "n_neg": N.shape[0]})
