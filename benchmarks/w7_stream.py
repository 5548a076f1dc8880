"""W7: streaming linear CKA between two stores of 1,000,000 x 1,024 float32 (4 GB each, zarr on disk).

No peer streams (in-memory NumPy needs 8 GB for the data alone), so reprlab is compared with the
limit of its cross-products (X^T X, Y^T Y, X^T Y: 3 x 2 n d^2 FLOPs) and with the time to merely read
both stores chunk by chunk (the I/O floor).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from _common import timed

ID = "W7"
TITLE = "streaming linear CKA, two zarr stores of 1,000,000 x 1,024 float32"
N, D = 1_000_000, 1024
CHUNK = 32_768
LIMIT_FLOPS = 3 * 2.0 * N * D * D
VARIANTS = {
    "reprlab stream biased": {
        "role": "reprlab",
        "note": "compare_all(X_store, Y_store, dtype=float32, accumulate=float64)",
    },
    "reprlab stream unbiased": {"role": "reprlab", "note": "estimator='unbiased', same options"},
    "read both stores": {"role": "floor", "note": "reading every chunk once, no compute"},
    "limit, measured": {
        "role": "floor",
        "note": f"X^T X, Y^T Y, X^T Y on one in-memory {CHUNK}-row chunk (float32, torch's oneDNN matmul on "
        f"pre-transposed chunks: the fastest GEMM here), timed, x n/{CHUNK}",
    },
}
LIMIT_VARIANT = "limit, measured"
RATIOS: list[tuple[str, str]] = []


NOTES = """
The stores are zarr v3 arrays without compression, chunks of 32,768 rows; they are written before the
first round and deleted after the last. Peak RSS includes the Python process, torch and the read-ahead chunk.
"""


def setup(workdir: Path) -> None:
    """Write the two stores in chunks (shared rank-32 signal plus noise, non-zero means)."""
    import zarr

    g = torch.Generator().manual_seed(7)
    W = {k: torch.randn(32, D, generator=g) / 32**0.5 for k in "xy"}
    mu = {k: torch.randn(D, generator=g) for k in "xy"}
    arrs = {
        k: zarr.create_array(
            str(workdir / f"{k}.zarr"), shape=(N, D), chunks=(CHUNK, D), dtype="float32", compressors=None
        )
        for k in "xy"
    }
    for a in range(0, N, CHUNK):
        m = min(CHUNK, N - a)
        G = torch.randn(m, 32, generator=g)
        for k in "xy":
            arrs[k][a : a + m] = (G @ W[k] + torch.randn(m, D, generator=g) + mu[k]).numpy()


def teardown(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


def run_variant(name: str, workdir: Path) -> dict:
    import zarr

    import reprlab as rl

    X, Y = zarr.open_array(str(workdir / "x.zarr"), mode="r"), zarr.open_array(str(workdir / "y.zarr"), mode="r")
    if name == "read both stores":

        def read() -> float:
            s = 0.0
            for a in range(0, N, CHUNK):
                s += float(np.asarray(X[a : a + CHUNK])[0, 0]) + float(np.asarray(Y[a : a + CHUNK])[0, 0])
            return s

        t, _ = timed(read)
        return {"seconds": t}
    if name == LIMIT_VARIANT:
        from reprlab._linalg import matmul

        xt = torch.from_numpy(np.asarray(X[:CHUNK])).T.contiguous()  # units as rows: oneDNN's fast layout
        yt = torch.from_numpy(np.asarray(Y[:CHUNK])).T.contiguous()
        t, _ = timed(lambda: (matmul(xt, xt.T), matmul(yt, yt.T), matmul(xt, yt.T)))
        return {"seconds": t * N / CHUNK}
    est = "unbiased" if "unbiased" in name else "biased"
    t, res = timed(
        lambda: rl.compare_all({"x": X}, {"y": Y}, "cka", dtype="float32", accumulate="float64", estimator=est)
    )
    return {"seconds": t, "value": float(res.values[0, 0]), "path": res.meta["path"]}
