"""probe_layers against the same fits written directly with scikit-learn in a loop.

Two workloads (issue 18): (1) 30 layers x 5 grouped folds on 300 mean-pooled stimuli (width 576, as
SmolLM2's residual stream; random Gaussian layers with a planted binary label, so the benchmark needs
no model download), and (2) a token-level layer set of 20,000 rows (width 384, 6 layers, groups of
~12 tokens, 5 classes). Both sides fit standardise-then-logistic-regression at a fixed C on the same
folds; the reprlab side is timed with its p-value and bootstrap turned off so the work is the same.
Reported: seconds each side, the ratio, and the largest difference of out-of-fold probabilities.

Run: OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/bench_probe.py [--quick]
"""

from __future__ import annotations

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


def run(n, d, n_layers, k, group_size, C=1.0):
    import reprlab as rl
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    layers, y, groups = workload(n, d, n_layers, k, group_size)
    t0 = time.perf_counter()
    res = rl.probe_layers(layers, y, groups=groups, C=C, n_permutations=0, n_boot=0)
    t_rl = time.perf_counter() - t0
    folds = next(iter(res.values())).folds
    t0 = time.perf_counter()
    ref = {}
    for name, X in layers.items():
        P = np.zeros((n, k))
        for f in range(folds.max() + 1):
            tr, te = folds != f, folds == f
            m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=10_000)).fit(X[tr], y[tr])
            P[te] = m.predict_proba(X[te])
        ref[name] = P
    t_sk = time.perf_counter() - t0
    diff = max(np.abs(ref[nm] - res[nm].proba).max() for nm in layers)
    same_pred = all(np.array_equal(ref[nm].argmax(1), res[nm].proba.argmax(1)) for nm in layers)
    return t_rl, t_sk, diff, same_pred


def main() -> None:
    quick = "--quick" in sys.argv
    cases = [("pooled: 30 layers x 300 stimuli x 576, 5 folds, binary", (300, 576, 30 if not quick else 4, 2, 1)),
             ("token-level: 6 layers x 20,000 rows x 384, 5 folds, 5 classes",
              (20_000 if not quick else 2_000, 384, 6 if not quick else 2, 5, 12))]
    for title, args in cases:
        t_rl, t_sk, diff, same = run(*args)
        print(f"{title}: reprlab {t_rl:.2f} s, scikit-learn loop {t_sk:.2f} s, ratio {t_sk / t_rl:.2f}x, "
              f"max |proba diff| {diff:.1e}, same predictions: {same}")


if __name__ == "__main__":
    main()
