"""Measures on the subspaces the representations span in stimulus space (R^n).

* ``eigenspace_overlap`` (May et al. 2019): ``|U_X^T U_Y|_F^2 / max(d_X, d_Y)`` with ``U`` the left
  singular vectors of the *uncentred* data for its nonzero singular values (an orthonormal basis of
  its column space). A similarity in [0, 1]; 1 when the column spaces coincide (full column rank).
* ``gulp`` (Boix-Adserà et al. 2022): the distance between the best ridge-regularised linear
  predictors on the two representations, uniformly over all bounded linear targets. With the rows
  centred, each matrix scaled to Frobenius norm ``sqrt(n)`` (total variance 1), ``Sigma_X = X^T X /
  n`` and ``Sigma_XY = X^T Y / n``:

      GULP_lambda^2 = tr[(S_X (S_X + l)^-1)^2] + tr[(S_Y (S_Y + l)^-1)^2]
                      - 2 tr[(S_X + l)^-1 S_XY (S_Y + l)^-1 S_YX],

  which equals ``|P_X - P_Y|_F^2`` for the ridge "hat" matrices ``P_X = X (X^T X + n l I)^-1 X^T``
  (n x n). We compute it from the thin SVDs, ``P_X = U diag(s^2 / (s^2 + n l)) U^T``. At ``l = 0`` the
  inverse is the pseudo-inverse (``P_X`` is the projection on the column space), so GULP_0^2 =
  ``rank X + rank Y - 2 sum(rho_i^2)`` with rho the canonical correlations; the authors' code divides
  by the zero eigenvalues of a rank-deficient covariance instead (ReSi asserts d <= n for this reason).
  ``squared=True`` (default) returns the squared quantity, as ReSi and the authors' code do;
  ``squared=False`` its square root, a pseudometric.

References: May, Zhang, Dao & Ré (2019), "On the downstream performance of compressed word
embeddings", NeurIPS (eigenspace overlap score); Boix-Adserà, Lawrence, Stepaniants & Rigollet
(2022), "GULP: a prediction-based metric between representations", NeurIPS; Klabunde et al. (2023),
ReSi benchmark ("EigenspaceOverlapScore", "Gulp").
"""

from __future__ import annotations

import math

import torch

from .._linalg import center_columns
from .._registry import Param, Variant, nonnegative, register
from ..errors import ReprlabError


def _rank_tol(s: torch.Tensor, shape: tuple[int, ...]) -> float:
    """numpy.linalg.matrix_rank's tolerance: ``s_max * max(m, n) * eps``."""
    return float(s.max()) * max(shape) * torch.finfo(s.dtype).eps


def _column_basis(X: torch.Tensor, **_: object) -> torch.Tensor:
    U, s, _ = torch.linalg.svd(X, full_matrices=False)
    if float(s.max()) == 0.0:
        raise ReprlabError("eigenspace_overlap: a representation is all zeros, so it spans no subspace.")
    return U[:, s > _rank_tol(s, tuple(X.shape))], X.shape[1]


@register(
    "eigenspace_overlap",
    family="subspace",
    params={},
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=frozenset({"orthogonal", "isotropic_scaling", "permutation", "invertible_linear"}),
    range=(0.0, 1.0),
    references=(
        "May, Zhang, Dao & Ré (2019) On the downstream performance of compressed word embeddings, NeurIPS",
        "matches: ReSi repsim.measures.EigenspaceOverlapScore (uncentred data, numpy matrix_rank truncation)",
    ),
    summary="Overlap |U_X^T U_Y|_F^2 / max(d_X, d_Y) of the column spaces of the uncentred data",
    prepare=_column_basis,
)
def eigenspace_overlap(X: tuple[torch.Tensor, int], Y: tuple[torch.Tensor, int]) -> torch.Tensor:
    """Eigenspace overlap score ``|U_X^T U_Y|_F^2 / max(d_X, d_Y)``.

    ``U`` holds the left singular vectors of the uncentred data whose singular values exceed NumPy's
    ``matrix_rank`` tolerance. The normaliser is the larger *width* (May et al. 2019; ReSi), so a
    rank-deficient representation scores below 1 even against itself. Invariant to any invertible
    linear map of the units (the column space does not change); not to translation.
    """
    (Ux, dx), (Uy, dy) = X, Y
    return torch.linalg.matrix_norm(Ux.T @ Uy) ** 2 / max(dx, dy)


def _gulp_prepare(X: torch.Tensor, *, lmbda: float, **_: object) -> tuple[torch.Tensor, torch.Tensor]:
    n = X.shape[0]
    Xc = center_columns(X)
    fro = torch.linalg.matrix_norm(Xc)
    if float(fro) == 0.0:
        raise ReprlabError(
            "gulp: a representation has zero variance across stimuli (every row is identical), so its best "
            "linear predictor is undefined. Check the layer (constant or dead units)."
        )
    U, s, _ = torch.linalg.svd(Xc * (math.sqrt(n) / fro), full_matrices=False)
    if lmbda == 0:
        keep = s > _rank_tol(s, tuple(X.shape))
        return U[:, keep], torch.ones(int(keep.sum()), dtype=X.dtype, device=X.device)
    ev = s * s / n  # eigenvalues of the covariance Sigma_X (trace 1)
    return U, ev / (ev + lmbda)


_GULP_INV = frozenset({"orthogonal", "isotropic_scaling", "translation", "permutation"})
_GULP0_INV = _GULP_INV | {"invertible_linear", "affine"}


@register(
    "gulp",
    family="subspace",
    params={
        "lmbda": Param(0.0, check=nonnegative, doc="ridge strength lambda (data scaled to total variance 1)"),
        "squared": Param(True, choices=(True, False), doc="return GULP^2 (ReSi, the authors' code) or GULP"),
    },
    larger_is_similar=False,
    is_metric=False,
    symmetric=True,
    invariances=_GULP0_INV,
    range=(0.0, math.inf),
    references=(
        (
            "Boix-Adserà, Lawrence, Stepaniants & Rigollet (2022) GULP: a prediction-based metric between "
            "representations, NeurIPS"
        ),
        "matches: ReSi repsim.measures.Gulp (lambda=0, squared) and the authors' predictor_dist",
    ),
    summary="GULP: distance between the best (ridge) linear predictors on X and on Y",
    variants=(
        Variant(
            {"squared": False},
            False,
            True,
            _GULP0_INV,
            (0.0, math.inf),
            "GULP = |P_X - P_Y|_F, a pseudometric",
        ),
        Variant(
            {"lmbda": 0.1, "squared": False},
            False,
            True,
            _GULP_INV,
            (0.0, math.inf),
            "with ridge (lambda > 0): no longer invariant to invertible linear maps",
        ),
    ),
    prepare=_gulp_prepare,
)
def gulp(
    X: tuple[torch.Tensor, torch.Tensor],
    Y: tuple[torch.Tensor, torch.Tensor],
    *,
    lmbda: float = 0.0,
    squared: bool = True,
) -> torch.Tensor:
    """GULP distance between ``X`` and ``Y`` (Boix-Adserà et al. 2022).

    Parameters
    ----------
    lmbda : float
        Ridge strength, relative to the data scaled to total variance 1 (rows centred, Frobenius norm
        ``sqrt(n)``). 0 (default, ReSi's ``Gulp``): plain least squares, invariant to invertible
        linear maps.
    squared : bool
        True (default): ``|P_X - P_Y|_F^2``, the value ReSi and the authors' code return (a
        squared-distance-like quantity). False: its square root, a pseudometric.
    """
    (Ux, wx), (Uy, wy) = X, Y
    cross = ((Ux.T @ Uy) ** 2 * wx[:, None] * wy[None, :]).sum()
    value = ((wx * wx).sum() + (wy * wy).sum() - 2.0 * cross).clamp_min(0.0)
    return value if squared else value.sqrt()
