"""Canonical correlation analysis (CCA) and its summaries: mean CCA, mean R^2, SVCCA, PWCCA.

With ``Xc``, ``Yc`` the column-centred representations and ``Ux``, ``Uy`` orthonormal bases of their
column spaces (from the thin SVD), the canonical correlations are the singular values of
``Ux^T Uy``, ``1 >= rho_1 >= ... >= rho_k >= 0`` with ``k = min(rank Xc, rank Yc)`` (Hotelling
1936; Björck & Golub 1973). Summaries:

* ``mean_rho`` (default): ``mean_i rho_i`` (Raghu et al. 2017's mean canonical correlation).
* ``mean_r2``: ``mean_i rho_i^2`` (Yanai's generalised coefficient of determination).
* ``svcca`` (Raghu et al. 2017): each representation is first reduced to its top principal
  components, the fewest whose variance reaches ``var_kept`` of the total (or exactly ``dims``
  components); then ``mean_rho`` of the reduced data.
* ``pwcca`` (Morcos, Raghu & Bengio 2018): ``sum_i a_i rho_i`` with weights from the FIRST argument,
  ``a_i ∝ sum_j |<h_i, x_j>|``, where ``h_i`` are the unit-norm canonical variates of ``X``
  (``h_i = Ux A_i`` from the SVD ``Ux^T Uy = A diag(rho) B^T``) and ``x_j`` the (centred) activity of
  unit j of X. Asymmetric: ``cca(X, Y, summary="pwcca") != cca(Y, X, summary="pwcca")``.

Rank deficiency: directions of ``Xc`` with singular value below ``max(n, d) * eps * s_max`` (NumPy's
``matrix_rank`` rule) are dropped, so collinear or constant units give no NaN; the number of
canonical correlations is then ``min(rank Xc, rank Yc)``. Degenerate sample size: centred data
have rank at most ``n - 1``; when ``rank Xc + rank Yc > n - 1`` the column spaces must intersect and
``rank Xc + rank Yc - (n - 1)`` canonical correlations equal 1 whatever the data (e.g. every
correlation is 1 when ``d >= n``). reprlab warns then; use more stimuli or SVCCA with few components.

Streaming (:func:`reprlab.compare_all` over stores): every summary except ``pwcca_weights="google"`` is
computed from accumulated covariances (:func:`stream_spec`); in-memory arrays keep the SVD path above.

Reference implementations: the canonical correlations, ``mean_rho`` and ``mean_r2`` match ReSi's
copy of Google's ``svcca`` ``cca_core.get_cca_similarity`` (which computes the same quantity from
max-normalised covariances and pseudo-inverse square roots, and requires d < n). Two ReSi/Google
results differ on purpose:

* ReSi ``SVCCA`` selects ``k`` with ``cumsum(explained fraction) >= threshold * total variance``
  (fraction compared with a variance), which keeps ONE component unless the total variance is about
  1; its value is ``|corr(PC1(X), PC1(Y))|`` = ``cca(X, Y, summary="svcca", dims=1)``. reprlab keeps
  the components that explain ``var_kept`` of the variance.
* Google's ``compute_pwcca`` (copied into ReSi) weights by ``u^T (Xc^T) + mean`` with ``u`` the
  singular vectors of the WHITENED cross-covariance applied to unwhitened data, adds each unit's
  mean to a canonical direction, and orthonormalises with QR: its value changes with the arbitrary
  signs LAPACK gives the singular vectors, and it fails (IndexError) when d1 > d2. reprlab
  implements Morcos et al.'s definition (weights from the canonical variates of X, for any widths)
  by default; ``pwcca_weights="google"`` reproduces the reference implementation exactly (same
  LAPACK singular vectors), for d1 <= d2 only, so published numbers computed with it can be
  matched. Its steps: covariances by ``np.cov`` scaled by their largest entry, ``u`` the left
  singular vectors of ``Sxx^-1/2 Sxy Syy^-1/2`` (pseudo-inverse square roots), directions
  ``u^T (X - m)^T + m`` with ``m`` the unit means, ``P`` = Q of their QR, weights
  ``sum_t |P^T X^T|`` on the raw (uncentred) activity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .._linalg import center_columns
from .._registry import Hooks, Param, Variant, register
from .._validation import as_tensor, check_same_rows
from ..errors import ReprlabError
from ..stream.moments import PairStats, StreamSpec, psd_basis

SUMMARIES = ("mean_rho", "mean_r2", "pwcca", "svcca")


def _var_kept(v: object) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v <= 1.0
    return None if ok else "must be a number in (0, 1] (the fraction of variance the kept components explain)"


def _dims(v: object) -> str | None:
    ok = v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    return None if ok else "must be None or a positive integer (the number of principal components kept)"


PARAMS = {
    "summary": Param("mean_rho", choices=SUMMARIES, doc="mean_rho, mean_r2, svcca, or pwcca (weights by X)"),
    "var_kept": Param(0.99, check=_var_kept, doc="svcca: keep the fewest PCs explaining this variance fraction"),
    "dims": Param(None, check=_dims, doc="svcca: keep exactly this many PCs (overrides var_kept); None: use var_kept"),
    "pwcca_weights": Param(
        "canonical_variates",
        choices=("canonical_variates", "google"),
        doc="pwcca: Morcos et al.'s weights, or 'google' reproducing Google svcca / ReSi (d1 <= d2)",
    ),
}


@dataclass
class CCAState:
    """Orthonormal basis ``U`` (n x r) of the kept column space, and the centred data (for PWCCA)."""

    U: torch.Tensor
    Xc: torch.Tensor
    mean: torch.Tensor


def _basis(Xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left singular vectors and singular values of ``Xc`` above the rank tolerance."""
    U, s, _ = torch.linalg.svd(Xc, full_matrices=False)
    tol = max(Xc.shape) * torch.finfo(Xc.dtype).eps * s[0]
    keep = s > tol
    return U[:, keep], s[keep]


def _check_stimuli(n: int) -> None:
    if n < 2:
        raise ReprlabError(f"CCA needs at least 2 stimuli (rows); got {n}.")


def _zero_variance(label: str = "A representation") -> ReprlabError:
    return ReprlabError(
        f"{label} has zero variance across stimuli (every row is identical), so its canonical "
        "correlations are undefined. Check the layer (constant or dead units) or drop it."
    )


def _svcca_dims(s: torch.Tensor, var_kept: float, dims: int | None) -> int:
    """SVCCA's number of principal components from the singular values ``s`` (decreasing)."""
    if dims is not None:
        return min(dims, s.numel())
    frac = torch.cumsum(s * s, 0) / (s * s).sum()
    # the fewest components whose cumulative fraction reaches var_kept (rounding-safe)
    return min(int((frac < var_kept - 1e-12).sum()) + 1, s.numel())


def _prepare(X: torch.Tensor, *, summary: str, var_kept: float, dims: int | None, **_: object) -> CCAState:
    _check_stimuli(X.shape[0])
    Xc = center_columns(X)
    if not bool(Xc.any()):
        raise _zero_variance()
    U, s = _basis(Xc)
    if summary == "svcca":
        U = U[:, : _svcca_dims(s, var_kept, dims)]
    return CCAState(U, Xc, X.mean(dim=0))


def _warn_degenerate(rx: int, ry: int, n: int, stacklevel: int) -> None:
    forced = rx + ry - (n - 1)
    if forced > 0:
        warnings.warn(
            f"Degenerate CCA: the representations have ranks {rx} and {ry} after centring but only n - 1 = "
            f"{n - 1} centred directions exist (n={n} stimuli), so {forced} of the {min(rx, ry)} canonical "
            "correlations are 1 whatever the data. Use more stimuli than features, or summary='svcca' with "
            "few components (dims).",
            UserWarning,
            stacklevel=stacklevel,
        )


def _correlations(X: CCAState, Y: CCAState) -> torch.Tensor:
    _warn_degenerate(X.U.shape[1], Y.U.shape[1], X.U.shape[0], 6)
    return torch.linalg.svdvals(X.U.T @ Y.U).clamp(0.0, 1.0)


def _summarise(M: torch.Tensor, x_units: torch.Tensor | None, summary: str) -> torch.Tensor:
    """The summary of the canonical correlations, the singular values of ``M = Ux^T Uy``.

    PWCCA also needs ``x_units = Ux^T Xc`` (r_x, d_x): the canonical variates of X are ``h_i = Ux A_i``
    (``M = A diag(rho) B^T``), so ``<h_i, x_j> = (A^T Ux^T Xc)_ij``.
    """
    if summary != "pwcca":
        rho = torch.linalg.svdvals(M).clamp(0.0, 1.0)
        return (rho * rho).mean() if summary == "mean_r2" else rho.mean()
    A, rho, _ = torch.linalg.svd(M, full_matrices=False)
    weights = (A.T @ x_units).abs().sum(1)
    return (weights * rho.clamp(0.0, 1.0)).sum() / weights.sum()


_ALL = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation", "invertible_linear", "affine"})


# --- streaming (reprlab.stream.moments): CCA from accumulated covariances --------------------------


@dataclass
class CCACovState:
    """Per-representation state from the self covariance ``C = Xc^T Xc = V diag(s^2) V^T`` (kept part).

    ``W = V diag(1/s)`` (d, r) maps the centred data to the orthonormal basis, ``Ux = Xc W``, so
    ``Ux^T Uy = W_x^T C_xy W_y``; ``units = Ux^T Xc = diag(s) V^T`` (r, d) for the PWCCA weights.
    """

    W: torch.Tensor
    units: torch.Tensor


def stream_spec(params: dict) -> StreamSpec | None:
    """CCA from covariances for every summary; None for ``pwcca_weights="google"``.

    Google's PWCCA weights use the raw (uncentred) activity and a QR factorisation of directions
    shifted by the unit means, with signs that follow LAPACK's singular vectors of the data-derived
    matrix; the engine's statistics are centred, so that variant is computed in memory only.
    Directions are kept by :func:`reprlab.stream.moments.psd_basis` (exactly rank-deficient inputs
    lose the same directions as in memory); ``in_memory=False`` keeps arrays on the per-pair SVD path.
    """
    summary, var_kept, dims = params["summary"], params["var_kept"], params["dims"]
    if summary == "pwcca" and params["pwcca_weights"] == "google":
        return None

    def rep(st: PairStats) -> CCACovState:
        _check_stimuli(st.n)
        s, V = psd_basis(st.cross, st.n, st.eps)
        if s.numel() == 0:
            raise _zero_variance(st.label_x)
        if summary == "svcca":
            k = _svcca_dims(s, var_kept, dims)
            s, V = s[:k], V[:, :k]
        return CCACovState(V / s, s[:, None] * V.T)

    def pair(st: PairStats, x: CCACovState, y: CCACovState) -> torch.Tensor:
        _warn_degenerate(x.W.shape[1], y.W.shape[1], st.n, 6)
        return _summarise(x.W.T @ st.cross @ y.W, x.units, summary)

    return StreamSpec(rep, pair, in_memory=False)


@register(
    "cca",
    family="cca",
    params=PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    asymmetric_when={"summary": ("pwcca",)},
    invariances=_ALL,
    range=(0.0, 1.0),
    references=(
        "Hotelling (1936) Relations between two sets of variates, Biometrika",
        "Raghu, Gilmer, Yosinski & Sohl-Dickstein (2017) SVCCA, NeurIPS",
        (
            "Morcos, Raghu & Bengio (2018) Insights on representational similarity in neural networks with "
            "canonical correlation, NeurIPS (PWCCA)"
        ),
        (
            "matches: ReSi/Google svcca get_cca_similarity (canonical correlations, mean_rho, mean_r2); "
            "ReSi SVCCA only with dims=1 (its k selection keeps one component); ReSi/Google PWCCA with "
            "pwcca_weights='google'"
        ),
    ),
    summary="Canonical correlation analysis: mean canonical correlation, mean R^2, SVCCA or PWCCA",
    variants=(
        Variant({"summary": "mean_r2"}, True, False, _ALL, (0.0, 1.0), "mean squared canonical correlation"),
        Variant(
            {"summary": "svcca"},
            True,
            False,
            frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"}),
            (0.0, 1.0),
            "the PCA step is not invariant to invertible linear maps",
        ),
        Variant(
            {"summary": "pwcca"},
            True,
            False,
            frozenset({"permutation", "isotropic_scaling", "translation"}),
            (0.0, 1.0),
            "weights depend on X's units; asymmetric",
        ),
    ),
    prepare=_prepare,
    hooks=Hooks(stream=stream_spec),
)
def cca(
    X: CCAState,
    Y: CCAState,
    *,
    summary: str = "mean_rho",
    var_kept: float = 0.99,
    dims: int | None = None,
    pwcca_weights: str = "canonical_variates",
) -> float:
    """Summary of the canonical correlations between ``X`` (n, d1) and ``Y`` (n, d2).

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
    summary : {"mean_rho", "mean_r2", "svcca", "pwcca"}
        Mean canonical correlation (default), mean squared canonical correlation, SVCCA (CCA of the
        top principal components) or PWCCA (correlations weighted by how much of X each canonical
        variate accounts for; asymmetric, weights by the first argument).
    var_kept : float in (0, 1]
        SVCCA: keep, for each representation, the fewest principal components whose variance
        reaches this fraction of the total (default 0.99).
    dims : int, optional
        SVCCA: keep exactly this many components (at most the rank); overrides ``var_kept``.
    pwcca_weights : {"canonical_variates", "google"}
        PWCCA weights: Morcos et al.'s definition (default), or ``"google"``, the reference
        implementation of Google's svcca (and ReSi), reproduced exactly; defined for d1 <= d2 only.

    Returns
    -------
    float
        A similarity in [0, 1]. Warns when ``n`` is too small for the ranks (some correlations are 1
        by construction, see the module docstring). Use ``cca.canonical_correlations(X, Y)`` for
        the vector of correlations.
    """
    _warn_degenerate(X.U.shape[1], Y.U.shape[1], X.U.shape[0], 5)
    if summary == "pwcca" and pwcca_weights == "google":
        return _pwcca_google(X, Y)
    return _summarise(X.U.T @ Y.U, X.U.T @ X.Xc if summary == "pwcca" else None, summary)


def _inv_sqrt_psd(S: np.ndarray) -> np.ndarray:
    """``pinv(S)^(1/2)`` through the symmetric eigendecomposition of the pseudo-inverse."""
    w, V = np.linalg.eigh(np.linalg.pinv(S))
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def _pwcca_google(X: CCAState, Y: CCAState) -> float:
    """PWCCA as Google svcca's ``compute_pwcca`` (epsilon=0) computes it; see the module docstring.

    The value depends on the signs LAPACK gives the singular vectors, so this one path runs in NumPy
    (whose LAPACK the reference used) on CPU float64, not in torch.
    """
    d1, d2, n = X.Xc.shape[1], Y.Xc.shape[1], X.Xc.shape[0]
    if d1 > d2:
        raise ReprlabError(
            f"pwcca_weights='google' is defined only when X has at most as many units as Y (got {d1} > {d2}): "
            "the reference implementation's other branch indexes the wrong array. Swap the arguments, or use "
            "the default pwcca_weights='canonical_variates', which is defined for any widths."
        )
    Xc, Yc = X.Xc.cpu().double().numpy(), Y.Xc.cpu().double().numpy()
    mean = X.mean.cpu().double().numpy()
    sxx, syy, sxy = Xc.T @ Xc / (n - 1), Yc.T @ Yc / (n - 1), Xc.T @ Yc / (n - 1)
    xmax, ymax = np.abs(sxx).max(), np.abs(syy).max()
    arr = _inv_sqrt_psd(sxx / xmax) @ (sxy / np.sqrt(xmax * ymax)) @ _inv_sqrt_psd(syy / ymax)
    u, rho, _ = np.linalg.svd(arr)
    dirns = u.T @ Xc.T + mean[:, None]
    P, _ = np.linalg.qr(dirns.T)
    weights = np.abs(P.T @ (Xc + mean)).sum(1)
    return float((weights * np.abs(rho)).sum() / weights.sum())


def canonical_correlations(X, Y, *, dtype=None, device=None) -> np.ndarray:
    """All canonical correlations between ``X`` (n, d1) and ``Y`` (n, d2), in decreasing order.

    ``min(rank Xc, rank Yc)`` values in [0, 1] (null directions dropped, module docstring); their mean
    is ``cca(X, Y)``, the mean of their squares ``cca(X, Y, summary="mean_r2")``. Matches the
    ``cca_coef1`` of Google svcca's ``get_cca_similarity`` (copied into ReSi) for full-rank input.
    Also available as ``reprlab.measures.cca.canonical_correlations``.
    """
    Xt, Yt = as_tensor(X, "X", dtype=dtype, device=device), as_tensor(Y, "Y", dtype=dtype, device=device)
    check_same_rows(Xt, Yt)
    params = {"summary": "mean_rho", "var_kept": 0.99, "dims": None, "pwcca_weights": "canonical_variates"}
    rho = _correlations(_prepare(Xt, **params), _prepare(Yt, **params))
    return rho.cpu().numpy()


cca.canonical_correlations = canonical_correlations  # type: ignore[attr-defined]
