"""The ``rsa`` measure: an RDM, an optional transform and a comparator per representation
(``prepare``), the per-pair core, the batched all-pairs path of :func:`reprlab.compare_all` and the
resampling hooks of the distinct-pairs rule (:mod:`reprlab.stats.resampling`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..._registry import Param
from ...errors import ReprlabError
from .comparators import _INNER_PRODUCT, COMPARATORS, CompareState, compare_states, prepare_rdms
from .rdms import RDM_METHODS, _rdm_core, _squareform
from .transforms import TRANSFORMS, _transform_vec

# ------------------------------------------------------------------------------- the rsa measure


def _quantile_check(v: object) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        return "must be a quantile in [0, 1]"
    return None


PARAMS = {
    "rdm": Param("correlation", choices=RDM_METHODS, doc="dissimilarity of conditions (rl.rdm's method)"),
    "compare": Param("spearman", choices=COMPARATORS, doc="RDM comparator (rl.compare_rdms's method)"),
    "transform": Param(None, choices=(None, *TRANSFORMS), doc="RDM transform applied before comparing"),
    "lower": Param(None, check=_quantile_check, doc="geotopological lower quantile bound"),
    "upper": Param(None, check=_quantile_check, doc="geotopological upper quantile bound"),
    "normalize": Param(False, choices=(False, True), doc="divide squared distances by n_channels (rsatoolbox)"),
    "conditions": Param(None, data=True, doc="condition label of each row (rows of a condition are averaged)"),
    "runs": Param(None, data=True, doc="run of each row (crossnobis, poisson_cv)"),
    "noise": Param(None, data=True, doc="noise precision matrix (mahalanobis, crossnobis)"),
}


def prepare(
    X: torch.Tensor,
    *,
    rdm: str,
    compare: str,
    transform: str | None,
    lower: float | None,
    upper: float | None,
    normalize: bool,
    conditions: Any,
    runs: Any,
    noise: Any,
) -> CompareState:
    v, labels = _rdm_core(X, rdm, conditions, runs, noise, normalize)
    n = len(labels)
    if transform is not None:
        v = _transform_vec(v, n, transform, lower=lower, upper=upper)
    state = prepare_rdms(v[None], n, compare)
    state.vector = v
    return state


def rsa(
    X: CompareState,
    Y: CompareState,
    *,
    rdm: str = "correlation",
    compare: str = "spearman",
    transform: str | None = None,
    lower: float | None = None,
    upper: float | None = None,
    normalize: bool = False,
    conditions: Any = None,
    runs: Any = None,
    noise: Any = None,
) -> float:
    """Representational similarity analysis between ``X`` (n, d1) and ``Y`` (n, d2).

    ``compare(transform(rdm(X)), transform(rdm(Y)))`` with :func:`reprlab.rdm`,
    :func:`reprlab.rdm_transform` and :func:`reprlab.compare_rdms` (see the module docstring for every
    RDM method, transform and comparator, and the rsatoolbox conventions they match).

    Parameters
    ----------
    X, Y : arrays of shape (n_observations, n_features_x) and (n_observations, n_features_y)
    rdm : RDM method [correlation]
    compare : comparator [spearman]
    transform : None or one of rank, sqrt, minmax, geotopological, geodesic
    lower, upper : quantile bounds of the geotopological transform
    normalize : divide squared distances by the number of features (rsatoolbox's 'euclidean')
    conditions, runs, noise : per-row condition labels, per-row runs, noise precision (see rl.rdm)

    Returns
    -------
    float
        A similarity in [-1, 1] for the correlation-type comparators; a distance for ``bures_metric``
        and ``riemannian``; negative for ``neg_riemannian``.
    """
    return compare_states(X, Y)[0, 0]


def _core_matrix(A: Sequence[CompareState], B: Sequence[CompareState], **params: Any) -> np.ndarray:
    """All pairs of prepared representations at once: one matrix product for the inner-product comparators
    (stacking every prepared RDM), one discordant-pair count per pair for Kendall's tau. Pass the same list
    as ``A`` and ``B`` for all pairs within one set: each unordered pair is then computed once (except for
    the asymmetric Riemannian comparators)."""
    if not A or not B:
        return np.zeros((len(A), len(B)))
    if A[0].method in _INNER_PRODUCT:
        SA = CompareState(A[0].method, len(A), A[0].n_pairs, A[0].n_conditions, torch.cat([s.Z for s in A]), A[0].scale)
        SB = CompareState(B[0].method, len(B), B[0].n_pairs, B[0].n_conditions, torch.cat([s.Z for s in B]), B[0].scale)
        return compare_states(SA, SB).cpu().numpy().astype(np.float64)
    out = np.empty((len(A), len(B)))
    within = A is B and A[0].method not in ("riemannian", "neg_riemannian")  # symmetric: each pair once
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            if within and j < i:
                out[i, j] = out[j, i]
            else:
                out[i, j] = float(compare_states(a, b)[0, 0])
    return out


def all_pairs(
    A: list[torch.Tensor], B: list[torch.Tensor] | None, params: dict[str, Any], options: Any
) -> torch.Tensor:
    """The compare_all fast path (docs/engine.md): each RDM prepared once, then :func:`_core_matrix`."""
    sa = [prepare(x, **params) for x in A]
    sb = sa if B is None else [prepare(y, **params) for y in B]
    return torch.from_numpy(_core_matrix(sa, sb, **params))


# Resampling hooks (reprlab.stats.resampling, the distinct-pairs rule): bootstrap resamples compare the
# entries of the pairs of distinct resampled conditions of the full RDMs. The comparators below are
# functions of the two dissimilarity vectors alone; the whitened, Bures and Riemannian comparators need
# the RDM's structure over conditions and are refused. A transform is applied to the full RDM once.
_PAIR_COMPARATORS = ("cosine", "pearson", "spearman", "rho_a", "kendall_tau_a", "kendall_tau_b")


def pair_matrix(P: CompareState, *, compare: str, **_: Any) -> torch.Tensor:
    if compare not in _PAIR_COMPARATORS:
        raise ReprlabError(
            f"rsa with compare={compare!r} needs the whole RDM (its structure over conditions), so it cannot be "
            f"bootstrapped or permuted over conditions; use one of {', '.join(_PAIR_COMPARATORS)}."
        )
    return _squareform(P.vector, P.n_conditions)


def compare_pairs(dx: torch.Tensor, dy: torch.Tensor, *, compare: str, **_: Any) -> torch.Tensor:
    return compare_states(prepare_rdms(dx[None], 0, compare), prepare_rdms(dy[None], 0, compare))[0, 0]
