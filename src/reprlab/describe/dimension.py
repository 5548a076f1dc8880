"""Intrinsic dimension from nearest-neighbour distances: TwoNN, MLE, GRIDE, MOM, MADA, CorrInt, local ID.

All estimators use the exact k-nearest-neighbour distances of :mod:`reprlab._neighbors`
(chunked torch search, the query point excluded, Euclidean). Notation: ``r_j(i)`` is the distance
from point i to its j-th nearest neighbour.

* ``twonn`` (Facco et al. 2017): ``mu_i = r_2(i) / r_1(i)`` follows a Pareto law with exponent d.
  The largest ``discard`` fraction of mu is dropped; with the N points and the sorted kept mu,
  ``F_emp(mu_(i)) = i / N``. ``fit="linear"``: least-squares slope, through the origin, of
  ``-log(1 - F_emp)`` against ``log mu``; ``fit="mle"``: ``(n_keep - 1) / (sum log mu + (N - n_keep)
  log mu_max)`` (the likelihood of the censored sample).
* ``mle`` (Levina & Bickel 2004): per point ``m_k(i) = (k - 1) / sum_{j<=k} log(r_k(i) / r_j(i))``
  (``k - 2`` with ``unbiased=True``); combined over points by ``comb="mle"`` (MacKay & Ghahramani
  2005: ``1 / mean(1 / m_k(i))``, the maximum-likelihood pooling), ``"mean"`` (Levina & Bickel's
  average) or ``"median"``.
* ``gride`` (Denti et al. 2022): maximum likelihood of ``mu_i = r_n2(i) / r_n1(i)``; score
  ``(N-1)/d + (n2-n1-1) sum log mu / (1 - mu^-d) - (n2-1) sum log mu = 0`` solved by Brent's method,
  after dropping ``mu >= q50 + 20 (q95 - q50)`` (DADApy's overlap cut) and tied ``mu = 1``.
* ``mom`` (Amsaleg et al. 2018): per point ``-m1 / (m1 - r_k)`` with ``m1`` the mean of the k
  distances; the mean over points.
* ``mada`` (Farahmand et al. 2007): per point ``log 2 / log(r_k / r_{floor(k/2)})``; the mean.
* ``corrint`` (Grassberger & Procaccia 1983): ``C(r) = #{(i, j), i != j : |x_i - x_j| < r} / n^2`` at
  ``r1 = median r_k1``, ``r2 = median r_k2``; ``(log C(r2) - log C(r1)) / log(r2 / r1)``.
* ``local_dimension``: the per-point MLE, MOM or MADA estimates, or the lPCA dimension of each point's
  k nearest neighbours.

Reference implementation matched (values exact to rounding): scikit-dimension 0.5.0 ``skdim.id.TwoNN``,
``MLE`` (``dnoise=None``), ``GRIDE``, ``MOM``, ``MADA``, ``CorrInt`` and ``lPCA.fit_pw``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._neighbors import count_within, knn
from .._registry import Param, int_at_least, register
from ..errors import ReprlabError

DISTANCE_INVARIANCES = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"})


def _fraction(v: object) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
    return None if ok else "must be a number in [0, 1)"


DUPLICATE_FIX = (
    "Remove the duplicates first (e.g. X = np.unique(X, axis=0), or add tiny noise), "
    "or pass duplicates='drop' to leave those points out as scikit-dimension does."
)


def _neighbours(X: torch.Tensor, k: int, what: str) -> torch.Tensor:
    n = X.shape[0]
    if n < k + 1:
        raise ReprlabError(
            f"{what} with k={k} neighbours needs at least {k + 1} stimuli (rows); got {n}. Use a smaller k."
        )
    return knn(X, k)[0]


def _duplicates(zero: torch.Tensor, what: str, needs: str, drop_allowed: bool) -> None:
    count = int(zero.sum())
    if count:
        fix = DUPLICATE_FIX if drop_allowed else DUPLICATE_FIX.split(", or pass")[0] + "."
        raise ReprlabError(
            f"{what} needs {needs}, but {count} of {zero.numel()} points have a duplicate "
            f"(zero distance to a neighbour). {fix}"
        )


# --- TwoNN ---------------------------------------------------------------------------------------


@register(
    "twonn",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "discard": Param(0.1, check=_fraction, doc="fraction of the largest r2/r1 ratios left out"),
        "fit": Param("linear", choices=("linear", "mle"), doc="regression through the origin or censored MLE"),
        "duplicates": Param("raise", choices=("raise", "drop"), doc="points with a zero r1: raise, or leave out"),
    },
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        (
            "Facco, d'Errico, Rodriguez & Laio (2017) Estimating the intrinsic dimension of datasets by a "
            "minimal neighborhood information, Sci. Rep. 7:12140"
        ),
        "matches: scikit-dimension 0.5.0 skdim.id.TwoNN (discard_fraction=0.1, method='linear'|'mle')",
    ),
    summary="TwoNN intrinsic dimension from the ratio of the two nearest-neighbour distances",
)
def twonn(X: torch.Tensor, *, discard: float = 0.1, fit: str = "linear", duplicates: str = "raise") -> torch.Tensor:
    """TwoNN intrinsic dimension (Facco et al. 2017) of the rows of ``X`` (n, d).

    ``mu_i = r_2(i) / r_1(i)``; the ``discard`` fraction of largest mu is left out, and d is the
    slope through the origin of ``-log(1 - i/N)`` against ``log mu_(i)`` (``fit="linear"``) or the
    censored-sample MLE (``fit="mle"``). Points whose nearest neighbour is at distance 0 have no
    defined ratio: ``duplicates="raise"`` (default) says how many, ``"drop"`` leaves them out (as
    scikit-dimension, which warns). Matches ``skdim.id.TwoNN``.
    """
    if X.shape[0] < 3:
        raise ReprlabError(f"TwoNN needs at least 3 stimuli (rows); got {X.shape[0]}.")
    dist = knn(X, 2)[0]
    zero = dist[:, 0] == 0
    if duplicates == "raise":
        _duplicates(zero, "TwoNN", "distinct nearest neighbours (r1 > 0)", True)
    mu = dist[~zero, 1] / dist[~zero, 0]
    N = mu.numel()
    n_keep = int(N * (1 - discard))
    if n_keep < 2:
        raise ReprlabError(f"TwoNN keeps {n_keep} of {N} points after discarding {discard:.0%}; it needs 2.")
    log_mu = torch.sort(mu).values[:n_keep].log()
    if fit == "mle":
        return (n_keep - 1) / (log_mu.sum() + (N - n_keep) * log_mu[-1])
    F = torch.arange(1, n_keep + 1, dtype=X.dtype, device=X.device) / N
    y = -torch.log1p(-F)
    return (log_mu * y).sum() / (log_mu * log_mu).sum()


# --- MLE (Levina-Bickel) -------------------------------------------------------------------------


def _mle_pointwise(dist: torch.Tensor, unbiased: bool) -> torch.Tensor:
    k = dist.shape[1]
    kfac = k - 2 if unbiased else k - 1
    return kfac / torch.log(dist[:, -1:] / dist).sum(1)


def _combine(pw: torch.Tensor, comb: str) -> torch.Tensor:
    if comb == "mle":
        return 1.0 / (1.0 / pw).mean()
    if comb == "median":
        return torch.quantile(pw, 0.5)
    return pw.mean()


@register(
    "mle",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "k": Param(20, check=int_at_least(2), doc="number of nearest neighbours"),
        "comb": Param("mle", choices=("mle", "mean", "median"), doc="pooling: MacKay-Ghahramani, mean, median"),
        "unbiased": Param(False, choices=(False, True), doc="k-2 instead of k-1 in the numerator"),
    },
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        "Levina & Bickel (2004) Maximum likelihood estimation of intrinsic dimension, NeurIPS 17",
        "MacKay & Ghahramani (2005) Comments on 'Maximum likelihood estimation of intrinsic dimension'",
        "matches: scikit-dimension 0.5.0 skdim.id.MLE (dnoise=None, comb='mle'|'mean'|'median')",
    ),
    summary="Levina-Bickel maximum-likelihood intrinsic dimension, MacKay-Ghahramani pooling",
)
def mle(X: torch.Tensor, *, k: int = 20, comb: str = "mle", unbiased: bool = False) -> torch.Tensor:
    """Levina-Bickel MLE of the intrinsic dimension of the rows of ``X`` (n, d).

    Per point ``m_k(i) = (k - 1) / sum_{j=1}^{k} log(r_k(i) / r_j(i))`` (``k - 2`` if ``unbiased``);
    pooled by ``comb``: ``"mle"`` = ``1 / mean(1 / m_k(i))`` (MacKay & Ghahramani), ``"mean"``,
    ``"median"``. Matches ``skdim.id.MLE().fit(X, n_neighbors=k, comb=comb)``.
    """
    dist = _neighbours(X, k, "The MLE")
    _duplicates(dist[:, 0] == 0, "The MLE", "distinct neighbours (r1 > 0)", False)
    return _combine(_mle_pointwise(dist, unbiased), comb)


# --- GRIDE ---------------------------------------------------------------------------------------


@register(
    "gride",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "n1": Param(1, check=int_at_least(1), doc="order of the nearer neighbour"),
        "n2": Param(2, check=int_at_least(2), doc="order of the farther neighbour (> n1)"),
        "duplicates": Param("raise", choices=("raise", "drop"), doc="points with r_n1 = 0: raise, or leave out"),
    },
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        "Denti, Doimo, Laio & Mira (2022) The generalized ratios intrinsic dimension estimator, Sci. Rep. 12",
        "matches: scikit-dimension 0.5.0 skdim.id.GRIDE (n1=1, n2=2)",
    ),
    summary="GRIDE: maximum likelihood on the ratio of the n2-th to the n1-th neighbour distance",
)
def gride(X: torch.Tensor, *, n1: int = 1, n2: int = 2, duplicates: str = "raise") -> float:
    """GRIDE intrinsic dimension (Denti et al. 2022) with neighbour orders ``n1 < n2``.

    The root of the score of the likelihood of ``mu = r_n2 / r_n1`` (module docstring), found with
    Brent's method (SciPy: torch has no scalar root finder). Matches ``skdim.id.GRIDE``.
    """
    from scipy.optimize import brentq

    if n2 <= n1:
        raise ReprlabError(f"GRIDE needs n1 < n2; got n1={n1}, n2={n2}.")
    dist = _neighbours(X, n2, "GRIDE")
    zero = dist[:, n1 - 1] == 0
    if duplicates == "raise":
        _duplicates(zero, "GRIDE", f"a positive distance to the {n1}-th neighbour", True)
    log_mu = torch.log(dist[~zero, n2 - 1] / dist[~zero, n1 - 1])
    log_mu = log_mu[log_mu > 0]
    mu = log_mu.exp()
    q50, q95 = torch.quantile(mu, torch.tensor([0.5, 0.95], dtype=mu.dtype, device=mu.device))
    lm = log_mu[mu < 20 * (q95 - q50) + q50].cpu().numpy()
    N = lm.size
    if N < 2:
        raise ReprlabError(f"GRIDE has {N} usable points (distinct, untied neighbour distances); it needs 2.")
    s_lm = lm.sum()

    def score(d: float) -> float:
        return (N - 1) / d + (n2 - n1 - 1) * np.sum(lm / -np.expm1(-d * lm)) - (n2 - 1) * s_lm

    hi = 1.0
    while score(hi) > 0:
        hi *= 2
    return float(brentq(score, 1e-8, hi, xtol=1e-12, rtol=1e-12))


# --- MOM, MADA -----------------------------------------------------------------------------------


def _mom_pointwise(dist: torch.Tensor) -> torch.Tensor:
    m1 = dist.mean(1)
    return -m1 / (m1 - dist[:, -1])


def _mada_pointwise(dist: torch.Tensor) -> torch.Tensor:
    k = dist.shape[1]
    if k < 2:
        raise ReprlabError(f"MADA needs k >= 2 neighbours (it uses r_k and r_(k/2)); got k={k}.")
    return math.log(2.0) / torch.log(dist[:, k - 1] / dist[:, k // 2 - 1])


@register(
    "mom",
    kind="describe",
    family="intrinsic_dimension",
    params={"k": Param(100, check=int_at_least(2), doc="number of nearest neighbours")},
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        (
            "Amsaleg, Chelly, Furon, Girard, Houle, Kawarabayashi & Nett (2018) Extreme-value-theoretic "
            "estimation of local intrinsic dimensionality, Data Min. Knowl. Disc. 32"
        ),
        "matches: scikit-dimension 0.5.0 skdim.id.MOM (n_neighbors=100, comb='mean')",
    ),
    summary="Method-of-moments local intrinsic dimension, averaged over points",
)
def mom(X: torch.Tensor, *, k: int = 100) -> torch.Tensor:
    """Method-of-moments ID: the mean over points of ``-m1 / (m1 - r_k)``, ``m1`` the mean of the k
    neighbour distances. Matches ``skdim.id.MOM().fit(X, n_neighbors=k)``."""
    return _mom_pointwise(_neighbours(X, k, "MOM")).mean()


@register(
    "mada",
    kind="describe",
    family="intrinsic_dimension",
    params={"k": Param(20, check=int_at_least(2), doc="number of nearest neighbours")},
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        "Farahmand, Szepesvari & Audibert (2007) Manifold-adaptive dimension estimation, ICML",
        "matches: scikit-dimension 0.5.0 skdim.id.MADA (default n_neighbors=20, comb='mean')",
    ),
    summary="Manifold-adaptive dimension: log 2 / log(r_k / r_(k/2)), averaged over points",
)
def mada(X: torch.Tensor, *, k: int = 20) -> torch.Tensor:
    """MADA: the mean over points of ``log 2 / log(r_k / r_{floor(k/2)})``. Matches
    ``skdim.id.MADA().fit(X, n_neighbors=k)`` (whose default is 20)."""
    dist = _neighbours(X, k, "MADA")
    _duplicates(dist[:, k // 2 - 1] == 0, "MADA", "positive neighbour distances", False)
    return _mada_pointwise(dist).mean()


# --- TLE -----------------------------------------------------------------------------------------


def _tle_pointwise(X: torch.Tensor, dist: torch.Tensor, idx: torch.Tensor, eps: float) -> torch.Tensor:
    """Amsaleg et al.'s tight local estimator for every point at once ((n, k, k) tensors).

    For point i with neighbour distances ``u_a`` (a <= k), ``r = u_k`` and ``v_ab = |x_a - x_b|`` between
    neighbours, each pair (a, b) gives two distance measurements ``s_ab`` (from ``v_ab``) and ``t_ab``
    (from the reflected point, ``z2 = 2 u_a^2 + 2 u_b^2 - v_ab^2``):
    ``s = r (sqrt((u_a^2 + v^2 - u_b^2)^2 + 4 v^2 (r^2 - u_a^2)) - (u_a^2 + v^2 - u_b^2)) / (2 (r^2 - u_a^2))``
    (t likewise with z2 for v^2), with the published boundary cases (u_a = r, u_a = 0, u_b = 0, v = 0),
    measurements below ``eps`` dropped, and
    ``ID = -2 (k^2 - dropped) / (sum log(t/r) + sum log(s/r) + 2 sum log(u/r))``; 0 when (almost) all
    distances are equal.
    """
    n, k = dist.shape
    nb = X[idx]  # (n, k, d)
    V = torch.cdist(nb, nb, compute_mode="donot_use_mm_for_euclid_dist")
    r = dist[:, -1][:, None, None]
    Di = dist[:, :, None].expand(n, k, k)
    Dj = dist[:, None, :].expand(n, k, k)
    V2, Di2, Dj2, r2 = V * V, Di * Di, Dj * Dj, r * r
    Z2 = 2 * Di2 + 2 * Dj2 - V2
    den = 2 * (r2 - Di2)
    a_s = Di2 + V2 - Dj2
    S = r * (torch.sqrt(a_s * a_s + 4 * V2 * (r2 - Di2)) - a_s) / den
    a_t = Di2 + Z2 - Dj2
    T = r * (torch.sqrt(a_t * a_t + 4 * Z2 * (r2 - Di2)) - a_t) / den
    Dr = (dist == dist[:, -1:])[:, :, None].expand(n, k, k)
    S = torch.where(Dr, r * V2 / (r2 + V2 - Dj2), S)
    T = torch.where(Dr, r * Z2 / (r2 + Z2 - Dj2), T)
    Di0 = Di == 0
    S = torch.where(Di0, Dj, S)
    T = torch.where(Di0, Dj, T)
    Dj0 = Dj == 0
    rv = r * V / (r + V)
    S = torch.where(Dj0, rv, S)
    T = torch.where(Dj0, rv, T)
    eye = torch.eye(k, dtype=torch.bool, device=X.device)[None]
    V0 = (V == 0) & ~eye
    rr = r.expand(n, k, k)
    S = torch.where(V0, rr, S)
    T = torch.where(V0, rr, T)
    drop = ((T < eps) | (S < eps) | torch.isnan(T) | torch.isnan(S)) & ~eye
    S = torch.where(drop, rr, S)
    T = torch.where(drop, rr, T)
    zero = torch.zeros((), dtype=X.dtype, device=X.device)
    s1t = torch.where(eye, zero, torch.log(T / r)).sum((1, 2))
    s1s = torch.where(eye, zero, torch.log(S / r)).sum((1, 2))
    small = dist < eps
    n_deps = small.sum(1)
    s2 = torch.where(small, zero, torch.log(dist / dist[:, -1:])).sum(1)
    count = k * k - drop.sum((1, 2)) - n_deps - V0.sum((1, 2))
    est = -2 * count.to(X.dtype) / (s1t + s1s + 2 * s2)
    return torch.where(s1t + s1s > -eps, zero, est)


@register(
    "tle",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "k": Param(20, check=int_at_least(2), doc="number of nearest neighbours"),
        "eps": Param(
            1e-4,
            check=lambda v: None if isinstance(v, float) and v > 0 else "must be a float > 0",
            doc="absolute distance below which neighbour distances count as ties (scikit-dimension TLE)",
        ),
    },
    invariances=DISTANCE_INVARIANCES - {"isotropic_scaling"},
    range=(0.0, math.inf),
    references=(
        (
            "Amsaleg, Chelly, Houle, Kawarabayashi, Radovanovic & Treeratanajaru (2019) Intrinsic "
            "dimensionality estimation within tight localities, SDM"
        ),
        "matches: scikit-dimension 0.5.0 skdim.id.TLE (default n_neighbors=20, epsilon=1e-4, comb='mean')",
    ),
    summary="Tight local estimator of intrinsic dimension (all pairwise distances within each kNN ball)",
)
def tle(X: torch.Tensor, *, k: int = 20, eps: float = 1e-4) -> torch.Tensor:
    """Tight local ID estimate (Amsaleg et al. 2019), the mean over points. Matches
    ``skdim.id.TLE().fit(X, n_neighbors=k)``. ``eps`` is an absolute distance below which
    measurements are dropped, so the estimate is not exactly scale invariant."""
    if X.shape[0] < k + 1:
        _neighbours(X, k, "TLE")  # raises, naming the smallest n
    dist, idx = knn(X, k)
    if bool((dist[:, -1] == 0).any()):
        raise ReprlabError(
            "TLE: every one of the k neighbour distances of some point is 0 (duplicates). "
            + DUPLICATE_FIX.split(", or pass")[0]
            + "."
        )
    return _tle_pointwise(X, dist, idx, eps).mean()


# --- MiND_ML -------------------------------------------------------------------------------------


@register(
    "mind_ml",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "k": Param(20, check=int_at_least(1), doc="neighbours: rho = r_1 / r_(k+1)"),
        "D": Param(10, check=int_at_least(1), doc="largest dimension considered"),
        "ver": Param("MLk", choices=("MLk", "MLi"), doc="continuous (MLk) or integer (MLi) maximiser"),
    },
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        (
            "Rozza, Lombardi, Ceruti, Casiraghi & Campadelli (2012) Novel high intrinsic dimensionality "
            "estimators, Machine Learning 89"
        ),
        "matches: scikit-dimension 0.5.0 skdim.id.MiND_ML (k=20, D=10, ver='MLk'|'MLi')",
    ),
    summary="MiND_ML: maximum likelihood on the ratio of the nearest to the (k+1)-th neighbour distance",
)
def mind_ml(X: torch.Tensor, *, k: int = 20, D: int = 10, ver: str = "MLk") -> float:
    """MiND_ML (Rozza et al. 2012). With ``rho_i = r_1(i) / r_{k+1}(i)`` and N points, the
    log-likelihood is ``l(d) = N log(k d) + (d - 1) sum log rho + (k - 1) sum log(1 - rho^d)``.
    ``MLi``: the integer ``argmax_{d = 1..D} l(d)``; ``MLk``: the maximiser on ``[0, D]`` found by
    L-BFGS-B from the MLi value with the analytic gradient (SciPy, as scikit-dimension, whose value it
    reproduces)."""
    from scipy.optimize import minimize

    dist = _neighbours(X, k + 1, "MiND_ML")
    _duplicates(dist[:, 0] == 0, "MiND_ML", "distinct nearest neighbours (r1 > 0)", False)
    rhos = (dist[:, 0] / dist[:, -1]).cpu().numpy()
    N = rhos.size
    log_rho = np.log(rhos)
    s_log = log_rho.sum()

    def lld(d: float) -> float:
        return N * np.log(k * d) + (d - 1) * s_log + (k - 1) * np.sum(np.log(1 - rhos**d))

    d_int = int(np.argmax([lld(d) for d in range(1, D + 1)])) + 1
    if ver == "MLi":
        return float(d_int)

    def nlld(d: np.ndarray) -> float:  # scikit-dimension's conventions at the bound d = 0
        return 1e30 if d[0] == 0 else -lld(d[0])

    def grad(d: np.ndarray) -> np.ndarray:
        if d[0] == 0:
            return np.array([-1e30])
        rd = rhos ** d[0]
        return -np.array([N / d[0] + np.sum(log_rho - (k - 1) * rd * log_rho / (1 - rd))])

    with np.errstate(divide="ignore", invalid="ignore"):  # steps towards d -> 0 give log(0): rejected
        res = minimize(nlld, x0=np.array([float(d_int)]), jac=grad, method="L-BFGS-B", bounds=[(0, D)])
    return float(res.x[0])


# --- CorrInt -------------------------------------------------------------------------------------


@register(
    "corrint",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "k1": Param(10, check=int_at_least(1), doc="neighbour order of the smaller scale"),
        "k2": Param(20, check=int_at_least(2), doc="neighbour order of the larger scale"),
    },
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        "Grassberger & Procaccia (1983) Measuring the strangeness of strange attractors, Physica D 9",
        "matches: scikit-dimension 0.5.0 skdim.id.CorrInt (k1=10, k2=20)",
    ),
    summary="Correlation dimension between the median k1-th and k2-th neighbour distances",
)
def corrint(X: torch.Tensor, *, k1: int = 10, k2: int = 20) -> torch.Tensor:
    """Correlation-integral dimension: the slope of ``log C(r)`` between ``r1 = median r_k1`` and
    ``r2 = median r_k2`` (``C(r)``: the fraction of ordered pairs closer than r, over n^2). Matches
    ``skdim.id.CorrInt``. O(n^2) distances, in blocks."""
    if k1 >= k2:
        raise ReprlabError(f"CorrInt needs k1 < k2; got k1={k1}, k2={k2}.")
    dist = _neighbours(X, k2, "CorrInt")
    r = torch.stack([torch.quantile(dist[:, k1 - 1], 0.5), torch.quantile(dist[:, k2 - 1], 0.5)])
    if not bool(r[0] > 0) or not bool(r[1] > r[0]):
        raise ReprlabError(
            "CorrInt needs 0 < median r_k1 < median r_k2; the neighbour distances are degenerate "
            "(many duplicate points). " + DUPLICATE_FIX.split(", or pass")[0] + "."
        )
    n = X.shape[0]
    C = count_within(X, r).to(X.dtype) / (n * n)
    return (C[1].log() - C[0].log()) / torch.log(r[1] / r[0])


# --- local (per-point) intrinsic dimension -------------------------------------------------------


@register(
    "local_dimension",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "estimator": Param("mle", choices=("mle", "mom", "mada", "lpca"), doc="per-point estimator"),
        "k": Param(20, check=int_at_least(2), doc="number of nearest neighbours"),
        "unbiased": Param(False, choices=(False, True), doc="mle: k-2 instead of k-1"),
        "ver": Param("FO", doc="lpca: the lPCA version applied to each neighbourhood (see 'lpca')"),
    },
    invariances=DISTANCE_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        "Levina & Bickel (2004), NeurIPS; Amsaleg et al. (2018); Farahmand et al. (2007), ICML",
        "matches: scikit-dimension 0.5.0 dimension_pw_ of skdim.id.MLE, MOM, MADA and lPCA().fit_pw",
    ),
    summary="Per-point intrinsic dimension (MLE, MOM, MADA, or lPCA of each kNN neighbourhood)",
)
def local_dimension(
    X: torch.Tensor, *, estimator: str = "mle", k: int = 20, unbiased: bool = False, ver: str = "FO"
) -> torch.Tensor:
    """One intrinsic-dimension estimate per row of ``X``: a tensor of shape (n,).

    ``estimator="mle"``: ``(k - 1) / sum_j log(r_k / r_j)``; ``"mom"``: ``-m1 / (m1 - r_k)``;
    ``"mada"``: ``log 2 / log(r_k / r_{k/2})``; ``"lpca"``: the lPCA dimension (version ``ver``) of the
    point's k nearest neighbours (the point itself excluded, as ``skdim`` ``fit_pw``).
    """
    if estimator == "lpca":
        from .spectrum import VERSIONS, lpca_rule

        if ver not in VERSIONS or ver == "scRMT":
            raise ReprlabError(
                f"local_dimension(estimator='lpca') takes ver in {[v for v in VERSIONS if v != 'scRMT']}; got {ver!r}."
            )
        _neighbours(X, k, "local_dimension")
        nb = X[knn(X, k)[1]]  # (n, k, d): each point's neighbourhood, the point itself excluded
        lam = torch.linalg.svdvals(nb - nb.mean(1, keepdim=True)) ** 2 / (k - 1)  # batched spectra
        d = X.shape[1]
        values = [lpca_rule(ev, k, d, ver, {}) for ev in lam.cpu().numpy()]
        return torch.tensor(values, dtype=X.dtype, device=X.device)
    dist = _neighbours(X, k, "local_dimension")
    if estimator == "mle":
        _duplicates(dist[:, 0] == 0, "The local MLE", "distinct neighbours (r1 > 0)", False)
        return _mle_pointwise(dist, unbiased)
    if estimator == "mom":
        return _mom_pointwise(dist)
    return _mada_pointwise(dist)
