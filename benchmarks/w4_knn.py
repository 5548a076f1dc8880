"""W4: mutual k-NN alignment, k=10, n=10,000 x d=768, one pair: reprlab vs platonic-rep's algorithm.

The peer is a faithful re-implementation of platonic-rep's published ``AlignmentMetrics.mutual_knn``
(git dcd76ba) as its ``measure_alignment`` pipeline calls it: rows L2-normalised, ``feats @ feats.T`` as a
full n x n matrix, diagonal set to -1e8, a full descending ``argsort`` per row cut to the first k, two
dense n x n float32 masks filled with ``scatter`` and multiplied, row sums / k, mean. It runs on float32
tensors (what the pipeline feeds it). reprlab runs ``rl.measures.mutual_knn(X, Y, k=10)`` (cosine
neighbours: the same neighbour sets) at its default float64 and at ``dtype="float32"``; all three values
are checked to agree.

Time: the variants run interleaved in one process (``--rounds`` rounds, order rotated each round); the
median per variant and the ratio to the peer are reported.

Peak memory: each variant runs once in a fresh subprocess (``--mem VARIANT``). After imports and input
creation the process's resident set (RSS) is read as the baseline; during the call a thread samples RSS
with psutil every millisecond, and after it the kernel's high-water mark ``ru_maxrss`` is read. The peak
of the call is ``max(sampled RSS, ru_maxrss) - baseline``: the memory the measure itself needed on top of
the loaded library and the inputs (torch's CPU allocations are plain process memory, so RSS sees them;
tracemalloc would not). The absolute peak RSS of the process is reported too.

Usage: ``PYTHONPATH=src python benchmarks/w4_knn.py [--n 10000] [--d 768] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import torch

import reprlab as rl

K = 10


def make_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two related float32 representations: a shared 64-d latent, a rotation and noise."""
    g = np.random.default_rng(seed)
    latent = g.normal(size=(n, 64)).astype(np.float32)
    X = latent @ g.normal(size=(64, d)).astype(np.float32) + 0.5 * g.normal(size=(n, d)).astype(np.float32)
    Q, _ = np.linalg.qr(g.normal(size=(d, d)))
    Y = X @ Q.astype(np.float32) + 0.5 * g.normal(size=(n, d)).astype(np.float32)
    return X, Y


def platonic_mutual_knn(X: np.ndarray, Y: np.ndarray, topk: int = K) -> float:
    """platonic-rep's algorithm (see the module docstring), written from its published description."""
    A = torch.nn.functional.normalize(torch.from_numpy(X), p=2, dim=-1)
    B = torch.nn.functional.normalize(torch.from_numpy(Y), p=2, dim=-1)

    def knn(f: torch.Tensor) -> torch.Tensor:
        return (f @ f.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :topk]

    knn_a, knn_b = knn(A), knn(B)
    n = knn_a.shape[0]
    rows = torch.arange(n).unsqueeze(1)
    mask_a = torch.zeros(n, n)
    mask_b = torch.zeros(n, n)
    mask_a[rows, knn_a] = 1.0
    mask_b[rows, knn_b] = 1.0
    return ((mask_a * mask_b).sum(dim=1) / topk).mean().item()


VARIANTS = {
    "platonic-rep": platonic_mutual_knn,
    "reprlab-float64": lambda X, Y: rl.measures.mutual_knn(X, Y, k=K),
    "reprlab-float32": lambda X, Y: rl.measures.mutual_knn(X, Y, k=K, dtype="float32"),
}


def measure_memory(variant: str, n: int, d: int) -> dict:
    X, Y = make_data(n, d)
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    value = VARIANTS[variant](X, Y)
    done.set()
    t.join()
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    top = max(peak[0], hwm)
    return {
        "variant": variant,
        "value": value,
        "baseline_mb": base / 2**20,
        "peak_rss_mb": top / 2**20,
        "peak_increase_mb": (top - base) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mem", choices=list(VARIANTS), help="internal: measure one variant's memory")
    args = ap.parse_args()
    if args.mem:
        print(json.dumps(measure_memory(args.mem, args.n, args.d)))
        return

    print(f"W4 mutual_knn k={K}, n={args.n}, d={args.d}; torch {torch.__version__}, threads {torch.get_num_threads()}")
    mem = {}
    for v in VARIANTS:
        out = subprocess.run(
            [sys.executable, __file__, "--mem", v, "--n", str(args.n), "--d", str(args.d)],
            capture_output=True,
            text=True,
            check=True,
        )
        mem[v] = json.loads(out.stdout.strip().splitlines()[-1])

    X, Y = make_data(args.n, args.d)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    values: dict[str, float] = {}
    names = list(VARIANTS)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for v in order:
            t0 = time.perf_counter()
            values[v] = VARIANTS[v](X, Y)
            times[v].append(time.perf_counter() - t0)
    ref = statistics.median(times["platonic-rep"])
    for v in names:
        assert abs(values[v] - values["platonic-rep"]) < 1e-6, (v, values)
        med = statistics.median(times[v])
        m = mem[v]
        print(
            f"{v:16s} value {values[v]:.6f}  time median {med:7.2f} s  (x{ref / med:5.2f} vs platonic-rep; "
            f"runs {', '.join(f'{t:.2f}' for t in times[v])})  peak memory +{m['peak_increase_mb']:7.1f} MB "
            f"above {m['baseline_mb']:.0f} MB (process peak {m['peak_rss_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
