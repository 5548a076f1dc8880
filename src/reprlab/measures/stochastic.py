"""Stochastic shape metrics: distances between noisy responses, up to a transform of the units.

Inputs are responses of shape ``(n_conditions, n_repeats, n_features)`` (each condition presented
several times), or, for the Gaussian metric, per-condition means ``(n_conditions, n_features)`` and
covariances ``(n_conditions, n_features, n_features)`` via :func:`stochastic_shape_from_moments`.
From raw responses the means are taken over repeats and the covariances with ``ddof=1`` (as
``numpy.cov``).

**Gaussian** (``method="gaussian"``, Duong et al. 2023): with ``m_c``, ``S_c`` the mean and covariance
of condition ``c`` and ``T`` in the group ``G``,

    d_alpha(X, Y) = min_T sqrt( mean_c [ alpha |m^X_c - m^Y_c T|^2 + (2 - alpha) B^2(S^X_c, T^T S^Y_c T) ] ),

with the squared Bures distance ``B^2(A, B) = tr A + tr B - 2 tr (A^1/2 B A^1/2)^1/2``. ``alpha = 1``
is the 2-Wasserstein distance between the Gaussians, ``alpha = 0`` compares covariances only,
``alpha = 2`` means only (a Procrustes distance of the condition means times sqrt 2). A metric for
every alpha in [0, 2].

**Energy** (``method="energy"``): the energy distance between the response distributions,

    d(X, Y) = min_T sqrt( max(0, E|x - y T| - (E|x - x'| + E|y - y'|) / 2) ),

where each expectation is the mean over conditions of the mean over repeat pairs: all ``r_X r_Y``
pairs for ``x, y`` and distinct repeats ``i < j`` for ``x, x'`` (netrep's estimator, clipped at 0
before the square root).

**Groups.** ``orth`` (default): ``T`` orthogonal, optimised; ``perm``: ``T`` a permutation matrix,
optimised; ``identity``: ``T = I`` (the units correspond). With different widths the narrower
representation is zero-padded (``orth``, ``perm``).

**Optimisation** (deterministic, initialised like netrep by the alignment of the condition means):

* Gaussian: alternating maximisation of ``alpha sum_c <m^X_c, m^Y_c T> + (2 - alpha) sum_c
  |S^X_c^1/2 T^T S^Y_c^1/2|_*``, the cross terms of the objective (the Bures fidelity is the nuclear
  norm ``tr (A^1/2 B A^1/2)^1/2 = |A^1/2 B^1/2|_*``). Given ``T``, each nuclear norm is
  ``max_U tr(U^T S^X_c^1/2 T^T S^Y_c^1/2)`` over orthogonal ``U_c`` (its polar factor); given the
  ``U_c`` the objective is linear in ``T``, ``tr(T^T M)`` with ``M = alpha sum_c (m^Y_c)^T m^X_c +
  (2 - alpha) sum_c S^Y_c^1/2 U_c^T S^X_c^1/2``, maximised by the polar factor of ``M`` (``orth``,
  orthogonal Procrustes) or a linear assignment (``perm``, Hungarian). Each step cannot decrease the
  objective; iterations stop when the relative change of the loss falls below ``tol`` or after
  ``max_iter``. netrep (``GaussianStochasticMetric``) runs the same alternation but weights the
  terms by ``alpha^2`` and ``(2 - alpha)^2`` in its fit while scoring with ``alpha`` and ``2 - alpha``;
  the two agree for alpha in {0, 1, 2} (netrep's fit is then the score's minimiser) and reprlab
  minimises the scored quantity for every alpha.
* Energy: iteratively reweighted Procrustes (Weiszfeld-type) on all repeat pairs: weights
  ``1 / |x - y T|`` from the current ``T``, then the weighted Procrustes (or assignment) update, as
  netrep's ``EnergyStochasticMetric``; stops on the relative change of ``E|x - yT|``.

Matrix square roots are taken by eigendecomposition with negative eigenvalues (rounding, or singular
covariances when repeats <= features) clipped to 0; netrep does not clip and returns NaN there.
netrep crashes for ``group="perm"`` and ``"identity"`` (oracle README bug 8); reprlab computes them.

References: Duong, Zhou, Nassar, Berman, Olieslagers & Williams (2023), "Representational
dissimilarity metric spaces for stochastic neural networks", ICLR; Székely & Rizzo (2013), "Energy
statistics", J. Stat. Plan. Inference 143. Matches netrep ``GaussianStochasticMetric`` and
``EnergyStochasticMetric`` (``group="orth"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .._registry import Param, Variant, positive, positive_int, register
from .._validation import as_tensor
from ..errors import ReprlabError

GROUPS = ("orth", "perm", "identity")


def _alpha(v: object) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 2.0
    return None if ok else "must be a number in [0, 2]"


PARAMS = {
    "method": Param("gaussian", choices=("gaussian", "energy"), doc="gaussian (Wasserstein/Bures) or energy"),
    "alpha": Param(
        1.0, check=_alpha, doc="gaussian: weight of means (alpha) vs covariances (2 - alpha); 1: 2-Wasserstein"
    ),
    "group": Param("orth", choices=GROUPS, doc="alignment of the units: orth, perm or identity"),
    "max_iter": Param(1000, check=positive_int, doc="iterations of the alignment optimisation"),
    "tol": Param(1e-10, check=positive, doc="stop when the loss changes by less than tol (relative)"),
}


@dataclass
class _Gaussian:
    means: torch.Tensor  # (c, d)
    sqrt_covs: torch.Tensor  # (c, d, d)
    traces: torch.Tensor  # (c,)


@dataclass
class _Samples:
    data: torch.Tensor  # (c, r, d)
    within: torch.Tensor  # mean over conditions of the mean distance between distinct repeats


def _sqrtm_psd(S: torch.Tensor) -> torch.Tensor:
    """Symmetric square roots of a batch of PSD matrices, negative eigenvalues clipped to 0."""
    ev, V = torch.linalg.eigh(S)
    return (V * ev.clamp_min(0.0).sqrt()[..., None, :]) @ V.transpose(-1, -2)


def _gaussian_state(means: torch.Tensor, covs: torch.Tensor) -> _Gaussian:
    covs = (covs + covs.transpose(-1, -2)) / 2
    return _Gaussian(means, _sqrtm_psd(covs), torch.diagonal(covs, dim1=-2, dim2=-1).sum(-1))


def _check_repeats(X: torch.Tensor, name: str = "X") -> None:
    if X.shape[1] < 2:
        raise ReprlabError(
            f"`{name}` has {X.shape[1]} repeat per condition (shape {tuple(X.shape)}); stochastic shape metrics "
            "need at least 2 repeats of each condition to estimate its response distribution."
        )


def _prepare(X: torch.Tensor, *, method: str, **_: object) -> _Gaussian | _Samples:
    _check_repeats(X)
    if method == "gaussian":
        means = X.mean(dim=1)
        R = X - means[:, None, :]
        covs = R.transpose(1, 2) @ R / (X.shape[1] - 1)
        return _gaussian_state(means, covs)
    r = X.shape[1]
    iu = torch.triu_indices(r, r, offset=1, device=X.device)
    within = torch.cdist(X, X)[:, iu[0], iu[1]].mean()
    return _Samples(X, within)


def _pad(t: torch.Tensor, d: int, dims: tuple[int, ...]) -> torch.Tensor:
    """Zero-pad tensor ``t`` to size ``d`` along ``dims``."""
    for dim in dims:
        extra = d - t.shape[dim]
        if extra > 0:
            shape = list(t.shape)
            shape[dim] = extra
            t = torch.cat([t, t.new_zeros(shape)], dim=dim)
    return t


def _best_transform(M: torch.Tensor, group: str) -> torch.Tensor:
    """``argmax_T tr(T^T M)`` over orthogonal (polar factor) or permutation matrices (assignment)."""
    if group == "orth":
        P, _, Rh = torch.linalg.svd(M)
        return P @ Rh
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(M.detach().cpu().numpy(), maximize=True)
    T = torch.zeros_like(M)
    T[torch.as_tensor(r), torch.as_tensor(c)] = 1.0
    return T


def _gaussian_terms(x: _Gaussian, y: _Gaussian, T: torch.Tensor, alpha: float):
    """The loss at ``T`` and the SVD of the cross terms ``N_c = S^X_c^1/2 T^T S^Y_c^1/2``."""
    P, S, Rh = torch.linalg.svd(x.sqrt_covs @ T.T @ y.sqrt_covs)
    mean_sq = ((x.means - y.means @ T) ** 2).sum(-1)
    bures_sq = (x.traces + y.traces - 2.0 * S.sum(-1)).clamp_min(0.0)
    return (alpha * mean_sq + (2.0 - alpha) * bures_sq).mean(), P, Rh


def _gaussian_loss(x: _Gaussian, y: _Gaussian, T: torch.Tensor, alpha: float) -> torch.Tensor:
    """``mean_c [alpha |m^X_c - m^Y_c T|^2 + (2 - alpha) B^2(S^X_c, T^T S^Y_c T)]``."""
    return _gaussian_terms(x, y, T, alpha)[0]


def _gaussian_distance(
    x: _Gaussian, y: _Gaussian, alpha: float, group: str, max_iter: int, tol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    d = x.means.shape[1]
    if group == "identity":
        T = torch.eye(d, dtype=x.means.dtype, device=x.means.device)
        return _gaussian_loss(x, y, T, alpha).clamp_min(0.0).sqrt(), T
    mean_cross = y.means.T @ x.means
    T = _best_transform(mean_cross, group)
    loss, P, Rh = _gaussian_terms(x, y, T, alpha)
    if alpha < 2.0:
        for _ in range(max_iter):
            U = P @ Rh  # polar factors of N_c: tr(U_c^T N_c) = |N_c|_*
            M = alpha * mean_cross + (2.0 - alpha) * (y.sqrt_covs @ U.transpose(-1, -2) @ x.sqrt_covs).sum(0)
            T_new = _best_transform(M, group)
            new, P, Rh = _gaussian_terms(x, y, T_new, alpha)
            if new > loss:  # rounding at the optimum; keep the better transform
                break
            done = float(loss - new) <= tol * max(float(loss), 1e-300)
            T, loss = T_new, new
            if done:
                break
    return loss.clamp_min(0.0).sqrt(), T


def _energy_cross(X: torch.Tensor, Y: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    return torch.cdist(X, Y @ T)  # (c, r_x, r_y)


def _energy_distance(
    x: _Samples, y: _Samples, group: str, max_iter: int, tol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    X, Y = x.data, y.data
    d = X.shape[-1]
    T = torch.eye(d, dtype=X.dtype, device=X.device)
    if group != "identity":
        W = torch.ones(X.shape[0], X.shape[1], Y.shape[1], dtype=X.dtype, device=X.device)
        loss = None
        for _ in range(max_iter + 1):
            T = _best_transform((Y.transpose(1, 2) @ W.transpose(1, 2) @ X).sum(0), group)
            dist = _energy_cross(X, Y, T)
            new = dist.mean()
            if loss is not None and float(loss - new) <= tol * max(float(loss), 1e-300):
                break
            loss = new
            W = 1.0 / dist.clamp_min(1e-12)
    cross = _energy_cross(X, Y, T).mean()
    return (cross - (x.within + y.within) / 2).clamp_min(0.0).sqrt(), T


def _core(
    X: Any, Y: Any, *, method: str, alpha: float, group: str, max_iter: int, tol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    if method == "gaussian":
        dx, dy = X.means.shape[1], Y.means.shape[1]
    else:
        dx, dy = X.data.shape[-1], Y.data.shape[-1]
    if dx != dy:
        if group == "identity":
            raise ReprlabError(
                f"stochastic_shape(group='identity') compares unit by unit and needs the same number of units; got "
                f"{dx} and {dy}. Use group='orth' or 'perm' (the narrower representation is zero-padded)."
            )
        d = max(dx, dy)
        if method == "gaussian":
            X, Y = (_Gaussian(_pad(s.means, d, (1,)), _pad(s.sqrt_covs, d, (1, 2)), s.traces) for s in (X, Y))
        else:
            X, Y = (_Samples(_pad(s.data, d, (2,)), s.within) for s in (X, Y))
    if method == "gaussian":
        return _gaussian_distance(X, Y, alpha, group, max_iter, tol)
    return _energy_distance(X, Y, group, max_iter, tol)


_ORTH = frozenset({"orthogonal"})


@register(
    "stochastic_shape",
    family="stochastic",
    params=PARAMS,
    larger_is_similar=False,
    is_metric=True,
    symmetric=True,
    invariances=_ORTH,
    range=(0.0, math.inf),
    references=(
        (
            "Duong, Zhou, Nassar, Berman, Olieslagers & Williams (2023) Representational dissimilarity metric "
            "spaces for stochastic neural networks, ICLR"
        ),
        (
            "matches: netrep GaussianStochasticMetric(alpha, group='orth', init='means') and "
            "EnergyStochasticMetric(group='orth') (iterative: agreement ~1e-5 relative)"
        ),
    ),
    summary="Stochastic shape metric (Gaussian 2-Wasserstein/Bures family or energy distance) on repeated responses",
    variants=(
        Variant({"alpha": 0.0}, False, True, _ORTH, (0.0, math.inf), "covariances only (Bures)"),
        Variant({"alpha": 2.0}, False, True, _ORTH, (0.0, math.inf), "means only"),
        Variant({"group": "perm"}, False, True, frozenset({"permutation"}), (0.0, math.inf)),
        Variant({"group": "identity"}, False, True, frozenset(), (0.0, math.inf)),
        Variant(
            {"method": "energy"},
            False,
            False,
            _ORTH,
            (0.0, math.inf),
            "finite-sample energy estimator clipped at 0: no guaranteed triangle inequality",
        ),
    ),
    input_ndim=3,
    prepare=_prepare,
    differentiable=False,
)
def stochastic_shape(
    X: Any,
    Y: Any,
    *,
    method: str = "gaussian",
    alpha: float = 1.0,
    group: str = "orth",
    max_iter: int = 1000,
    tol: float = 1e-10,
) -> torch.Tensor:
    """Stochastic shape distance between responses ``X`` and ``Y`` of shape (n_conditions, n_repeats, n_features).

    Parameters
    ----------
    X, Y : arrays of shape (n_conditions, n_repeats, n_features)
        Repeated responses to the same conditions, in the same order (repeats >= 2; the repeat counts
        and widths may differ between X and Y).
    method : {"gaussian", "energy"}
        ``gaussian``: the alpha-interpolated 2-Wasserstein distance between per-condition Gaussians
        (means, covariances with ddof=1). ``energy``: the energy distance between the raw repeats.
    alpha : float in [0, 2]
        Gaussian only: weight ``alpha`` on the squared mean difference and ``2 - alpha`` on the squared
        Bures distance of the covariances (1: 2-Wasserstein; 0: covariances only; 2: means only).
    group : {"orth", "perm", "identity"}
        Transform of the units minimised over (see the module docstring for the algorithm).
    max_iter, tol : int, float
        Alternating-optimisation budget and relative stopping tolerance.

    Returns
    -------
    float
        A distance >= 0 (module docstring for the formulas). See also
        :func:`stochastic_shape_from_moments` for means and covariances given directly.
    """
    return _core(X, Y, method=method, alpha=alpha, group=group, max_iter=max_iter, tol=tol)[0]


def _moments(means: Any, covs: Any, tag: str, dtype: Any, device: Any) -> _Gaussian:
    m = as_tensor(means, f"means_{tag}", ndim=2, dtype=dtype, device=device)
    S = as_tensor(covs, f"covs_{tag}", ndim=3, dtype=dtype, device=device)
    c, d = m.shape
    if S.shape != (c, d, d):
        raise ReprlabError(
            f"`covs_{tag}` must have shape (n_conditions, n_features, n_features) = ({c}, {d}, {d}) to match "
            f"`means_{tag}` of shape ({c}, {d}); got {tuple(S.shape)}."
        )
    asym = float((S - S.transpose(1, 2)).abs().max())
    scale = float(S.abs().max())
    if asym > 1e-8 * max(scale, 1e-300):
        raise ReprlabError(
            f"`covs_{tag}` must hold symmetric covariance matrices; the largest |S - S^T| is {asym:.3g}."
        )
    ev_min = float(torch.linalg.eigvalsh((S + S.transpose(1, 2)) / 2).min())
    if ev_min < -1e-8 * max(scale, 1e-300):
        raise ReprlabError(
            f"`covs_{tag}` must hold positive semi-definite covariance matrices; the smallest eigenvalue is "
            f"{ev_min:.3g}."
        )
    return _gaussian_state(m, S)


def stochastic_shape_from_moments(
    means_x: Any,
    covs_x: Any,
    means_y: Any,
    covs_y: Any,
    *,
    alpha: float = 1.0,
    group: str = "orth",
    max_iter: int = 1000,
    tol: float = 1e-10,
    return_transform: bool = False,
    dtype: Any = None,
    device: Any = None,
) -> float | tuple[float, Any]:
    """Gaussian stochastic shape distance from per-condition means and covariances.

    The same quantity as ``stochastic_shape(X, Y, method="gaussian", ...)`` (module docstring), for
    responses summarised as ``means_*`` of shape (n_conditions, n_features) and ``covs_*`` of shape
    (n_conditions, n_features, n_features), e.g. from a model's predicted Gaussians. Matches netrep
    ``GaussianStochasticMetric(...).fit_score((means_x, covs_x), (means_y, covs_y))``.

    ``return_transform=True`` also returns the fitted transform ``T`` (a NumPy array; ``Y``'s units
    are mapped as ``y -> y T``).
    """
    from .._registry import get

    params = get("stochastic_shape").check_params(
        {"method": "gaussian", "alpha": alpha, "group": group, "max_iter": max_iter, "tol": tol}
    )
    x = _moments(means_x, covs_x, "x", dtype, device)
    y = _moments(means_y, covs_y, "y", dtype, device)
    if x.means.shape[0] != y.means.shape[0]:
        raise ReprlabError(
            f"`means_x` and `means_y` must describe the same conditions in the same order; got "
            f"{x.means.shape[0]} and {y.means.shape[0]} conditions."
        )
    value, T = _core(x, y, **params)
    return (float(value), T.cpu().numpy()) if return_transform else float(value)
