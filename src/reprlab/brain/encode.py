"""Cross-validated (banded) ridge encoding models with time lags: features -> brain responses.

**Model.** For every response channel ``c``, ``y_c(t) = b_c + sum_k x(t - k) w_{k,c} + e(t)`` over
the lags ``k`` (:mod:`reprlab.brain.lags`), fitted by ridge regression with an intercept:
``w = argmin |y - b - X w|^2 + alpha |w|^2`` on centred data, ``w = (Xc^T Xc + alpha I)^-1 Xc^T yc``
(Hoerl & Kennard 1970; as ``sklearn.linear_model.Ridge(fit_intercept=True)``). With feature *bands*
(a mapping name -> features), band ``b`` gets its own penalty ``alpha / s_b^2`` (banded ridge, Nunez-Elizalde,
Huth & Gallant 2019; la Tour et al. 2022, himalaya): the same as ridge with penalty ``alpha`` on the
design whose band-``b`` columns are multiplied by ``s_b``. The band scales ``s`` come from a grid
(``band_scales``, the first band fixed at 1 since a common factor is absorbed by ``alpha``).

**Penalty search, batched.** Every fold's sufficient statistics (``n``, ``sum x``, ``sum y``,
``X^T X``, ``X^T Y``, ``sum y^2``) are computed once. A training set's centred Gram matrix is then a
sum of folds' statistics; one eigendecomposition ``Xc^T Xc = V diag(l) V^T`` gives the coefficients of
*every* penalty and channel at once, ``W_alpha = V diag(1 / (l + alpha)) V^T Xc^T Yc``, and a
validation fold's squared error follows from its own statistics without forming predictions:
``SSE = sum (y - my)^2 - 2 <W, Xv^T (y - my)> + <W, Xv^T Xv W>`` (all centred at the training means;
computed with a square root ``R^T R`` of each validation fold's Gram, factored once, see ``_sse``).

**Cross-validation, nested.** The outer folds (:func:`~reprlab.brain.lags.make_folds`: contiguous time
blocks or whole stimuli) give held-out predictions. For outer fold ``k`` the penalty (and band scales)
of each channel is chosen by the summed validation error over the other folds (inner CV on the
training folds only), then the model is refitted on all folds but ``k`` and predicts fold ``k``.
The model trained without folds ``k`` and ``j`` serves both outer fold ``k`` (validated on ``j``)
and outer fold ``j`` (validated on ``k``), so ``cv (cv - 1) / 2 + cv + 1`` eigendecompositions per
band setting cover the whole nested search.

**Scores.** Each channel's score is the mean over the outer folds of the held-out Pearson ``r`` (or
``R^2 = 1 - SSE / sum (y - mean y)^2``, the mean taken over the held-out fold, as
``sklearn.metrics.r2_score``). Scoring every fold's predictions pooled into one series instead is
biased below zero when there is no real relation: each fold's prediction offset and scale come
from the other folds' responses, so they are anticorrelated with the held-out fold's own. The
reported coefficients (``coef``) are refitted on all data with each channel's penalty chosen by the
outer-fold error.

**Intervals.** A bootstrap over units of held-out samples, stratified by fold (each fold's units
are resampled among themselves): the units are whole stimuli when ``groups`` is given, otherwise
contiguous blocks of ``block`` samples, so autocorrelated neighbours are resampled together (the
block bootstrap of Kunsch 1989). Each unit's sums are kept, so a resample's ``r`` and ``R^2`` cost
one matrix product; percentile intervals. :meth:`EncodingResult.paired` compares two
models on the same resamples (paired bootstrap, one-sided ``p = (1 + #{diff <= 0}) / (1 + n)``).

**Noise ceiling.** With repeated measurements (``responses`` of shape ``(n_repeats, n_samples,
n_channels)``), the model is fitted to the repeat average and each channel's reliability ``rho`` is the
Spearman-Brown corrected split-half correlation (:func:`reprlab.stats.split_half_reliability`). The
largest correlation any model can reach with the noisy average is ``sqrt(rho)`` (Hsu, Borst &
Theunissen 2004; Schoppe et al. 2016), the largest ``R^2`` is ``rho``; ``normalised = score / ceiling``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor, resolve_device, resolve_dtype
from ..errors import ReprlabError
from .lags import check_lags, lagged, make_folds, segments_of

SCORES = ("r", "r2")
DEFAULT_ALPHAS = tuple(np.logspace(-2, 7, 10))
DEFAULT_BAND_SCALES = tuple(np.logspace(-1, 1, 5))
_CHUNK = 8192
_KEEP = 1 << 24  # lagged designs up to this many values are kept between the two passes


# ------------------------------------------------------------------------------------ statistics


@dataclass
class _Validation:
    """Folds as validation sets: statistics centred at each fold's own means, stacked on axis 0.

    ``R`` is a square root of the fold's centred Gram, ``R^T R = (X - mx)^T (X - mx)`` (the transposed
    Cholesky factor, or ``diag(sqrt(l)) E^T`` from its eigendecomposition where the Gram is singular), so a
    quadratic form ``w^T Gram w = |R w|^2`` needs no inverse.
    """

    n: torch.Tensor  # (K,)
    mx: torch.Tensor  # (K, p)
    my: torch.Tensor  # (K, C)
    R: torch.Tensor  # (K, p, p)
    B: torch.Tensor  # (K, p, C): (X - mx)^T (Y - my)
    yy: torch.Tensor  # (K, C): sum (Y - my)^2

    def folds(self, ks: Sequence[int]) -> tuple[torch.Tensor, ...]:
        """The validation statistics of folds ``ks``, stacked on axis 0 (scored together)."""
        idx = torch.as_tensor(list(ks), device=self.R.device)
        return tuple(t[idx] for t in (self.n, self.mx, self.my, self.R, self.B, self.yy))


@dataclass
class _FoldStats:
    """Sufficient statistics of every fold, stacked on axis 0."""

    n: torch.Tensor  # (K,)
    sx: torch.Tensor  # (K, p)
    sy: torch.Tensor  # (K, C)
    G: torch.Tensor  # (K, p, p)
    B: torch.Tensor  # (K, p, C)
    yy: torch.Tensor  # (K, C)

    def _all(self) -> tuple[torch.Tensor, ...]:
        return (self.n, self.sx, self.sy, self.G, self.B, self.yy)

    def total(self, mask: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The statistics of the union of the folds in ``mask`` (their sum, fold by fold)."""
        ks = np.flatnonzero(mask)
        return tuple(sum((t[k] for k in ks[1:]), t[ks[0]].clone()) for t in self._all())

    def validation(self) -> _Validation:
        """Every fold centred at its own means, with a square root of its Gram (:class:`_Validation`)."""
        n = self.n
        mx, my = self.sx / n[:, None], self.sy / n[:, None]
        G = self.G - n[:, None, None] * mx[:, :, None] * mx[:, None, :]
        B = self.B - n[:, None, None] * mx[:, :, None] * my[:, None, :]
        yy = self.yy - n[:, None] * my * my
        L, info = torch.linalg.cholesky_ex(G)
        R = L.mT.contiguous()
        bad = torch.nonzero(info).reshape(-1)
        if len(bad):  # singular (e.g. fewer samples than columns): the root from the eigendecomposition
            evals, E = torch.linalg.eigh(G[bad])
            R[bad] = evals.clamp_min(0.0).sqrt()[..., :, None] * E.mT
        return _Validation(n, mx, my, R, B, yy)


def _fold_stats(
    X: torch.Tensor, Y: torch.Tensor, lags: np.ndarray, segments: np.ndarray, folds: np.ndarray, cv: int
) -> tuple[_FoldStats, list[list[torch.Tensor]] | None]:
    """Every fold's statistics from its lagged design, built once in chunks of rows.

    ``X^T X`` is symmetric, so its lower-left block is mirrored from the upper-right one instead of
    being computed. The chunks are returned for the held-out predictions when the whole design holds
    at most ``_KEEP`` values (otherwise ``None``, and they are rebuilt).
    """
    p = len(lags) * X.shape[1]
    c = Y.shape[1]
    h = p // 2
    kw = {"dtype": X.dtype, "device": X.device}
    n = torch.zeros(cv, **kw)
    sx, sy = torch.zeros((cv, p), **kw), torch.zeros((cv, c), **kw)
    G, B, yy = torch.zeros((cv, p, p), **kw), torch.zeros((cv, p, c), **kw), torch.zeros((cv, c), **kw)
    keep = X.shape[0] * p <= _KEEP
    designs: list[list[torch.Tensor]] = [[] for _ in range(cv)]
    for k in range(cv):
        rows = np.flatnonzero(folds == k)
        for start in range(0, len(rows), _CHUNK):
            r = rows[start : start + _CHUNK]
            Xk = lagged(X, lags, segments, r)
            Yk = Y[torch.as_tensor(r, device=Y.device)]
            G[k, :h] += Xk[:, :h].T @ Xk  # upper rows; the lower-left block is mirrored below
            G[k, h:, h:] += Xk[:, h:].T @ Xk[:, h:]
            B[k] += Xk.T @ Yk
            n[k] += len(r)
            sx[k] += Xk.sum(0)
            sy[k] += Yk.sum(0)
            yy[k] += (Yk * Yk).sum(0)
            if keep:
                designs[k].append(Xk)
    G[:, h:, :h] = G[:, :h, h:].mT
    return _FoldStats(n, sx, sy, G, B, yy), designs if keep else None


@dataclass
class _Factor:
    """A training set's ridge solution for every penalty, in the eigenbasis of each band setting.

    For setting ``m`` with column scales ``D``: ``D Xc^T Xc D = V diag(l) V^T`` and ``Z = V^T D Xc^T Yc``, so
    the coefficients of penalty ``alpha`` are ``W = D V diag(1 / (l + alpha)) Z``.
    """

    D: torch.Tensor  # (M, p)
    V: torch.Tensor  # (M, p, p)
    evals: torch.Tensor  # (M, p)
    Z: torch.Tensor  # (M, p, C)
    mx: torch.Tensor
    my: torch.Tensor

    def q(self, alphas: torch.Tensor) -> torch.Tensor:
        """``Q_alpha = diag(1 / (l + alpha)) Z`` for every setting and penalty, penalty-minor: (M, p, A, C)."""
        return self.Z[:, :, None, :] / (self.evals[:, :, None, None] + alphas[None, None, :, None])

    def coef_of(self, alphas: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
        """Per channel ``c`` the coefficients (p, C), original units, of model ``sel[c]`` (flat setting x penalty).

        Only the chosen models are formed: ``w_c = D_m V_m (z_{m,c} / (l_m + alpha_c))`` for the channels of
        each setting ``m``.
        """
        A = len(alphas)
        _, p, C = self.Z.shape
        setting, penalty = sel // A, sel % A
        W = torch.empty((p, C), dtype=self.Z.dtype, device=self.Z.device)
        for m in torch.unique(setting).tolist():
            cols = torch.nonzero(setting == m).reshape(-1)
            q = self.Z[m][:, cols] / (self.evals[m][:, None] + alphas[penalty[cols]][None, :])
            W[:, cols] = self.D[m][:, None] * (self.V[m] @ q)
        return W


def _factor(train: tuple[torch.Tensor, ...], scales: torch.Tensor) -> _Factor:
    n, sx, sy, G, B, _ = train
    mx, my = sx / n, sy / n
    Gc = G - n * torch.outer(mx, mx)
    Bc = B - n * torch.outer(mx, my)
    evals, V = torch.linalg.eigh(scales[:, :, None] * Gc[None] * scales[:, None, :])
    Z = V.mT @ (scales[:, :, None] * Bc[None])
    return _Factor(scales, V, evals.clamp_min(0.0), Z, mx, my)


def _sse(f: _Factor, alphas: torch.Tensor, val: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Squared error ``(F, M, A, C)`` of every model of ``f`` on each of ``F`` validation folds, without predictions.

    The model ``(mx, my, w)`` predicts ``my + (x - mx)^T w``. On a fold with its own means ``mv``, ``mu`` and
    centred statistics (``R^T R = Gram``, ``Bv``, ``yv``; :class:`_Validation`), the residual splits into a
    part centred within the fold and a constant, whose cross term sums to zero:

        ``SSE = yv - 2 w^T Bv + |R w|^2 + n (mu - my - (mv - mx)^T w)^2``.

    In the eigenbasis of each setting (``U = D V``) penalty ``alpha`` has ``w = U q`` with ``q`` a column of
    ``Q_alpha`` (:meth:`_Factor.q`), so ``w^T Bv = <q, U^T Bv>``, ``|R w| = |(R U) q|`` and
    ``(mv - mx)^T w = <U^T (mv - mx), q>``. ``R U`` costs ``p^3`` multiply-adds per fold and setting; the
    quadratic terms of all ``A`` penalties and ``C`` channels are one ``(p x p) @ (p x A C)`` product,
    and the folds a model is validated on are scored together.
    """
    n, mv, mu, R, Bv, yv = val
    U = (f.D[:, :, None] * f.V)[:, None]  # (M, 1, p, p)
    M, p, C = f.Z.shape
    A = len(alphas)
    Q = f.q(alphas).reshape(M, 1, p, A * C)
    quad = ((R[None] @ U) @ Q).pow_(2).sum(-2)  # (M, F, A C): |R U q|^2
    cross = ((U.mT @ Bv[None]).unsqueeze(-2) * Q.reshape(M, 1, p, A, C)).sum(-3)  # (M, F, A, C): <q, U^T Bv>
    shift = ((mv - f.mx)[None, :, None, :] @ U) @ Q  # (M, F, 1, A C): <U^T (mv - mx), q>
    offset = (mu - f.my)[None, :, None, :] - shift.reshape(M, -1, A, C)
    sse = yv[None, :, None, :] - 2 * cross + quad.reshape(M, -1, A, C) + n[None, :, None, None] * offset**2
    return sse.transpose(0, 1)


# ------------------------------------------------------------------------------------ bootstrap


def _unit_sums(P: torch.Tensor, Y: torch.Tensor, units: np.ndarray, n_units: int) -> torch.Tensor:
    """Per unit and channel: count, sum p, sum y, sum p^2, sum y^2, sum p y -> (U, C, 6)."""
    idx = torch.as_tensor(units, device=P.device)
    out = torch.zeros((6, n_units, P.shape[1]), dtype=P.dtype, device=P.device)
    out[0] = torch.as_tensor(np.bincount(units, minlength=n_units), dtype=P.dtype, device=P.device)[:, None]
    for i, t in enumerate((P, Y, P * P, Y * Y, P * Y), 1):
        out[i].index_add_(0, idx, t)
    return out.permute(1, 2, 0).contiguous()


def _scores_from(S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pearson r and R^2 per channel from summed statistics ``(..., C, 6)``."""
    n, sp, sy, spp, syy, spy = S.unbind(-1)
    vp = spp - sp * sp / n
    vy = syy - sy * sy / n
    cov = spy - sp * sy / n
    r = cov / torch.sqrt(vp * vy)
    r2 = 1.0 - (syy - 2 * spy + spp) / vy
    return r, r2


def _fold_scores(sums: torch.Tensor, unit_fold: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Mean over folds of the per-fold r and R^2: ``(C,)`` each, or ``(n_boot, C)`` with bootstrap ``counts``."""
    U, C, _ = sums.shape
    cv = int(unit_fold.max()) + 1
    member = np.zeros((cv, U))
    member[unit_fold, np.arange(U)] = 1.0
    w = member if counts is None else counts[:, None, :] * member[None]  # (cv, U) or (n_boot, cv, U)
    w_t = torch.as_tensor(w, dtype=sums.dtype, device=sums.device)
    S = (w_t.reshape(-1, U) @ sums.reshape(U, C * 6)).reshape(*w.shape[:-1], C, 6)
    r, r2 = _scores_from(S)
    return r.mean(-2).cpu().numpy(), r2.mean(-2).cpu().numpy()


def _draws(unit_fold: np.ndarray, n_boot: int, seed: Any) -> np.ndarray:
    """Bootstrap counts ``(n_boot, n_units)``, resampling each fold's units among themselves."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    U = len(unit_fold)
    counts = np.zeros((n_boot, U))
    rows = np.arange(n_boot)[:, None]
    for k in range(int(unit_fold.max()) + 1):
        members = np.flatnonzero(unit_fold == k)
        picks = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
        np.add.at(counts, (np.broadcast_to(rows, picks.shape), picks), 1.0)
    return counts


# ------------------------------------------------------------------------------------ results


@dataclass
class PairedEncoding:
    """Model A vs model B on the same bootstrap resamples: ``difference = A - B`` per channel.

    ``p`` is one-sided (A is not better than B): ``(1 + #{resamples with difference <= 0}) / (1 + n)``;
    ``mean_*`` are the same for the mean over channels.
    """

    difference: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    mean_difference: float
    mean_ci: tuple[float, float]
    mean_p: float
    metric: str
    n: int


@dataclass
class EncodingResult:
    """A cross-validated encoding model, per response channel (see :mod:`reprlab.brain.encode`).

    Attributes
    ----------
    score, ci_low, ci_high : (C,) arrays
        Held-out ``r`` (or ``R^2`` with ``score="r2"``) and its bootstrap interval.
    r, r2 : (C,) arrays
        Both held-out scores.
    normalised, normalised_ci_low, normalised_ci_high, ceiling : (C,) arrays or None
        ``score / ceiling`` where repeats gave a noise ceiling (NaN, with a warning, where the
        reliability is not positive).
    alpha : (C,) array
        The penalty of the final model (chosen by the outer-fold error); ``band_alphas`` (C, n_bands)
        the per-band penalties ``alpha / s_b^2`` of a banded model.
    coef : (n_lags, n_features, C) array;  intercept : (C,) array
        The final model refitted on all samples (features of all bands concatenated, in band order).
    predictions : (n_samples, C) array
        The held-out (out-of-fold) predictions; ``folds`` the fold of each sample.
    cv_sse : (n_band_settings, n_alphas, C) array
        Outer-fold validation squared error of every penalty (summed over folds).
    """

    score: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    r: np.ndarray
    r2: np.ndarray
    metric: str
    alpha: np.ndarray
    band_alphas: np.ndarray | None
    coef: np.ndarray
    intercept: np.ndarray
    lags: np.ndarray
    bands: dict[str, slice]
    predictions: np.ndarray = field(repr=False)
    folds: np.ndarray = field(repr=False)
    cv_sse: np.ndarray = field(repr=False)
    channels: list[str] = field(default_factory=list)
    ceiling: np.ndarray | None = None
    normalised: np.ndarray | None = None
    normalised_ci_low: np.ndarray | None = None
    normalised_ci_high: np.ndarray | None = None
    n_boot: int = 0
    ci: float = 0.95
    seed: Any = 0
    _units: np.ndarray = field(default=None, repr=False)
    _unit_fold: np.ndarray = field(default=None, repr=False)
    _sums: torch.Tensor = field(default=None, repr=False)

    def to_pandas(self) -> Any:
        """One row per channel: score, interval, both scores, penalty (and the normalised score)."""
        import pandas as pd

        cols = {
            self.metric: self.score,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "r": self.r,
            "r2": self.r2,
            "alpha": self.alpha,
        }
        if self.normalised is not None:
            cols.update(
                ceiling=self.ceiling,
                normalised=self.normalised,
                normalised_ci_low=self.normalised_ci_low,
                normalised_ci_high=self.normalised_ci_high,
            )
        return pd.DataFrame(cols, index=pd.Index(self.channels, name="channel"))

    def plot(self) -> Any:
        """Per-channel held-out score with its interval (a matplotlib figure)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(self.score) + 2), 3.2))
        x = np.arange(len(self.score))
        ax.errorbar(x, self.score, yerr=[self.score - self.ci_low, self.ci_high - self.score], fmt="o", capsize=2)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(x, self.channels, rotation=90 if len(x) > 12 else 0)
        ax.set_ylabel(f"held-out {self.metric}")
        ax.set_title(f"Encoding model ({len(self.lags)} lags), {self.ci:.0%} bootstrap intervals")
        fig.tight_layout()
        return fig

    def paired(self, other: EncodingResult, n: int | None = None, seed: Any = None) -> PairedEncoding:
        """Is this model better than ``other`` (fitted to the same responses)? Paired bootstrap.

        Both models' held-out scores are recomputed on the same resampled units (stimuli or blocks).
        """
        if not isinstance(other, EncodingResult):
            raise ReprlabError(f"`other` must be an EncodingResult; got {type(other).__name__}.")
        same = self._units.shape == other._units.shape and np.array_equal(self._units, other._units)
        if not same or not np.array_equal(self._unit_fold, other._unit_fold):
            raise ReprlabError(
                "The two encoding models were not fitted to the same samples with the same bootstrap units "
                "(groups / block); fit both to the same responses with the same `groups` and `block`."
            )
        if self._sums.shape[1] != other._sums.shape[1]:
            raise ReprlabError("The two encoding models have different numbers of response channels.")
        n = self.n_boot if n is None else n
        counts = _draws(self._unit_fold, n, self.seed if seed is None else seed)
        a = _fold_scores(self._sums, self._unit_fold, counts)[0 if self.metric == "r" else 1]
        b = _fold_scores(other._sums, other._unit_fold, counts)[0 if self.metric == "r" else 1]
        d = a - b
        diff = self.score - other.score
        lo, hi = np.quantile(d, [(1 - self.ci) / 2, (1 + self.ci) / 2], axis=0)
        p = (1.0 + (d <= 0).sum(0)) / (1.0 + n)
        dm = d.mean(1)
        mlo, mhi = np.quantile(dm, [(1 - self.ci) / 2, (1 + self.ci) / 2])
        return PairedEncoding(
            diff,
            lo,
            hi,
            p,
            float(diff.mean()),
            (float(mlo), float(mhi)),
            float((1.0 + (dm <= 0).sum()) / (1.0 + n)),
            self.metric,
            n,
        )


# ------------------------------------------------------------------------------------ the model


def _check_grid(values: Any, name: str, default: tuple[float, ...]) -> np.ndarray:
    arr = np.asarray(default if values is None else values, dtype=float).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ReprlabError(f"`{name}` must be a non-empty list of positive finite numbers; got {values!r}.")
    return arr


def _features(features: Any, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, dict[str, slice]]:
    if isinstance(features, Mapping):
        if not features:
            raise ReprlabError("`features` is an empty mapping; give at least one band name -> array.")
        parts, bands, start = [], {}, 0
        for name, arr in features.items():
            t = as_tensor(arr, f"features[{name!r}]", ndim=2, dtype=dtype, device=device)
            if parts and t.shape[0] != parts[0].shape[0]:
                raise ReprlabError(
                    f"Every band of `features` needs the same samples; band {name!r} has {t.shape[0]} rows, "
                    f"the first band {parts[0].shape[0]}."
                )
            parts.append(t)
            bands[str(name)] = slice(start, start + t.shape[1])
            start += t.shape[1]
        return torch.cat(parts, 1), bands
    X = as_tensor(features, "features", ndim=2 if np.ndim(features) != 1 else 1, dtype=dtype, device=device)
    X = X[:, None] if X.ndim == 1 else X
    return X, {"features": slice(0, X.shape[1])}


def _responses(responses: Any, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, np.ndarray | None]:
    nd = responses.ndim if hasattr(responses, "ndim") else np.ndim(responses)
    if nd == 3:
        R = as_tensor(responses, "responses", ndim=3, dtype=dtype, device=device)
        if R.shape[0] < 2:
            raise ReprlabError("3-D `responses` are (n_repeats, n_samples, n_channels) and need at least 2 repeats.")
        return R.mean(0), R.cpu().numpy()
    if nd == 1:
        return as_tensor(responses, "responses", ndim=1, dtype=dtype, device=device)[:, None], None
    return as_tensor(responses, "responses", ndim=2, dtype=dtype, device=device), None


def _units(folds: np.ndarray, groups: np.ndarray | None, block: Any, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap unit of every sample (stimuli, or blocks of samples, never spanning two folds) and each unit's fold."""
    n = len(folds)
    if block is None and groups is not None:
        key = np.unique(groups, return_inverse=True)[1].reshape(-1)
    else:
        if block is None:
            block = max(int(np.ceil(n / 100)), 2 * int(np.abs(lags).max()) + 1)
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
            raise ReprlabError(f"`block` must be a positive number of samples; got {block!r}.")
        key = np.arange(n) // int(block)
    width = int(key.max()) + 1
    codes, units = np.unique(folds * width + key, return_inverse=True)  # (fold, key) pairs in lexicographic order
    unit_fold = codes // width
    few = np.bincount(unit_fold, minlength=int(folds.max()) + 1)
    if few.min() < 2:
        raise ReprlabError(
            f"Fold {int(few.argmin())} holds {int(few.min())} bootstrap unit (stimulus or block); the stratified "
            "bootstrap needs at least 2 per fold. Pass a smaller `block` (samples per unit), fewer folds or "
            "more stimuli."
        )
    return units.reshape(-1), unit_fold


def encoding(
    features: Any,
    responses: Any,
    lags: Any = range(0, 10),
    alphas: Any = None,
    cv: int = 5,
    groups: Any = None,
    *,
    score: str = "r",
    band_scales: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    block: int | None = None,
    seed: Any = 0,
    channels: Sequence[str] | None = None,
    n_splits: int = 100,
    dtype: Any = None,
    device: Any = None,
) -> EncodingResult:
    """Cross-validated ridge encoding model from ``features`` to ``responses`` with time lags.

    Parameters
    ----------
    features : array (n_samples, n_features), or a mapping band name -> array (n_samples, n_b)
        The stimulus features at the responses' sampling rate. A mapping with several bands fits a
        banded ridge (a penalty per band).
    responses : array (n_samples, n_channels) or (n_samples,), or (n_repeats, n_samples, n_channels)
        The measured responses; with repeats, the model is fitted to their average and scores are
        also reported normalised by the noise ceiling.
    lags : sequence of int
        Delays in samples (module :mod:`reprlab.brain.lags`; ``range(0, 10)``: the response follows the
        features by 0 to 9 samples). Use ``[0]`` for no lags.
    alphas : sequence of float, optional
        Ridge penalties searched per channel (default ``logspace(-2, 7, 10)``).
    cv : int
        Number of outer folds (contiguous time blocks, or runs of whole stimuli with ``groups``); the
        penalty is chosen by an inner CV over the other folds, so ``cv >= 3`` unless one penalty is given.
    groups : sequence, optional
        A stimulus / trial label per sample: folds and bootstrap units keep each stimulus whole, and
        lags do not cross from one stimulus to the next.
    score : {"r", "r2"}
        What ``score`` / ``ci_low`` / ``ci_high`` hold (both are computed).
    band_scales : sequence of float, optional
        Grid of per-band scales ``s_b`` (penalty ``alpha / s_b^2``) for banded ridge; default
        ``logspace(-1, 1, 5)``.
    n_boot, ci, block, seed
        Bootstrap resamples, interval level, samples per bootstrap unit without groups (default
        ``max(ceil(n / 100), 2 max|lag| + 1)``), and the seed.
    channels : sequence of str, optional
        Channel names for tables.
    n_splits : int
        Random split-halves for the noise ceiling (repeats only).
    dtype, device
        Compute precision (float64 default) and device (``"cuda"`` runs every product there).

    Returns
    -------
    EncodingResult

    Examples
    --------
    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 3)); h = rng.normal(size=(4, 3))
    >>> y = sum(np.roll(x, k, 0) @ h[k] for k in range(4)) + rng.normal(size=2000)
    >>> e = rl.encoding(x, y, lags=range(4), n_boot=200)
    >>> bool(e.ci_low[0] > 0.8)
    True
    """
    dt, dev = resolve_dtype(dtype), resolve_device(device)
    if score not in SCORES:
        raise ReprlabError(f"`score` must be one of {SCORES}; got {score!r}.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ReprlabError(f"`n_boot` must be an integer >= 10; got {n_boot!r}.")
    if not 0 < ci < 1:
        raise ReprlabError(f"`ci` must lie strictly between 0 and 1; got {ci!r}.")
    X, bands = _features(features, dt, dev)
    Y, repeats = _responses(responses, dt, dev)
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ReprlabError(
            f"`responses` has {Y.shape[0]} samples but `features` has {n}; they must be sampled at the same "
            "times (resample or trim one of them so each row of both is the same time point)."
        )
    lag_arr = check_lags(lags)
    alpha_arr = _check_grid(alphas, "alphas", DEFAULT_ALPHAS)
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.ndim != 1 or g.shape[0] != n:
            raise ReprlabError(f"`groups` must give one label per sample ({n}); got shape {g.shape}.")
    folds = make_folds(n, cv, g)
    cv = int(cv)
    shortest = int(np.bincount(folds, minlength=cv).min())
    if int(np.abs(lag_arr).max()) >= shortest:
        raise ReprlabError(
            f"The longest lag ({int(np.abs(lag_arr).max())} samples) is not shorter than the shortest fold "
            f"({shortest} samples): its held-out predictions would rest on the training folds' features. "
            "Use fewer folds (`cv`), shorter `lags`, or more samples."
        )
    if len(bands) > 1:
        scale_grid = _check_grid(band_scales, "band_scales", DEFAULT_BAND_SCALES)
        settings = [(1.0, *rest) for rest in itertools.product(scale_grid, repeat=len(bands) - 1)]
    else:
        settings = [(1.0,)]
    n_models = len(settings) * len(alpha_arr)
    if n_models > 1 and cv < 3:
        raise ReprlabError(
            f"cv={cv} leaves no inner folds to choose among {n_models} penalties; use cv >= 3 or one penalty."
        )
    nf = X.shape[1]
    col_scale = np.empty((len(settings), len(lag_arr) * nf))
    for m, s in enumerate(settings):
        per_feature = np.empty(nf)
        for (_, sl), sb in zip(bands.items(), s):
            per_feature[sl] = sb
        col_scale[m] = np.tile(per_feature, len(lag_arr))
    scales = torch.as_tensor(col_scale, dtype=dt, device=dev)
    alph = torch.as_tensor(alpha_arr, dtype=dt, device=dev)
    segments = segments_of(g, n)

    stats, designs = _fold_stats(X, Y, lag_arr, segments, folds, cv)
    val = stats.validation()
    C = Y.shape[1]
    pred = torch.empty_like(Y)
    everyone = np.arange(cv)
    inner = torch.zeros((cv, len(settings), len(alpha_arr), C), dtype=dt, device=dev)
    if n_models > 1:  # the model trained without folds k and j serves outer fold k (inner j) and j (inner k)
        for k, j in itertools.combinations(range(cv), 2):
            f = _factor(stats.total((everyone != k) & (everyone != j)), scales)
            err = _sse(f, alph, val.folds([j, k]))
            inner[k] += err[0]
            inner[j] += err[1]
    outer_sse = torch.zeros((len(settings), len(alpha_arr), C), dtype=dt, device=dev)
    for k in range(cv):
        f = _factor(stats.total(everyone != k), scales)
        outer_sse += _sse(f, alph, val.folds([k]))[0]
        Wk = f.coef_of(alph, inner[k].reshape(n_models, C).argmin(0))
        rows = np.flatnonzero(folds == k)
        for i, start in enumerate(range(0, len(rows), _CHUNK)):
            r = rows[start : start + _CHUNK]
            Xk = designs[k][i] if designs is not None else lagged(X, lag_arr, segments, r)
            pred[torch.as_tensor(r, device=dev)] = torch.addmm(f.my, Xk - f.mx, Wk)
    final = outer_sse.reshape(n_models, C).argmin(0)
    f = _factor(stats.total(np.ones(cv, dtype=bool)), scales)
    coef = f.coef_of(alph, final)
    intercept = f.my - f.mx @ coef
    sel_setting = (final // len(alpha_arr)).cpu().numpy()
    sel_alpha = alpha_arr[(final % len(alpha_arr)).cpu().numpy()]
    band_alphas = None
    if len(bands) > 1:
        band_alphas = sel_alpha[:, None] / np.asarray(settings)[sel_setting] ** 2

    units, unit_fold = _units(folds, g, block, lag_arr)
    sums = _unit_sums(pred, Y, units, len(unit_fold))
    r_np, r2_np = _fold_scores(sums, unit_fold)
    if not np.all(np.isfinite(r_np)):
        bad = np.flatnonzero(~np.isfinite(r_np))
        raise ReprlabError(
            f"Response channels {bad[:5].tolist()} are constant (or predicted as constant), so their correlation "
            "is undefined; drop them."
        )
    boot_r, boot_r2 = _fold_scores(sums, unit_fold, _draws(unit_fold, n_boot, seed))
    boot = boot_r if score == "r" else boot_r2
    quantile = np.quantile if np.isfinite(boot).all() else np.nanquantile  # the same values without NaNs
    lo, hi = quantile(boot, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    value = r_np if score == "r" else r2_np
    names = [str(c) for c in channels] if channels is not None else [str(c) for c in range(C)]
    if len(names) != C:
        raise ReprlabError(f"`channels` names {len(names)} channels but `responses` has {C}.")
    result = EncodingResult(
        score=value,
        ci_low=lo,
        ci_high=hi,
        r=r_np,
        r2=r2_np,
        metric=score,
        alpha=sel_alpha,
        band_alphas=band_alphas,
        coef=coef.reshape(len(lag_arr), nf, C).cpu().numpy(),
        intercept=intercept.cpu().numpy(),
        lags=lag_arr,
        bands=bands,
        predictions=pred.cpu().numpy(),
        folds=folds,
        cv_sse=outer_sse.cpu().numpy(),
        channels=names,
        n_boot=int(n_boot),
        ci=float(ci),
        seed=seed,
        _units=units,
        _unit_fold=unit_fold,
        _sums=sums,
    )
    if repeats is not None:
        _add_ceiling(result, repeats, n_splits, seed)
    return result


def _add_ceiling(result: EncodingResult, repeats: np.ndarray, n_splits: int, seed: Any) -> None:
    from ..stats import split_half_reliability

    rho = np.asarray(split_half_reliability(repeats, n_splits=n_splits, seed=seed), dtype=float).reshape(-1)
    ceiling = np.sqrt(np.clip(rho, 0, None)) if result.metric == "r" else rho.copy()
    bad = ceiling <= 0
    if bad.any():
        warnings.warn(
            f"Channels {np.flatnonzero(bad)[:5].tolist()} have no positive split-half reliability; their "
            "normalised scores are NaN (the data hold no repeatable signal to normalise by).",
            stacklevel=3,
        )
    ceiling = np.where(bad, np.nan, ceiling)
    result.ceiling = ceiling
    result.normalised = result.score / ceiling
    result.normalised_ci_low = result.ci_low / ceiling
    result.normalised_ci_high = result.ci_high / ceiling
