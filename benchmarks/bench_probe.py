"""probe_layers against the same fits written directly with scikit-learn in a loop (issue 18).

Two workloads, synthetic layers of the issue's shapes (Gaussian units with a planted label, so the
benchmark needs no model download; SmolLM2-135M's residual width is 576):

1. pooled: 30 layers x 300 stimuli x 576 units, binary label, 5 grouped folds;
2. token-level: 6 layers x 20,000 rows x 384 units, 5 classes, groups of 12 tokens, 5 grouped folds.

Each side fits standardise-then-logistic-regression (C = 1) on the same folds: reprlab through
``rl.probe_layers`` (p-value and bootstrap off, so the work is the same: the fits, their out-of-fold
probabilities, plus the all-rows direction reprlab always returns for a binary probe), scikit-learn as
``make_pipeline(StandardScaler(), LogisticRegression(C=1))`` per layer and fold, once at its default
tolerance (``tol=1e-4``, the loop one would write) and once converged (``tol=1e-10``,
``max_iter=10000``); for the binary workload also, untimed, scikit-learn's exact Newton solver
(``solver="newton-cholesky"``, ``tol=1e-12``) on two layers, to show how far each side is from the
minimiser (L-BFGS at ``tol=1e-10`` stops on its own relative-decrease test, ~1e-6 short of it).
Reported per workload, measured side by side in one process: seconds of each,
the ratios, and the largest difference of out-of-fold probabilities against each loop.

Single-threaded on both sides (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``).
``--search``: instead of a fixed C, the default use (C searched over ``rl.probe.DEFAULT_CS`` by 3 inner
grouped folds on each outer training set, then refitted), against the same search written with
scikit-learn on reprlab's inner folds.

``--device cuda``: reprlab's side on the GPU (one untimed warm-up fit first, for CUDA's start-up), the
scikit-learn loop on the host's CPU as always.

Run: PYTHONPATH=src python benchmarks/bench_probe.py [--quick] [--workload 1|2] [--search] [--device cuda]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import sys
import time

import numpy as np


def workload(n, d, n_layers, k, group_size, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    groups = np.arange(n) // group_size
    layers = {}
    for i in range(n_layers):
        X = rng.normal(size=(n, d))
        X[:, :k] += 0.8 * np.eye(k)[y]
        layers[f"layer{i}"] = X
    return layers, y, groups


def sklearn_loop(layers, y, folds, k, C, tol, solver="lbfgs"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    for name, X in layers.items():
        P = np.zeros((X.shape[0], k))
        for f in range(folds.max() + 1):
            tr, te = folds != f, folds == f
            lr = LogisticRegression(C=C, tol=tol, max_iter=10_000, solver=solver)
            m = make_pipeline(StandardScaler(), lr).fit(X[tr], y[tr])
            P[te] = m.predict_proba(X[te])
        out[name] = P
    return out


def sklearn_search_loop(layers, y, groups, folds, k, Cs, inner_cv, seed, tol):
    """The same inner grouped search as reprlab (its inner folds, the C with the best mean balanced
    accuracy, ties to the first), then the refit on the outer training rows, written with scikit-learn."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from reprlab.probe._folds import assign_folds

    def fit(X, yy, C):
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=tol, max_iter=10_000)).fit(X, yy)

    out = {}
    for name, X in layers.items():
        P = np.zeros((X.shape[0], k))
        for f in range(folds.max() + 1):
            train = np.flatnonzero(folds != f)
            sub = np.unique(groups[train], return_inverse=True)[1]
            inner = assign_folds(sub, inner_cv, seed + 1 + f, y[train])
            means = []
            for C in Cs:
                scores = []
                for g in range(inner_cv):
                    tr, te = train[inner != g], train[inner == g]
                    scores.append(balanced_accuracy_score(y[te], fit(X[tr], y[tr], C).predict(X[te])))
                means.append(np.mean(scores))
            best = Cs[int(np.argmax(means))]
            P[folds == f] = fit(X[train], y[train], best).predict_proba(X[folds == f])
        out[name] = P
    return out


DEVICE = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else None


def _warm_up(rl, layers, y, groups):
    if DEVICE is not None:
        name = next(iter(layers))
        rl.probe_layers({name: layers[name]}, y, groups=groups, C=1.0, n_permutations=0, n_boot=0, device=DEVICE)


def run_search(n, d, n_layers, k, group_size):
    """The default use: C searched over reprlab's grid by 3 inner grouped folds on each training set."""
    import torch

    import reprlab as rl
    from reprlab.probe import DEFAULT_CS

    torch.set_num_threads(1)
    layers, y, groups = workload(n, d, n_layers, k, group_size)
    _warm_up(rl, layers, y, groups)
    t0 = time.perf_counter()
    res = rl.probe_layers(layers, y, groups=groups, n_permutations=0, n_boot=0, device=DEVICE)
    row = {"reprlab": time.perf_counter() - t0}
    folds = next(iter(res.values())).folds
    for label, tol in (("default", 1e-4), ("tight", 1e-10)):
        t0 = time.perf_counter()
        ref = sklearn_search_loop(layers, y, groups, folds, k, list(DEFAULT_CS), 3, 0, tol)
        row[label] = time.perf_counter() - t0
        row[label + "_diff"] = max(np.abs(ref[nm] - res[nm].proba).max() for nm in layers)
        row[label + "_same"] = all(np.array_equal(ref[nm].argmax(1), res[nm].proba.argmax(1)) for nm in layers)
    return row


def run(n, d, n_layers, k, group_size, C=1.0):
    import torch

    import reprlab as rl

    torch.set_num_threads(1)
    layers, y, groups = workload(n, d, n_layers, k, group_size)
    _warm_up(rl, layers, y, groups)
    t0 = time.perf_counter()
    res = rl.probe_layers(layers, y, groups=groups, C=C, n_permutations=0, n_boot=0, device=DEVICE)
    t_rl = time.perf_counter() - t0
    folds = next(iter(res.values())).folds
    row = {"reprlab": t_rl}
    for label, tol in (("default", 1e-4), ("tight", 1e-10)):
        t0 = time.perf_counter()
        ref = sklearn_loop(layers, y, folds, k, C, tol)
        row[label] = time.perf_counter() - t0
        row[label + "_diff"] = max(np.abs(ref[nm] - res[nm].proba).max() for nm in layers)
        row[label + "_same"] = all(np.array_equal(ref[nm].argmax(1), res[nm].proba.argmax(1)) for nm in layers)
    if k == 2:  # exact Newton (not timed) on two layers: how far each side is from the minimiser
        two = dict(list(layers.items())[:2])
        exact = sklearn_loop(two, y, folds, k, C, 1e-12, solver="newton-cholesky")
        tight = sklearn_loop(two, y, folds, k, C, 1e-10)
        row["exact_rl"] = max(np.abs(exact[nm] - res[nm].proba).max() for nm in two)
        row["exact_sk"] = max(np.abs(exact[nm] - tight[nm]).max() for nm in two)
    return row


def main() -> None:
    quick = "--quick" in sys.argv
    which = sys.argv[sys.argv.index("--workload") + 1] if "--workload" in sys.argv else "12"
    search = "--search" in sys.argv
    cases = [("1", "pooled", (300, 576, 4 if quick else 30, 2, 1)),
             ("2", "token-level", (2_000 if quick else 20_000, 384, 2 if quick else 6, 5, 12))]
    print(f"load average at start: {os.getloadavg()}; reprlab on {DEVICE or 'cpu'}")
    for key, title, args in cases:
        if key not in which:
            continue
        n, d, n_layers, k, group = args
        r = (run_search if search else run)(*args)
        if search:
            title += " (C searched over 6 values by 3 inner grouped folds)"
        print(
            f"{title}: {n_layers} layers x {n:,} rows x {d}, 5 grouped folds, {k} classes, groups of {group}:\n"
            f"  reprlab {r['reprlab']:.2f} s | scikit-learn loop, default tol 1e-4: {r['default']:.2f} s "
            f"(ratio {r['default'] / r['reprlab']:.2f}x, max |proba diff| {r['default_diff']:.1e}, same predictions "
            f"{r['default_same']}) | tol 1e-10: {r['tight']:.2f} s (ratio {r['tight'] / r['reprlab']:.2f}x, "
            f"max |proba diff| {r['tight_diff']:.1e}, same predictions {r['tight_same']})"
        )
        if "exact_rl" in r:
            print(f"  against scikit-learn's newton-cholesky at tol 1e-12 (2 layers, not timed): reprlab "
                  f"{r['exact_rl']:.1e}, scikit-learn lbfgs at tol 1e-10 {r['exact_sk']:.1e}")
        print(f"  load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
