"""Linear concept erasure: ``rl.erase(X, y, method="leace" | "mean_diff")``.

Both methods fit an affine map ``x -> x - L R (x - mu)`` (``L``: (width, r), ``R``: (r, width),
``mu`` the mean of ``X``) after which no linear function of the representation carries information
about the concept ``y``, on the data it was fitted on: the cross-covariance between the erased ``X``
and the one-hot concept is zero, so every linear probe's class means coincide.

* ``"leace"``: LEAst-squares Concept Erasure (Belrose et al. 2023, "LEACE: Perfect linear concept
  erasure in closed form", NeurIPS, arXiv:2306.03819, Theorem 4.3): with the covariance
  ``S = Cov(X)``, its whitening ``W = (S^{1/2})^+`` and ``U`` an orthonormal basis of the column
  space of ``W Cov(X, Z)`` (``Z`` the concept: 0/1 for two classes, one-hot for more), the eraser is
  ``L = W^+ U``, ``R = U^T W``: the erasure that changes ``X`` least in the mean squared (Mahalanobis)
  sense. Covariances use the ``n - 1`` denominator; eigenvalues of ``S`` below
  ``lambda_max * width * eps`` count as zero and singular values of ``W Cov(X, Z)`` at or below
  ``svd_tol`` are dropped (as in the reference implementation ``concept-erasure``, whose
  ``LeaceFitter(shrinkage=False, constrain_cov_trace=False)`` it matches).
* ``"mean_diff"``: the orthogonal projection out of the span of the class-mean differences
  (``W = I`` above; for two classes, projecting out ``mean(X | y=1) - mean(X | y=0)``), i.e. the
  ``"orth"`` method of ``concept-erasure``.

The fitted :class:`Eraser` erases arrays (``E(X)``) and is itself an edit for :func:`rl.intervene`
(``rl.intervene(lm, {"model.layers.6": E})``), applied at every position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import as_tensor, check_labels
from ..errors import ReprlabError
from .edits import Edit, _check_vector_width


class Eraser(Edit):
    """A fitted concept eraser: ``x -> x - (x - mean) R^T L^T`` (see :func:`erase`).

    Attributes
    ----------
    proj_left : torch.Tensor (width, r)
    proj_right : torch.Tensor (r, width)
    mean : torch.Tensor (width,)
    method : str
    classes : np.ndarray -- the concept's values, in the order of ``Z``'s columns
    """

    def __init__(self, proj_left: torch.Tensor, proj_right: torch.Tensor, mean: torch.Tensor, method: str, classes):
        super().__init__(None, None)
        self.proj_left = proj_left
        self.proj_right = proj_right
        self.mean = mean
        self.method = method
        self.classes = classes

    @property
    def rank(self) -> int:
        """Number of dimensions removed."""
        return self.proj_left.shape[1]

    @property
    def P(self) -> np.ndarray:
        """The linear part as a matrix, ``I - L R`` (applied as ``(x - mean) P^T + mean``)."""
        d = self.mean.shape[0]
        return (torch.eye(d, dtype=torch.float64) - self.proj_left @ self.proj_right).numpy()

    def _erase(self, x: torch.Tensor) -> torch.Tensor:
        L, R, mu = (t.to(device=x.device, dtype=x.dtype) for t in (self.proj_left, self.proj_right, self.mean))
        return x - ((x - mu) @ R.T) @ L.T

    def __call__(self, X: Any) -> Any:
        """Erase the concept from ``X`` ((n, width) array or tensor; also (..., width) tensors).

        Returns the same kind as given: a NumPy array for array input (float64), a tensor of the
        input's dtype for tensor input.
        """
        if isinstance(X, torch.Tensor):
            if X.shape[-1] != self.mean.shape[0]:
                raise ReprlabError(f"`X` has width {X.shape[-1]}, the eraser was fitted on width {self.mean.shape[0]}.")
            x = X.detach()
            if not x.is_floating_point():
                x = x.double()
            return self._erase(x)
        x = as_tensor(X, "X")
        if x.shape[1] != self.mean.shape[0]:
            raise ReprlabError(f"`X` has width {x.shape[1]}, the eraser was fitted on width {self.mean.shape[0]}.")
        return self._erase(x).numpy()

    def check_width(self, width: int, layer: str) -> None:
        _check_vector_width(self.mean, width, layer, "eraser")

    def edit(self, h, pos, mask, layer):
        out = h.clone()
        out[:, mask] = self._erase(h[:, mask])
        return out

    def __repr__(self) -> str:
        return f"Eraser({self.method!r}, width={self.mean.shape[0]}, rank={self.rank})"


def _concept_matrix(y: np.ndarray, dtype: torch.dtype) -> tuple[torch.Tensor, np.ndarray]:
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ReprlabError(f"`y` has a single value ({classes[0]!r}); a concept needs at least two classes.")
    if classes.shape[0] == 2:
        Z = torch.as_tensor((y == classes[1]).astype(np.float64))[:, None]
    else:
        Z = torch.as_tensor((y[:, None] == classes[None, :]).astype(np.float64))
    return Z.to(dtype), classes


def erase(X: Any, y: Any, method: str = "leace", *, svd_tol: float = 0.01) -> Eraser:
    """Fit a concept eraser on activations ``X`` (n, width) and concept labels ``y`` (n,).

    ``method="leace"`` (least-squares concept erasure, closed form) or ``"mean_diff"`` (orthogonal
    projection out of the class-mean differences); see the module docstring for the formulas.
    Returns an :class:`Eraser`: ``E(X)`` erases arrays; ``rl.intervene(model, {layer: E})`` erases
    inside a model.
    """
    if method not in ("leace", "mean_diff"):
        raise ReprlabError(f'`method` must be "leace" or "mean_diff"; got {method!r}.')
    if not svd_tol > 0:
        raise ReprlabError(f"`svd_tol` must be positive; got {svd_tol!r}.")
    x = as_tensor(X, "X", min_rows=2)
    labels = check_labels(y, x.shape[0], "y")
    Z, classes = _concept_matrix(labels, x.dtype)
    n, d = x.shape
    mu = x.mean(0)
    xc = x - mu
    sigma_xz = xc.T @ (Z - Z.mean(0)) / (n - 1)
    if method == "leace":
        sigma = xc.T @ xc / (n - 1)
        lam, V = torch.linalg.eigh((sigma + sigma.T) / 2)
        keep = lam > lam[-1] * d * torch.finfo(lam.dtype).eps
        lam = lam.clamp_min(0.0)
        W = (V * torch.where(keep, lam.rsqrt(), 0.0)) @ V.T
        W_inv = (V * torch.where(keep, lam.sqrt(), 0.0)) @ V.T
    else:
        W = W_inv = torch.eye(d, dtype=x.dtype)
    u, s, _ = torch.linalg.svd(W @ sigma_xz, full_matrices=False)
    u = u[:, s > svd_tol]
    if u.shape[1] == 0:
        raise ReprlabError(
            f"Every singular value of the (whitened) cross-covariance is at or below `svd_tol`={svd_tol}: "
            "the concept is not linearly present in `X` at this tolerance (lower `svd_tol` to erase it anyway)."
        )
    return Eraser(W_inv @ u, u.T @ W, mu, method, classes)
