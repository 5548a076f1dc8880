"""Neural collapse (Papyan, Han & Donoho 2020) and the variability collapse index (Xu & Liu 2023).

Given features ``H`` (N, d) and class labels (C classes, sorted label order), with the global mean
``mu_G``, class means ``mu_c``, ``n_c`` members per class, ``M`` the C x d matrix of centred class
means ``mu_c - mu_G``:

* ``Sigma_W = 1/N sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T`` (within-class covariance),
  ``Sigma_B = 1/C sum_c (mu_c - mu_G)(mu_c - mu_G)^T`` (between-class, unweighted as Papyan et al.).
* ``nc1 = tr(Sigma_W Sigma_B^+) / C``: within-class variability relative to between-class; 0 at collapse.
* NC2 (simplex equiangular tight frame): ``nc2_equinorm = std_c |mu_c - mu_G| / mean_c |mu_c - mu_G|``;
  ``nc2_equiangle = std_{c != c'} cos(mu_c - mu_G, mu_c' - mu_G)``; ``nc2_maxangle = mean_{c != c'}
  |cos + 1/(C - 1)|`` (0 for a simplex). Standard deviations are population ones (ddof = 0).
* ``nc3`` (self-duality, needs the classifier ``weights`` W, C x d, rows in sorted label order):
  ``| W / |W|_F - M / |M|_F |_F^2``.
* ``nc4`` (needs ``weights``): the fraction of points where the classifier ``argmax_c (W h + b)_c``
  disagrees with the nearest-class-mean rule ``argmin_c |h - mu_c|``. ``ncc_accuracy`` (always):
  the nearest-class-mean rule's accuracy on the labels.
* ``vci`` (Xu & Liu 2023): ``1 - tr(Sigma_T^+ Sigma_B') / rank(Sigma_B')`` with the total covariance
  ``Sigma_T = 1/N sum_i (h_i - mu_G)(h_i - mu_G)^T`` and the sample-weighted ``Sigma_B' = 1/N sum_c
  n_c (mu_c - mu_G)(mu_c - mu_G)^T`` (so ``Sigma_T = Sigma_W + Sigma_B'``); in [0, 1], 0 at collapse.

No peer implementation is in the reference set; the tests check known answers (collapsed features
give nc1 = vci = 0, a simplex ETF gives nc2 = 0, the classifier equal to the means gives nc3 = nc4 = 0)
and the formulas on random data against direct NumPy evaluation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._registry import Param, register
from .._validation import as_tensor, check_labels
from ..errors import ReprlabError

COLLAPSE_INVARIANCES = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"})


class _Classes:
    """Per-class statistics of ``H`` under ``labels``."""

    def __init__(self, H: torch.Tensor, labels: Any, what: str, min_members: int = 2):
        lab = check_labels(labels, H.shape[0])
        classes, inv, counts = np.unique(lab, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise ReprlabError(f"{what} needs at least 2 classes in `labels`; got {len(classes)}.")
        small = classes[counts < min_members]
        if small.size:
            raise ReprlabError(
                f"{what} needs at least {min_members} members in every class (within-class variability is "
                f"undefined otherwise); {small.size} class(es) have fewer, e.g. label {small.tolist()[0]!r} with "
                f"{int(counts[counts < min_members][0])}. Drop those classes or collect more samples."
            )
        self.classes = classes
        self.C = len(classes)
        self.N = H.shape[0]
        self.y = torch.as_tensor(inv, device=H.device)
        self.counts = torch.as_tensor(counts, dtype=H.dtype, device=H.device)
        # Class means of the globally centred features: M carries no cancellation error from a large
        # common offset, so its rank (at most C - 1) is read off reliably.
        self.mu_g = H.mean(0)
        Hc = H - self.mu_g
        sums = torch.zeros(self.C, H.shape[1], dtype=H.dtype, device=H.device).index_add_(0, self.y, Hc)
        self.M = sums / self.counts[:, None]  # C x d, centred class means
        self.means = self.M + self.mu_g
        self.Hw = H - self.means[self.y]  # within-class residuals


def _rank_tol(s: torch.Tensor, n: int, d: int) -> torch.Tensor:
    """Singular values below ``s_max * max(N, d) * eps`` count as zero (rounding of N-term sums)."""
    return s.max() * max(n, d) * torch.finfo(s.dtype).eps


def _pinv_trace(M: torch.Tensor, A_rows: torch.Tensor, scale: float) -> tuple[torch.Tensor, int]:
    """``tr(S S_B^+)`` for ``S_B = M^T M * scale`` and ``S = A^T A``, via the SVD of M; and rank(S_B)."""
    _, s, Vh = torch.linalg.svd(M, full_matrices=False)
    tol = _rank_tol(s, A_rows.shape[0], M.shape[1])
    keep = s > tol
    V = Vh[keep]  # r x d, orthonormal rows spanning the class means
    proj = A_rows @ V.T  # N x r
    return ((proj * proj).sum(0) / (s[keep] ** 2 * scale)).sum(), int(keep.sum())


def _nc1(c: _Classes) -> torch.Tensor:
    # tr(Sigma_W Sigma_B^+) / C with Sigma_W = Hw^T Hw / N and Sigma_B = M^T M / C
    t, _ = _pinv_trace(c.M, c.Hw / math.sqrt(c.N), 1.0 / c.C)
    return t / c.C


def _vci(H: torch.Tensor, c: _Classes) -> torch.Tensor:
    Ht = (H - c.mu_g) / math.sqrt(c.N)  # Sigma_T = Ht^T Ht
    Mw = c.M * (c.counts / c.N).sqrt()[:, None]  # Sigma_B' = Mw^T Mw
    _U, s, Vh = torch.linalg.svd(Ht, full_matrices=False)
    keep = s > _rank_tol(s, *Ht.shape)
    # tr(Sigma_T^+ Sigma_B') = |S^-1 V^T Mw^T|_F^2 over the nonzero singular values
    t = ((Vh[keep] @ Mw.T) / s[keep][:, None]).pow(2).sum()
    sb = torch.linalg.svdvals(Mw)
    rank = int((sb > _rank_tol(sb, *Ht.shape)).sum())
    return 1.0 - t / rank


def _weights(weights: Any, bias: Any, c: _Classes, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    W = as_tensor(weights, "weights", dtype=H.dtype, device=H.device)
    if W.shape != (c.C, H.shape[1]):
        raise ReprlabError(
            f"`weights` must have shape (n_classes, n_features) = ({c.C}, {H.shape[1]}), one row per class in "
            f"sorted label order; got {tuple(W.shape)}."
        )
    b = None
    if bias is not None:
        b = as_tensor(bias, "bias", ndim=1, dtype=H.dtype, device=H.device)
        if b.shape != (c.C,):
            raise ReprlabError(f"`bias` must have shape ({c.C},), one entry per class; got {tuple(b.shape)}.")
    return W, b


def _ncc(H: torch.Tensor, c: _Classes) -> torch.Tensor:
    return torch.cdist(H, c.means).argmin(1)


LABELS = Param(None, data=True, doc="one class label per row (required)")


def _need_labels(labels: Any, what: str) -> None:
    if labels is None:
        raise ReprlabError(f"{what} needs `labels`: one class label per row, e.g. labels=y.")


@register(
    "neural_collapse",
    kind="describe",
    family="neural_collapse",
    params={
        "labels": LABELS,
        "weights": Param(None, data=True, doc="classifier weights (n_classes, n_features), for nc3 and nc4"),
        "bias": Param(None, data=True, doc="classifier bias (n_classes,), for nc4"),
    },
    invariances=COLLAPSE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        (
            "Papyan, Han & Donoho (2020) Prevalence of neural collapse during the terminal phase of deep "
            "learning training, PNAS 117(40)"
        ),
        "Xu & Liu (2023) Quantifying the variability collapse of neural networks, ICML (VCI)",
        "matches: the papers' definitions (no peer implementation in the reference set)",
    ),
    summary="Neural collapse NC1-NC4 and the variability collapse index, given labels (and classifier)",
)
def neural_collapse(H: torch.Tensor, *, labels: Any = None, weights: Any = None, bias: Any = None) -> dict:
    """Neural-collapse statistics of features ``H`` (N, d) with class ``labels`` (module docstring).

    Returns a dict with ``nc1``, ``nc2_equinorm``, ``nc2_equiangle``, ``nc2_maxangle``, ``vci``,
    ``ncc_accuracy``, ``n_classes``, and ``nc3`` and ``nc4`` when ``weights`` are given (else None).
    Every class needs at least 2 members.
    """
    _need_labels(labels, "neural_collapse")
    c = _Classes(H, labels, "neural_collapse (NC1)")
    norms = torch.linalg.vector_norm(c.M, dim=1)
    if not bool((norms > 0).all()):
        raise ReprlabError("A class mean equals the global mean, so the NC2 angles are undefined.")
    U = c.M / norms[:, None]
    cos = U @ U.T
    off = cos[~torch.eye(c.C, dtype=torch.bool, device=H.device)]
    y_ncc = _ncc(H, c)
    out: dict[str, Any] = {
        "nc1": float(_nc1(c)),
        "nc2_equinorm": float(norms.std(correction=0) / norms.mean()),
        "nc2_equiangle": float(off.std(correction=0)),
        "nc2_maxangle": float((off + 1.0 / (c.C - 1)).abs().mean()),
        "nc3": None,
        "nc4": None,
        "vci": float(_vci(H, c)),
        "ncc_accuracy": float((y_ncc == c.y).to(H.dtype).mean()),
        "n_classes": c.C,
    }
    if weights is not None:
        W, b = _weights(weights, bias, c, H)
        out["nc3"] = float((W / torch.linalg.matrix_norm(W) - c.M / torch.linalg.matrix_norm(c.M)).pow(2).sum())
        logits = H @ W.T + (b if b is not None else 0.0)
        out["nc4"] = float((logits.argmax(1) != y_ncc).to(H.dtype).mean())
    elif bias is not None:
        raise ReprlabError("`bias` was given without `weights`; pass the classifier weights too.")
    return out


@register(
    "nc1",
    kind="describe",
    family="neural_collapse",
    params={"labels": LABELS},
    invariances=COLLAPSE_INVARIANCES,
    range=(0.0, math.inf),
    references=("Papyan, Han & Donoho (2020) PNAS 117(40), NC1 = tr(Sigma_W Sigma_B^+) / C",),
    summary="NC1: within-class variability relative to between-class, tr(Sigma_W Sigma_B^+) / C",
)
def nc1(H: torch.Tensor, *, labels: Any = None) -> torch.Tensor:
    """NC1 = ``tr(Sigma_W Sigma_B^+) / C`` (Papyan et al. 2020); 0 when every class collapses to its mean."""
    _need_labels(labels, "nc1")
    return _nc1(_Classes(H, labels, "nc1"))


@register(
    "vci",
    kind="describe",
    family="neural_collapse",
    params={"labels": LABELS},
    invariances=COLLAPSE_INVARIANCES | {"invertible_linear", "affine"},
    range=(0.0, 1.0),
    references=("Xu & Liu (2023) Quantifying the variability collapse of neural networks, ICML",),
    summary="Variability collapse index 1 - tr(Sigma_T^+ Sigma_B) / rank(Sigma_B); 0 at collapse",
)
def vci(H: torch.Tensor, *, labels: Any = None) -> torch.Tensor:
    """VCI = ``1 - tr(Sigma_T^+ Sigma_B) / rank(Sigma_B)`` (Xu & Liu 2023; sample-weighted Sigma_B).
    Invariant to invertible linear maps of the features (the fraction of total variance, in the
    Mahalanobis sense, that lies between classes)."""
    _need_labels(labels, "vci")
    c = _Classes(H, labels, "vci", min_members=1)
    return _vci(H, c)
