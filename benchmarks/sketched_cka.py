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
    for method, m in configs:
        res, t = timed(lambda method=method, m=m: sketched_cka(A, kernel="rbf", method=method, n_components=m))
        print(f"n=20000 {method} m={m}: {res.values[0, 1]:.6f} stated={res.meta['error'][0][1]:.2e} {t:.2f} s")


if __name__ == "__main__":
    main()
