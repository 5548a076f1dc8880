"""Centered kernel alignment (CKA).

CKA compares the (centred) similarity structure of two representations:

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),

with ``K = k(X)`` and ``L = k(Y)`` the n x n kernel matrices of the rows. Three estimators of HSIC:

* ``biased`` (Gretton et al. 2005): ``HSIC = tr(K H L H) / (n - 1)^2``, ``H = I - 11^T / n``.
  The normalisation cancels in CKA, which is then the cosine between the centred Gram matrices
  (Kornblith et al. 2019). Biased upwards when features outnumber stimuli.
* ``unbiased`` (Song et al. 2012): with ``K~ = K - diag(K)``,
  ``HSIC_u = [tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n - 3))``;
  needs n >= 4 and may be negative.
* ``lange`` (Lange et al. 2022, "the off-diagonal masked" form, wrongu/repsim's default): the cosine
  between the centred Gram matrices ``HKH`` and ``HLH`` with their diagonals set to 0.

Kernels: ``linear`` ``k(a, b) = a.b``; ``rbf`` ``exp(-|a-b|^2 / (2 sigma^2))``; ``laplace``
``exp(-|a-b| / sigma)``. With ``sigma=None`` each representation gets its own bandwidth, ``sigma =
sigma_scale * median_{i<j} |x_i - x_j|`` (the median heuristic, Gretton et al. 2005), where the median
of the n(n-1)/2 distances is the lower middle value for an even count (``torch.median``'s convention,
as wrongu/repsim). wrongu/repsim's
``SquaredExponential`` (``exp(-d^2 / ell^2)``, ell = median) is ``kernel="rbf", sigma_scale=1/sqrt(2)``;
its ``Laplace`` is ``kernel="laplace"`` with the defaults.

Linear CKA is computed in feature space (``|Yc^T Xc|_F^2``, O(n d^2)) when that is cheaper than the
n x n Gram form, for all three estimators; the two forms are equal to rounding.

References: Kornblith, Norouzi, Lee & Hinton (2019), "Similarity of neural network representations
revisited", ICML; Gretton et al. (2005), ALT; Song et al. (2012), JMLR 13; Lange et al. (2022),
"Neural networks as paths through the space of representations" (arXiv:2206.10999).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..._linalg import center_columns, center_gram
from ..._registry import Param, nonnegative, positive
from ...errors import ReprlabError
from .kernels import KERNELS, kernel_matrix

ESTIMATORS = ("biased", "unbiased", "lange")


PARAMS = {
    "kernel": Param("linear", choices=KERNELS, doc="kernel on rows: linear, rbf or laplace"),
    "sigma": Param(None, check=positive, doc="rbf/laplace bandwidth; None: sigma_scale x median distance"),
    "sigma_scale": Param(1.0, check=positive, doc="factor on the median distance when sigma is None"),
    "estimator": Param("biased", choices=ESTIMATORS, doc="HSIC estimator: biased (Gretton), unbiased (Song), lange"),
    "angular": Param(False, choices=(False, True), doc="return arccos(CKA), an angle in radians"),
    "eps": Param(
        0.0, check=nonnegative, doc="added to the denominator (platonic-rep uses 1e-6; breaks scale invariance)"
    ),
}


@dataclass
class CKAState:
    """Per-representation work: centred data (linear) or the kernel matrix, and the self-HSIC."""

    n: int
    Xc: torch.Tensor | None  # column-centred data (linear kernel)
    K: torch.Tensor | None  # kernel matrix as the estimator needs it (non-linear kernels)
    diag: torch.Tensor | None  # row squared norms of Xc (linear, unbiased/lange)
    self_hsic: torch.Tensor


def estimator_matrix(K: torch.Tensor, estimator: str) -> torch.Tensor:
    """The matrix whose (weighted) inner products give HSIC under ``estimator``."""
    if estimator == "biased":
        return center_gram(K)
    if estimator == "lange":
        Kc = center_gram(K)
        return Kc.fill_diagonal_(0.0)
    Kt = K.clone()
    return Kt.fill_diagonal_(0.0)


def _hsic_unbiased_from_sums(cross: torch.Tensor, sk: torch.Tensor, sl: torch.Tensor, kl: torch.Tensor, n: int):
    """Song et al.'s HSIC_u from tr(K~L~), 1^T K~ 1, 1^T L~ 1 and 1^T K~ L~ 1."""
    return (cross + sk * sl / ((n - 1) * (n - 2)) - 2.0 * kl / (n - 2)) / (n * (n - 3))


def hsic_matrices(A: torch.Tensor, B: torch.Tensor, estimator: str, n: int) -> torch.Tensor:
    if estimator == "unbiased":
        return _hsic_unbiased_from_sums((A * B).sum(), A.sum(), B.sum(), A.sum(1) @ B.sum(1), n)
    return (A * B).sum()


def _hsic_linear(a: CKAState, b: CKAState, estimator: str) -> torch.Tensor:
    """HSIC of two linear-kernel states, in whichever of feature or Gram space is cheaper."""
    n, dx, dy = a.n, a.Xc.shape[1], b.Xc.shape[1]
    if n * (dx + dy) < dx * dy:  # n x n Gram matrices are smaller than the d x d cross-product
        return hsic_matrices(
            estimator_matrix(a.Xc @ a.Xc.T, estimator), estimator_matrix(b.Xc @ b.Xc.T, estimator), estimator, n
        )
    cross = torch.linalg.matrix_norm(a.Xc.T @ b.Xc) ** 2  # tr(Kc Lc) = |Xc^T Yc|_F^2
    if estimator == "biased":
        return cross
    return hsic_from_moments(cross, a.diag @ b.diag, a.diag.sum(), b.diag.sum(), n, estimator)


def hsic_from_moments(cross: Any, kl: Any, trace_k: Any, trace_l: Any, n: int, estimator: str) -> Any:
    """Linear-kernel HSIC of column-centred data from ``cross = |Xc^T Yc|_F^2`` (= tr(Kc Lc)),
    ``kl = sum_i K_ii L_ii`` and the traces of ``Kc``, ``Lc``; elementwise over tensors of pairs.

    Centred data have ``K~ 1 = -diag(K)``, so ``1^T K~ 1 = -tr K`` and ``1^T K~ L~ 1 = kl``.
    """
    if estimator == "biased":
        return cross
    if estimator == "lange":
        return cross - kl
    return _hsic_unbiased_from_sums(cross - kl, -trace_k, -trace_l, kl, n)


def check_stimuli(n: int, estimator: str) -> None:
    """Raise unless ``n`` stimuli are enough for CKA under ``estimator``."""
    if n < 2:
        raise ReprlabError(f"CKA needs at least 2 stimuli; got {n}.")
    if estimator == "unbiased" and n < 4:
        raise ReprlabError(
            f"The unbiased HSIC estimator (Song et al. 2012) divides by n(n-3) and needs at least 4 stimuli; "
            f"got n={n}. Use estimator='biased' or more stimuli."
        )


def cka_from_hsic(num: Any, self_x: Any, self_y: Any, eps: float, angular: bool) -> Any:
    """CKA from HSIC(K, L) and the self-HSICs: ``num / (sqrt(HSIC_KK HSIC_LL) + eps)``, clamped to
    [-1, 1], as an angle when ``angular``; elementwise over tensors of pairs."""
    den = torch.sqrt(self_x * self_y)
    value = (num / (den + eps) if eps else num / den).clamp(-1.0, 1.0)
    return torch.arccos(value) if angular else value


def prepare(
    X: torch.Tensor,
    *,
    kernel: str,
    sigma: float | None,
    sigma_scale: float,
    estimator: str,
    **_: object,
) -> CKAState:
    n = X.shape[0]
    check_stimuli(n, estimator)
    if kernel == "linear":
        Xc = center_columns(X)
        diag = (Xc * Xc).sum(1) if estimator != "biased" else None
        state = CKAState(n, Xc, None, diag, torch.zeros((), dtype=X.dtype, device=X.device))
        state.self_hsic = _hsic_linear(state, state, estimator)
    else:
        K = estimator_matrix(kernel_matrix(X, kernel, sigma, sigma_scale), estimator)
        state = CKAState(n, None, K, None, hsic_matrices(K, K, estimator, n))
    if not float(state.self_hsic) > 0.0:
        if (kernel == "linear" and bool((state.Xc == 0).all())) or state.self_hsic == 0:
            raise ReprlabError(
                "A representation has zero variance across stimuli (every row is identical, or the kernel "
                "matrix is constant), so CKA is undefined. Check the layer (constant or dead units) or "
                "drop it from the comparison."
            )
        raise ReprlabError(
            f"HSIC(K, K) under the {estimator} estimator is {float(state.self_hsic):.3g} <= 0 for a "
            "representation, so CKA is undefined (the unbiased estimator can be negative for very few or "
            "degenerate stimuli). Use estimator='biased' or more stimuli."
        )
    return state


def cka(
    X: CKAState,
    Y: CKAState,
    *,
    kernel: str = "linear",
    sigma: float | None = None,
    sigma_scale: float = 1.0,
    estimator: str = "biased",
    angular: bool = False,
    eps: float = 0.0,
) -> float:
    """Centered kernel alignment between ``X`` (n, d1) and ``Y`` (n, d2).

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
    kernel : {"linear", "rbf", "laplace"}
    sigma : float, optional
        Bandwidth of the rbf / laplace kernel. ``None`` (default): the median heuristic, ``sigma =
        sigma_scale * median_{i<j} |x_i - x_j|``, computed for each representation separately.
    sigma_scale : float
        Factor on the median distance (``1/sqrt(2)`` reproduces wrongu/repsim's squared exponential).
    estimator : {"biased", "unbiased", "lange"}
        HSIC estimator (module docstring). The unbiased one needs n >= 4 and can be negative.
    angular : bool
        Return ``arccos(CKA)`` in radians (netrep's ``LinearCKA``, wrongu's ``AngularCKA``).
    eps : float
        Added to the denominator, as platonic-rep does (``eps=1e-6``), with HSIC unnormalised
        (``tr(K H L H)``) for the biased estimator. Breaks scale invariance; 0 by default.

    Returns
    -------
    float
        CKA in [0, 1] (biased, lange) or [-1, 1] (unbiased); an angle in radians when ``angular``.
    """
    if kernel == "linear":
        num = _hsic_linear(X, Y, estimator)
    else:
        num = hsic_matrices(X.K, Y.K, estimator, X.n)
    return cka_from_hsic(num, X.self_hsic, Y.self_hsic, eps, angular)
