"""W3: generalized shape metric distance matrix over K=20 networks, n=2,000, d=256 (float32 data),
alpha=1 and alpha=0.5, angular score. reprlab ``compare_all(..., "shape")`` vs netrep's fastest mode.

    PYTHONPATH=src python benchmarks/w3_shape.py [--repeats 3] [--threads 2]

netrep is not installable here, so the peer is its published algorithm re-implemented faithfully in
NumPy, in the dtype of the data as netrep computes (float32 here; its identity whitening matrix at
alpha=1 is float64, so there the transforms run in float64, as in netrep): ``LinearMetric.partial_fit``
once per network (centre columns, whitening matrix from eig(Xc^T Xc) with eigenvalues clipped at 1e-7,
partially whitened with alpha and rescaled to keep the total variance) -- the "cached whitening" of its
``pairwise_distances`` -- then per pair ``finalize_fit`` (SVD of the d x d cross-product for the optimal
rotation) and ``score`` (transform both networks and take the angle between them). Both sides are
timed interleaved in one process; each reports the median of ``--repeats`` rounds, and every distance
matrix is checked against a float64 reference (the same algorithm on float64 data, not timed) before
any time is reported. Each timed call starts after a pause of ``--settle`` seconds: NumPy's OpenBLAS
workers keep spinning ~0.1 s after a call (and torch's OpenMP workers briefly too), which would
otherwise be charged to whichever side runs next (measured: reprlab 0.91 s right after netrep,
0.79 s after a pause; netrep 4.55 s right after reprlab, 4.01 s after a pause).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def make_networks(k: int = 20, n: int = 2000, d: int = 256, seed: int = 0) -> list[np.ndarray]:
    """Gaussian networks sharing a low-rank latent structure (values neither ~0 nor ~pi/2)."""
    g = np.random.default_rng(seed)
    z = g.normal(size=(n, 32))
    return [(z @ g.normal(size=(32, d)) + 1.5 * g.normal(size=(n, d))).astype(np.float32) for _ in range(k)]


def netrep_partial_fit(X: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """netrep's per-network step: centre, then the partial whitening matrix (variance preserving)."""
    mx = X.mean(0)
    Xc = X - mx[None, :]
    if alpha > 1.0 - 1e-7:
        return mx, Xc, np.eye(X.shape[1])
    lam, V = np.linalg.eigh(Xc.T @ Xc)
    lam = np.maximum(lam, 1e-7)
    w = alpha + (1.0 - alpha) * lam**-0.5
    new_var = np.sum(alpha**2 * lam + 2.0 * alpha * (1.0 - alpha) * lam**0.5 + (1.0 - alpha) ** 2)
    w *= np.sqrt(np.sum(lam) / new_var)
    Z = (V * w[None, :]) @ V.T
    return mx, Xc @ Z, Z


def netrep_pairs(nets: list[np.ndarray], cache: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """netrep's per-pair steps over the cached whitening: rotation by SVD, transform, angular score."""
    k = len(cache)
    D = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            (mx, Xw, Zx), (my, Yw, Zy) = cache[i], cache[j]
            U, _, Vt = np.linalg.svd(Xw.T @ Yw)  # finalize_fit
            tX = (nets[i] - mx[None, :]) @ (Zx @ U)  # score: transform both, then the angle
            tY = (nets[j] - my[None, :]) @ (Zy @ Vt.T)
            cos = np.dot(tX.ravel(), tY.ravel()) / (np.linalg.norm(tX.ravel()) * np.linalg.norm(tY.ravel()))
            D[i, j] = D[j, i] = np.arccos(np.clip(cos, -1.0, 1.0))
    return D


def run_netrep(nets: list[np.ndarray], alpha: float) -> np.ndarray:
    return netrep_pairs(nets, [netrep_partial_fit(X, alpha) for X in nets])


def run_reprlab(nets: list[np.ndarray], alpha: float, dtype: str = "float64") -> np.ndarray:
    import reprlab as rl

    return rl.compare_all(nets, None, "shape", alpha=alpha, score="angular", dtype=dtype).values


def run_reprlab32(nets: list[np.ndarray], alpha: float) -> np.ndarray:
    return run_reprlab(nets, alpha, "float32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--settle", type=float, default=0.5, help="idle seconds before each timed call")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    nets = make_networks(args.k)
    print(f"W3: {args.k} networks of {nets[0].shape}, float32 data; torch threads {args.threads}")
    variants = {
        # float32 angles carry ~sqrt(eps_32) ~ 5e-4 of rounding (arccos amplifies it near 0)
        "netrep (re-implemented)": (run_netrep, 1e-3),
        "reprlab float32": (run_reprlab32, 1e-3),
        "reprlab float64": (run_reprlab, 1e-6),
    }
    for alpha in (1.0, 0.5):
        want = run_netrep([X.astype(np.float64) for X in nets], alpha)
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, (fn, atol) in variants.items():
                time.sleep(args.settle)
                t0 = time.perf_counter()
                D = fn(nets, alpha)
                times[name].append(time.perf_counter() - t0)
                np.testing.assert_allclose(D, want, atol=atol, err_msg=name)
        med = {k: statistics.median(v) for k, v in times.items()}
        peer = med["netrep (re-implemented)"]
        print(
            f"alpha={alpha}: netrep {peer:.2f} s; "
            + "; ".join(f"{k} {med[k]:.2f} s ({peer / med[k]:.1f}x)" for k in variants if k.startswith("reprlab"))
        )


if __name__ == "__main__":
    main()
