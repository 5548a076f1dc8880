"""Workload W5: intrinsic dimension of n=20,000 x d=50 (a 10-d linear subspace + noise).

reprlab's TwoNN, MLE and lPCA against scikit-dimension's, timed INTERLEAVED in one process (peer,
reprlab, peer, reprlab, ... for several rounds) because the machine is shared and the noise between
separate runs is large; the figure is the median over rounds of the per-round ratio. The values are
checked to agree (rtol 1e-6) before any time is reported.

    PYTHONPATH=src python benchmarks/w5_describe.py --rounds 3 [--threads 1] [--device cuda] [--out results/w5.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np
import torch


def data(n: int = 20_000, d: int = 50, k: int = 10, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return g.normal(size=(n, k)) @ g.normal(size=(k, d)) + noise * g.normal(size=(n, d))


def timed(fn):
    t = time.perf_counter()
    value = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t, float(value)


def main() -> None:
    import skdim

    import reprlab as rl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="threads for torch AND NumPy/BLAS (the same for both)")
    ap.add_argument("--measures", default="twonn,mle,lpca(FO)", help="comma-separated subset to time")
    ap.add_argument("--out")
    args = ap.parse_args()
    # The same thread budget for both: on a shared, oversubscribed machine OpenMP spin-waiting makes
    # multi-threaded runs erratic (torch with 2 threads ran 4x slower than with 1 under a load of 13).
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    X = data(n=args.n)
    Xt = torch.tensor(X, device=args.device)
    cases = {
        "twonn": (lambda: skdim.id.TwoNN().fit(X).dimension_, lambda: rl.describe(Xt, "twonn", device=args.device)),
        "mle": (lambda: skdim.id.MLE().fit(X).dimension_, lambda: rl.describe(Xt, "mle", device=args.device)),
        "lpca(FO)": (
            lambda: skdim.id.lPCA(ver="FO").fit(X).dimension_,
            lambda: rl.describe(Xt, "lpca", device=args.device),
        ),
    }
    cases = {k: v for k, v in cases.items() if k in args.measures.split(",")}
    rl.describe(Xt[:500], "twonn", device=args.device)  # warm-up (imports, first allocations)
    times = {name: {"peer": [], "reprlab": []} for name in cases}
    values = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(args.rounds):
            for name, (peer, ours) in cases.items():
                tp, vp = timed(peer)
                to, vo = timed(ours)
                if not np.isclose(vo, vp, rtol=1e-6, atol=1e-9):
                    raise SystemExit(f"{name}: values differ: scikit-dimension {vp!r}, reprlab {vo!r}")
                times[name]["peer"].append(tp)
                times[name]["reprlab"].append(to)
                values[name] = vo
                print(
                    f"round {r + 1} {name:9s} skdim {tp:8.3f} s  reprlab {to:7.3f} s  ratio {tp / to:6.1f}x", flush=True
                )
    summary = {}
    for name, t in times.items():
        ratios = [p / o for p, o in zip(t["peer"], t["reprlab"])]
        summary[name] = {
            "value": values[name],
            "peer_median_s": statistics.median(t["peer"]),
            "reprlab_median_s": statistics.median(t["reprlab"]),
            "speedup_median": statistics.median(ratios),
            "speedups": ratios,
        }
        s = summary[name]
        print(
            f"{name:9s} skdim {s['peer_median_s']:.3f} s, reprlab {s['reprlab_median_s']:.3f} s, "
            f"median speed-up {s['speedup_median']:.1f}x (rounds: {', '.join(f'{x:.1f}' for x in ratios)})"
        )
    meta = {
        "workload": "W5",
        "n": args.n,
        "d": 50,
        "device": args.device,
        "threads": args.threads,
        "rounds": args.rounds,
        "skdim": skdim.__version__ if hasattr(skdim, "__version__") else "0.5.0",
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": summary}, f, indent=1)


if __name__ == "__main__":
    main()
