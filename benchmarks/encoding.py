"""Encoding model: 64 channels x 10 lags x 10 penalties x 5 folds, reprlab vs scikit-learn RidgeCV in a loop.

    PYTHONPATH=src python benchmarks/encoding.py [--n 6000] [--features 16] [--repeats 5]

The same work on both sides, timed interleaved in one process (median of ``--repeats``), reported as
a ratio (scikit-learn time / reprlab time). Each side runs once untimed first (imports, first-call
set-up); wall-clock and process CPU times are both reported, with the load average: on a shared
machine the CPU-time ratio is the steadier of the two (both sides are single-threaded with
``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1``).

* reprlab: ``rl.encoding(features, responses, lags=range(10), alphas=<10 values>, cv=5, n_boot=10)``:
  5 contiguous outer folds; each channel's penalty chosen by an inner CV over the other 4 folds;
  held-out predictions and scores (the small bootstrap is included in its time).
* scikit-learn ("loo", the stated peer): the lagged design built once with NumPy; for each of the
  5 contiguous outer folds, ``RidgeCV(alphas, alpha_per_target=True)`` (efficient leave-one-out
  penalty choice for all channels in one fit) on the training folds, predicting the held-out fold;
  Pearson r per fold and channel, averaged over folds. This is the fastest scikit-learn route, and
  does less than reprlab: its leave-one-out choice ignores the autocorrelation of time samples.
* scikit-learn ("loo per channel", ``--loop-channels``): the same, one ``RidgeCV(alphas)`` per
  channel (each channel's own leave-one-out penalty), the loop a user without ``alpha_per_target``
  writes.
* scikit-learn ("nested", ``--nested-channels K``, on K channels only since it is slow): the lagged
  design built once with NumPy; then for each of the 5
  contiguous outer folds and each channel, ``RidgeCV(alphas, cv=PredefinedSplit(the 4 other folds))``
  fitted on the training folds and predicting the held-out fold, then Pearson r per fold and
  channel, averaged over folds. RidgeCV refuses ``alpha_per_target`` with explicit folds, hence the
  loop over channels; the explicit contiguous folds make it the same nested search as reprlab's.

"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def make_data(n: int, f: int, c: int, n_lags: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, f))
    h = g.normal(size=(n_lags, f, c)) * np.exp(-np.arange(n_lags) / 3)[:, None, None]
    Y = sum(np.vstack([np.zeros((k, f)), X[: n - k]]) @ h[k] for k in range(n_lags))
    return X, Y + 3.0 * g.normal(size=Y.shape)


def lag_design(X: np.ndarray, lags: range) -> np.ndarray:
    n, f = X.shape
    out = np.zeros((n, len(lags) * f))
    for i, k in enumerate(lags):
        out[k:, i * f : (i + 1) * f] = X[: n - k]
    return out


def peer(
    X: np.ndarray, Y: np.ndarray, lags: range, alphas: np.ndarray, cv: int, inner: bool, per_channel: bool = False
) -> np.ndarray:
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import PredefinedSplit

    n = X.shape[0]
    D = lag_design(X, lags)
    folds = (np.arange(n) * cv) // n
    rs = []
    for k in range(cv):
        tr, te = folds != k, folds == k
        if inner:  # RidgeCV rejects alpha_per_target with explicit folds: one channel at a time
            split = PredefinedSplit(np.unique(folds[tr], return_inverse=True)[1])
            P = np.stack(
                [RidgeCV(alphas=alphas, cv=split).fit(D[tr], Y[tr, c]).predict(D[te]) for c in range(Y.shape[1])], 1
            )
        elif per_channel:
            P = np.stack([RidgeCV(alphas=alphas).fit(D[tr], Y[tr, c]).predict(D[te]) for c in range(Y.shape[1])], 1)
        else:
            P = RidgeCV(alphas=alphas, alpha_per_target=True).fit(D[tr], Y[tr]).predict(D[te])
        Pc, Yc = P - P.mean(0), Y[te] - Y[te].mean(0)
        rs.append((Pc * Yc).sum(0) / np.sqrt((Pc**2).sum(0) * (Yc**2).sum(0)))
    return np.mean(rs, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default=None)
    ap.add_argument("--loop-channels", action="store_true", help="also time RidgeCV (leave-one-out) per channel")
    ap.add_argument("--nested-channels", type=int, default=0, help="also time the nested peer on this many channels")
    args = ap.parse_args()

    import reprlab as rl

    lags = range(10)
    alphas = np.logspace(-1, 8, 10)
    X, Y = make_data(args.n, args.features, args.channels, len(lags))
    names = ["reprlab", "sklearn loo"]
    if args.loop_channels:
        names.append("sklearn loo per channel")
    if args.nested_channels:
        names.append(f"sklearn nested, {args.nested_channels} channels")
    times: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        times[name].append(time.perf_counter() - w)
        cpu[name].append(time.process_time() - c)
        return out

    def ours() -> Any:
        return rl.encoding(X, Y, lags=lags, alphas=alphas, cv=5, n_boot=10, device=args.device)

    ours(), peer(X, Y, lags, alphas, 5, inner=False)  # warm-up, untimed
    load = os.getloadavg()
    k = args.nested_channels
    for _ in range(args.repeats):
        e = timed("reprlab", ours)
        timed("sklearn loo", lambda: peer(X, Y, lags, alphas, 5, inner=False))
        if args.loop_channels:
            timed("sklearn loo per channel", lambda: peer(X, Y, lags, alphas, 5, inner=False, per_channel=True))
        if k:
            r_peer = timed(f"sklearn nested, {k} channels", lambda: peer(X, Y[:, :k], lags, alphas, 5, inner=True))
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"n={args.n} samples, {args.features} features x {len(lags)} lags, {args.channels} channels, "
        f"{len(alphas)} penalties, 5 folds; medians of {args.repeats}; load average "
        f"{load[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    for k, v in med.items():
        print(f"  {k:28s} {v:8.3f} s wall ({med_cpu[k]:.3f} s CPU)   runs: {', '.join(f'{x:.3f}' for x in times[k])}")
    print(
        f"  ratio sklearn loo / reprlab = {med['sklearn loo'] / med['reprlab']:.1f}x wall, "
        f"{med_cpu['sklearn loo'] / med_cpu['reprlab']:.1f}x CPU"
    )
    if args.loop_channels:
        print(f"  ratio sklearn loo per channel / reprlab = {med['sklearn loo per channel'] / med['reprlab']:.1f}x")
    if args.nested_channels:
        k = args.nested_channels
        print(
            f"  ratio sklearn nested ({k} of {args.channels} channels) / reprlab (all channels) = "
            f"{med[f'sklearn nested, {k} channels'] / med['reprlab']:.1f}x"
        )
        print(f"  max |r reprlab - r sklearn nested| over those channels = {np.abs(e.r[:k] - r_peer).max():.2e}")


if __name__ == "__main__":
    main()
