"""Activation statistics: sparsity, dead units, massive activations, anisotropy, uniformity, alignment,
coding rate and rate reduction.

``X`` is (n stimuli, d units). Definitions:

* ``sparsity``: ``fraction_zero`` = the fraction of entries with ``|x| <= threshold``; ``top_mass`` =
  the share of the total absolute activation ``sum |x|`` carried by the top ``top_fraction`` of units
  (units ranked by their summed ``|x|``; ``ceil(top_fraction d)`` units).
* ``dead_units``: units with ``|x| <= threshold`` on every stimulus (count, fraction, indices).
* ``massive_activations`` (after Sun, Chen, Kolter & Liu 2024): entries with ``|x| > ratio * median|X|``
  and ``|x| > min_value``; their count, the units they occur in, and the largest ones.
* ``anisotropy`` (Ethayarajh 2019): the mean cosine similarity over ordered pairs of distinct rows,
  ``(|sum_i u_i|^2 - n) / (n (n - 1))`` with ``u_i`` the unit-normalised rows.
* ``uniformity`` (Wang & Isola 2020): ``log mean_{i<j} exp(-t |u_i - u_j|^2)`` on unit-normalised rows
  (``normalize=True``, as the paper); lower is more uniform. ``alignment``: ``mean |u_i - u_j|^alpha``
  over the positive pairs, i.e. pairs of rows with the same label (``labels``) or the given ``pairs``.
* ``coding_rate`` (Yu, Chan, You, Song & Ma 2020, MCR^2): ``R(Z) = 1/2 logdet(I + d / (n eps^2) Z^T Z)``;
  ``rate_reduction``: ``R(Z) - sum_j n_j / (2 n) logdet(I + d / (n_j eps^2) Z_j^T Z_j)`` over the classes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._linalg import median
from .._registry import Param, int_at_least, nonnegative, positive, register
from .._validation import check_labels
from ..errors import ReprlabError


def _unit(v: object) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1
    return None if ok else "must be a number in (0, 1]"


@register(
    "sparsity",
    kind="describe",
    family="activation_statistics",
    params={
        "threshold": Param(0.0, check=nonnegative, doc="an entry counts as zero when |x| <= threshold"),
        "top_fraction": Param(0.01, check=_unit, doc="fraction of units whose share of the mass is reported"),
    },
    invariances={"permutation", "isotropic_scaling"},
    range=(0.0, 1.0),
    references=("Hoyer (2004) Non-negative matrix factorization with sparseness constraints, JMLR 5 (context)",),
    summary="Fraction of (near-)zero activations and the share of mass in the top units",
)
def sparsity(X: torch.Tensor, *, threshold: float = 0.0, top_fraction: float = 0.01) -> dict:
    """``{"fraction_zero", "top_mass", "n_top_units", "threshold"}`` (module docstring)."""
    A = X.abs()
    frac = (A <= threshold).to(X.dtype).mean()
    mass = A.sum(0)
    total = mass.sum()
    k = max(1, math.ceil(top_fraction * X.shape[1]))
    if not bool(total > 0):
        raise ReprlabError("`X` is all zeros, so the share of activation mass in the top units is undefined.")
    top = torch.topk(mass, k).values.sum() / total
    return {"fraction_zero": float(frac), "top_mass": float(top), "n_top_units": k, "threshold": threshold}


@register(
    "dead_units",
    kind="describe",
    family="activation_statistics",
    params={"threshold": Param(0.0, check=nonnegative, doc="a unit is dead when |x| <= threshold on every stimulus")},
    invariances={"permutation", "isotropic_scaling"},
    range=(0.0, 1.0),
    references=("Lu, Shin, Su & Karniadakis (2020) Dying ReLU and initialization, Commun. Comput. Phys. 28",),
    summary="Units that never exceed a threshold in magnitude (dead ReLUs)",
)
def dead_units(X: torch.Tensor, *, threshold: float = 0.0) -> dict:
    """``{"count", "fraction", "indices"}`` of units (columns) with ``|x| <= threshold`` on every row."""
    dead = (X.abs() <= threshold).all(0)
    idx = torch.nonzero(dead).flatten()
    return {"count": int(idx.numel()), "fraction": float(dead.to(X.dtype).mean()), "indices": idx.tolist()}


@register(
    "massive_activations",
    kind="describe",
    family="activation_statistics",
    params={
        "ratio": Param(100.0, check=positive, doc="an entry is massive above ratio x the median |x|"),
        "min_value": Param(0.0, check=nonnegative, doc="and above this absolute magnitude (Sun et al. use 100)"),
        "top": Param(
            10,
            check=int_at_least(1),
            doc="how many of the largest entries to report (value, row, unit)",
        ),
        "nonzero": Param(False, choices=(False, True), doc="take the median over the nonzero entries only"),
    },
    invariances={"permutation"},
    range=(0.0, 1.0),
    references=("Sun, Chen, Kolter & Liu (2024) Massive activations in large language models, COLM",),
    summary="Activations far above the median magnitude, with the units they occur in",
)
def massive_activations(
    X: torch.Tensor, *, ratio: float = 100.0, min_value: float = 0.0, top: int = 10, nonzero: bool = False
) -> dict:
    """Entries with ``|x| > ratio * median(|X|)`` and ``|x| > min_value`` (the median over the nonzero
    entries with ``nonzero=True``, for sparse layers where most entries are 0).

    Returns ``{"median_abs", "count", "fraction", "units" (sorted unit indices that hold one),
    "largest" (up to ``top`` tuples (value, row, unit), by magnitude), "max_ratio"}``. Scaling ``X``
    rescales ``median_abs`` and the values; the counts are scale invariant when ``min_value=0``.
    """
    A = X.abs()
    ref = A[A > 0] if nonzero else A
    if ref.numel() == 0:
        raise ReprlabError("`X` is all zeros; no activation can be massive.")
    med = float(median(ref))
    if med == 0.0:
        raise ReprlabError(
            "The median |activation| is 0 (over half of the entries are zero, e.g. a sparse ReLU layer), so a "
            "ratio to it is undefined. Pass nonzero=True to use the median of the nonzero entries."
        )
    mask = (A > ratio * med) & (A > min_value)
    rows, units = torch.nonzero(mask, as_tuple=True)
    vals = X[rows, units]
    order = torch.argsort(vals.abs(), descending=True)[:top]
    largest = [(float(vals[i]), int(rows[i]), int(units[i])) for i in order]
    return {
        "median_abs": med,
        "count": int(mask.sum()),
        "fraction": float(mask.to(X.dtype).mean()),
        "units": sorted(set(units.tolist())),
        "largest": largest,
        "max_ratio": float(A.max() / med),
    }


def _unit_rows(X: torch.Tensor, what: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    zero = int((norms == 0).sum())
    if zero:
        raise ReprlabError(
            f"{what} normalises every row to unit length, but {zero} row(s) of `X` are all zeros. "
            "Drop them first (e.g. X = X[np.linalg.norm(X, axis=1) > 0])."
        )
    return X / norms


@register(
    "anisotropy",
    kind="describe",
    family="activation_statistics",
    params={},
    invariances={"permutation", "orthogonal", "isotropic_scaling"},
    range=(-1.0, 1.0),
    references=(
        "Ethayarajh (2019) How contextual are contextualized word representations?, EMNLP",
        "matches: the definition (mean cosine over ordered pairs of distinct rows)",
    ),
    summary="Anisotropy: the mean cosine similarity between distinct rows",
)
def anisotropy(X: torch.Tensor) -> torch.Tensor:
    """Mean of ``cos(x_i, x_j)`` over ordered pairs ``i != j``: ``(|sum u_i|^2 - n) / (n (n - 1))``."""
    n = X.shape[0]
    if n < 2:
        raise ReprlabError(f"Anisotropy needs at least 2 stimuli (rows); got {n}.")
    s = _unit_rows(X, "Anisotropy").sum(0)
    return ((s * s).sum() - n) / (n * (n - 1))


def _pair_sq_dists_blocks(U: torch.Tensor, block: int = 2048):
    n = U.shape[0]
    sq = (U * U).sum(1)
    for s in range(0, n, block):
        D = (sq[s : s + block, None] + sq[None, :] - 2.0 * U[s : s + block] @ U.T).clamp_min_(0.0)
        yield s, D


@register(
    "uniformity",
    kind="describe",
    family="activation_statistics",
    params={
        "t": Param(2.0, check=positive, doc="temperature of the Gaussian potential"),
        "normalize": Param(True, choices=(True, False), doc="L2-normalise the rows first (as the paper)"),
    },
    invariances={"permutation", "orthogonal", "isotropic_scaling"},
    range=(-math.inf, 0.0),
    references=(
        (
            "Wang & Isola (2020) Understanding contrastive representation learning through alignment and "
            "uniformity on the hypersphere, ICML (L_uniform)"
        ),
    ),
    summary="Wang-Isola uniformity: log mean exp(-t |u_i - u_j|^2) over pairs (lower: more uniform)",
)
def uniformity(X: torch.Tensor, *, t: float = 2.0, normalize: bool = True) -> torch.Tensor:
    """``log( 2 / (n (n-1)) sum_{i<j} exp(-t |u_i - u_j|^2) )``, computed blockwise with log-sum-exp."""
    n = X.shape[0]
    if n < 2:
        raise ReprlabError(f"Uniformity needs at least 2 stimuli (rows); got {n}.")
    U = _unit_rows(X, "Uniformity") if normalize else X
    parts = []
    for s, D in _pair_sq_dists_blocks(U):
        b = D.shape[0]
        rows = torch.arange(s, s + b, device=X.device)
        mask = torch.arange(n, device=X.device)[None, :] > rows[:, None]  # j > i
        parts.append(torch.logsumexp((-t * D)[mask], 0))
    return torch.logsumexp(torch.stack(parts), 0) - math.log(n * (n - 1) / 2)


def _positive_pairs(labels: Any, pairs: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if (labels is None) == (pairs is None):
        raise ReprlabError(
            "alignment needs the positive pairs: give `labels` (every pair of rows with the same label) or "
            "`pairs` (an (m, 2) array of row indices), not both."
        )
    if labels is not None:
        lab = check_labels(labels, n)
        _, inv = np.unique(lab, return_inverse=True)
        i, j = np.triu_indices(n, 1)
        keep = inv[i] == inv[j]
        i, j = i[keep], j[keep]
    else:
        P = np.asarray(pairs)
        if P.ndim != 2 or P.shape[1] != 2 or not np.issubdtype(P.dtype, np.integer):
            raise ReprlabError(f"`pairs` must be an (m, 2) integer array of row indices; got shape {P.shape}.")
        if P.size and (P.min() < 0 or P.max() >= n):
            raise ReprlabError(f"`pairs` holds row indices outside 0..{n - 1}.")
        i, j = P[:, 0], P[:, 1]
    if len(i) == 0:
        raise ReprlabError("alignment found no positive pair (every label occurs once?); it needs at least one.")
    return torch.as_tensor(i), torch.as_tensor(j)


@register(
    "alignment",
    kind="describe",
    family="activation_statistics",
    params={
        "labels": Param(None, data=True, doc="positive pairs = rows with the same label"),
        "pairs": Param(None, data=True, doc="or an explicit (m, 2) array of positive row pairs"),
        "alpha": Param(2.0, check=positive, doc="exponent of the distance"),
        "normalize": Param(True, choices=(True, False), doc="L2-normalise the rows first (as the paper)"),
    },
    invariances={"permutation", "orthogonal", "isotropic_scaling"},
    range=(0.0, 4.0),
    references=("Wang & Isola (2020) ICML (L_align = E_{positive pairs} |f(x) - f(y)|^alpha)",),
    summary="Wang-Isola alignment: mean |u_i - u_j|^alpha over positive pairs (lower: better aligned)",
)
def alignment(
    X: torch.Tensor, *, labels: Any = None, pairs: Any = None, alpha: float = 2.0, normalize: bool = True
) -> torch.Tensor:
    """Mean of ``|u_i - u_j|^alpha`` over the positive pairs (same label, or the given ``pairs``)."""
    i, j = _positive_pairs(labels, pairs, X.shape[0])
    U = _unit_rows(X, "Alignment") if normalize else X
    i, j = i.to(X.device), j.to(X.device)
    return torch.linalg.vector_norm(U[i] - U[j], dim=1).pow(alpha).mean()


def _logdet_rate(Z: torch.Tensor, eps2: float) -> torch.Tensor:
    n, d = Z.shape
    c = d / (n * eps2)
    G = Z.T @ Z if d <= n else Z @ Z.T
    eye = torch.eye(G.shape[0], dtype=Z.dtype, device=Z.device)
    return 0.5 * torch.linalg.slogdet(eye + c * G).logabsdet


CODING = {
    "eps2": Param(0.5, check=positive, doc="squared distortion eps^2 (Yu et al. use 0.5)"),
    "normalize": Param(False, choices=(False, True), doc="L2-normalise the rows first (MCR^2 features are)"),
}


@register(
    "coding_rate",
    kind="describe",
    family="activation_statistics",
    params=CODING,
    invariances={"permutation", "orthogonal"},
    range=(0.0, math.inf),
    references=(
        (
            "Yu, Chan, You, Song & Ma (2020) Learning diverse and discriminative representations via the "
            "principle of maximal coding rate reduction, NeurIPS (eq. 4)"
        ),
    ),
    summary="Coding rate R(Z) = 1/2 logdet(I + d/(n eps^2) Z^T Z) (nats)",
)
def coding_rate(X: torch.Tensor, *, eps2: float = 0.5, normalize: bool = False) -> torch.Tensor:
    """``R(Z, eps) = 1/2 logdet(I + d / (n eps^2) Z^T Z)`` for ``Z = X`` (rows normalised with
    ``normalize=True``), from the smaller of the d x d and n x n Gram matrices."""
    Z = _unit_rows(X, "coding_rate") if normalize else X
    return _logdet_rate(Z, eps2)


@register(
    "rate_reduction",
    kind="describe",
    family="activation_statistics",
    params={"labels": Param(None, data=True, doc="one class label per row (required)"), **CODING},
    invariances={"permutation", "orthogonal"},
    range=(-math.inf, math.inf),
    references=("Yu et al. (2020) NeurIPS, Delta R = R(Z) - R_c(Z, Pi) (eqs. 4, 5, 8)",),
    summary="MCR^2 rate reduction: coding rate of the whole minus the class-weighted rates of the classes",
)
def rate_reduction(X: torch.Tensor, *, labels: Any = None, eps2: float = 0.5, normalize: bool = False) -> torch.Tensor:
    """``Delta R = R(Z) - sum_j (n_j / 2n) logdet(I + d / (n_j eps^2) Z_j^T Z_j)``."""
    if labels is None:
        raise ReprlabError("rate_reduction needs `labels`: one class label per row, e.g. labels=y.")
    n = X.shape[0]
    lab = check_labels(labels, n)
    Z = _unit_rows(X, "rate_reduction") if normalize else X
    total = _logdet_rate(Z, eps2)
    _, inv = np.unique(lab, return_inverse=True)
    inv_t = torch.as_tensor(inv, device=X.device)
    within = torch.zeros((), dtype=X.dtype, device=X.device)
    for j in range(int(inv.max()) + 1):
        Zj = Z[inv_t == j]
        within = within + Zj.shape[0] / n * _logdet_rate(Zj, eps2)
    return total - within
