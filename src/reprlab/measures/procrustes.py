"""Procrustes distances and the aligned cosine similarity.

``procrustes`` (orthogonal Procrustes analysis; Schönemann 1966, Ding, Denain & Steinhardt 2021,
Williams et al. 2021), with ``Xc``, ``Yc`` the column-centred matrices (the narrower zero-padded)
and ``|.|_*`` the nuclear norm, ``|Xc^T Yc|_* = max_Q <Xc Q, Yc>`` over orthogonal Q:

* ``variant="centered_normalized"`` (default): ``Xn = Xc / |Xc|_F``, ``Yn = Yc / |Yc|_F`` and
  ``d = min_Q |Xn Q - Yn|_F = sqrt(2 - 2 |Xn^T Yn|_*)``, in [0, sqrt(2)] (Ding et al. 2021's
  Procrustes distance, not squared). Matches ReSi ``OrthogonalProcrustesCenteredAndNormalized``.
* ``variant="size_and_shape"``: ``d = min_Q |Xc Q - Yc|_F = sqrt(|Xc|^2 + |Yc|^2 - 2 |Xc^T Yc|_*)``,
  not normalised. Matches ReSi ``ProcrustesSizeAndShapeDistance`` (= ``shape(score="euclidean")``).
* ``variant="orthogonal_angular"``: ``d = arccos |Xn^T Yn|_*`` in radians, [0, pi/2]. Matches ReSi
  ``OrthogonalAngularShapeMetricCentered`` (= ``shape()``, netrep ``LinearMetric(alpha=1)``).
* ``variant="permutation_uncentered"``: ``d = min_P |X P - Y|_F`` over unit permutations, on the raw
  (NOT centred, not normalised) matrices. Matches ReSi ``PermutationProcrustes``; netrep's
  ``PermutationMetric`` centres first: that is ``shape(group="permutation", score="euclidean")``.

All four are metrics on the equivalence classes of their invariance groups.

``aligned_cosine`` (ReSi ``AlignedCosineSimilarity``): the mean over stimuli of the cosine between
the rows of ``X R`` and ``Y``, with ``R`` the orthogonal Procrustes fit ``argmin_R |X R - Y|_F`` on the
uncentred, unnormalised matrices (``R = U V^T`` from ``X^T Y = U S V^T``, the narrower zero-padded). A
similarity in [-1, 1]; every row must be non-zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._linalg import center_columns
from .._registry import Param, Variant, register
from ..errors import ReprlabError
from .shape import ShapeState, check_not_zero, nuclear_inner, orthogonal_score, permutation_score

VARIANTS = ("centered_normalized", "size_and_shape", "orthogonal_angular", "permutation_uncentered")

PARAMS = {
    "variant": Param(
        "centered_normalized",
        choices=VARIANTS,
        doc="centered_normalized, size_and_shape, orthogonal_angular (radians) or permutation_uncentered",
    ),
}


def _prepare(X: torch.Tensor, *, variant: str, **_: object) -> ShapeState:
    n = X.shape[0]
    if n < 2:
        raise ReprlabError(f"The Procrustes distance needs at least 2 stimuli (rows); got {n}.")
    if variant == "permutation_uncentered":
        F = X
    else:
        F = center_columns(X)
        if variant != "size_and_shape":
            check_not_zero(F, f"the {variant} Procrustes distance (it normalises by the Frobenius norm)")
            F = F / torch.linalg.matrix_norm(F)
    return ShapeState(sq_norm=(F * F).sum(), rescale=None, width=F.shape[1], F=F)


_ALL = frozenset({"permutation", "orthogonal", "translation", "isotropic_scaling"})


@register(
    "procrustes",
    family="procrustes",
    params=PARAMS,
    larger_is_similar=False,
    is_metric=True,
    symmetric=True,
    invariances=_ALL,
    range=(0.0, math.sqrt(2.0)),
    references=(
        "Schönemann (1966) A generalized solution of the orthogonal Procrustes problem, Psychometrika",
        "Ding, Denain & Steinhardt (2021) Grounding representation similarity with statistical testing, NeurIPS",
        "Williams, Kunz, Kornblith & Linderman (2021) Generalized shape metrics on neural representations, NeurIPS",
        (
            "matches: ReSi OrthogonalProcrustesCenteredAndNormalized, ProcrustesSizeAndShapeDistance, "
            "OrthogonalAngularShapeMetricCentered, PermutationProcrustes; netrep LinearMetric(alpha=1)"
        ),
    ),
    summary="Orthogonal Procrustes distance between (centred, optionally normalised) representations",
    variants=(
        Variant(
            {"variant": "size_and_shape"},
            False,
            True,
            _ALL - {"isotropic_scaling"},
            (0.0, math.inf),
            "centred, not normalised: not scale invariant",
        ),
        Variant({"variant": "orthogonal_angular"}, False, True, _ALL, (0.0, math.pi / 2), "radians"),
        Variant(
            {"variant": "permutation_uncentered"},
            False,
            True,
            frozenset({"permutation"}),
            (0.0, math.inf),
            "raw matrices matched by unit permutation (ReSi PermutationProcrustes)",
        ),
    ),
    prepare=_prepare,
)
def procrustes(X: ShapeState, Y: ShapeState, *, variant: str = "centered_normalized") -> float:
    """Procrustes distance between ``X`` (n, d1) and ``Y`` (n, d2) (module docstring).

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
    variant : {"centered_normalized", "size_and_shape", "orthogonal_angular", "permutation_uncentered"}
        ``centered_normalized`` (default): ``sqrt(2 - 2 |Xn^T Yn|_*)`` of centred unit-Frobenius
        matrices; ``size_and_shape``: centred, not normalised; ``orthogonal_angular``: ``arccos``
        of the aligned cosine of the centred matrices (radians); ``permutation_uncentered``:
        ``min_P |X P - Y|_F`` over unit permutations of the raw matrices (ReSi's convention).

    Returns
    -------
    float
        A distance (``orthogonal_angular``: radians in [0, pi/2]).
    """
    if variant == "permutation_uncentered":
        return permutation_score(X, Y, "euclidean")
    inner = nuclear_inner(X.F, Y.F, X.sq_norm, Y.sq_norm)
    return orthogonal_score(X, Y, inner, "angular" if variant == "orthogonal_angular" else "euclidean")


@dataclass
class RowState:
    """Uncentred data and the Euclidean norm of each row."""

    X: torch.Tensor
    row_norms: torch.Tensor


def _prepare_rows(X: torch.Tensor, **_: object) -> RowState:
    norms = torch.linalg.vector_norm(X, dim=1)
    zero = torch.nonzero(norms == 0).flatten()
    if zero.numel():
        rows = ", ".join(str(int(i)) for i in zero[:5]) + (", ..." if zero.numel() > 5 else "")
        raise ReprlabError(
            f"The aligned cosine similarity is undefined for all-zero rows: {zero.numel()} row(s) of a "
            f"representation are zero (rows {rows}). Drop those stimuli, or use a measure that centres "
            "the data (e.g. 'procrustes')."
        )
    return RowState(X, norms)


@register(
    "aligned_cosine",
    family="procrustes",
    params={},
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances={"permutation", "orthogonal", "isotropic_scaling"},
    range=(-1.0, 1.0),
    references=(
        (
            "Hamilton, Leskovec & Jurafsky (2016) Diachronic word embeddings reveal statistical laws of semantic "
            "change, ACL (cosine after orthogonal Procrustes alignment)"
        ),
        "matches: ReSi AlignedCosineSimilarity (uncentred data, scipy orthogonal_procrustes)",
    ),
    summary="Mean row cosine between X R and Y after an orthogonal Procrustes fit on uncentred data",
    prepare=_prepare_rows,
)
def aligned_cosine(X: RowState, Y: RowState) -> float:
    """Mean cosine between the rows of ``X R`` and ``Y``, ``R = argmin_R |X R - Y|_F`` orthogonal.

    The fit is on the raw (uncentred, unnormalised) matrices, the narrower one zero-padded, as ReSi's
    ``AlignedCosineSimilarity``. ``R = U V^T`` from the SVD ``X^T Y = U S V^T``; only its block
    mapping X's columns to Y's matters, and that block is unique when ``X^T Y`` has full rank.
    Returns a similarity in [-1, 1]. Every row of X and Y must be non-zero.
    """
    U, _, Vh = torch.linalg.svd(X.X.T @ Y.X, full_matrices=False)
    XR = X.X @ (U @ Vh)
    cos = (XR * Y.X).sum(1) / (X.row_norms * Y.row_norms)
    return cos.mean()
