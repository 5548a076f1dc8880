"""The kernels of the CKA family, written once for exact, minibatch and sketched CKA.

``linear`` ``k(a, b) = a.b``; ``rbf`` ``exp(-|a-b|^2 / (2 sigma^2))``; ``laplace`` ``exp(-|a-b| / sigma)``
(Euclidean norm). With ``sigma=None`` exact CKA uses the median heuristic ``sigma = sigma_scale *
median_{i<j} |x_i - x_j|`` (Gretton et al. 2005), the lower middle value for an even count
(``torch.median``'s convention, as wrongu/repsim).
"""

from __future__ import annotations

import torch

from ..._linalg import median, sq_distances, upper_triangle
from ...errors import ReprlabError

KERNELS = ("linear", "rbf", "laplace")


def from_sq_distances(D2: torch.Tensor, kernel: str, sigma: torch.Tensor) -> torch.Tensor:
    """The rbf or laplace kernel from squared Euclidean distances ``D2`` and a bandwidth."""
    if kernel == "rbf":
        return torch.exp(-D2 / (2.0 * sigma * sigma))
    return torch.exp(-D2.sqrt() / sigma)


def median_bandwidth(D2: torch.Tensor, sigma_scale: float) -> torch.Tensor:
    """``sigma_scale`` x the lower median of the pairwise distances (the median heuristic)."""
    med = median(upper_triangle(D2).sqrt(), lower=True)
    if float(med) == 0.0:
        raise ReprlabError(
            "The median heuristic gives a bandwidth of 0 (over half of the pairwise distances are 0, "
            "e.g. many duplicate rows). Pass an explicit `sigma`."
        )
    return sigma_scale * med


def kernel_matrix(X: torch.Tensor, kernel: str, sigma: float | torch.Tensor | None, sigma_scale: float) -> torch.Tensor:
    """The n x n kernel matrix of the rows of ``X``; ``sigma=None``: the median heuristic."""
    if kernel == "linear":
        return X @ X.T
    D2 = sq_distances(X)
    s = median_bandwidth(D2, sigma_scale) if sigma is None else torch.as_tensor(sigma, dtype=X.dtype, device=X.device)
    return from_sq_distances(D2, kernel, s)


def cross_kernel(X: torch.Tensor, Z: torch.Tensor, kernel: str, sigma: torch.Tensor | None) -> torch.Tensor:
    """``k(x_i, z_j)`` for the rows of X and Z (both shifted by the same vector)."""
    G = X @ Z.T
    if kernel == "linear":
        return G
    D2 = ((X * X).sum(1)[:, None] + (Z * Z).sum(1)[None, :] - 2.0 * G).clamp_min_(0.0)
    return from_sq_distances(D2, kernel, sigma)
