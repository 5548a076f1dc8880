"""Regression and encoding measures: how well one representation linearly predicts the other.

* ``linear_regression``: the in-sample R^2 of the least-squares fit (with intercept) of all units of the
  target on the predictor, ``R^2 = |P Yc|_F^2 / |Yc|_F^2`` where ``Yc`` is the column-centred target and
  ``P`` the orthogonal projector onto the column space of the centred predictor: the fraction of the
  target's total variance that the fit explains (Klabunde et al. 2024, ReSi ``LinearRegression``).
* ``ridge``: a cross-validated encoding model (as used to score models against brain data, e.g. Yamins
  et al. 2014, Schrimpf et al. 2018): ridge regression from the predictor to every target unit, fitted
  on the training folds with a per-unit regularisation strength chosen by generalised cross-validation
  inside the training folds, scored on the held-out stimuli.

Both are asymmetric; ``direction="x_to_y"`` (default) predicts ``Y`` from ``X``. ``linear_regression``
streams over stores in :func:`reprlab.compare_all` (from accumulated covariances); ``ridge`` does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._registry import Hooks, Param, Variant, get, register
from .._validation import as_tensor, check_same_rows
from ..errors import ReprlabError
from ..stream.moments import PairStats, StreamSpec, psd_basis

DIRECTIONS = ("x_to_y", "y_to_x")
_DIRECTION = Param("x_to_y", choices=DIRECTIONS, doc="x_to_y: predict Y from X; y_to_x: predict X from Y")


def _rank_basis(Ac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD ``Ac = U diag(s) V^T`` keeping singular values above the usual rank tolerance."""
    U, s, Vh = torch.linalg.svd(Ac, full_matrices=False)
    if s.numel() == 0 or float(s[0]) == 0.0:
        keep = 0
    else:
        tol = float(s[0]) * max(Ac.shape) * torch.finfo(Ac.dtype).eps
        keep = int((s > tol).sum())
    return U[:, :keep], s[:keep], Vh[:keep].T


# --- linear regression -----------------------------------------------------------------------------


@dataclass
class LinRegState:
    """Per-representation work: centred data, an orthonormal basis of its column space, total variance."""

    Ac: torch.Tensor
    U: torch.Tensor
    total: torch.Tensor


def _prepare_linreg(X: torch.Tensor, **_: object) -> LinRegState:
    Ac = X - X.mean(dim=0, keepdim=True)
    U, _s, _V = _rank_basis(Ac)
    return LinRegState(Ac, U, (Ac * Ac).sum())


def _constant_target(what: str) -> ReprlabError:
    return ReprlabError(
        f"The target representation of {what} has zero variance across stimuli (every row is identical), so "
        "the fraction of variance explained is undefined. Check the layer or swap `direction`."
    )


@dataclass
class LinRegCovState:
    """Per-representation state from the self covariance ``C = Ac^T Ac = V diag(s^2) V^T`` (kept part):
    ``W = V diag(1/s)``, so that ``U^T Tc = W^T C_pt`` (``U = Ac W``), and the total variance ``tr C``."""

    W: torch.Tensor
    total: torch.Tensor


def _linreg_stream_spec(params: dict[str, Any]) -> StreamSpec:
    """``linear_regression`` from accumulated covariances: ``R^2 = |W_p^T C_pt|_F^2 / tr C_tt``.

    Directions of the predictor are kept by :func:`reprlab.stream.moments.psd_basis` (an exactly
    rank-deficient predictor loses the same directions as in memory); ``in_memory=False`` keeps
    in-memory arrays on the per-pair SVD path.
    """
    x_to_y = params["direction"] == "x_to_y"

    def rep(st: PairStats) -> LinRegCovState:
        s, V = psd_basis(st.cross, st.n, st.eps)
        return LinRegCovState(V / s, torch.diagonal(st.cross).sum())

    def pair(st: PairStats, x: LinRegCovState, y: LinRegCovState) -> torch.Tensor:
        pred, target, cross = (x, y, st.cross) if x_to_y else (y, x, st.cross.T)
        if float(target.total) == 0.0:
            raise _constant_target("linear_regression")
        explained = torch.linalg.matrix_norm(pred.W.T @ cross) ** 2
        return (explained / target.total).clamp(0.0, 1.0)

    return StreamSpec(rep, pair, in_memory=False)


@register(
    "linear_regression",
    family="regression",
    params={"direction": _DIRECTION},
    larger_is_similar=True,
    is_metric=False,
    symmetric=False,
    invariances={"permutation", "orthogonal", "isotropic_scaling", "translation"},
    range=(0.0, 1.0),
    references=(
        "Kornblith et al. (2019) Similarity of neural network representations revisited, ICML (linear regression)",
        "Klabunde et al. (2024) ReSi: A comprehensive benchmark for representational similarity measures",
        "matches: ReSi LinearRegression()(target, predictor): rl linear_regression(X, Y) = ReSi(Y, X)",
    ),
    summary="R^2 of the least-squares fit of one representation's units on the other (asymmetric)",
    variants=(
        Variant(
            {"direction": "y_to_x"},
            True,
            False,
            frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"}),
            (0.0, 1.0),
            "predicts X from Y",
        ),
    ),
    prepare=_prepare_linreg,
    hooks=Hooks(stream=_linreg_stream_spec),
)
def linear_regression(X: LinRegState, Y: LinRegState, *, direction: str = "x_to_y") -> torch.Tensor:
    """R^2 of the ordinary least-squares fit (with intercept) of the target's units on the predictor.

    ``R^2 = |U^T Tc|_F^2 / |Tc|_F^2`` with ``Tc`` the column-centred target and ``U`` an orthonormal
    basis of the centred predictor's column space (thin SVD, singular values below
    ``s_max * max(n, d) * eps`` dropped, so a rank-deficient predictor is handled exactly). This is the
    share of the target's total variance explained by the fit; the predictor's invertible linear maps
    and translations and the target's orthogonal maps, scalings and translations leave it unchanged.
    With ``n - 1 <= rank`` of the predictor the fit is perfect and R^2 = 1.

    ReSi's ``LinearRegression(R, Rp)`` regresses its FIRST argument on its second through
    ``Rp (Rp^T Rp)^(-1/2)`` (fails when Rp is rank deficient); ``linear_regression(X, Y)`` with the
    default ``direction="x_to_y"`` equals ``ReSi(Y, X)``.
    """
    pred, target = (X, Y) if direction == "x_to_y" else (Y, X)
    if float(target.total) == 0.0:
        raise _constant_target("linear_regression")
    explained = torch.linalg.matrix_norm(pred.U.T @ target.Ac) ** 2
    return (explained / target.total).clamp(0.0, 1.0)


# --- ridge encoding model ------------------------------------------------------------------------


DEFAULT_ALPHAS = tuple(10.0**e for e in range(-6, 7))
SCORES = ("pearson", "r2")


def _alphas_check(v: object) -> str | None:
    if not isinstance(v, (list, tuple)) or not v:
        return "must be a non-empty list of numbers >= 0"
    for a in v:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or a < 0:
            return "must be a non-empty list of finite numbers >= 0"
    return None


def _cv_check(v: object) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 2 else "must be an integer >= 2"


def _seed_check(v: object) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "must be an integer >= 0"


RIDGE_PARAMS = {
    "alphas": Param(
        DEFAULT_ALPHAS,
        check=_alphas_check,
        doc="regularisation strengths, relative to the mean eigenvalue of the training predictor's X^T X",
    ),
    "cv": Param(5, check=_cv_check, doc="number of cross-validation folds"),
    "score": Param("pearson", choices=SCORES, doc="per-unit score on held-out stimuli: pearson or r2"),
    "seed": Param(0, check=_seed_check, doc="seed of the random (but deterministic) assignment of stimuli to folds"),
    "direction": _DIRECTION,
}


def cv_folds(n: int, cv: int, seed: int) -> np.ndarray:
    """The fold (0..cv-1) of each of ``n`` stimuli: a seeded random permutation cut into ``cv`` parts whose
    sizes differ by at most one."""
    if cv > n:
        raise ReprlabError(f"`cv`={cv} folds need at least {cv} stimuli; got n={n}. Use fewer folds.")
    if n - math.ceil(n / cv) < 2:
        raise ReprlabError(f"ridge needs at least 2 training stimuli per fold; with n={n} and cv={cv} there are fewer.")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    folds = np.empty(n, dtype=np.int64)
    for f, part in enumerate(np.array_split(perm, cv)):
        folds[part] = f
    return folds


@dataclass
class _FoldFit:
    train: torch.Tensor
    test: torch.Tensor
    mu: torch.Tensor
    U: torch.Tensor
    s: torch.Tensor
    V: torch.Tensor
    scale: float


@dataclass
class RidgeState:
    """Per-representation work: the data and, once it has served as predictor, its per-fold SVDs."""

    A: torch.Tensor
    _fits: dict[tuple[int, int], list[_FoldFit]] = field(default_factory=dict)

    def fold_fits(self, cv: int, seed: int) -> tuple[np.ndarray, list[_FoldFit]]:
        folds = cv_folds(self.A.shape[0], cv, seed)
        key = (cv, seed)
        if key not in self._fits:
            fits = []
            f_t = torch.as_tensor(folds, device=self.A.device)
            for f in range(cv):
                train = torch.nonzero(f_t != f).flatten()
                test = torch.nonzero(f_t == f).flatten()
                Atr = self.A[train]
                mu = Atr.mean(dim=0, keepdim=True)
                Ac = Atr - mu
                U, s, V = _rank_basis(Ac)
                scale = float((Ac * Ac).sum()) / Ac.shape[1]
                fits.append(_FoldFit(train, test, mu, U, s, V, scale))
            self._fits[key] = fits
        return folds, self._fits[key]


@dataclass
class RidgeResult:
    """The full result of :func:`ridge_scores`.

    ``score``: mean of ``unit_scores`` over target units; ``unit_scores``: (p,) held-out score of each
    target unit; ``predictions``: (n, p) out-of-fold predictions (stimulus i predicted by the model of
    the fold that held it out); ``folds``: (n,) fold of each stimulus; ``alphas``: (cv, p) relative
    alpha chosen for each unit in each fold; ``penalties``: (cv, p) the absolute ridge penalty used.
    """

    score: float
    unit_scores: np.ndarray
    predictions: np.ndarray
    folds: np.ndarray
    alphas: np.ndarray
    penalties: np.ndarray
    metric: str


def _score_units(Yt: torch.Tensor, P: torch.Tensor, score: str) -> torch.Tensor:
    yc = Yt - Yt.mean(dim=0, keepdim=True)
    ss_y = (yc * yc).sum(0)
    if score == "r2":
        return 1.0 - ((Yt - P) ** 2).sum(0) / ss_y
    pc = P - P.mean(dim=0, keepdim=True)
    ss_p = (pc * pc).sum(0)
    r = (pc * yc).sum(0) / torch.sqrt(ss_p * ss_y)
    return torch.where(ss_p > 0, r, torch.zeros_like(r))


def _ridge_fit(pred: RidgeState, target: RidgeState, alphas, cv: int, score: str, seed: int) -> RidgeResult:
    Yt = target.A
    const = ((Yt - Yt[:1]) == 0).all(dim=0)
    if bool(const.any()):
        cols = torch.nonzero(const).flatten()[:5].tolist()
        raise ReprlabError(
            f"{int(const.sum())} target units are constant across stimuli (e.g. columns {cols}), so their "
            "held-out score is undefined. Drop constant units (e.g. Y[:, Y.std(0) > 0]) first."
        )
    folds, fits = pred.fold_fits(cv, seed)
    dt, dev = Yt.dtype, Yt.device
    a_rel = torch.tensor([float(a) for a in alphas], dtype=dt, device=dev)
    P = torch.empty_like(Yt)
    chosen = torch.empty((cv, Yt.shape[1]), dtype=torch.long, device=dev)
    pens = torch.empty((cv, Yt.shape[1]), dtype=dt, device=dev)
    for f, fit in enumerate(fits):
        ytr = Yt[fit.train]
        ymu = ytr.mean(dim=0, keepdim=True)
        yc = ytr - ymu
        n_tr = yc.shape[0]
        UTy = fit.U.T @ yc  # (r, p)
        lam = a_rel * fit.scale  # (A,)
        s2 = fit.s**2
        shrink = lam[:, None] / (s2[None, :] + lam[:, None])  # (A, r): 1 - hat-matrix eigenvalue (s > 0)
        # Residual sum of squares of the ridge fit for every alpha and unit (generalised CV numerator).
        outside = (yc * yc).sum(0) - (UTy * UTy).sum(0)  # part of y outside the predictor's column space
        rss = outside.clamp_min(0.0)[None, :] + (shrink**2) @ (UTy * UTy)  # (A, p)
        dof = 1.0 + (1.0 - shrink).sum(1)  # intercept + trace of the hat matrix
        room = n_tr - dof
        gcv = torch.where(room[:, None] > 0, n_tr * rss / room[:, None].clamp_min(1e-300) ** 2, torch.inf)
        best = torch.argmin(gcv, dim=0)  # first minimum: the smallest such alpha
        lam_p = lam[best]  # (p,)
        coef_scale = fit.s[:, None] / (s2[:, None] + lam_p[None, :])  # (r, p)
        Xte = pred.A[fit.test] - fit.mu
        P[fit.test] = (Xte @ fit.V) @ (coef_scale * UTy) + ymu
        chosen[f], pens[f] = best, lam_p
    units = _score_units(Yt, P, score)
    return RidgeResult(
        score=float(units.mean()),
        unit_scores=units.cpu().numpy(),
        predictions=P.cpu().numpy(),
        folds=folds,
        alphas=a_rel[chosen].cpu().numpy(),
        penalties=pens.cpu().numpy(),
        metric=score,
    )


def _prepare_ridge(X: torch.Tensor, **_: object) -> RidgeState:
    return RidgeState(X)


@register(
    "ridge",
    family="regression",
    params=RIDGE_PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=False,
    invariances={"permutation", "isotropic_scaling", "translation"},
    range=(-1.0, 1.0),
    references=(
        (
            "Yamins et al. (2014) Performance-optimized hierarchical models predict neural responses in higher "
            "visual cortex, PNAS (encoding models)"
        ),
        "Schrimpf et al. (2018) Brain-Score (cross-validated linear predictivity)",
        (
            "Golub, Heath & Wahba (1979) Generalized cross-validation as a method for choosing a good ridge "
            "parameter, Technometrics"
        ),
        "matches: scikit-learn Ridge on the same folds for a single alpha (cross-checked in the tests)",
    ),
    summary="Cross-validated ridge encoding model: mean held-out score of predicting each target unit",
    variants=(
        Variant(
            {"score": "r2"},
            True,
            False,
            frozenset({"permutation", "isotropic_scaling", "translation"}),
            (-math.inf, 1.0),
            "held-out R^2 (can be negative)",
        ),
        Variant(
            {"direction": "y_to_x"},
            True,
            False,
            frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"}),
            (-1.0, 1.0),
            "predicts X from Y: the transformed Y is then the predictor, whose rotations leave ridge unchanged",
        ),
    ),
    prepare=_prepare_ridge,
)
def ridge(
    X: RidgeState,
    Y: RidgeState,
    *,
    alphas: Any = DEFAULT_ALPHAS,
    cv: int = 5,
    score: str = "pearson",
    seed: int = 0,
    direction: str = "x_to_y",
) -> float:
    """Cross-validated ridge encoding model: the mean over target units of the held-out score.

    Stimuli are split into ``cv`` folds (a permutation seeded by ``seed``, cut into near-equal parts).
    For each fold, the model is fitted on the other folds only: the training predictor ``A`` and target
    ``y`` are centred on their training means (intercept), one thin SVD ``A = U S V^T`` serves every
    alpha, and for each target unit the penalty ``lambda = alpha * tr(A^T A) / d`` (alphas are relative to
    the mean eigenvalue of ``A^T A``, which makes the model invariant to scaling the predictor) minimises
    generalised cross-validation (Golub et al. 1979) on the training stimuli:

        GCV(lambda) = n_tr |y - H y|^2 / (n_tr - 1 - tr H)^2,   H = U diag(s^2 / (s^2 + lambda)) U^T.

    The held-out stimuli are predicted with ``(A_test - mean) V diag(s / (s^2 + lambda)) U^T y + mean(y)``.
    Every stimulus is predicted exactly once by a model that never saw it; the per-unit score compares
    those out-of-fold predictions with the truth over all n stimuli: Pearson r (default; 0 when a unit's
    predictions are constant) or R^2 ``1 - SS_res / SS_tot`` (``score="r2"``).

    Use :func:`ridge_scores` for the per-unit scores, predictions, folds and chosen alphas.
    """
    pred, target = (X, Y) if direction == "x_to_y" else (Y, X)
    return _ridge_fit(pred, target, alphas, cv, score, seed).score


def ridge_scores(X: Any, Y: Any, /, *, dtype: Any = None, device: Any = None, **params: Any) -> RidgeResult:
    """:func:`ridge` with the full result: per-unit scores, out-of-fold predictions, folds, chosen alphas.

    Takes the same arguments and parameters as ``reprlab.measures.ridge``.
    """
    m = get("ridge")
    p = m.check_params(params)
    A = as_tensor(X, "X", dtype=dtype, device=device)
    B = as_tensor(Y, "Y", dtype=dtype, device=device)
    check_same_rows(A, B)
    pred, target = (A, B) if p["direction"] == "x_to_y" else (B, A)
    return _ridge_fit(RidgeState(pred), RidgeState(target), p["alphas"], p["cv"], p["score"], p["seed"])
