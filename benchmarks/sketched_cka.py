"""sketched_cka vs exact rbf CKA (docs/engine.md, approximate estimators): time and error, one run.

Two layers of d=256 sharing a low-rank signal. At n=20,000 exact rbf CKA does not fit in this machine's
memory (several n x n float64 matrices per representation), so the exact value and the errors are
taken at n=5,000. Exact and sketched run in one process, on one thread.
Run: PYTHONPATH=src python benchmarks/sketched_cka.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

import reprlab as rl
from reprlab.engine import sketched_cka


def layers(n: int, d: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 8))
    return {f"layer.{i}": shared @ rng.normal(size=(8, d)) + 2.0 * rng.normal(size=(n, d)) for i in range(2)}


def exact_by_rows(X: np.ndarray, Y: np.ndarray, rows: int = 2000) -> float:
    """Exact biased rbf CKA (all-pairs median bandwidths) without n x n matrices: a reference for n where
    ``rl.compare`` does not fit in memory. HSIC = sum K.L - 2/n sum_i rK_i rL_i + sum K sum L / n^2."""
    Xs, n = [torch.as_tensor(Z - Z.mean(0)) for Z in (X, Y)], X.shape[0]
    sq = [(Z * Z).sum(1) for Z in Xs]

    def d2(g: int, a: int) -> torch.Tensor:
        Z = Xs[g]
        return (sq[g][a : a + rows, None] + sq[g][None, :] - 2.0 * Z[a : a + rows] @ Z.T).clamp_min_(0.0)

    sig = []
    for g in range(2):  # lower median of the n(n-1)/2 distances, as exact CKA
        upper = torch.cat(
            [d2(g, a)[torch.triu(torch.ones(min(rows, n - a), n, dtype=torch.bool), a + 1)] for a in range(0, n, rows)]
        )
        sig.append(torch.kthvalue(upper.sqrt(), (upper.numel() + 1) // 2).values)
        del upper
    kl, kk, ll = 0.0, 0.0, 0.0
    rk, rl_ = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    for a in range(0, n, rows):
        K, L = (torch.exp(-d2(g, a) / (2 * sig[g] ** 2)) for g in range(2))
        for i in range(K.shape[0]):  # the diagonal is exactly 1
            K[i, a + i] = L[i, a + i] = 1.0
        kl, kk, ll = kl + (K * L).sum(), kk + (K * K).sum(), ll + (L * L).sum()
        rk[a : a + K.shape[0]], rl_[a : a + K.shape[0]] = K.sum(1), L.sum(1)

    def hsic(s: float, r1: torch.Tensor, r2: torch.Tensor) -> float:
        return float(s - 2.0 / n * (r1 @ r2) + r1.sum() * r2.sum() / n**2)

    return hsic(kl, rk, rl_) / np.sqrt(hsic(kk, rk, rk) * hsic(ll, rl_, rl_))


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def main() -> None:
    torch.set_num_threads(1)  # one thread for both: eigh and GEMMs contend badly on a loaded 2-core box
    configs = [("nystrom", 512), ("nystrom", 1024), ("rff", 1024)]
    A = layers(5000)
    exact, t_exact = timed(lambda: rl.compare_all(A, None, "cka", kernel="rbf").values[0, 1])
    print(f"n=5000 exact rbf CKA {exact:.6f}  {t_exact:.2f} s")
    for method, m in configs:
        res, t = timed(lambda method=method, m=m: sketched_cka(A, kernel="rbf", method=method, n_components=m))
        v, e = res.values[0, 1], res.meta["error"][0][1]
        print(f"n=5000 {method} m={m}: {v:.6f} |err|={abs(v - exact):.2e} stated={e:.2e} {t:.2f} s")
    A = layers(20000)
    ref, t_ref = timed(lambda: exact_by_rows(*A.values()))
    print(f"n=20000 exact rbf CKA by rows (reference script, not rl.compare) {ref:.6f}  {t_ref:.2f} s")
    for method, m in configs:
        res, t = timed(lambda method=method, m=m: sketched_cka(A, kernel="rbf", method=method, n_components=m))
        v, e = res.values[0, 1], res.meta["error"][0][1]
        print(f"n=20000 {method} m={m}: {v:.6f} |err|={abs(v - ref):.2e} stated={e:.2e} {t:.2f} s")


if __name__ == "__main__":
    main()
