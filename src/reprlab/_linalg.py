"""Small numeric helpers shared by the measure families (torch, any dtype and device)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def center_columns(X: torch.Tensor) -> torch.Tensor:
    """Subtract each column's mean: ``X - 1 mean(X)``."""
    return X - X.mean(dim=0, keepdim=True)


def center_gram(K: torch.Tensor) -> torch.Tensor:
    """Double-centre a square matrix: ``H K H`` with ``H = I - 11^T / n``."""
    return K - K.mean(dim=0, keepdim=True) - K.mean(dim=1, keepdim=True) + K.mean()


def sq_distances(X: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``|x_i - x_j|^2`` (n x n), exactly 0 on the diagonal.

    Computed from the Gram matrix of the column-centred data (translation does not change distances
    and centring limits cancellation), clipped at 0.
    """
    Xc = center_columns(X)
    G = Xc @ Xc.T
    sq = torch.diagonal(G)
    D = (sq[:, None] + sq[None, :] - 2.0 * G).clamp_min_(0.0)
    D.fill_diagonal_(0.0)
    return D


def upper_triangle(M: torch.Tensor, offset: int = 1) -> torch.Tensor:
    """The entries ``M[i, j]`` with ``j >= i + offset``, row-major (scipy ``squareform`` order)."""
    n = M.shape[0]
    iu = torch.triu_indices(n, n, offset=offset, device=M.device)
    return M[iu[0], iu[1]]


def median(v: torch.Tensor, lower: bool = False) -> torch.Tensor:
    """The median of a tensor's entries: for an even count the mean of the two middle values (as
    NumPy), or the lower of them with ``lower=True`` (as ``torch.median``)."""
    v = v.reshape(-1)
    m = v.numel()
    lo = torch.kthvalue(v, (m + 1) // 2).values
    if m % 2 or lower:
        return lo
    hi = torch.kthvalue(v, m // 2 + 1).values
    return (lo + hi) / 2


def numpy_on_threads(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``fn`` over a batch ``x`` (leading dimension), the batch split across torch's CPU thread count.

    For many small LAPACK calls (an eigensolve of a few hundred rows each): threads inside one call
    gain little at that size, while one single-threaded call per slice of the batch, on as many Python
    threads (NumPy releases the GIL), nearly divides the time by the thread count. The BLAS libraries
    are held at one thread each meanwhile (threadpoolctl), or the workers would oversubscribe the cores.
    """
    workers = min(torch.get_num_threads(), len(x))
    if workers < 2:
        return fn(x)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(fn, np.array_split(x, workers))))
