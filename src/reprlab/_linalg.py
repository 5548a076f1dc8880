"""Small numeric helpers shared by the measure families (torch, any dtype and device)."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")
R = TypeVar("R")

#: Products with fewer multiply-adds than this stay on ``@`` (oneDNN has a fixed cost per call).
ONEDNN_MIN_MACS = 1 << 24


def _row_major(X: torch.Tensor) -> bool:
    return X.stride(-1) == 1 and X.stride(-2) == X.shape[-1]


def _col_major(X: torch.Tensor) -> bool:
    return X.stride(-2) == 1 and X.stride(-1) == X.shape[-2]


def onednn_enabled(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether :func:`matmul` takes oneDNN for large enough, suitably laid-out ``dtype`` matrices on
    ``device`` (float32 on the CPU, oneDNN enabled at full float32 precision)."""
    if torch.device(device).type != "cpu" or dtype != torch.float32:
        return False
    mkldnn = torch.backends.mkldnn
    return bool(mkldnn.enabled) and mkldnn.matmul.fp32_precision in ("none", "ieee") and _onednn_linear_available()


def _onednn_ok(A: torch.Tensor, B: torch.Tensor) -> bool:
    if A.dtype != B.dtype or A.ndim != 2 or B.ndim != 2 or A.shape[0] * A.shape[1] * B.shape[1] < ONEDNN_MIN_MACS:
        return False
    if torch.is_grad_enabled() and (A.requires_grad or B.requires_grad):
        return False
    if not (_row_major(A) and (_row_major(B) or _col_major(B))):
        return False
    return onednn_enabled(A.dtype, A.device)


@functools.cache
def _onednn_linear_available() -> bool:
    """Whether this torch build has oneDNN and registers its linear operator (torch's CPU builds for
    x86 do; elsewhere :func:`matmul` is ``@``)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return callable(torch.ops.mkldnn._linear_pointwise)
    except (AttributeError, RuntimeError):
        return False


def matmul(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A @ B``; a large float32 product on the CPU goes through oneDNN's matrix multiplication.

    torch's CPU build multiplies float32 with MKL's ``sgemm``, which on AMD processors runs far from
    the machine's rate; oneDNN (bundled with the same build, used by torch for convolutions) runs its
    own AVX-512/AVX2 kernels: faster from about 256^3 multiply-adds up (docs/benchmarks.md, "GEMM"),
    the same IEEE float32 arithmetic in another summation order (errors of the same size). The op is
    private (``torch.ops.mkldnn._linear_pointwise``); tests/test_linalg.py fails loudly if its
    signature or its results change, and :func:`_onednn_linear_available` falls back to ``A @ B`` where it is
    missing. Taken only for float32 CPU matrices with at least :data:`ONEDNN_MIN_MACS` multiply-adds,
    ``A`` row-major and ``B`` dense in either order (oneDNN falls back to a slow reference loop on
    other strides), outside autograd, while ``torch.backends.mkldnn`` is enabled (so
    ``torch.backends.mkldnn.flags(enabled=False)`` turns it off) and its float32 matmul precision is
    full (not lowered to bf16/tf32, e.g. by ``torch.set_float32_matmul_precision("medium")``);
    otherwise plain ``A @ B``.
    """
    if _onednn_ok(A, B):
        return torch.ops.mkldnn._linear_pointwise(A, B.mT, None, "none", [], "")
    return A @ B


def add_matmul_(C: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``C += A @ B`` in place: :func:`matmul` and an addition where oneDNN takes the product (it
    has no accumulating form), else ``C.addmm_(A, B)`` (cast to ``C``'s dtype when it is wider)."""
    if _onednn_ok(A, B) or C.dtype != A.dtype:
        return C.add_(matmul(A, B).to(C.dtype))
    return C.addmm_(A, B)


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
    G = matmul(Xc, Xc.T)
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


def numpy_on_threads(fn: Callable[[Sequence[np.ndarray]], np.ndarray], x: Sequence[np.ndarray]) -> np.ndarray:
    """``fn`` over a batch ``x`` (an array's leading dimension, or a list of arrays), the batch split
    across torch's CPU thread count.

    For many small LAPACK calls (an eigensolve of a few hundred rows each): threads inside one call
    gain little at that size, while one single-threaded call per slice of the batch, on as many Python
    threads (NumPy releases the GIL), nearly divides the time by the thread count. The slices run on
    :func:`torch_on_threads`, which holds the BLAS libraries at one thread each meanwhile, or the
    workers would oversubscribe the cores.
    """
    workers = min(torch.get_num_threads(), len(x))
    if workers < 2:
        return fn(x)
    cuts = [len(x) * k // workers for k in range(workers + 1)]
    return np.concatenate(torch_on_threads(fn, [x[a:b] for a, b in itertools.pairwise(cuts)]))


#: Held while :func:`torch_on_threads` has lowered torch's process-wide thread count.
_THREAD_COUNT_LOCK = threading.Lock()


def torch_on_threads(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on torch's CPU thread count of Python threads, each running torch
    (and the BLAS libraries) single-threaded.

    For a series of small, independent torch computations (one representation's centring, a few
    hundred square eigendecomposition and products, as in the shape metric's whitening) whose
    operators gain little from threads inside them, so that running them side by side on one thread
    each is faster than one after the other on all threads (docs/benchmarks.md). Torch's thread count
    is process-wide, so it is 1 for the duration of the call and restored afterwards, and the BLAS
    libraries are held at one thread meanwhile (threadpoolctl); a call made meanwhile from another
    thread (or from ``fn``) runs its items one after the other instead, so the count is only ever
    restored by the call that lowered it. An exception in ``fn`` is raised here.
    """
    if len(items) < 2 or not _THREAD_COUNT_LOCK.acquire(blocking=False):
        return [fn(x) for x in items]
    try:
        prev = torch.get_num_threads()
        workers = min(prev, len(items))
        if workers < 2:
            return [fn(x) for x in items]
        from threadpoolctl import threadpool_limits

        def one(x: T) -> R:
            torch.set_num_threads(1)
            return fn(x)

        try:
            with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
                return list(pool.map(one, items))
        finally:
            torch.set_num_threads(prev)
    finally:
        _THREAD_COUNT_LOCK.release()
