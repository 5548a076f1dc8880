"""Dimension from the eigenvalue spectrum: lPCA rules, participation ratio, effective rank, RankMe, alpha-ReQ.

Notation: ``lambda_1 >= lambda_2 >= ...`` are the eigenvalues of the sample covariance of the rows,
``Xc^T Xc / (n - 1)`` (``Xc`` column-centred), i.e. scikit-learn's ``PCA().explained_variance_``
(``min(n, d)`` values); ``sigma_i`` are singular values of the (uncentred) matrix ``X``.

* ``lpca`` (scikit-dimension's lPCA, after Fukunaga & Olsen 1971 and the R package intrinsicDimension),
  ``ver`` one of: ``FO`` (#{lambda_i > alpha_fo lambda_1}), ``Fan`` (Fan et al. 2010), ``maxgap``
  (argmax lambda_i / lambda_{i+1}), ``ratio`` (components needed to retain ``alpha_ratio`` of the
  variance), ``participation_ratio``, ``Kaiser`` (#{lambda_i > mean}), ``broken_stick`` (leading
  eigenvalue fractions above the broken-stick expectation), and the signal-rank rules for low-rank
  signal + iid noise: ``MP`` (above the Marchenko-Pastur edge ``s^2 (1 + sqrt(p / n_eff))^2``, with the
  noise variance s^2 matched to the median eigenvalue), ``GD`` (Gavish & Donoho 2014's optimal hard
  threshold), ``KN`` (Kritchman & Nadler 2008's sequential Tracy-Widom test), ``Minka`` (argmax of
  Minka 2000's Laplace evidence), ``denoised`` (scran: fewest components whose discarded variance
  exceeds the noise variance) and ``scRMT`` (Aparicio et al. 2020, randomised: a permuted copy fits
  the Marchenko-Pastur bulk).
* ``participation_ratio``: ``(sum lambda)^2 / sum lambda^2`` (Gao et al. 2017), continuous.
* ``effective_rank`` (Roy & Vetterli 2007): ``exp(H(p))``, ``p_i = sigma_i / sum sigma``, H the
  Shannon entropy (nats).
* ``rankme`` (Garrido et al. 2023): ``exp(-sum p_i log p_i)`` with ``p_i = sigma_i / |sigma|_1 + eps``.
* ``alpha_req`` (Agrawal et al. 2022, alpha-ReQ): the exponent alpha of a power law
  ``lambda_i ~ i^-alpha``: minus the least-squares slope (with intercept) of ``log lambda_i`` on
  ``log i`` over the ranks ``i = start .. stop``.
* ``spectrum``: a dictionary describing the decay (explained-variance ratios, cumulative variance,
  the number of components for 50 / 90 / 99 % of the variance, and alpha).

Reference implementation matched (exact): scikit-dimension 0.5.0 ``skdim.id.lPCA`` for every ``ver``
(``scRMT`` with the same ``random_state``); its ``participation_ratio`` version for
``participation_ratio``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._linalg import center_columns
from .._registry import Param, Variant, int_at_least, positive, register
from ..errors import ReprlabError

VERSIONS = (
    "FO",
    "Fan",
    "maxgap",
    "ratio",
    "participation_ratio",
    "Kaiser",
    "broken_stick",
    "MP",
    "GD",
    "KN",
    "Minka",
    "denoised",
    "scRMT",
)
#: Upper quantiles s(alpha) of the Tracy-Widom (beta = 1) law, P(TW_1 > s) = alpha (Johnstone 2001,
#: Table 1; Bejan 2005), the values scikit-dimension uses.
TRACY_WIDOM1_UPPER = {0.1: 0.4501, 0.05: 0.9793, 0.01: 2.0234, 0.005: 2.4223, 0.001: 3.2722}
SPECTRAL_INVARIANCES = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"})


def _unit(v: object) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1
    return None if ok else "must be a number in (0, 1)"


def covariance_eigenvalues(X: torch.Tensor, center: bool = True) -> torch.Tensor:
    """The ``min(n, d)`` eigenvalues of ``Xc^T Xc / (n - 1)`` (of ``X^T X`` uncentred), descending.

    For ``n >= 10 d`` from the d x d matrix (``eigvalsh``, as scikit-learn's PCA solver
    ``covariance_eigh`` does for such shapes; clipped at 0), otherwise from the singular values."""
    A = center_columns(X) if center else X
    scale = X.shape[0] - 1 if center else 1
    n, d = X.shape
    if n >= 10 * d:
        return torch.linalg.eigvalsh(A.T @ A).flip(0).clamp_min(0.0) / scale
    return torch.linalg.svdvals(A) ** 2 / scale


# --- lPCA rules (on a descending eigenvalue vector, as NumPy: these are O(d) scalar rules) --------


def _fan(ev: np.ndarray, alpha: float, beta: float, P: float) -> int:
    r = int(np.where(np.cumsum(ev) / ev.sum() > P)[0][0])
    e = ev - ev[r:].mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = e[:-1] / e[1:]
    cands = np.concatenate([np.where(gaps > alpha)[0], np.where(np.cumsum(e) / e.sum() > beta)[0]])
    return 1 + int(cands.min())


def _broken_stick(ev: np.ndarray) -> int:
    p = len(ev)
    bs = np.cumsum(1.0 / np.arange(p, 0, -1))[::-1] / p  # bs_i = (1/p) sum_{j>=i} 1/j
    frac = ev / ev.sum()
    below = np.where(bs > frac)[0]
    return int(below[0]) if below.size else 0


def _mp_median(beta: float) -> float:
    """Median of the Marchenko-Pastur law with ratio beta <= 1 and unit variance (SciPy quadrature)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    a, b = (1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2

    def pdf(x: float) -> float:
        return math.sqrt((b - x) * (x - a)) / (2 * math.pi * beta * x)

    return brentq(lambda x: quad(pdf, a, x)[0] - 0.5, a + 1e-9, b)


def _kn_noise(ev: np.ndarray, n: int, k: int) -> float:
    """Kritchman-Nadler noise variance given k signals (fixed point of their eq. for sigma^2)."""
    p = len(ev)
    s2 = ev[k:].sum() / (p - k)
    for _ in range(30):
        t = ev[:k] + s2 - s2 * (p - k) / n
        rho = (t + np.sqrt(np.maximum(t**2 - 4 * ev[:k] * s2, 0))) / 2
        new = (ev[k:].sum() + (ev[:k] - rho).sum()) / (p - k)
        if abs(new - s2) <= 1e-5 * s2:
            return new
        s2 = new
    return s2


def _kn(ev: np.ndarray, n: int, alpha: float, noise_var: float | None) -> int:
    p = len(ev)
    s = TRACY_WIDOM1_UPPER[alpha]
    for k in range(1, min(n, p)):
        s2 = noise_var if noise_var is not None else _kn_noise(ev, n, k - 1)
        a, b = math.sqrt(n - 0.5), math.sqrt(p - k + 1 - 0.5)
        mu = (a + b) ** 2
        xi = (a + b) * (1 / a + 1 / b) ** (1 / 3)
        if n * ev[k - 1] <= s2 * (mu + s * xi):
            return k - 1
    return min(n, p) - 1


def _minka(ev: np.ndarray, n: int) -> int:
    """argmax over k of Minka's (2000) Laplace approximation of the PPCA evidence (as sklearn's
    ``_assess_dimension``, on eigenvalues scaled by the largest), k = 1 .. rank - 1."""
    from scipy.special import loggamma

    d = len(ev)
    L = ev / ev[0]
    tiny = np.finfo(float).tiny
    r = int(np.sum(L > d * np.finfo(float).eps))
    if r < 2:
        return r

    def log(x):
        return np.log(np.maximum(x, tiny))

    ll = np.empty(r - 1)
    pu = ediff = ainv = 0.0
    for k in range(1, r):
        i = k - 1
        pu += loggamma((d - i) / 2) - np.log(np.pi) * (d - i) / 2
        ediff += log(L[i] - L[i + 1 :]).sum()
        ainv += log((L[:i] - L[i]) / (L[:i] * L[i])).sum()
        nu = L[k:].sum() / (d - k)
        binv = (d - k) * log((L[:k] - nu) / (L[:k] * nu)).sum()
        m = d * k - k * (k + 1) / 2
        pa = m * np.log(n) + ediff + ainv + binv
        ll[i] = (
            pu
            - k * np.log(2)
            - n / 2 * log(L[:k]).sum()
            - n * (d - k) / 2 * np.log(nu)
            + np.log(2 * np.pi) * (m + k) / 2
            - pa / 2
            - k * np.log(n) / 2
        )
    return int(np.argmax(ll)) + 1


def _scrmt(X: np.ndarray, random_state: int) -> int:
    """Aparicio et al. (2020): eigenvalues of the Wishart matrix of standardised features above the
    Marchenko-Pastur bulk edge (moment-matched, from a column-permuted copy, refined to a fixed point)
    plus one Tracy-Widom scale unit. The permutation uses ``numpy.random.RandomState(random_state)``
    column by column, as scikit-dimension does, so the values agree for the same seed."""
    sd = X.std(axis=0)
    X = (X[:, sd > 0] - X[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    rng = np.random.RandomState(random_state)
    Xr = np.column_stack([rng.permutation(col) for col in X.T])
    L = torch.linalg.eigvalsh(torch.from_numpy(X @ X.T / X.shape[1])).numpy()
    Lr = torch.linalg.eigvalsh(torch.from_numpy(Xr @ Xr.T / X.shape[1])).numpy()

    def mp(S):
        if S.size == 0:  # an empty bulk window (as NumPy's mean of nothing: NaN, without the warning)
            return np.nan, np.nan, np.nan
        m1, m2 = S.mean(), np.mean(S**2)
        g = m2 / m1**2 - 1
        return g, m1 * (1 + np.sqrt(g)) ** 2, m1 * (1 - np.sqrt(g)) ** 2

    _, b_plus, b_minus = mp(Lr)
    with np.errstate(invalid="ignore", divide="ignore"):
        _, new_plus, new_minus = mp(L[(L > b_minus) & (L < b_plus)])
        for _ in range(1000):
            if not np.isfinite(new_plus):  # the bulk window is empty: no eigenvalue is called signal
                return 0
            if (1 - new_plus / b_plus) ** 2 <= 1e-6:
                break
            b_plus = new_plus
            _, new_plus, new_minus = mp(L[(L > new_minus) & (L < new_plus)])
        bulk = L[(L > new_minus) & (L < new_plus)]
        if bulk.size == 0:
            return 0
        gamma = mp(bulk)[0]
        tw = (len(L) / gamma) ** (-2 / 3) * gamma ** (5 / 6) * (1 + np.sqrt(gamma)) ** (4 / 3)
        threshold = bulk.mean() * (1 + np.sqrt(gamma)) ** 2 + tw
    return int(np.sum(L > threshold))


def _rank_rule(ev: np.ndarray, n: int, ver: str, p: dict) -> int:
    """MP, GD, KN, Minka, denoised on covariance eigenvalues zero-padded to the p features."""
    d = p["n_features"]
    n_eff = n - 1 if p["center"] else n
    ev = np.concatenate([np.sort(ev)[::-1], np.zeros(d - len(ev))])
    if ver == "Minka":
        return _minka(ev, n)
    if ver == "KN":
        return _kn(ev, n_eff, p["alpha_kn"], p["noise_var"])
    nz = ev[: min(n_eff, d)]
    nz = nz[nz > nz[0] * max(n, d) * np.finfo(float).eps]
    beta = min(n_eff, d) / max(n_eff, d)
    s2 = p["noise_var"]
    if s2 is None:
        s2 = float(np.median(nz)) / (_mp_median(beta) * max(n_eff, d) / n_eff)
    if ver == "denoised":
        above = np.cumsum(ev[::-1]) > d * s2
        return d - int(np.argmax(above)) if above.any() else 1
    if ver == "MP":
        thr = s2 * (1 + math.sqrt(d / n_eff)) ** 2
    else:  # GD: lambda*(beta)^2 max(n_eff, d) / n_eff sigma^2 (Gavish & Donoho 2014, eq. 11)
        lam = math.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + math.sqrt(beta**2 + 14 * beta + 1)))
        thr = lam**2 * max(n_eff, d) / n_eff * s2
    return int(np.sum(nz > thr))


DEFAULTS = {
    "center": True,
    "alpha_fo": 0.05,
    "alpha_ratio": 0.05,
    "alpha_fan": 10.0,
    "beta_fan": 0.8,
    "p_fan": 0.95,
    "alpha_kn": 0.05,
    "noise_var": None,
    "random_state": 0,
}


def lpca_dimension(X: torch.Tensor, ver: str, **params) -> torch.Tensor:
    """The lPCA dimension of the rows of ``X`` under version ``ver`` (a 0-d tensor)."""
    p = {**DEFAULTS, **params}
    if ver == "scRMT":
        value = _scrmt(X.cpu().numpy().astype(np.float64), p["random_state"])
        return torch.tensor(value, dtype=X.dtype, device=X.device)
    lam = covariance_eigenvalues(X, p["center"])
    return torch.tensor(lpca_rule(lam.cpu().numpy(), X.shape[0], X.shape[1], ver, p), dtype=X.dtype, device=X.device)


def lpca_rule(lam: np.ndarray, n: int, d: int, ver: str, params: dict) -> float:
    """Apply lPCA version ``ver`` (not scRMT) to the descending eigenvalues ``lam`` of n points in d
    dimensions (``covariance_eigenvalues``: divided by n - 1 when centred, raw when not)."""
    p = {**DEFAULTS, **params, "n_features": d}
    ev = lam / n if not p["center"] and ver in ("MP", "GD", "KN", "Minka", "denoised") else lam
    if not ev[0] > 0:
        raise ReprlabError(
            "`X` has zero variance (every eigenvalue is 0), so its lPCA dimension is undefined. "
            "Check the layer (constant or dead units)."
        )
    if ver == "participation_ratio":
        return float(ev.sum() ** 2 / (ev * ev).sum())
    if ver == "FO":
        return int(np.sum(ev > p["alpha_fo"] * ev[0]))
    if ver == "Fan":
        return _fan(ev, p["alpha_fan"], p["beta_fan"], p["p_fan"])
    if ver == "maxgap":
        with np.errstate(divide="ignore", invalid="ignore"):
            return int(np.nanargmax(ev[:-1] / ev[1:])) + 1
    if ver == "ratio":
        return int(np.sum(np.cumsum(ev) / ev.sum() < p["alpha_ratio"])) + 1
    if ver == "Kaiser":
        return int(np.sum(ev > ev.mean()))
    if ver == "broken_stick":
        return _broken_stick(ev)
    return _rank_rule(ev, n, ver, p)


@register(
    "lpca",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "ver": Param("FO", choices=VERSIONS, doc="rule on the PCA spectrum (module docstring)"),
        "center": Param(True, choices=(True, False), doc="centre the columns (False: eigenvalues of X^T X)"),
        "alpha_fo": Param(0.05, check=_unit, doc="FO: fraction of the largest eigenvalue to exceed"),
        "alpha_ratio": Param(0.05, check=_unit, doc="ratio: fraction of the variance to retain"),
        "alpha_fan": Param(10.0, check=positive, doc="Fan: large-gap threshold"),
        "beta_fan": Param(0.8, check=_unit, doc="Fan: total-variance threshold"),
        "p_fan": Param(0.95, check=_unit, doc="Fan: fraction of variance attributed to signal"),
        "alpha_kn": Param(0.05, choices=tuple(TRACY_WIDOM1_UPPER), doc="KN: significance level"),
        "noise_var": Param(None, check=positive, doc="MP/GD/KN/denoised: known noise variance (None: estimate)"),
        "random_state": Param(0, types=(int,), doc="scRMT: seed of the permutation null"),
    },
    invariances=SPECTRAL_INVARIANCES,
    range=(0.0, math.inf),
    references=(
        "Fukunaga & Olsen (1971) An algorithm for finding intrinsic dimensionality of data, IEEE Trans. Comput.",
        "Fan et al. (2010) Intrinsic dimension estimation of data by principal component analysis, arXiv:1002.2050",
        "Gavish & Donoho (2014) IEEE Trans. Inf. Theory 60; Kritchman & Nadler (2008) Chemom. Intell. Lab. Syst. 94",
        "Minka (2000) Automatic choice of dimensionality for PCA, NeurIPS; Aparicio et al. (2020) Patterns 1",
        "matches: scikit-dimension 0.5.0 skdim.id.lPCA(ver=...) (exact for every ver, scRMT with the same seed)",
    ),
    summary="Dimension from the PCA spectrum (FO, Fan, maxgap, ratio, Kaiser, broken stick, MP, GD, KN, Minka, ...)",
    variants=(
        Variant(
            {"ver": "scRMT"},
            False,
            False,
            frozenset({"isotropic_scaling", "translation"}),
            (0.0, math.inf),
            "standardises each feature and permutes columns in order with a seeded RNG: not invariant to "
            "rotations or to reordering the features",
        ),
        Variant(
            {"center": False},
            False,
            False,
            frozenset({"permutation", "orthogonal", "isotropic_scaling"}),
            (0.0, math.inf),
        ),
    ),
)
def lpca(X: torch.Tensor, *, ver: str = "FO", **params) -> float:
    """The lPCA intrinsic dimension (or signal rank) of ``X`` (n, d) under version ``ver``.

    Integer for every version but ``participation_ratio``. Matches ``skdim.id.lPCA(ver=...)`` with
    the parameters renamed ``alphaFO -> alpha_fo``, ``alphaRatio -> alpha_ratio``, ``alphaFan ->
    alpha_fan``, ``betaFan -> beta_fan``, ``PFan -> p_fan``, ``alphaKN -> alpha_kn``.
    """
    if X.shape[0] < 2:
        raise ReprlabError(f"lPCA needs at least 2 stimuli (rows); got {X.shape[0]}.")
    value = lpca_dimension(X, ver, **params)
    return float(value) if ver == "participation_ratio" else int(value)


# --- continuous spectral dimensions --------------------------------------------------------------


def _nonzero(lam: torch.Tensor, what: str) -> torch.Tensor:
    if not bool(lam.max() > 0):
        raise ReprlabError(
            f"`X` has zero variance (every eigenvalue is 0), so the {what} is undefined. "
            "Check the layer (constant or dead units)."
        )
    return lam


@register(
    "participation_ratio",
    kind="describe",
    family="intrinsic_dimension",
    params={},
    invariances=SPECTRAL_INVARIANCES,
    range=(1.0, math.inf),
    references=(
        (
            "Gao, Trautmann, Yu, Santhanam, Ryu, Shenoy & Ganguli (2017) A theory of multineuronal "
            "dimensionality, dynamics and measurement, bioRxiv 214262"
        ),
        "matches: scikit-dimension 0.5.0 skdim.id.lPCA(ver='participation_ratio')",
    ),
    summary="Participation ratio (sum lambda)^2 / sum lambda^2 of the covariance eigenvalues",
)
def participation_ratio(X: torch.Tensor) -> torch.Tensor:
    """``(sum_i lambda_i)^2 / sum_i lambda_i^2 = tr(C)^2 / |C|_F^2`` for the covariance C of the rows.

    Computed from whichever of the d x d covariance or the n x n Gram matrix is smaller (no
    eigendecomposition)."""
    Xc = center_columns(X)
    C = Xc.T @ Xc if X.shape[1] <= X.shape[0] else Xc @ Xc.T
    tr = torch.diagonal(C).sum()
    if not bool(tr > 0):
        _nonzero(tr.reshape(1), "participation ratio")
    return tr**2 / (C * C).sum()


def _entropy_rank(s: torch.Tensor, eps: float) -> torch.Tensor:
    p = s / s.sum() + eps
    terms = torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))
    return torch.exp(-terms.sum())


@register(
    "effective_rank",
    kind="describe",
    family="intrinsic_dimension",
    params={"center": Param(False, choices=(False, True), doc="centre the columns first")},
    invariances={"permutation", "orthogonal", "isotropic_scaling"},
    range=(1.0, math.inf),
    references=(
        "Roy & Vetterli (2007) The effective rank: a measure of effective dimensionality, EUSIPCO",
        "matches: the definition (no peer implementation in the reference set)",
    ),
    summary="Roy-Vetterli effective rank: exp of the entropy of the normalised singular values",
    variants=(Variant({"center": True}, False, False, SPECTRAL_INVARIANCES, (1.0, math.inf)),),
)
def effective_rank(X: torch.Tensor, *, center: bool = False) -> torch.Tensor:
    """``exp(-sum_i p_i log p_i)`` with ``p_i = sigma_i / sum_j sigma_j`` (singular values of ``X``, or
    of the column-centred ``X`` with ``center=True``); 0 log 0 = 0. In [1, min(n, d)]."""
    s = _nonzero(torch.linalg.svdvals(center_columns(X) if center else X), "effective rank")
    return _entropy_rank(s, 0.0)


@register(
    "rankme",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "eps": Param(
            1e-7,
            check=lambda v: None if isinstance(v, float) and v >= 0 else "must be a float >= 0",
            doc="added to each normalised singular value before the entropy (Garrido et al. 2023)",
        )
    },
    invariances={"permutation", "orthogonal", "isotropic_scaling"},
    range=(1.0, math.inf),
    references=(
        (
            "Garrido, Balestriero, Najman & LeCun (2023) RankMe: assessing the downstream performance of "
            "pretrained self-supervised representations by their rank, ICML"
        ),
        "matches: the paper's formula (p = sigma / |sigma|_1 + eps, eps = 1e-7), uncentred embeddings",
    ),
    summary="RankMe: smooth rank of the embedding matrix (entropy of its normalised singular values)",
)
def rankme(X: torch.Tensor, *, eps: float = 1e-7) -> torch.Tensor:
    """RankMe = ``exp(-sum_k p_k log p_k)``, ``p_k = sigma_k / |sigma|_1 + eps`` over the singular
    values of the uncentred embeddings ``X`` (Garrido et al. 2023, eq. 2)."""
    s = _nonzero(torch.linalg.svdvals(X), "RankMe")
    return _entropy_rank(s, eps)


def _power_law(lam: torch.Tensor, start: int, stop: int | None) -> torch.Tensor:
    tol = lam[0] * max(lam.shape[0], 1) * torch.finfo(lam.dtype).eps
    r = int((lam > tol).sum())
    stop = r if stop is None else min(stop, r)
    if stop - start + 1 < 2:
        raise ReprlabError(
            f"alpha_req fits a line through the eigenvalues of rank {start}..{stop}, which needs at "
            f"least two nonzero eigenvalues; the spectrum has {r} above numerical zero. "
            "Lower `start`, raise `stop`, or use more stimuli/features."
        )
    i = torch.arange(start, stop + 1, dtype=lam.dtype, device=lam.device)
    x, y = torch.log(i), torch.log(lam[start - 1 : stop])
    xc = x - x.mean()
    return -(xc * (y - y.mean())).sum() / (xc * xc).sum()


@register(
    "alpha_req",
    kind="describe",
    family="intrinsic_dimension",
    params={
        "start": Param(
            1,
            check=int_at_least(1),
            doc="first eigenvalue rank in the power-law fit (1 = largest)",
        ),
        "stop": Param(
            None,
            check=int_at_least(2),
            doc="last eigenvalue rank in the fit; None: every eigenvalue above numerical zero",
        ),
    },
    invariances=SPECTRAL_INVARIANCES,
    range=(-math.inf, math.inf),
    references=(
        (
            "Agrawal, Mondal, Ghosh & Richards (2022) alpha-ReQ: assessing representation quality in "
            "self-supervised learning by measuring eigenspectrum decay, NeurIPS"
        ),
        (
            "Stringer, Pachitariu, Steinmetz, Carandini & Harris (2019) High-dimensional geometry of "
            "population responses in visual cortex, Nature 571 (the power-law exponent)"
        ),
    ),
    summary="Power-law exponent alpha of the covariance eigenspectrum (lambda_i ~ i^-alpha)",
)
def alpha_req(X: torch.Tensor, *, start: int = 1, stop: int | None = None) -> torch.Tensor:
    """alpha with ``lambda_i ~ i^-alpha``: minus the least-squares slope of ``log lambda_i`` on
    ``log i`` for ranks ``start .. stop`` (default: every eigenvalue above numerical zero)."""
    lam = _nonzero(covariance_eigenvalues(X), "eigenspectrum exponent")
    return _power_law(lam, start, stop)


@register(
    "spectrum",
    kind="describe",
    family="intrinsic_dimension",
    params={},
    invariances=SPECTRAL_INVARIANCES,
    range=(0.0, math.inf),
    references=("Stringer et al. (2019) Nature 571; Agrawal et al. (2022) NeurIPS",),
    summary="Spectrum decay: explained-variance ratios, components for 50/90/99% of the variance, alpha",
)
def spectrum(X: torch.Tensor) -> dict:
    """A dictionary describing how fast the covariance eigenspectrum decays.

    ``explained_variance_ratio`` (descending), ``cumulative`` (arrays: NumPy from ``rl.describe``), ``n50``, ``n90``,
    ``n99`` (the fewest leading components that retain 50 / 90 / 99 % of the variance),
    ``participation_ratio`` and ``alpha`` (the power-law exponent over all nonzero eigenvalues, NaN
    when fewer than two are nonzero)."""
    lam = _nonzero(covariance_eigenvalues(X), "spectrum")
    ratio = lam / lam.sum()
    cum = torch.cumsum(ratio, 0)

    def needed(q: float) -> int:
        return min(int((cum < q - 1e-12).sum()) + 1, lam.numel())

    try:
        alpha = float(_power_law(lam, 1, None))
    except ReprlabError:
        alpha = math.nan
    return {
        "explained_variance_ratio": ratio,
        "cumulative": cum,
        "n50": needed(0.5),
        "n90": needed(0.9),
        "n99": needed(0.99),
        "participation_ratio": float(lam.sum() ** 2 / (lam * lam).sum()),
        "alpha": alpha,
    }
