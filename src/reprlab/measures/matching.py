"""Matching the units of two representations by their correlation ("Convergent learning").

Let ``C`` be the d_X x d_Y matrix of Pearson correlations between the units (columns) of ``X`` and
those of ``Y`` across the stimuli. A unit with zero variance (e.g. a dead ReLU) has correlation 0
with every unit (the convention of ReSi, which computes ``C`` as 1 - sklearn cosine distance of the
centred columns, and of sklearn's ``normalize``), so dead units lower the score rather than making
it undefined.

* hard (``soft=False``, default): the one-to-one assignment of ``min(d_X, d_Y)`` unit pairs that
  maximises the total correlation (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``
  on ``C``), scored by the mean correlation of the matched pairs (Li et al. 2016's "one-to-one"
  bipartite matching).
* soft (``soft=True``): Li et al.'s "semi-matching", each unit matched to its best partner in the
  other network without the one-to-one constraint; the score is the average of the two directions,
  ``(mean_i max_j C_ij + mean_j max_i C_ij) / 2``, as ReSi's ``SoftCorrelationMatch``.
* transport (``soft=True, method="transport"``): the optimal transport plan ``P`` between uniform
  weights on the units (``P 1 = 1/d_X``, ``P^T 1 = 1/d_Y``, ``P >= 0``) maximising ``sum_ij P_ij C_ij``
  (the soft matching of Khosla & Williams 2023, as a similarity); the score is that maximum, a
  weighted mean correlation. For equal widths the optimal plan is a permutation (Birkhoff), so the
  score equals the hard one; for unequal widths every unit is matched with equal total mass, split
  across partners where needed. Solved exactly as a linear program (``scipy.optimize.linprog``,
  HiGHS), practical up to a few hundred units per side.

``return_matching=True`` returns a :class:`Matching` with the score, the matched pairs and their
correlations (and the transport plan) instead of a float.

References: Li, Yosinski, Clune, Lipson & Hopcroft (2016), "Convergent learning: do different neural
networks learn the same representations?", ICLR; Khosla & Williams (2023), "Soft matching distance: a
metric on neural representations that captures single-neuron tuning", UniReps; Klabunde et al. (2023),
ReSi benchmark ("HardCorrelationMatch", "SoftCorrelationMatch").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._linalg import center_columns
from .._registry import Param, Variant, register
from ..errors import ReprlabError


@dataclass(frozen=True)
class Matching:
    """The result of :func:`correlation_match` with ``return_matching=True``.

    ``pairs`` is an (m, 2) integer array of (unit of X, unit of Y); ``correlations`` the correlation
    of each pair. Hard matching: the ``min(d_X, d_Y)`` one-to-one pairs. Soft (semi-)matching: every
    unit of X with its best unit of Y, then every unit of Y with its best unit of X (``d_X + d_Y``
    rows). Transport: the pairs with positive mass in ``plan`` (the d_X x d_Y transport plan, rows
    summing to 1/d_X and columns to 1/d_Y).
    """

    score: float
    pairs: np.ndarray
    correlations: np.ndarray
    plan: np.ndarray | None = None

    def __float__(self) -> float:
        return self.score


def _standardise(X: torch.Tensor, **_: object) -> torch.Tensor:
    """Centred columns scaled to unit norm; zero-variance columns stay 0 (correlation 0)."""
    Xc = center_columns(X)
    norms = torch.linalg.vector_norm(Xc, dim=0)
    return Xc / torch.where(norms > 0, norms, torch.ones_like(norms))


def _transport_plan(C: np.ndarray) -> np.ndarray:
    from scipy import sparse
    from scipy.optimize import linprog

    dx, dy = C.shape
    rows = sparse.kron(sparse.eye(dx), np.ones((1, dy)))  # sum_j P_ij = 1/dx
    cols = sparse.kron(np.ones((1, dx)), sparse.eye(dy))  # sum_i P_ij = 1/dy
    A = sparse.vstack([rows, cols]).tocsr()[:-1]  # one constraint is implied by the others
    b = np.concatenate([np.full(dx, 1.0 / dx), np.full(dy, 1.0 / dy)])[:-1]
    res = linprog(-C.ravel(), A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    if res.status != 0:  # pragma: no cover - the problem is always feasible and bounded
        raise RuntimeError(f"correlation_match(method='transport'): the transport LP failed: {res.message}")
    return res.x.reshape(dx, dy).clip(min=0.0)


_INV = frozenset({"permutation", "isotropic_scaling", "translation"})


@register(
    "correlation_match",
    family="matching",
    params={
        "soft": Param(False, choices=(False, True), doc="False: one-to-one Hungarian matching; True: soft matching"),
        "method": Param(
            "semi",
            choices=("semi", "transport"),
            doc="soft matching: semi (best partner each way, ReSi) or transport (uniform-marginal OT plan)",
        ),
        "return_matching": Param(False, choices=(False, True), doc="return a Matching (score, pairs) not a float"),
    },
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_INV,
    range=(-1.0, 1.0),
    references=(
        (
            "Li, Yosinski, Clune, Lipson & Hopcroft (2016) Convergent learning: do different neural networks learn "
            "the same representations?, ICLR"
        ),
        (
            "Khosla & Williams (2023) Soft matching distance: a metric on neural representations that captures "
            "single-neuron tuning, UniReps (transport)"
        ),
        "matches: ReSi repsim.measures.HardCorrelationMatch (soft=False) and SoftCorrelationMatch (soft=True)",
    ),
    summary="Mean correlation of units matched one-to-one (Hungarian) or softly across the two networks",
    variants=(
        Variant({"soft": True}, True, False, _INV, (-1.0, 1.0), "semi-matching: best partner in each direction"),
        Variant({"soft": True, "method": "transport"}, True, False, _INV, (-1.0, 1.0), "optimal transport plan"),
    ),
    prepare=_standardise,
    differentiable=False,
)
def correlation_match(
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    soft: bool = False,
    method: str = "semi",
    return_matching: bool = False,
) -> torch.Tensor | Matching:
    """Mean correlation of matched units of ``X`` (n, d_X) and ``Y`` (n, d_Y).

    Parameters
    ----------
    soft : bool
        False (default): one-to-one Hungarian matching of ``min(d_X, d_Y)`` pairs maximising the total
        correlation (ReSi ``HardCorrelationMatch``). True: soft matching, see ``method``.
    method : {"semi", "transport"}
        Soft matching only. ``semi`` (default): ``(mean_i max_j C_ij + mean_j max_i C_ij) / 2`` (ReSi
        ``SoftCorrelationMatch``). ``transport``: ``max_P sum P_ij C_ij`` over transport plans with
        uniform marginals.
    return_matching : bool
        Return a :class:`Matching` (score, pairs, correlations, plan) instead of the score.

    Returns
    -------
    float or Matching
        A mean correlation in [-1, 1]; 1 when the units are the same up to order, shift and
        (positive) scale.
    """
    from scipy.optimize import linear_sum_assignment

    if method != "semi" and not soft:
        raise ReprlabError(
            f"correlation_match: method={method!r} chooses a soft matching but soft=False (one-to-one Hungarian "
            "matching). Pass soft=True with it, or leave method out."
        )
    C_t = X.T @ Y
    C = C_t.detach().cpu().numpy()
    plan = None
    if not soft:
        r, c = linear_sum_assignment(C, maximize=True)
        pairs = np.stack([r, c], axis=1)
        score = C_t[torch.as_tensor(r), torch.as_tensor(c)].mean()
    elif method == "semi":
        best_y, best_x = C.argmax(axis=1), C.argmax(axis=0)
        pairs = np.concatenate(
            [np.stack([np.arange(C.shape[0]), best_y], 1), np.stack([best_x, np.arange(C.shape[1])], 1)]
        )
        score = (C_t.max(dim=1).values.mean() + C_t.max(dim=0).values.mean()) / 2
    else:
        plan = _transport_plan(C)
        pairs = np.argwhere(plan > 1e-12)
        score = (torch.as_tensor(plan, dtype=C_t.dtype, device=C_t.device) * C_t).sum()
    if not return_matching:
        return score
    return Matching(float(score), pairs.astype(np.int64), C[pairs[:, 0], pairs[:, 1]], plan)
