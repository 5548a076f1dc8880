"""Coverage of the bootstrap intervals of ``reprlab.stats.bootstrap`` in simulation (docs/stats.md).

Two kinds of designs:

* **population** (the value the measure estimates is known in closed form): stimuli drawn from a joint
  Gaussian of X (p units) and Y (q units) with covariance Sigma.
  - linear CKA: ``||S_xy||_F^2 / (||S_xx||_F ||S_yy||_F)`` (Kornblith et al. 2019, population HSIC);
  - RSA with squared-Euclidean RDMs compared by Pearson correlation: the same number (for a pair of
    stimuli ``w = s_i - s_j ~ N(0, 2 Sigma)``, ``Cov(|w_x|^2, |w_y|^2) = 8 ||S_xy||_F^2`` and
    ``Var(|w_x|^2) = 8 ||S_xx||_F^2``; the Pearson correlation over all pairs converges to their ratio);
  - CCA (``mean_rho``): the mean of the generating model's canonical correlations ``rho_k``
    (``y_k = rho_k x_k + sqrt(1 - rho_k^2) e_k``).
* **null** (every compare measure): X and Y independent; the null expectation is the mean of the
  measure over ``--null-draws`` independent samples of the same size.

For each design the share of runs whose 95% interval contains the value is printed as a Markdown
table (with the Wilson 95% interval of that share), along with the mean bootstrap SE over the SD of
the estimate across runs.

    PYTHONPATH=src python scripts/bootstrap_coverage.py              # all designs (an hour or more on 2 shared cores)
    PYTHONPATH=src python scripts/bootstrap_coverage.py --only null --runs 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import reprlab as rl

LAMBDA = np.array([1.0, 0.8, 0.6, 0.4, 0.2])  # unit variances of X in the CKA / RSA designs


def gaussian_cka_design(noise: float) -> tuple[np.ndarray, float]:
    """Covariance of (x, y) with x ~ N(0, diag(LAMBDA)), y = x + noise * e (5 + 5 units), and its
    population linear CKA (equal to the population Pearson RSA of squared-Euclidean RDMs)."""
    Sxx = np.diag(LAMBDA)
    Syy = Sxx + noise**2 * np.eye(5)
    Sxy = Sxx
    cov = np.block([[Sxx, Sxy], [Sxy.T, Syy]])
    return cov, float(np.sum(Sxy**2) / (np.linalg.norm(Sxx) * np.linalg.norm(Syy)))


def draw_gaussian(g: np.random.Generator, cov: np.ndarray, n: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    s = g.multivariate_normal(np.zeros(cov.shape[0]), cov, size=n)
    return s[:, :p], s[:, p:]


def draw_cca(g: np.random.Generator, rhos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = g.normal(size=(n, rhos.size))
    y = rhos * x + np.sqrt(1 - rhos**2) * g.normal(size=(n, rhos.size))
    return x, y


def wilson(k: int, m: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k / m."""
    p = k / m
    c = (p + z * z / (2 * m)) / (1 + z * z / m)
    h = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    return c - h, c + h


def coverage(draw, spec: str, truth: float, runs: int, n_boot: int, seed: int, method: str) -> dict[str, object]:
    """Run ``runs`` simulations of ``draw(g)`` and count the 95% intervals of ``spec`` containing ``truth``."""
    g = np.random.default_rng(seed)
    hits, inside, values, ses, rule = 0, 0, [], [], ""
    for r in range(runs):
        X, Y = draw(g)
        b = rl.stats.bootstrap(X, Y, spec, n=n_boot, seed=r, method=method)
        hits += b.ci_low <= truth <= b.ci_high
        inside += b.ci_low <= b.value <= b.ci_high
        values.append(b.value)
        ses.append(b.se)
        rule = b.rule
    lo, hi = wilson(hits, runs)
    return {
        "rule": rule,
        "coverage": hits / runs,
        "wilson": (lo, hi),
        "inside": inside / runs,
        "se_ratio": float(np.mean(ses) / np.std(values, ddof=1)),
        "truth": truth,
        "mean": float(np.mean(values)),
    }


def population_designs(n_list: list[int]) -> list[tuple[str, str, object, float]]:
    out = []
    for n in n_list:
        for noise in (0.5, 1.0):
            cov, truth = gaussian_cka_design(noise)
            what = f"x ~ N(0, diag(1..0.2)), y = x + {noise} e, 5 + 5 units, n = {n}"
            draw = lambda g, cov=cov, n=n: draw_gaussian(g, cov, n, 5)  # noqa: E731
            out.append(("linear CKA", "cka", (what, draw), truth))
            out.append(("linear CKA", "cka(estimator=unbiased)", (what, draw), truth))
            out.append(("RSA", "rsa(rdm=sqeuclidean, compare=pearson)", (what, draw), truth))
        rhos = np.array([0.8, 0.5, 0.3])
        what = f"canonical correlations (0.8, 0.5, 0.3), 3 + 3 units, n = {n}"
        out.append(("CCA", "cca", (what, lambda g, n=n, rhos=rhos: draw_cca(g, rhos, n)), float(rhos.mean())))
    return out


def null_draw(info, n: int):
    def draw(g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if info.input_ndim == 3:  # (conditions, repeats, units)
            return (
                g.normal(size=(n, 1, 4)) + 0.3 * g.normal(size=(n, 5, 4)),
                g.normal(size=(n, 1, 4)) + 0.3 * g.normal(size=(n, 5, 4)),
            )
        return g.normal(size=(n, 5)), g.normal(size=(n, 4))

    return draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("population", "null"), default=None)
    ap.add_argument("--runs", type=int, default=400, help="simulations per population design")
    ap.add_argument("--n", type=int, nargs="+", default=[100, 300], help="stimuli in the population designs")
    ap.add_argument("--null-runs", type=int, default=200, help="simulations per null design")
    ap.add_argument("--null-draws", type=int, default=1000, help="draws estimating the null expectation")
    ap.add_argument("--family", nargs="+", default=None, help="population designs of these families only")
    ap.add_argument("--measures", nargs="+", default=None, help="null designs of these measures only")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--method", default="percentile", choices=("percentile", "bca"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.only in (None, "population"):
        print(
            "| family | measure | rule | design | population value | mean estimate | coverage (Wilson 95%) "
            "| SE / SD | runs |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for family, spec, (what, draw), truth in population_designs(args.n):
            if args.family and family not in args.family:
                continue
            t0 = time.perf_counter()
            c = coverage(draw, spec, truth, args.runs, args.n_boot, 0, args.method)
            lo, hi = c["wilson"]
            print(
                f"| {family} | `{spec}` | {c['rule']} | {what} | {truth:.4f} | {c['mean']:.4f} | "
                f"{c['coverage']:.1%} ({lo:.1%}-{hi:.1%}) | {c['se_ratio']:.2f} | {args.runs} |",
                flush=True,
            )
            print(f"<!-- {time.perf_counter() - t0:.0f} s -->", flush=True)
    if args.only in (None, "null"):
        print(
            "\n| measure | rule | null expectation (n = 40) | coverage of it (Wilson 95%) | interval contains "
            "the value | SE / SD | runs |"
        )
        print("|---|---|---|---|---|---|---|")
        for info in rl.measures.available(kind="compare"):
            if args.measures and info.name not in args.measures:
                continue
            draw = null_draw(info, 40)
            g = np.random.default_rng(1)
            if info.name in rl.stats.resampling.REFUSED:
                print(f"| `{info.name}` | refused | | | | | |")
                continue
            null = float(np.mean([rl.compare(*draw(g), info.name) for _ in range(args.null_draws)]))
            c = coverage(draw, info.name, null, args.null_runs, args.n_boot, 2, args.method)
            lo, hi = c["wilson"]
            print(
                f"| `{info.name}` | {c['rule']} | {null:.4f} | {c['coverage']:.1%} ({lo:.1%}-{hi:.1%}) | "
                f"{c['inside']:.0%} | {c['se_ratio']:.2f} | {args.null_runs} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
