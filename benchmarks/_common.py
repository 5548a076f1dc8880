"""Shared pieces of the benchmark workloads: seeded data, the GEMM rate, timing."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch


def layered(n: int, d: int, layers: int, seed: int = 0, rank: int = 64) -> list[np.ndarray]:
    """WORKLOADS.md data: float32 Gaussian layers whose shared low-rank signal drifts from layer to layer."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(n, rank, generator=g)
    out = []
    for _ in range(layers):
        x = shared @ torch.randn(rank, d, generator=g) / rank**0.5
        x += torch.randn(n, d, generator=g)
        x += torch.randn(d, generator=g)  # non-zero column means
        out.append(x.numpy())
        shared = shared + 0.5 * torch.randn(n, rank, generator=g)
    return out


def gemm_rate(size: int = 4096, repeats: int = 2) -> dict[str, float]:
    """Best float32 GEMM rate (FLOP/s) on a size x size product of NumPy, of torch's ``@`` (MKL on the
    CPU) and of torch's oneDNN matmul (as ``reprlab._linalg.matmul`` calls it; on this AMD machine
    the fastest of the three)."""
    from reprlab._linalg import matmul

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    flops = 2.0 * size**3
    rates = {}
    for name, fn in (("numpy", lambda: a @ b), ("torch", lambda: ta @ tb), ("torch-onednn", lambda: matmul(ta, tb))):
        best = min(timed(fn)[0] for _ in range(repeats))
        rates[name] = flops / best
    return rates


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out
