"""Small numeric helpers shared by the measure families (torch, any dtype and device)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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


def batched_on_threads(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn`` over a batch ``x`` (leading dimension), the batch split across torch's CPU threads.

    LAPACK routines on small matrices (an eigensolve of a few hundred rows) gain little from threads
    inside one call; one single-threaded call per slice of the batch, on as many Python threads as
    torch uses (torch releases the GIL), nearly divides the time by the thread count. The thread count
    is set in the worker threads only. On other devices, and for a batch of one, ``fn(x)``.
    """
    workers = min(torch.get_num_threads(), x.shape[0])
    if x.device.type != "cpu" or workers < 2:
        return fn(x)

    def run(part: torch.Tensor) -> torch.Tensor:
        torch.set_num_threads(1)
        return fn(part)

    with ThreadPoolExecutor(workers) as pool:
        return torch.cat(list(pool.map(run, torch.tensor_split(x, workers))))
