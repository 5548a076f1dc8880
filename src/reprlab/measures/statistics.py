"""Differences of one summary statistic of each representation (the ReSi "statistics" measures).

Each measure reduces a representation to one number ``s(X)`` and returns ``|s(X) - s(Y)|``, a
pseudometric (it is 0 for any two representations with the same statistic):

* ``magnitude_difference``: ``s(X) = |mean_i x_i|_2``, the length of the mean row (centroid).
* ``concentricity_difference``: ``s(X) = mean_i cos(x_i, mean_j x_j)``, how tightly the rows point
  along their centroid.
* ``uniformity_difference``: ``s(X) = log mean_{i,j} exp(-t |x_i - x_j|^2)`` over all ``n^2`` ordered
  pairs including ``i = j`` (Wang & Isola 2020's uniformity, ``t = 2`` as in ReSi).

Uniformity is evaluated as ``logsumexp(-t D^2) - 2 log n``, so no term underflows before the log.
For data whose pairwise distances are all large (unnormalised activations: ``t |d|^2`` of several
hundred) every off-diagonal term is below ``1e-300``, ``s(X)`` is ``log(1/n)`` to the last bit for
both representations and the difference is 0: this is the true value in floating point, not an
artefact, and matches ReSi, which sums ``exp`` directly. Normalise the rows (Wang & Isola use unit
vectors) for an informative value.

References: Klabunde et al. (2023), "Similarity of neural network models: a survey of functional and
representational measures" (ReSi benchmark, measures "MagnitudeDifference",
"ConcentricityDifference", "UniformityDifference"); Wang & Isola (2020), "Understanding contrastive
representation learning through alignment and uniformity on the hypersphere", ICML.
"""

from __future__ import annotations

import math

import torch

from .._linalg import sq_distances
from .._registry import Param, positive, register
from ..errors import ReprlabError

_RESI = "matches: ReSi (mklabunde/resi) repsim.measures.{}"


def _magnitude(X: torch.Tensor, **_: object) -> torch.Tensor:
    return torch.linalg.vector_norm(X.mean(dim=0))


def _concentricity(X: torch.Tensor, **_: object) -> torch.Tensor:
    mu = X.mean(dim=0)
    mu_norm = torch.linalg.vector_norm(mu)
    row_norms = torch.linalg.vector_norm(X, dim=1)
    if float(mu_norm) <= 1e-10 * float(row_norms.max()):
        raise ReprlabError(
            "concentricity_difference: a representation has a zero mean row (to rounding), so the cosine of "
            "the rows with their mean is undefined. Do not centre the data before this measure (it describes uncentred "
            "activations)."
        )
    if bool((row_norms == 0).any()):
        raise ReprlabError(
            f"concentricity_difference: {int((row_norms == 0).sum())} rows of a representation are all zero, "
            "so their cosine with the mean row is undefined. Drop those stimuli or use another measure."
        )
    return ((X @ mu) / (row_norms * mu_norm)).mean()


def _uniformity(X: torch.Tensor, *, t: float = 2.0, **_: object) -> torch.Tensor:
    n = X.shape[0]
    return torch.logsumexp((-t * sq_distances(X)).reshape(-1), dim=0) - 2.0 * math.log(n)


_COMMON = dict(
    larger_is_similar=False,
    is_metric=True,
    symmetric=True,
    range=(0.0, math.inf),
)


@register(
    "magnitude_difference",
    family="statistics",
    params={},
    invariances={"orthogonal"},
    references=(
        "Klabunde et al. (2023) Similarity of neural network models: a survey (ReSi), 'magnitude difference'",
        _RESI.format("MagnitudeDifference"),
    ),
    summary="|(length of the mean row of X) - (that of Y)|",
    prepare=_magnitude,
    **_COMMON,
)
def magnitude_difference(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Difference of the lengths of the mean rows: ``| |mean_i x_i| - |mean_i y_i| |``.

    A pseudometric on representations (any two with equally long centroids are at distance 0);
    invariant to orthogonal transforms, not to translation or scaling. Matches ReSi's
    ``MagnitudeDifference``.
    """
    return (X - Y).abs()


@register(
    "concentricity_difference",
    family="statistics",
    params={},
    invariances={"orthogonal", "isotropic_scaling"},
    references=(
        "Klabunde et al. (2023) Similarity of neural network models: a survey (ReSi), 'concentricity'",
        _RESI.format("ConcentricityDifference"),
    ),
    summary="|mean cosine of the rows with their mean, X minus Y|",
    prepare=_concentricity,
    **_COMMON,
)
def concentricity_difference(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Difference of the mean cosine between the rows and the mean row.

    ``| mean_i cos(x_i, mean x) - mean_i cos(y_i, mean y) |``; in [0, 2]. Raises when a row or the
    mean row is zero (the cosine is undefined). Matches ReSi's ``ConcentricityDifference``.
    """
    return (X - Y).abs()


@register(
    "uniformity_difference",
    family="statistics",
    params={"t": Param(2.0, check=positive, doc="temperature t of exp(-t |x_i - x_j|^2)")},
    invariances={"orthogonal", "translation"},
    references=(
        (
            "Wang & Isola (2020) Understanding contrastive representation learning through alignment and "
            "uniformity on the hypersphere, ICML"
        ),
        _RESI.format("UniformityDifference") + " (t=2)",
    ),
    summary="|log mean exp(-t |x_i - x_j|^2), X minus Y| (uniformity of Wang & Isola)",
    prepare=_uniformity,
    **_COMMON,
)
def uniformity_difference(X: torch.Tensor, Y: torch.Tensor, *, t: float = 2.0) -> torch.Tensor:
    """Difference of the uniformities ``U(Z) = log mean_{i,j} exp(-t |z_i - z_j|^2)``.

    The mean runs over all ``n^2`` ordered pairs including ``i = j`` (as ReSi), so ``U`` lies in
    ``[-log n, 0]``; computed with ``logsumexp`` (no underflow before the log). With large pairwise
    distances both uniformities are ``-log n`` and the difference is exactly 0 (module docstring).
    """
    return (X - Y).abs()
