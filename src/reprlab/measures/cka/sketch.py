"""Sketched-Gram kernel CKA: rank-m feature maps instead of n x n kernel matrices (explicit opt-in).

Exact rbf / laplace CKA needs every n x n kernel matrix. :func:`sketched_cka` replaces each kernel
matrix by a rank-m factorisation ``K ~= Phi Phi^T`` (Phi: n x m) and computes CKA of the feature maps
with the exact linear-CKA machinery of the engine (centred cross-products ``|Phi_c^T Psi_c|_F^2``
accumulated over chunks of rows, then :func:`reprlab.measures.cka.hsic_from_moments` for the biased,
unbiased or Lange estimator). Every HSIC estimator depends on K only through its doubly-centred form,
and the HSIC of ``Phi Phi^T`` and ``Psi Psi^T`` is the linear-kernel HSIC of Phi and Psi, so with an
exact factorisation the value is the exact kernel CKA. Two feature maps (``method``):

* ``"nystrom"`` (Williams & Seeger 2001): m landmark stimuli Z drawn uniformly without replacement
  (``seed``; the same stimuli for every representation), ``Phi = k(X, Z) W^{-1/2}`` with ``W = k(Z, Z)``
  (eigen-decomposition; eigenvalues below ``m eps lambda_max`` dropped), so ``Phi Phi^T = K_nZ W^+ K_Zn``.
  With m = n (every stimulus a landmark) this is K itself and the value is exact CKA to rounding.
  Deterministic given the landmarks and biased (it under-represents the part of K outside the span of
  the landmarks); the held-out check below measures that bias.
* ``"rff"`` (random Fourier features, Rahimi & Recht 2007), rbf and laplace only:
  ``Phi = sqrt(2/m) cos(X Omega + b)``, b ~ U[0, 2 pi), columns of Omega drawn from the kernel's
  spectral density: ``N(0, I / sigma^2)`` for rbf, and for this library's laplace kernel
  ``exp(-|x - y|_2 / sigma)`` (Euclidean norm) the multivariate Cauchy ``g / (sigma |u|)``, g ~ N(0, I),
  u ~ N(0, 1) (because ``E exp(-a^2 / (2 u^2)) = exp(-a)``; a product of 1-D Cauchy draws would give
  the l1 laplace kernel instead). ``Phi Phi^T`` is unbiased for K entrywise, but ``HSIC(K^, K^)`` is
  biased upwards by the sketch's own noise, which would pull CKA towards 0. So the m features are split
  into two halves with independent frequencies and the self-HSIC is ``HSIC(K^_1, K^_2)`` (each half
  rescaled to be unbiased for K), which is unbiased; the cross-HSIC uses all m features (different
  representations have independent frequencies, so it is unbiased too).

Error statement. ``repeats`` independent sketches are drawn (new landmarks or frequencies, and a new
check sample, each time); the value is their mean and ``meta["stderr"]`` the standard error of that mean.
Each repeat is also checked on ``check_size`` held-out stimuli S (for Nystrom, stimuli that are not
landmarks when there are enough): sketched CKA minus exact CKA on S (exact s x s kernel matrices, the
same bandwidths) measures the systematic error; ``meta["bias"]`` is its mean over repeats. The
unbiased and Lange HSICs are U-statistics without the diagonal, so their value on S estimates the same
quantity as on all n stimuli; the biased HSIC weighs the diagonal 1/n, so on S its off-diagonal sum is
scaled by (n - 1) / (s - 1) to mimic n stimuli. ``meta["error"] = |bias| + 2 sqrt(stderr^2 +
se(bias)^2)``, with se(bias) the standard error of the check over repeats, is the stated error of every
entry: an estimate from the data, not a guaranteed bound (it does not cover the difference between a
subsampled median bandwidth and the all-pairs one). ``meta["gram_error"]`` gives, per representation,
the relative Frobenius error of the estimator's (centred) kernel matrix on S.

Bandwidth (rbf, laplace): ``sigma``, or with ``sigma=None`` the median heuristic of exact CKA,
``sigma_scale`` x the lower median of the pairwise distances, here over the pairs of ``sigma_sample``
stimuli drawn with ``seed`` (all n stimuli when n <= sigma_sample, which then equals exact CKA's
bandwidth). The error statement compares with exact CKA at these bandwidths.

Cost per repeat: n m d for k(X, Z), n m^2 for Phi (Nystrom), and n (sum of all m)^2 for the
cross-products of all representations (n m^2 per pair), plus s^2 (d + pairs) for the check, instead of
n^2 d per representation and n^2 per pair; memory: one chunk of rows of every feature map plus the
(sum m)^2 accumulators, not n x n (store arrays are read chunk by chunk, as compare_all streams them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..._linalg import median, sq_distances, upper_triangle
from ..._validation import resolve_device, resolve_dtype
from ..._version import __version__
from ...errors import ReprlabError
from ...results import ComparisonResult
from ...stream import moments
from ...stream.sources import Source, check_rows, make_source, named_sets
from .batched import hsic_of_stats
from .core import ESTIMATORS, check_stimuli, cka_from_hsic, estimator_matrix, hsic_matrices
from .kernels import KERNELS, cross_kernel, kernel_matrix

METHODS = ("nystrom", "rff")


def _rows(s: Source, idx: np.ndarray, dt: torch.dtype, dev: torch.device) -> torch.Tensor:
    """Rows ``idx`` (sorted) of a source as a checked tensor."""
    if not s.lazy:
        return s.data[torch.as_tensor(idx, device=s.data.device)]
    X = torch.as_tensor(np.asarray(s.data[idx])).to(dtype=dt, device=dev)
    if not bool(torch.isfinite(X).all()):
        raise ReprlabError(f"`{s.label}` contains non-finite values; remove or impute them.")
    return X


class _Reader:
    """Reads rows ``a:b`` of a source once for all the feature maps built on it."""

    def __init__(self, source: Source, dt: torch.dtype, dev: torch.device) -> None:
        self.source, self.dt, self.dev = source, dt, dev
        self.last: tuple[int, int, torch.Tensor] | None = None

    def read(self, a: int, b: int) -> torch.Tensor:
        if self.last is None or self.last[:2] != (a, b):
            self.last = (a, b, self.source.read(a, b, self.dt, self.dev))
        return self.last[2]


@dataclass
class _FeatureSource(Source):
    """A feature map of a representation, computed chunk by chunk as the engine reads rows."""

    reader: _Reader | None = None
    fmap: Callable[[torch.Tensor], torch.Tensor] | None = None

    def read(self, a: int, b: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return self.fmap(self.reader.read(a, b))


def _nystrom_map(Z: torch.Tensor, kernel: str, sigma: torch.Tensor | None, label: str):
    c = Z.mean(0)
    Zc = Z - c
    W = cross_kernel(Zc, Zc, kernel, sigma)
    lam, U = torch.linalg.eigh((W + W.T) / 2)
    tol = float(lam.max()) * Z.shape[0] * torch.finfo(Z.dtype).eps
    keep = lam > tol
    if not bool(keep.any()):
        raise ReprlabError(f"The landmark kernel matrix of {label} is 0; the representation is degenerate.")
    T = U[:, keep] / lam[keep].sqrt()
    return (lambda X: cross_kernel(X - c, Zc, kernel, sigma) @ T), int(keep.sum())


def _rff_maps(d: int, m: int, kernel: str, sigma: torch.Tensor, c: torch.Tensor, rng: np.random.Generator):
    """Two feature maps (the halves of m random Fourier features), each scaled as part of the m."""
    omega = rng.standard_normal((d, m))
    if kernel == "laplace":
        omega /= np.abs(rng.standard_normal(m))
    b = rng.uniform(0.0, 2.0 * math.pi, m)
    Om = torch.as_tensor(omega, dtype=c.dtype, device=c.device) / sigma
    bt = torch.as_tensor(b, dtype=c.dtype, device=c.device)
    scale = math.sqrt(2.0 / m)

    def half(cols: slice):
        return lambda X: scale * torch.cos((X - c) @ Om[:, cols] + bt[cols])

    h = m // 2
    return [half(slice(0, h)), half(slice(h, m))], [h, m - h]


def _hsic_all(fsources: list[Source], estimator: str, opts: moments.Options) -> torch.Tensor:
    """Linear-kernel HSIC of every pair of feature maps, through the engine's cross-moment pass."""
    spec = moments.StreamSpec(
        lambda st: hsic_of_stats(st, estimator),
        lambda st, hx, hy: hsic_of_stats(st, estimator),
        row_norms=estimator != "biased",
    )
    n = fsources[0].n
    chunk = moments.chunk_rows(fsources, opts)
    # The shifts only condition the sums (the centring is exact), so a few rows' mean will do; the
    # engine's default (a whole chunk) would compute the features of that chunk twice.
    shifts = [f.read(0, min(n, 256), opts.dtype, opts.device).mean(0) for f in fsources]

    def partial(plan: moments.Plan, tasks: list[moments.Task], first: bool) -> moments.Accumulators:
        return moments.accumulate(fsources, shifts, plan, tasks, first, spec.row_norms, opts, (0, n), chunk)

    values = moments.run_plan(spec, fsources, len(fsources), True, True, opts, partial)
    return torch.as_tensor(values, dtype=torch.float64)


def _feature_hsic(H: torch.Tensor, groups: list[list[int]], weights: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross- and self-HSIC of the representations from the HSIC matrix ``H`` of their feature maps.

    ``groups[g]`` are the feature maps of representation g: one for Nystrom; for rff two halves with
    independent frequencies, whose self-HSIC is ``weights[g] * H[half_1, half_2]`` (HSIC is bilinear)."""
    num = torch.stack([torch.stack([H[gi][:, gj].sum() for gj in groups]) for gi in groups])
    selfs = torch.stack([H[g[0], g[0]] if len(g) == 1 else w * H[g[0], g[1]] for g, w in zip(groups, weights)])
    return num, selfs


def _check_hsic(P: torch.Tensor, Q: torch.Tensor, estimator: str, n: int) -> torch.Tensor:
    """HSIC on the s check stimuli from the estimator matrices, scaled as at n stimuli: the unbiased and
    Lange estimators are U-statistics (no diagonal) and need no scaling; the biased one weighs the
    diagonal 1/n, so its off-diagonal sum is scaled by (n - 1) / (s - 1)."""
    s = P.shape[0]
    if estimator != "biased":
        return hsic_matrices(P, Q, estimator, s)
    diag = (torch.diagonal(P) * torch.diagonal(Q)).sum()
    return ((P * Q).sum() - diag) * ((n - 1) / (s - 1)) + diag


def _cka_matrix(num: torch.Tensor, selfs: torch.Tensor, labels: list[str]) -> torch.Tensor:
    for h, lab in zip(selfs, labels):
        if not float(h) > 0.0:
            raise ReprlabError(
                f"The sketched HSIC of {lab} with itself is {float(h):.3g} <= 0 (too few n_components for "
                "this representation, or it is constant across stimuli). Use a larger n_components."
            )
    V = cka_from_hsic(num, selfs[:, None], selfs[None, :], 0.0, False).to(torch.float64).cpu()
    r = len(labels)
    V[range(r), range(r)] = 1.0  # a representation with itself (rff's num uses one sketch twice)
    return V


def _check_matrices(mats: list[torch.Tensor], estimator: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    H = torch.stack([torch.stack([_check_hsic(a, b, estimator, n) for b in mats]) for a in mats])
    return H, torch.diagonal(H)


def _check_int(v: Any, name: str, lo: int, why: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ReprlabError(f"`{name}` must be an integer >= {lo} ({why}); got {v!r}.")


def sketched_cka(
    A: Any,
    B: Any = None,
    *,
    kernel: str = "rbf",
    sigma: float | None = None,
    sigma_scale: float = 1.0,
    n_components: int = 1000,
    method: str = "nystrom",
    estimator: str = "biased",
    repeats: int = 3,
    check_size: int = 500,
    sigma_sample: int = 2000,
    seed: int = 0,
    chunk_rows: int | None = None,
    dtype: Any = None,
    device: Any = None,
) -> ComparisonResult:
    """Kernel CKA of every pair of ``A`` x ``B`` (or within ``A``) from rank-m sketches of the kernel
    matrices, with its error (module docstring: method, error statement, cost).

    Parameters
    ----------
    A, B : Mapping[str, array] or list of arrays (in memory or store arrays)
    kernel : {"rbf", "laplace", "linear"}
        As exact CKA (``rl.compare(..., "cka", kernel=...)``). The linear kernel only with Nystrom
        (exact linear CKA is already cheap: ``rl.compare_all``).
    sigma, sigma_scale : bandwidth, or the factor on the median distance when ``sigma`` is None
    n_components : int
        m: landmarks (``"nystrom"``, 1 <= m <= n) or random features (``"rff"``, m >= 2).
    method : {"nystrom", "rff"}
    estimator : {"biased", "unbiased", "lange"}
        HSIC estimator, as exact CKA.
    repeats : int
        Independent sketches (>= 2); the value is their mean, ``meta["stderr"]`` its standard error.
    check_size : int
        Held-out stimuli (>= 4) on which each sketch is compared with exact CKA (``meta["bias"]``).
    sigma_sample : int
        Stimuli whose pairwise distances give the median heuristic (all when n <= sigma_sample).
    seed : int
        Seeds the landmarks, frequencies and subsamples.
    chunk_rows, dtype, device
        Rows per chunk of the cross-product pass, compute dtype (float64 default) and torch device;
        sums are accumulated in float64.

    Returns
    -------
    ComparisonResult
        ``values`` the estimates; ``meta["error"]`` the stated error of each entry, with its parts
        ``meta["stderr"]`` and ``meta["bias"]`` (nested lists); ``meta["gram_error"]``, ``meta["sigma"]``
        and ``meta["rank"]`` per representation.
    """
    if kernel not in KERNELS:
        raise ReprlabError(f"`kernel` must be one of {KERNELS}; got {kernel!r}.")
    if method not in METHODS:
        raise ReprlabError(f"`method` must be one of {METHODS}; got {method!r}.")
    if estimator not in ESTIMATORS:
        raise ReprlabError(f"`estimator` must be one of {ESTIMATORS}; got {estimator!r}.")
    if kernel == "linear" and method == "rff":
        raise ReprlabError(
            "method='rff' needs a shift-invariant kernel (rbf or laplace). For the linear kernel use exact "
            "linear CKA, which is already cheap in feature space: rl.compare_all(A, B, 'cka')."
        )
    _check_int(n_components, "n_components", 2 if method == "rff" else 1, "the rank of the sketch")
    _check_int(repeats, "repeats", 2, "independent sketches, for a standard error")
    _check_int(check_size, "check_size", 4, "held-out stimuli for the bias check")
    _check_int(sigma_sample, "sigma_sample", 2, "stimuli for the median heuristic")
    for name, v in (("sigma", sigma), ("sigma_scale", sigma_scale)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise ReprlabError(f"`{name}` must be a positive number; got {v!r}.")
    dt, dev = resolve_dtype(dtype), resolve_device(device)
    rows, cols, values, labels = named_sets(A, B)
    within = B is None
    sources = [make_source(x, lab, dt, dev, load=False) for x, lab in zip(values, labels)]
    n = check_rows(sources)
    check_stimuli(n, estimator)
    m = n_components
    if method == "nystrom" and m > n:
        raise ReprlabError(
            f"`n_components` ({m}) is the number of Nystrom landmarks and cannot exceed the {n} stimuli; "
            f"use n_components <= {n} (n_components={n} gives exact CKA)."
        )
    seq = np.random.SeedSequence(seed)
    ref_rng, *rep_rngs = [np.random.default_rng(s) for s in seq.spawn(repeats + 1)]
    readers = [_Reader(s, dt, dev) for s in sources]

    # Per representation: the bandwidth (median heuristic on a seeded subsample) and a shift for rff.
    ref_idx = np.arange(n) if n <= sigma_sample else np.sort(ref_rng.choice(n, sigma_sample, replace=False))
    sigmas: list[torch.Tensor | None] = []
    centers: list[torch.Tensor | None] = []
    for s in sources:
        if kernel == "linear":
            sigmas.append(None)
            centers.append(None)
            continue
        X = _rows(s, ref_idx, dt, dev) if sigma is None or method == "rff" else None
        if sigma is not None:
            sigmas.append(torch.as_tensor(sigma, dtype=dt, device=dev))
        else:
            med = median(upper_triangle(sq_distances(X)).sqrt(), lower=True)
            if float(med) == 0.0:
                raise ReprlabError(
                    f"The median distance of {s.label} (over {len(ref_idx)} stimuli) is 0; pass an explicit `sigma`."
                )
            sigmas.append(sigma_scale * med)
        centers.append(X.mean(0) if method == "rff" else None)

    opts = moments.Options(dt, dev, torch.float64, chunk_rows, labels=[])
    r = len(sources)
    vals, deltas = torch.zeros((repeats, r, r), dtype=torch.float64), torch.zeros((repeats, r, r), dtype=torch.float64)
    gram_err = torch.zeros((repeats, r), dtype=torch.float64)
    ranks = np.zeros((repeats, r), dtype=int)
    s_used, pool_kind = 0, ""
    for t, rng in enumerate(rep_rngs):
        fsources: list[Source] = []
        groups: list[list[int]] = []
        weights: list[float] = []
        if method == "nystrom":
            landmarks = np.sort(rng.choice(n, m, replace=False))
            rest = np.setdiff1d(np.arange(n), landmarks)
            pool, pool_kind = (
                (rest, "stimuli that are not landmarks")
                if len(rest) >= check_size
                else (
                    np.arange(n),
                    "all stimuli (too few non-landmarks)",
                )
            )
        else:
            pool, pool_kind = np.arange(n), "all stimuli"
        S = np.sort(rng.choice(pool, min(check_size, len(pool)), replace=False))
        s_used = len(S)
        for g, s in enumerate(sources):
            if method == "nystrom":
                fmap, rank = _nystrom_map(_rows(s, landmarks, dt, dev), kernel, sigmas[g], s.label)
                maps, widths = [fmap], [rank]
                weights.append(1.0)
                ranks[t, g] = rank
            else:
                maps, widths = _rff_maps(s.d, m, kernel, sigmas[g], centers[g], rng)
                weights.append((m / widths[0]) * (m / widths[1]))
                ranks[t, g] = m
            groups.append(list(range(len(fsources), len(fsources) + len(maps))))
            for k, (fm, w) in enumerate(zip(maps, widths)):
                lab = s.label if len(maps) == 1 else f"{s.label} features half {k + 1}"
                fsources.append(_FeatureSource(lab, s.data, n, w, True, readers[g], fm))
        opts.labels = [f.label for f in fsources]
        vals[t] = _cka_matrix(*_feature_hsic(_hsic_all(fsources, estimator, opts), groups, weights), labels)

        # The check: sketched and exact CKA on the held-out stimuli S, from s x s estimator matrices.
        XS = [_rows(s, S, dt, dev) for s in sources]
        exact_mats = [
            estimator_matrix(kernel_matrix(x, kernel, None if sg is None else float(sg), 1.0), estimator)
            for x, sg in zip(XS, sigmas)
        ]
        parts = [[fsources[i].fmap(XS[g]) for i in grp] for g, grp in enumerate(groups)]
        sketch_mats = [estimator_matrix(sum(f @ f.T for f in fs), estimator) for fs in parts]
        if method == "rff":  # each half rescaled to be unbiased for K, for the self-HSIC
            halves = [[estimator_matrix(f @ f.T * (m / f.shape[1]), estimator) for f in fs] for fs in parts]
            sketch_self = torch.stack([_check_hsic(h1, h2, estimator, n) for h1, h2 in halves])
        else:
            sketch_self = torch.stack([_check_hsic(P, P, estimator, n) for P in sketch_mats])
        exact_S = _cka_matrix(*_check_matrices(exact_mats, estimator, n), labels)
        num = _check_matrices(sketch_mats, estimator, n)[0]
        deltas[t] = _cka_matrix(num, sketch_self, labels) - exact_S
        for g in range(r):
            E = exact_mats[g]
            gram_err[t, g] = float(torch.linalg.matrix_norm(sketch_mats[g] - E) / torch.linalg.matrix_norm(E))

    value = vals.mean(0)
    stderr = vals.std(0, unbiased=True) / math.sqrt(repeats)
    bias = deltas.mean(0)
    se_bias = deltas.std(0, unbiased=True) / math.sqrt(repeats)
    error = bias.abs() + 2.0 * torch.sqrt(stderr**2 + se_bias**2)
    la = len(rows)
    sel = (slice(None), slice(None)) if within else (slice(0, la), slice(la, None))
    sigma_from = (
        None
        if kernel == "linear"
        else "given"
        if sigma is not None
        else f"sigma_scale x lower median of the pairwise distances of {len(ref_idx)} "
        + ("(all) stimuli" if len(ref_idx) == n else "stimuli drawn with seed")
    )
    meta = {
        "library_version": __version__,
        "n_stimuli": n,
        "method": method,
        "n_components": m,
        "repeats": repeats,
        "seed": seed,
        "estimator": f"{estimator} HSIC of {'Nystrom' if method == 'nystrom' else 'random Fourier'} feature maps",
        "stderr": stderr[sel].tolist(),
        "bias": bias[sel].tolist(),
        "error": error[sel].tolist(),
        "check_size": s_used,
        "check_stimuli": pool_kind,
        "gram_error": dict(zip(labels, gram_err.mean(0).tolist())),
        "rank": dict(zip(labels, ranks.min(0).tolist())),
        "sigma": dict(zip(labels, [None if x is None else float(x) for x in sigmas])),
        "sigma_from": sigma_from,
    }
    params = {
        "kernel": kernel,
        "sigma": sigma,
        "sigma_scale": sigma_scale,
        "n_components": m,
        "method": method,
        "estimator": estimator,
        "repeats": repeats,
        "check_size": check_size,
        "sigma_sample": sigma_sample,
        "seed": seed,
    }
    spec = f"sketched_cka(kernel={kernel}, method={method}, n_components={m}, estimator={estimator})"
    return ComparisonResult(value[sel].numpy(), rows, cols, spec, params, meta)
