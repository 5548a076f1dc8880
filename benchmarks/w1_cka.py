"""W1: all-pairs linear CKA, 13 x 13 layers, n=10,000 stimuli, d=768, float32.

Peers that cannot be installed here are reimplemented from their published algorithms (not their
code): a plain NumPy double loop; ReSi's ``centered_kernel_alignment`` (torch; centring and all three
products per call) in a double loop; pytorch-cka's exact all-pairs path (every layer's n x n centred
Gram matrix kept in a stack, HSIC as Frobenius products); platonic-rep's ``cka`` (explicit
``trace(K H L H)`` with n x n matrices: n^3 products). The loops visit the 91 unordered pairs only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from _common import layered, timed

ID = "W1"
TITLE = "all-pairs linear CKA, 13 x 13 layers, n=10,000, d=768, float32"
N, D, L = 10_000, 768, 13
PAIRS = L * (L + 1) // 2
LIMIT_FLOPS = PAIRS * 2.0 * N * D * D
PLATONIC_N = 2000
VARIANTS = {
    "reprlab biased": {"role": "reprlab", "note": "rl.compare_all(layers, None, 'cka', dtype='float32')"},
    "reprlab unbiased": {"role": "reprlab", "note": "estimator='unbiased'"},
    "reprlab biased, float64 accumulation": {"role": "reprlab", "note": "accumulate='float64'"},
    "limit, measured": {
        "role": "floor",
        "note": "the 91 block cross-products alone (float32, pre-centred, one GEMM per block row, torch's "
        "oneDNN matmul: the fastest GEMM here), timed",
    },
    "NumPy double loop": {"role": "peer", "note": "plain NumPy per pair: centre both, three products"},
    "ReSi CKA double loop": {
        "role": "peer",
        "note": "ReSi's algorithm reimplemented (torch, per-pair centring and self products)",
    },
    "pytorch-cka Gram stack": {
        "role": "peer",
        "repeats": 1,
        "note": "pytorch-cka's exact all-pairs path reimplemented: 13 centred n x n Grams kept (float32)",
    },
    "platonic-rep cka (extrapolated)": {
        "role": "peer",
        "repeats": 1,
        "note": f"platonic-rep's algorithm reimplemented; one pair timed at n={PLATONIC_N}, "
        f"x (10000/{PLATONIC_N})^3 x {PAIRS} pairs",
    },
}
LIMIT_VARIANT = "limit, measured"
RATIOS = [
    ("NumPy double loop", "reprlab biased"),
    ("ReSi CKA double loop", "reprlab biased"),
    ("pytorch-cka Gram stack", "reprlab biased"),
    ("platonic-rep cka (extrapolated)", "reprlab biased"),
]


NOTES = """
Peers: none of pytorch-cka, platonic-rep or ReSi is installed here; each is reimplemented from its
published algorithm (per-pair centring and self products for ReSi and the NumPy loop, one n x n centred
Gram per layer kept for pytorch-cka, explicit n^3 products for platonic-rep), visiting the 91 unordered
pairs only. platonic-rep is timed on one pair at n=2000 and extrapolated by n^3 x 91.
"""


def skip(name: str) -> str | None:
    if name == "pytorch-cka Gram stack":
        import psutil

        avail = psutil.virtual_memory().available / 2**30
        if avail < 14:
            return f"needs ~10 GB; only {avail:.0f} GiB available on the shared machine"
    return None


def _numpy_loop(X: list[np.ndarray]) -> np.ndarray:
    out = np.eye(L)
    for i in range(L):
        for j in range(i, L):
            a = X[i] - X[i].mean(0)
            b = X[j] - X[j].mean(0)
            num = np.linalg.norm(b.T @ a) ** 2
            out[i, j] = out[j, i] = num / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
    return out


def _resi_cka(R: torch.Tensor, Rp: torch.Tensor) -> float:
    R = R - R.mean(dim=0)[None, :]
    Rp = Rp - Rp.mean(dim=0)[None, :]
    if R.shape[0] < R.shape[1]:
        S, Sp = R @ R.T, Rp @ Rp.T
        return float((S * Sp).sum() / (torch.linalg.norm(S) * torch.linalg.norm(Sp)))
    return float(torch.linalg.norm(Rp.T @ R) ** 2 / (torch.linalg.norm(R.T @ R) * torch.linalg.norm(Rp.T @ Rp)))


def _resi_loop(X: list[np.ndarray]) -> np.ndarray:
    T = [torch.from_numpy(x) for x in X]
    out = np.eye(L)
    for i in range(L):
        for j in range(i, L):
            out[i, j] = out[j, i] = _resi_cka(T[i], T[j])
    return out


def _gram_stack(X: list[np.ndarray]) -> np.ndarray:
    grams = []
    for x in X:
        t = torch.from_numpy(x)
        K = t @ t.T
        K -= K.mean(0, keepdim=True)
        K -= K.mean(1, keepdim=True)
        grams.append(K)
    out = np.eye(L)
    norms = [torch.linalg.norm(K) for K in grams]
    for i in range(L):
        for j in range(i + 1, L):
            out[i, j] = out[j, i] = float((grams[i] * grams[j]).sum() / (norms[i] * norms[j]))
    return out


def _platonic_pair(A: torch.Tensor, B: torch.Tensor) -> float:
    n = A.shape[0]
    K, M = A @ A.T, B @ B.T
    H = torch.eye(n) - 1.0 / n

    def hsic(P: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
        return torch.trace(P @ H @ Q @ H)

    return float(hsic(K, M) / (torch.sqrt(hsic(K, K) * hsic(M, M)) + 1e-6))


def _limit_setup(X: list[np.ndarray]):
    from reprlab._linalg import matmul  # the fastest float32 GEMM here (torch's oneDNN on this AMD CPU)

    Zt = torch.cat([torch.from_numpy(x - x.mean(0)).T for x in X]).contiguous()  # layers' columns as rows

    def products() -> float:
        s = 0.0
        for i in range(L):
            s += float(matmul(Zt[i * D : (i + 1) * D], Zt[i * D :].T)[0, 0])
        return s

    return products


def run_variant(name: str, workdir: Path) -> dict:
    import reprlab as rl

    X = layered(N, D, L)
    if name == LIMIT_VARIANT:
        t, _ = timed(_limit_setup(X))
        return {"seconds": t}
    if name.startswith("platonic"):
        A, B = torch.from_numpy(X[0][:PLATONIC_N]), torch.from_numpy(X[1][:PLATONIC_N])
        t, v = timed(lambda: _platonic_pair(A, B))
        return {"seconds": t * (N / PLATONIC_N) ** 3 * PAIRS, "measured_one_pair_s": t, "value": v}
    fns = {
        "reprlab biased": lambda: rl.compare_all(X, None, "cka", dtype="float32").values,
        "reprlab unbiased": lambda: rl.compare_all(X, None, "cka", dtype="float32", estimator="unbiased").values,
        "reprlab biased, float64 accumulation": lambda: (
            rl.compare_all(X, None, "cka", dtype="float32", accumulate="float64").values
        ),
        "NumPy double loop": lambda: _numpy_loop(X),
        "ReSi CKA double loop": lambda: _resi_loop(X),
        "pytorch-cka Gram stack": lambda: _gram_stack(X),
    }
    t, M = timed(fns[name])
    return {"seconds": t, "value": float(np.mean(M))}
