"""Representational similarity analysis (RSA): RDMs, RDM transforms and RDM comparators.

RSA compares two representations through their representational dissimilarity matrices (RDMs): for
each pair of conditions (stimuli) i < j a dissimilarity ``d_ij``; an RDM is kept as its *condensed*
vector (upper triangle, i < j, row-major: the order of ``scipy.spatial.distance.squareform``).
``rsa(X, Y) = compare(transform(rdm(X)), transform(rdm(Y)))``.

**RDMs** (:func:`rdm`). With ``u_i`` the pattern of condition i (rows of one condition averaged;
conditions in sorted label order, as rsatoolbox), ``d = |u_i - u_j|`` (``euclidean``), ``|u_i - u_j|^2``
(``sqeuclidean``), ``1 - r(u_i, u_j)`` (``correlation``, Pearson r across features), ``1 - cos``
(``cosine``), ``(u_i - u_j) P (u_i - u_j)^T`` (``mahalanobis``, P a noise *precision*), the
leave-one-run-out cross-validated ``crossnobis`` ``mean_f (u_i - u_j)_{not f} P (u_i - u_j)_f^T`` (Walther
et al. 2016; unbiased, can be negative), and the symmetrised Poisson KL divergence ``poisson``
``sum_k (r_ik - r_jk)(log r_ik - log r_jk)`` with rates ``r = (mean count + lambda w) / (1 + w)``
(``poisson_cv``: its cross-validated form). ``normalize=True`` divides the squared forms by the number of
channels: rsatoolbox's ``'euclidean'`` is ``sqeuclidean`` with ``normalize=True``, and its
``mahalanobis``, ``crossnobis`` and ``poisson`` are always normalised.

**Comparators** (:func:`compare_rdms`): ``cosine`` (no centring), ``pearson``, ``spearman`` (Pearson of
average ranks), ``rho_a`` (``12 r1c . r2c / (m^3 - m)``, centred average ranks, no tie correction: the
expected Spearman under random tie breaking, Nili et al. 2014), ``kendall_tau_a`` ((C - D) / (m(m-1)/2),
ties count as neither), ``kendall_tau_b`` (``scipy.stats.kendalltau``), ``whitened_cosine`` /
``whitened_pearson`` (cosine / Pearson after whitening with the RDM covariance of iid pattern noise,
Diedrichsen et al. 2021: the Frobenius cosine of the double-centred matrices ``H D H``), ``bures``
(fidelity ``tr (G1^1/2 G2 G1^1/2)^1/2 / sqrt(tr G1 tr G2)`` of ``G = -H D H / 2``, computed as the
nuclear norm of ``G1+^1/2 G2+^1/2`` with negative eigenvalues clipped in both; rsatoolbox clips only
those of G1, which differs only for non-Euclidean RDMs, where G is indefinite), ``bures_metric``
(the Bures distance ``sqrt(tr G1 + tr G2 - 2 tr (G1^1/2 G2 G1^1/2)^1/2)``) and ``riemannian`` (the
affine-invariant distance between second moments in the (n-1)-dim contrast space, minimised over a
scaling of ``G1`` and an added iid-noise term, as rsatoolbox). Peer conventions are reproduced by
``bures_metric_squared`` (rsatoolbox's ``bures_metric`` returns the squared distance) and
``neg_riemannian`` (rsatoolbox's ``neg_riem_dist`` returns minus the distance). Values match rsatoolbox
0.3.2 ``rdm.compare`` (the tests check every recorded value).

**Transforms** (:func:`rdm_transform`): ``rank``, ``sqrt`` (negatives to 0), ``minmax``, and the
topological RSA transforms of Lin & Kriegeskorte (2023): ``geotopological`` (below the ``lower``
quantile 0, above the ``upper`` quantile 1, linear between) and ``geodesic`` (shortest paths over the
graph of all but the maximal dissimilarities).

Speed: everything that depends on one RDM alone (ranks, standardised vectors, sort orders, tie counts,
double-centred matrices, matrix square roots) is computed once per RDM by the measure's ``prepare``;
Pearson / Spearman / rho-a / cosine / whitened comparisons of whole stacks are then one matrix product,
and Kendall's tau is one O(m log m) discordant-pair count per pair (:mod:`reprlab.measures._ranks`).

References: Kriegeskorte, Mur & Bandettini (2008) Front. Syst. Neurosci.; Nili et al. (2014) PLoS
Comput. Biol. (rsatoolbox, rho-a, tau-a); Walther et al. (2016) NeuroImage (crossnobis); Diedrichsen
et al. (2021) arXiv:2007.02789 (whitened comparators); Lin & Kriegeskorte (2023) arXiv:2309.11028
(topological RSA); Schütt et al. (2023) eLife (rsatoolbox 0.3).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._registry import _REGISTRY, Param, Variant, register, set_engine_hooks
from .._validation import as_tensor, check_labels, resolve_device, resolve_dtype
from ..errors import ReprlabError, ReprlabTypeError, close_matches
from . import _ranks

RDM_METHODS = (
    "correlation",
    "euclidean",
    "sqeuclidean",
    "cosine",
    "mahalanobis",
    "crossnobis",
    "poisson",
    "poisson_cv",
)
COMPARATORS = (
    "spearman",
    "pearson",
    "cosine",
    "kendall_tau_a",
    "kendall_tau_b",
    "rho_a",
    "whitened_cosine",
    "whitened_pearson",
    "bures",
    "bures_metric",
    "bures_metric_squared",
    "riemannian",
    "neg_riemannian",
)
TRANSFORMS = ("rank", "sqrt", "minmax", "geotopological", "geodesic")
_INNER_PRODUCT = ("cosine", "pearson", "spearman", "rho_a", "whitened_cosine", "whitened_pearson")


# --------------------------------------------------------------------------------------------- RDM


def _n_from_length(m: int, name: str) -> int:
    n = round((1 + math.sqrt(1 + 8 * m)) / 2)
    if n * (n - 1) // 2 != m:
        raise ReprlabError(
            f"`{name}` has {m} entries, which is not n(n-1)/2 for any number of conditions n; a condensed RDM "
            "holds the upper triangle (i < j) of an n x n matrix. Pass the square matrix via reprlab.RDM(square)."
        )
    return n


@functools.lru_cache(maxsize=8)
def _triu_flat(n: int, device: torch.device) -> torch.Tensor:
    """Flat indices ``i * n + j`` of the upper triangle (i < j), row-major."""
    iu = torch.triu_indices(n, n, offset=1, device=device)
    return iu[0] * n + iu[1]


def _squareform(v: torch.Tensor, n: int) -> torch.Tensor:
    S = torch.zeros(n * n, dtype=v.dtype, device=v.device)
    S[_triu_flat(n, v.device)] = v
    S = S.reshape(n, n)
    return S + S.T


def _condensed(S: torch.Tensor) -> torch.Tensor:
    return S.reshape(-1)[_triu_flat(S.shape[0], S.device)]


class RDM:
    """A representational dissimilarity matrix over ``n_conditions`` conditions.

    Parameters
    ----------
    dissimilarities : array of shape (n_pairs,) or (n, n)
        The condensed vector (upper triangle, i < j, row-major, as ``scipy.spatial.distance.squareform``)
        or the square matrix (symmetric, zero diagonal).
    method : str, optional
        How the dissimilarities were computed (e.g. ``"correlation"``).
    labels : sequence, optional
        The condition of each row / column, in order (default ``0 .. n-1``).

    Attributes
    ----------
    condensed : ndarray (n_pairs,);  square : ndarray (n, n);  n_conditions : int;  method : str | None;
    labels : ndarray (n,);  tensor : the condensed vector as a torch tensor (the compute dtype/device).
    """

    def __init__(self, dissimilarities: Any, *, method: str | None = None, labels: Any = None) -> None:
        if isinstance(dissimilarities, RDM):
            dissimilarities = dissimilarities.tensor
        nd = dissimilarities.ndim if isinstance(dissimilarities, torch.Tensor) else np.ndim(dissimilarities)
        if nd not in (1, 2):
            raise ReprlabError(f"An RDM is a condensed vector or an n x n matrix; got {nd}-D input.")
        dt = dissimilarities.dtype if isinstance(dissimilarities, torch.Tensor) else None
        dt = dt if dt is not None and dt.is_floating_point else None
        t = as_tensor(dissimilarities, "dissimilarities", ndim=nd, dtype=dt, allow_nonfinite=True)
        if t.ndim == 2:
            if t.shape[0] != t.shape[1]:
                raise ReprlabError(
                    f"A square RDM must be n x n; got shape {tuple(t.shape)}. Pass a condensed vector "
                    "(upper triangle, i < j) for a single RDM."
                )
            if not torch.equal(t, t.T) or bool((torch.diagonal(t) != 0).any()):
                raise ReprlabError(
                    "A square RDM must be symmetric with a zero diagonal; this one is not. "
                    "Symmetrise it ((D + D.T) / 2, zero diagonal) or pass its condensed upper triangle."
                )
            n = t.shape[0]
            t = _condensed(t)
        else:
            n = _n_from_length(t.numel(), "dissimilarities")
        if n < 2:
            raise ReprlabError("An RDM needs at least 2 conditions.")
        if bool(torch.isnan(t).any()):
            raise ReprlabError("The RDM contains NaN dissimilarities; remove the affected conditions first.")
        self.tensor = t
        self.n_conditions = n
        self.method = method
        self.labels = np.arange(n) if labels is None else check_labels(labels, n, "labels")

    @classmethod
    def _from_condensed(cls, v: torch.Tensor, n: int, method: str | None, labels: Any) -> RDM:
        """An RDM from a checked condensed tensor (internal: no copies, no re-validation)."""
        self = cls.__new__(cls)
        self.tensor, self.n_conditions, self.method = v, n, method
        self.labels = np.arange(n) if labels is None else np.asarray(labels)
        return self

    @property
    def condensed(self) -> np.ndarray:
        return self.tensor.detach().cpu().numpy().astype(np.float64, copy=True)

    @property
    def square(self) -> np.ndarray:
        return _squareform(self.tensor.detach(), self.n_conditions).cpu().numpy().astype(np.float64)

    def __len__(self) -> int:
        return self.n_conditions

    def __repr__(self) -> str:
        return f"RDM(n_conditions={self.n_conditions}, method={self.method!r})"


# ------------------------------------------------------------------------------------ computing RDMs


def _group_rows(X: torch.Tensor, codes: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the rows of each group ``0 .. k-1``."""
    sums = torch.zeros((k, X.shape[1]), dtype=X.dtype, device=X.device).index_add_(0, codes, X)
    counts = torch.bincount(codes, minlength=k).to(X.dtype)
    return sums / counts[:, None]


def _squared_form(A: torch.Tensor, B: torch.Tensor, P: torch.Tensor | None) -> torch.Tensor:
    """Condensed ``(a_i - a_j) P (b_i - b_j)^T`` from the kernel ``K = A P B^T`` (symmetrised)."""
    K = A @ B.T if P is None else A @ P @ B.T
    dg = torch.diagonal(K)
    S = dg[None, :] + dg[:, None] - K - K.T
    return _condensed(S)


def _check_noise(noise: Any, d: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    P = as_tensor(noise, "noise", ndim=2, dtype=dtype, device=device)
    if P.shape != (d, d):
        raise ReprlabError(
            f"`noise` must be the ({d}, {d}) noise precision matrix of the {d} channels; got shape {tuple(P.shape)}."
        )
    if not torch.allclose(P, P.T, rtol=1e-8, atol=1e-10 * float(P.abs().max())):
        raise ReprlabError("`noise` (a precision matrix) must be symmetric.")
    return P


def _conditions(X: torch.Tensor, conditions: Any) -> tuple[np.ndarray, torch.Tensor]:
    """Sorted unique labels and each row's code (rsatoolbox orders RDM rows by sorted labels)."""
    if conditions is None:
        n = X.shape[0]
        return np.arange(n), torch.arange(n, device=X.device)
    labels = check_labels(conditions, X.shape[0], "conditions")
    uniq, codes = np.unique(labels, return_inverse=True)
    return uniq, torch.as_tensor(codes.reshape(-1), device=X.device)


def _rdm_core(
    X: torch.Tensor,
    method: str,
    conditions: Any = None,
    runs: Any = None,
    noise: Any = None,
    normalize: bool = False,
    remove_mean: bool = False,
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
    cv_average: bool = True,
) -> tuple[torch.Tensor, np.ndarray]:
    """The condensed RDM of a checked tensor and the condition order."""
    if method not in RDM_METHODS:
        raise ReprlabError(
            f"Unknown RDM method {method!r}; use one of {', '.join(RDM_METHODS)}." + close_matches(method, RDM_METHODS)
        )
    d = X.shape[1]
    labels, codes = _conditions(X, conditions)
    k = len(labels)
    if k < 2:
        raise ReprlabError(f"An RDM needs at least 2 conditions; got {k}.")
    cv = method in ("crossnobis", "poisson_cv")
    if runs is not None and not cv:
        raise ReprlabError(
            f"`runs` is used only by the cross-validated methods (crossnobis, poisson_cv), not {method!r}."
        )
    if noise is not None and method not in ("mahalanobis", "crossnobis"):
        raise ReprlabError(f"`noise` (a precision matrix) is used only by mahalanobis and crossnobis, not {method!r}.")
    P = None if noise is None else _check_noise(noise, d, X.dtype, X.device)
    if method == "mahalanobis" and P is None:
        raise ReprlabError(
            "method='mahalanobis' needs `noise`, the noise precision matrix (channels x channels), e.g. the "
            "inverse of a shrinkage covariance of the residuals. Without noise it is method='sqeuclidean'."
        )
    if method in ("poisson", "poisson_cv") and bool((X < 0).any()):
        raise ReprlabError(f"method={method!r} needs non-negative counts; `X` has negative entries.")
    scale = 1.0 / d if (normalize or method in ("mahalanobis", "crossnobis", "poisson", "poisson_cv")) else 1.0

    if cv:
        if conditions is None or runs is None:
            raise ReprlabError(
                f"method={method!r} is cross-validated across runs: pass `conditions` (the condition of each row) "
                "and `runs` (the run / partition of each row), with every condition measured in at least 2 runs."
            )
        run_labels = check_labels(runs, X.shape[0], "runs")
        folds = np.unique(run_labels)
        if len(folds) < 2:
            raise ReprlabError(f"method={method!r} needs at least 2 distinct runs; `runs` has {len(folds)}.")
        codes_np = codes.cpu().numpy()
        rdms = []
        for f in folds:
            test = run_labels == f
            for part, name in ((test, f"run {f.item()!r}"), (~test, f"the runs other than {f.item()!r}")):
                missing = np.setdiff1d(np.arange(k), codes_np[part])
                if missing.size:
                    raise ReprlabError(
                        f"Condition {labels[missing[0]].item()!r} has no rows in {name}; cross-validation across runs "
                        "needs every condition in every run (drop the condition or the run)."
                    )
            ti = torch.as_tensor(np.nonzero(test)[0], device=X.device)
            tr = torch.as_tensor(np.nonzero(~test)[0], device=X.device)
            A = _group_rows(X[tr], codes[tr], k)
            B = _group_rows(X[ti], codes[ti], k)
            if method == "crossnobis":
                if remove_mean:
                    A = A - A.mean(1, keepdim=True)
                    B = B - B.mean(1, keepdim=True)
                rdms.append(_squared_form(A, B, P))
            else:
                A = (A + prior_lambda * prior_weight) / (1 + prior_weight)
                B = (B + prior_lambda * prior_weight) / (1 + prior_weight)
                rdms.append(_squared_form(A, torch.log(B), None))
        v = torch.stack(rdms).mean(0) if cv_average else rdms[-1]
        return v * scale, labels

    U = _group_rows(X, codes, k) if conditions is not None else X
    if remove_mean or method == "correlation":
        U = U - U.mean(1, keepdim=True)
    if method in ("correlation", "cosine"):
        norms = torch.linalg.vector_norm(U, dim=1)
        if bool((norms == 0).any()):
            bad = labels[int(torch.nonzero(norms == 0)[0])].item()
            what = "constant across features" if method == "correlation" else "all zero"
            raise ReprlabError(
                f"The pattern of condition {bad!r} is {what}, so its {method} distance is undefined. "
                "Drop it or use method='euclidean'."
            )
        Un = U / norms[:, None]
        v = (1.0 - _condensed(Un @ Un.T)).clamp_min(0.0)
        return v, labels
    if method == "poisson":
        R = (U + prior_lambda * prior_weight) / (1 + prior_weight)
        return _squared_form(R, torch.log(R), None) * scale, labels
    if method == "mahalanobis":
        return _squared_form(U, U, P).clamp_min(0.0) * scale, labels
    # euclidean / sqeuclidean from the centred Gram matrix (translation-free, exact zero diagonal)
    Uc = U - U.mean(0, keepdim=True)
    v = _squared_form(Uc, Uc, None).clamp_min(0.0) * scale
    return (v.sqrt() if method == "euclidean" else v), labels


def rdm(
    X: Any,
    method: str = "correlation",
    *,
    conditions: Any = None,
    runs: Any = None,
    noise: Any = None,
    normalize: bool = False,
    remove_mean: bool = False,
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
    cv_average: bool = True,
    dtype: Any = None,
    device: Any = None,
) -> RDM:
    """The representational dissimilarity matrix of ``X`` (n_observations, n_channels).

    Parameters
    ----------
    X : array (n_observations, n_channels)
    method : {"correlation", "euclidean", "sqeuclidean", "cosine", "mahalanobis", "crossnobis", "poisson",
        "poisson_cv"}
        See the module docstring for each formula.
    conditions : sequence, optional
        The condition label of each row. Rows of one condition are averaged; the RDM's conditions follow
        the sorted labels (``RDM.labels``), as rsatoolbox. Default: each row is its own condition.
    runs : sequence, optional
        The run (partition) of each row: crossnobis and poisson_cv cross-validate leave-one-run-out.
    noise : array (n_channels, n_channels), optional
        The noise PRECISION matrix (inverse covariance) for mahalanobis (required) and crossnobis
        (default identity), as rsatoolbox's ``noise``.
    normalize : bool
        Divide squared distances by n_channels (rsatoolbox's convention: its ``'euclidean'`` is
        ``method="sqeuclidean", normalize=True``). mahalanobis, crossnobis and poisson are always
        divided by n_channels, as in rsatoolbox.
    remove_mean : bool
        Subtract each pattern's mean over channels first (rsatoolbox ``remove_mean``).
    prior_lambda, prior_weight : float
        Poisson rate prior: ``rate = (mean count + prior_lambda prior_weight) / (1 + prior_weight)``.
    cv_average : bool
        poisson_cv: average the per-fold RDMs (default). ``False`` returns only the last fold's RDM,
        reproducing rsatoolbox 0.3.2's ``calc_rdm_poisson_cv`` (which overwrites the RDM in its fold loop).

    Returns
    -------
    RDM
    """
    Xt = as_tensor(X, "X", ndim=2, dtype=dtype, device=device)
    v, labels = _rdm_core(
        Xt, method, conditions, runs, noise, normalize, remove_mean, prior_lambda, prior_weight, cv_average
    )
    return RDM._from_condensed(v, len(labels), method, labels)


# -------------------------------------------------------------------------------------- transforms


def _check_unit_interval(value: Any, name: str) -> float:
    if value is None:
        raise ReprlabError(
            f"The geotopological transform needs `{name}`, a quantile in [0, 1] (e.g. lower=0.1, upper=0.9)."
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ReprlabError(f"`{name}` is a quantile of the dissimilarities and must lie in [0, 1]; got {value!r}.")
    return float(value)


def _minmax(v: torch.Tensor) -> torch.Tensor:
    lo, hi = v.min(), v.max()
    if not bool(hi > lo):
        raise ReprlabError("The RDM is constant, so its min-max scaling (max - min = 0) is undefined.")
    return (v - lo) / (hi - lo)


def _geotopological(v: torch.Tensor, lower: float, upper: float, rsatoolbox_masks: bool) -> torch.Tensor:
    lo = torch.quantile(v, lower)  # linear interpolation, as numpy.quantile
    hi = torch.quantile(v, upper)
    if rsatoolbox_masks:
        # rsatoolbox 0.3.2 applies its three masks one after the other to the same array, so values
        # already mapped into [0, 1] that exceed `hi` are set to 1 again (only when hi < 1).
        w = v.clone()
        w[w < lo] = 0.0
        mid = (w >= lo) & (w <= hi)
        w[mid] = (w[mid] - lo) / (hi - lo)
        w[w > hi] = 1.0
        return w
    if bool(hi > lo):
        return ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    return (v > hi).to(v.dtype)


def _geodesic(v: torch.Tensor, n: int, drop_zero_edges: bool, disconnected: str) -> torch.Tensor:
    s = _minmax(v)
    W = _squareform(s, n)
    inf = torch.tensor(math.inf, dtype=v.dtype, device=v.device)
    absent = W >= 1.0  # the maximal dissimilarities are not edges
    if drop_zero_edges:
        absent |= W == 0.0
    D = torch.where(absent, inf, W)
    D.fill_diagonal_(0.0)
    for k in range(n):  # Floyd-Warshall (the order of networkx.floyd_warshall_numpy)
        D = torch.minimum(D, D[k : k + 1, :] + D[:, k : k + 1])
    out = _condensed(D)
    if disconnected == "error" and bool(torch.isinf(out).any()):
        raise ReprlabError(
            "The geodesic transform's graph is disconnected once the maximal dissimilarities are removed (e.g. a "
            "categorical 0/1 RDM), so some geodesic distances are infinite. Use another transform, or "
            "disconnected='inf' to keep the infinities (rsatoolbox 0.3.2 raises here)."
        )
    return out


def _transform_vec(
    v: torch.Tensor,
    n: int,
    kind: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    rank_method: str = "average",
    rsatoolbox_masks: bool = False,
    drop_zero_edges: bool = False,
    disconnected: str = "error",
) -> torch.Tensor:
    if kind == "rank":
        if rank_method not in _ranks.RANK_METHODS:
            raise ReprlabError(f"`rank_method` must be one of {', '.join(_ranks.RANK_METHODS)}; got {rank_method!r}.")
        return _ranks.rankdata(v, rank_method)
    if kind == "sqrt":
        return v.clamp_min(0.0).sqrt()
    if kind == "minmax":
        return _minmax(v)
    if kind == "geotopological":
        lo, hi = _check_unit_interval(lower, "lower"), _check_unit_interval(upper, "upper")
        if lo > hi:
            raise ReprlabError(f"`lower` ({lo}) must not exceed `upper` ({hi}).")
        return _geotopological(v, lo, hi, rsatoolbox_masks)
    if kind == "geodesic":
        if disconnected not in ("error", "inf"):
            raise ReprlabError(f"`disconnected` must be 'error' or 'inf'; got {disconnected!r}.")
        return _geodesic(v, n, drop_zero_edges, disconnected)
    raise ReprlabError(
        f"Unknown RDM transform {kind!r}; use one of {', '.join(TRANSFORMS)}." + close_matches(str(kind), TRANSFORMS)
    )


def rdm_transform(
    D: Any,
    kind: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    rank_method: str = "average",
    rsatoolbox_masks: bool = False,
    drop_zero_edges: bool = False,
    disconnected: str = "error",
) -> Any:
    """Transform an RDM (or each RDM of a stack).

    Parameters
    ----------
    D : RDM, condensed vector (n_pairs,) or stack (k, n_pairs)
    kind : {"rank", "sqrt", "minmax", "geotopological", "geodesic"}
        ``rank``: ranks from 1 (``rank_method`` as ``scipy.stats.rankdata``: average, min, max, dense,
        ordinal). ``sqrt``: negative entries set to 0, then the square root. ``minmax``:
        ``(d - min) / (max - min)``. ``geotopological`` (Lin & Kriegeskorte 2023): with ``l, u`` the
        ``lower`` / ``upper`` quantiles of the vector (``numpy.quantile``, linear interpolation),
        ``0`` for ``d < l``, ``1`` for ``d > u``, ``(d - l) / (u - l)`` between (a step at ``l`` when
        ``l == u``). ``geodesic``: min-max scale to [0, 1], build the graph whose edges are all pairs
        except those at the maximum (scaled weight 1), return the all-pairs shortest-path lengths (not
        rescaled; values can exceed 1).
    lower, upper : float in [0, 1]
        Quantile bounds of the geotopological transform (required for it).
    rsatoolbox_masks : bool
        geotopological: reproduce rsatoolbox 0.3.2, whose sequential masks send interpolated values
        above the upper bound back to 1 (this only matters when the upper bound is below 1).
    drop_zero_edges : bool
        geodesic: also drop edges of scaled weight 0 (the minimal dissimilarity), as rsatoolbox does
        through ``networkx.from_numpy_array``, which reads a 0 as "no edge". The default keeps them, so
        the most similar pair is at geodesic distance 0.
    disconnected : {"error", "inf"}
        geodesic: what to do when the graph falls apart (e.g. a categorical RDM): raise (default) or
        return infinite distances between components.

    Note: rsatoolbox 0.3.2's ``minmax_transform`` and ``geotopological_transform`` modify the RDMs
    object they are given in place (``get_vectors`` returns a view); reprlab never changes its input.
    Quantiles are taken per RDM (rsatoolbox pools all RDMs of a stack).

    Returns
    -------
    RDM for an RDM or 1-D input, an ndarray (k, n_pairs) for a stack.
    """
    kw = dict(
        lower=lower,
        upper=upper,
        rank_method=rank_method,
        rsatoolbox_masks=rsatoolbox_masks,
        drop_zero_edges=drop_zero_edges,
        disconnected=disconnected,
    )
    if isinstance(D, RDM):
        out = _transform_vec(D.tensor, D.n_conditions, kind, **kw)
        return RDM._from_condensed(out, D.n_conditions, f"{kind}({D.method})", D.labels)
    V, n, single = _as_stack(D, "D")
    out = torch.stack([_transform_vec(v, n, kind, **kw) for v in V])
    return RDM._from_condensed(out[0], n, kind, None) if single else out.cpu().numpy()


# ------------------------------------------------------------------------------------- comparators


def _as_stack(D: Any, name: str, dtype: Any = None, device: Any = None) -> tuple[torch.Tensor, int, bool]:
    """(k, n_pairs) tensor, number of conditions, and whether a single RDM was given.

    Accepts an RDM, a sequence of RDMs, a condensed vector, a (k, n_pairs) stack, or one square
    (symmetric, zero-diagonal) matrix.
    """
    if isinstance(D, RDM):
        dev = D.tensor.device if device is None else resolve_device(device)
        return D.tensor.to(dtype=resolve_dtype(dtype), device=dev)[None], D.n_conditions, True
    if isinstance(D, Sequence) and D and all(isinstance(r, RDM) for r in D):
        ns = {r.n_conditions for r in D}
        if len(ns) > 1:
            raise ReprlabError(f"`{name}` holds RDMs of different sizes ({sorted(ns)} conditions).")
        return torch.stack([_as_stack(r, name, dtype, device)[0][0] for r in D]), ns.pop(), False
    if not (isinstance(D, (torch.Tensor, np.ndarray, list, tuple))):
        raise ReprlabTypeError(
            f"`{name}` must be an RDM, a condensed dissimilarity vector or a (k, n_pairs) stack; "
            f"got {type(D).__name__}."
        )
    nd = np.ndim(D) if not isinstance(D, torch.Tensor) else D.ndim
    if nd not in (1, 2):
        raise ReprlabError(f"`{name}` must be a condensed vector (1-D) or a stack (k, n_pairs); got {nd}-D input.")
    t = as_tensor(D, name, ndim=nd, dtype=dtype, device=device, allow_nonfinite=True)
    if bool(torch.isnan(t).any()):
        raise ReprlabError(f"`{name}` contains NaN dissimilarities; remove the affected conditions first.")
    if (
        nd == 2
        and t.shape[0] == t.shape[1]
        and t.shape[0] > 1
        and torch.equal(t, t.T)
        and not bool(torch.diagonal(t).any())
    ):
        return _condensed(t)[None], t.shape[0], True  # one square RDM
    V = t[None] if nd == 1 else t
    return V, _n_from_length(V.shape[1], name), nd == 1


@dataclass
class CompareState:
    """Per-RDM (or per-stack) work for one comparator, so that each pair is cheap.

    ``Z`` (k, p): rows whose inner products (times ``scale``) are the comparator (cosine, Pearson,
    Spearman, rho-a, whitened forms); ``tau``: Kendall preparations; ``mats``: per-RDM matrices
    (Bures: ``(sqrt(G+), tr G)``; Riemannian: the (n-1) x (n-1) contrast-space second moment).
    """

    method: str
    k: int
    n_pairs: int
    n_conditions: int
    Z: torch.Tensor | None = None
    scale: float = 1.0
    tau: list[_ranks.TauPrep] = field(default_factory=list)
    mats: list[Any] = field(default_factory=list)
    vector: torch.Tensor | None = None  # the (transformed) condensed RDM, kept by the rsa measure's prepare


def _unit_rows(Z: torch.Tensor, method: str, what: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(Z, dim=1)
    if bool((norms == 0).any()):
        i = int(torch.nonzero(norms == 0)[0])
        raise ReprlabError(
            f"An RDM (index {i} of its stack) is {what}, so the {method!r} comparison (a correlation / cosine) "
            "is undefined (rsatoolbox returns 0 here). A constant RDM carries no ordering: check the "
            "representation (constant or duplicated rows), or use rho_a / kendall_tau_a, which give 0 for it."
        )
    return Z / norms[:, None]


def _double_centred(V: torch.Tensor, n: int) -> torch.Tensor:
    """``H S H`` flattened for each row of V (S the square form, zero diagonal): (k, n*n)."""
    out = []
    for v in V:
        S = _squareform(v, n)
        S = S - S.mean(0, keepdim=True) - S.mean(1, keepdim=True) + S.mean()
        out.append(S.reshape(-1))
    return torch.stack(out)


def prepare_rdms(V: torch.Tensor, n: int, method: str) -> CompareState:
    """Do the per-RDM work of comparator ``method`` for a (k, n_pairs) stack of condensed RDMs."""
    if method not in COMPARATORS:
        raise ReprlabError(
            f"Unknown RDM comparator {method!r}; use one of {', '.join(COMPARATORS)}."
            + close_matches(str(method), COMPARATORS)
        )
    k, m = V.shape
    st = CompareState(method, k, m, n)
    if method in ("pearson", "whitened_pearson"):  # exact test: V - mean(V) of a constant V need not be 0
        lo, hi = torch.aminmax(V, dim=1)
        if bool((lo == hi).any()):
            _unit_rows(torch.where((lo == hi)[:, None], 0.0, 1.0).to(V.dtype), method, "constant")
    if not bool(torch.isfinite(V).all()):
        raise ReprlabError("The RDM has infinite dissimilarities (e.g. a disconnected geodesic transform).")
    if method == "cosine":
        st.Z = _unit_rows(V, method, "all zero")
    elif method == "pearson":
        st.Z = _unit_rows(V - V.mean(1, keepdim=True), method, "constant")
    elif method in ("spearman", "rho_a"):
        R = _ranks.rankdata(V, "average")
        R = R - (m + 1) / 2.0
        if method == "spearman":
            st.Z = _unit_rows(R, method, "constant")
        else:
            st.Z = R
            st.scale = 12.0 / (float(m) ** 3 - m)
    elif method in ("kendall_tau_a", "kendall_tau_b"):
        st.tau = [_ranks.tau_prepare(v) for v in V]
        if method == "kendall_tau_b":
            tot = m * (m - 1) // 2
            for i, p in enumerate(st.tau):
                if p.ties == tot:
                    raise ReprlabError(
                        f"An RDM (index {i} of its stack) is constant, so Kendall's tau-b is undefined (0/0)."
                    )
    elif method in ("whitened_cosine", "whitened_pearson"):
        W = V - V.mean(1, keepdim=True) if method == "whitened_pearson" else V
        st.Z = _unit_rows(_double_centred(W, n), method, "all zero" if method == "whitened_cosine" else "constant")
    elif method in ("bures", "bures_metric", "bures_metric_squared"):
        for i, v in enumerate(V):
            G = -0.5 * _double_centred(v[None], n)[0].reshape(n, n)
            lam, U = torch.linalg.eigh(G)
            Gs = (U * lam.clamp_min(0.0).sqrt()) @ U.T
            tr = torch.trace(G)
            if method == "bures" and not bool(tr > 0):
                raise ReprlabError(
                    f"An RDM (index {i} of its stack) has a second moment G = -HDH/2 with trace {float(tr):.3g} "
                    "<= 0, so the Bures similarity (divided by sqrt(tr G1 tr G2)) is undefined."
                )
            st.mats.append((Gs, tr))
    else:  # riemannian, neg_riemannian
        for v in V:
            S = _squareform(v, n)
            d0 = S[0, 1:]
            st.mats.append((0.5 * (d0[:, None] + d0[None, :] - S[1:, 1:])).cpu().numpy().astype(np.float64))
    return st


def _riemannian(G1: np.ndarray, G2: np.ndarray) -> float:
    """rsatoolbox's Riemannian RDM distance: min over (t0, t1) of the affine-invariant distance between
    ``exp(t0) G1 + exp(t1) Sigma`` and ``G2`` (Sigma = P I P^T, the iid-noise contrast covariance),
    ``sqrt(sum log^2 eig(A, G2))``, by Nelder-Mead from (0, 0) (tightened tolerances)."""
    from scipy import linalg
    from scipy.optimize import minimize

    k = G1.shape[0]
    Sig = np.eye(k) + np.ones((k, k))
    try:
        np.linalg.cholesky(G2)
    except np.linalg.LinAlgError:
        raise ReprlabError(
            "The Riemannian RDM comparison needs a positive-definite second moment for the second RDM (in the "
            "contrast space: n_conditions - 1 must not exceed the rank of the patterns)."
        ) from None

    def fun(theta: np.ndarray) -> float:
        ev = linalg.eigvalsh(np.exp(theta[0]) * G1 + np.exp(theta[1]) * Sig, G2)
        return float(np.sqrt((np.log(ev) ** 2).sum()))

    res = minimize(fun, (0.0, 0.0), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    return float(res.fun)


def compare_states(A: CompareState, B: CompareState) -> torch.Tensor:
    """The (kA, kB) matrix of comparisons between two prepared stacks (same comparator)."""
    if A.n_pairs != B.n_pairs:
        raise ReprlabError(
            f"The RDMs have different sizes: {A.n_conditions} and {B.n_conditions} conditions "
            f"({A.n_pairs} and {B.n_pairs} pairs); compare RDMs over the same conditions."
        )
    method = A.method
    if method in _INNER_PRODUCT:
        out = (A.Z @ B.Z.T) * A.scale
        return out.clamp(-1.0, 1.0)
    out = torch.empty((A.k, B.k), dtype=torch.float64)
    for i in range(A.k):
        for j in range(B.k):
            if method in ("kendall_tau_a", "kendall_tau_b"):
                out[i, j] = _ranks.kendall_tau(A.tau[i], B.tau[j], "a" if method == "kendall_tau_a" else "b")
            elif method in ("riemannian", "neg_riemannian"):
                d = _riemannian(A.mats[i], B.mats[j])
                out[i, j] = -d if method == "neg_riemannian" else d
            else:
                S1, t1 = A.mats[i]
                S2, t2 = B.mats[j]
                # tr (G1^1/2 G2 G1^1/2)^1/2 = |G1^1/2 G2^1/2|_* (nuclear norm): symmetric, and accurate for
                # rank-deficient G (no square roots of rounding-level eigenvalues of a product)
                nuc = torch.linalg.svdvals(S1 @ S2).sum()
                if method == "bures":
                    out[i, j] = float(nuc / torch.sqrt(t1 * t2))
                else:
                    sq = float(t1 + t2 - 2.0 * nuc)
                    out[i, j] = sq if method == "bures_metric_squared" else math.sqrt(max(sq, 0.0))
    return out


def compare_rdms(D1: Any, D2: Any, method: str = "spearman", *, dtype: Any = None, device: Any = None) -> Any:
    """Compare RDMs: a float for two RDMs, a (k1, k2) array for stacks.

    Parameters
    ----------
    D1, D2 : RDM, condensed vector (n_pairs,), stack (k, n_pairs), sequence of RDMs, or one square matrix
    method : str
        One of ``COMPARATORS`` (module docstring). Similarities, except ``bures_metric`` (a distance),
        ``bures_metric_squared`` (its square, rsatoolbox's ``bures_metric``), ``riemannian`` (a
        distance) and ``neg_riemannian`` (minus it, rsatoolbox's ``neg_riem_dist``). ``riemannian`` is not
        symmetric (rsatoolbox fits a scaling of the first RDM only).

    Returns
    -------
    float or ndarray (k1, k2)
    """
    V1, n1, s1 = _as_stack(D1, "D1", dtype, device)
    V2, n2, s2 = _as_stack(D2, "D2", dtype, device)
    if V1.shape[1] != V2.shape[1]:
        raise ReprlabError(
            f"`D1` and `D2` are RDMs of different sizes: {n1} and {n2} conditions ({V1.shape[1]} and "
            f"{V2.shape[1]} pairs); compare RDMs over the same conditions in the same order."
        )
    A = prepare_rdms(V1, n1, method)
    B = prepare_rdms(V2, n2, method)
    out = compare_states(A, B)
    if s1 and s2:
        return float(out[0, 0])
    return out.cpu().numpy().astype(np.float64)


# ------------------------------------------------------------------------------- the rsa measure


def _quantile_check(v: object) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        return "must be a quantile in [0, 1]"
    return None


PARAMS = {
    "rdm": Param("correlation", choices=RDM_METHODS, doc="dissimilarity of conditions (rl.rdm's method)"),
    "compare": Param("spearman", choices=COMPARATORS, doc="RDM comparator (rl.compare_rdms's method)"),
    "transform": Param(None, choices=(None, *TRANSFORMS), doc="RDM transform applied before comparing"),
    "lower": Param(None, check=_quantile_check, doc="geotopological lower quantile bound"),
    "upper": Param(None, check=_quantile_check, doc="geotopological upper quantile bound"),
    "normalize": Param(False, choices=(False, True), doc="divide squared distances by n_channels (rsatoolbox)"),
    "conditions": Param(None, data=True, doc="condition label of each row (rows of a condition are averaged)"),
    "runs": Param(None, data=True, doc="run of each row (crossnobis, poisson_cv)"),
    "noise": Param(None, data=True, doc="noise precision matrix (mahalanobis, crossnobis)"),
}


def _prepare(
    X: torch.Tensor,
    *,
    rdm: str,
    compare: str,
    transform: str | None,
    lower: float | None,
    upper: float | None,
    normalize: bool,
    conditions: Any,
    runs: Any,
    noise: Any,
) -> CompareState:
    v, labels = _rdm_core(X, rdm, conditions, runs, noise, normalize)
    n = len(labels)
    if transform is not None:
        v = _transform_vec(v, n, transform, lower=lower, upper=upper)
    state = prepare_rdms(v[None], n, compare)
    state.vector = v
    return state


#: Invariances of RSA on Euclidean-type RDMs (distances do not change under rotations or shifts).
_EUCLIDEAN_RDM = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"})


@register(
    "rsa",
    family="rsa",
    params=PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    asymmetric_when={"compare": ("riemannian", "neg_riemannian")},
    invariances={"permutation", "isotropic_scaling"},
    range=(-1.0, 1.0),
    references=(
        "Kriegeskorte, Mur & Bandettini (2008) Representational similarity analysis, Front. Syst. Neurosci.",
        "Nili et al. (2014) A toolbox for representational similarity analysis, PLoS Comput. Biol.",
        (
            "Diedrichsen et al. (2021) Comparing representational geometries using whitened unbiased-distance-matrix "
            "similarity, arXiv:2007.02789"
        ),
        "Lin & Kriegeskorte (2023) The topology and geometry of neural representations, arXiv:2309.11028",
        (
            "matches: rsatoolbox 0.3.2 calc_rdm + rdm.compare (bures_metric_squared, neg_riemannian for its "
            "conventions); ReSi representational_similarity_analysis"
        ),
    ),
    summary="Representational similarity analysis: a comparator between the RDMs of X and Y",
    variants=(
        Variant(
            {"rdm": "euclidean"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
            "Euclidean RDMs do not change under rotations or shifts of the features",
        ),
        Variant(
            {"rdm": "sqeuclidean", "compare": "kendall_tau_a"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
        ),
        Variant(
            {"rdm": "sqeuclidean", "compare": "whitened_pearson"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
        ),
        Variant(
            {"rdm": "sqeuclidean", "compare": "bures"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (0.0, 1.0),
            "Bures fidelity of the centred Gram matrices (equals the Procrustes similarity)",
        ),
        Variant(
            {"rdm": "euclidean", "compare": "pearson", "transform": "geodesic"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
        ),
    ),
    prepare=_prepare,
)
def rsa(
    X: CompareState,
    Y: CompareState,
    *,
    rdm: str = "correlation",
    compare: str = "spearman",
    transform: str | None = None,
    lower: float | None = None,
    upper: float | None = None,
    normalize: bool = False,
    conditions: Any = None,
    runs: Any = None,
    noise: Any = None,
) -> float:
    """Representational similarity analysis between ``X`` (n, d1) and ``Y`` (n, d2).

    ``compare(transform(rdm(X)), transform(rdm(Y)))`` with :func:`reprlab.rdm`,
    :func:`reprlab.rdm_transform` and :func:`reprlab.compare_rdms` (see the module docstring for every
    RDM method, transform and comparator, and the rsatoolbox conventions they match).

    Parameters
    ----------
    X, Y : arrays of shape (n_observations, n_features_x) and (n_observations, n_features_y)
    rdm : RDM method [correlation]
    compare : comparator [spearman]
    transform : None or one of rank, sqrt, minmax, geotopological, geodesic
    lower, upper : quantile bounds of the geotopological transform
    normalize : divide squared distances by the number of features (rsatoolbox's 'euclidean')
    conditions, runs, noise : per-row condition labels, per-row runs, noise precision (see rl.rdm)

    Returns
    -------
    float
        A similarity in [-1, 1] for the correlation-type comparators; a distance for ``bures_metric``
        and ``riemannian``; negative for ``neg_riemannian``.
    """
    return compare_states(X, Y)[0, 0]


def _core_matrix(A: Sequence[CompareState], B: Sequence[CompareState], **params: Any) -> np.ndarray:
    """All pairs of prepared representations at once: one matrix product for the inner-product comparators
    (stacking every prepared RDM), one discordant-pair count per pair for Kendall's tau. Pass the same list
    as ``A`` and ``B`` for all pairs within one set: each unordered pair is then computed once (except for
    the asymmetric Riemannian comparators)."""
    if not A or not B:
        return np.zeros((len(A), len(B)))
    if A[0].method in _INNER_PRODUCT:
        SA = CompareState(A[0].method, len(A), A[0].n_pairs, A[0].n_conditions, torch.cat([s.Z for s in A]), A[0].scale)
        SB = CompareState(B[0].method, len(B), B[0].n_pairs, B[0].n_conditions, torch.cat([s.Z for s in B]), B[0].scale)
        return compare_states(SA, SB).cpu().numpy().astype(np.float64)
    out = np.empty((len(A), len(B)))
    within = A is B and A[0].method not in ("riemannian", "neg_riemannian")  # symmetric: each pair once
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            if within and j < i:
                out[i, j] = out[j, i]
            else:
                out[i, j] = float(compare_states(a, b)[0, 0])
    return out


def _all_pairs(
    A: list[torch.Tensor], B: list[torch.Tensor] | None, params: dict[str, Any], options: Any
) -> torch.Tensor:
    """The compare_all fast path (docs/engine.md): each RDM prepared once, then :func:`_core_matrix`."""
    sa = [_prepare(x, **params) for x in A]
    sb = sa if B is None else [_prepare(y, **params) for y in B]
    return torch.from_numpy(_core_matrix(sa, sb, **params))


set_engine_hooks("rsa", all_pairs=_all_pairs)


# Resampling hooks (reprlab.stats.resampling, the distinct-pairs rule): bootstrap resamples compare the
# entries of the pairs of distinct resampled conditions of the full RDMs. The comparators below are
# functions of the two dissimilarity vectors alone; the whitened, Bures and Riemannian comparators need
# the RDM's structure over conditions and are refused. A transform is applied to the full RDM once.
_PAIR_COMPARATORS = ("cosine", "pearson", "spearman", "rho_a", "kendall_tau_a", "kendall_tau_b")


def _pair_matrix(P: CompareState, *, compare: str, **_: Any) -> torch.Tensor:
    if compare not in _PAIR_COMPARATORS:
        raise ReprlabError(
            f"rsa with compare={compare!r} needs the whole RDM (its structure over conditions), so it cannot be "
            f"bootstrapped or permuted over conditions; use one of {', '.join(_PAIR_COMPARATORS)}."
        )
    return _squareform(P.vector, P.n_conditions)


def _compare_pairs(dx: torch.Tensor, dy: torch.Tensor, *, compare: str, **_: Any) -> torch.Tensor:
    return compare_states(prepare_rdms(dx[None], 0, compare), prepare_rdms(dy[None], 0, compare))[0, 0]


_REGISTRY["rsa"].extras.update(pair_matrix=_pair_matrix, compare_pairs=_compare_pairs)
