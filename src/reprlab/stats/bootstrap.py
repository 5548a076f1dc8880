"""Bootstrap confidence intervals over stimuli, for any compare measure in the registry.

A bootstrap resample draws n stimuli with replacement from the n stimuli; the rows of ``X`` and ``Y``
are drawn together (they are the same stimuli). The measure is evaluated on every resample under
the rule in :mod:`reprlab.stats.resampling` (distinct pairs for RDM-based measures; linearised for the
neighbourhood measures with an influence hook; the jackknife-linearised bootstrap for all others, so no
resample evaluates the measure on copies of a stimulus; refused where no rule is valid). Intervals:

* ``percentile``: the ``(1 - ci)/2`` and ``(1 + ci)/2`` quantiles of the bootstrap values.
* ``bca`` (bias-corrected and accelerated, Efron 1987): the quantiles ``Phi(z0 + (z0 + z) / (1 - a
  (z0 + z)))`` for ``z = Phi^-1((1 -+ ci)/2)``, with bias correction ``z0 = Phi^-1(F*(value))``
  (``F*`` the share of bootstrap values below the full-sample value, ties counting half) and
  acceleration ``a = sum(d^3) / (6 (sum d^2)^1.5)`` from the jackknife values ``d_k = mean_j(t_(j)) -
  t_(k)`` (the measure with stimulus k left out). As ``scipy.stats.bootstrap(method="BCa")``.

Quantiles use NumPy's default linear interpolation. References: Efron & Tibshirani (1993), *An
Introduction to the Bootstrap*, ch. 13-14; Efron (1987), JASA 82:171.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from .._progress import progress
from .._stimulus_ids import match_rows
from ..errors import ReprlabError, ReprlabTypeError
from .resampling import MIN_BOOTSTRAP, Evaluator, check_count, check_level, check_seed, guarded

METHODS = ("percentile", "bca")


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ReprlabError(f"`method` must be one of {METHODS}; got {method!r}.")
    return method


def _check_units(n_units: int, what: str = "The representations") -> None:
    if n_units < MIN_BOOTSTRAP:
        raise ReprlabError(
            f"{what} have {n_units} stimuli; a bootstrap over stimuli needs at least {MIN_BOOTSTRAP} "
            "(with fewer, many resamples repeat one or two stimuli and the measure is undefined or meaningless)."
        )


def percentile_of(samples: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The share of ``samples`` (axis 0) below ``value``, ties counting half."""
    return ((samples < value).sum(0) + (samples <= value).sum(0)) / (2.0 * samples.shape[0])


def interval(
    samples: np.ndarray, value: np.ndarray, ci: float, method: str, jackknife: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``ci`` interval from bootstrap ``samples`` (axis 0) by ``method`` (module docstring).

    ``jackknife`` (leave-one-out values, axis 0) is needed for ``bca``. Fewer than ``2 / (1 - ci)``
    resamples leave each tail less than one resample: the interval is then a warned-about artefact of
    the few resamples (``n=1`` gives a zero-width interval), not a confidence interval.
    """
    alpha = (1.0 - ci) / 2.0
    need = int(np.ceil(2.0 / (1.0 - ci) - 1e-9))
    if samples.shape[0] < need:
        warnings.warn(
            f"`n` = {samples.shape[0]} resamples are too few for a {ci:.0%} interval: each tail ({alpha:.1%}) "
            f"holds less than one resample, so the interval is uninformative (n = 1 gives zero width). Use "
            f"n >= {need}; typical values are 1000-10000.",
            UserWarning,
            stacklevel=3,
        )
    if method == "percentile":
        q = np.array([alpha, 1.0 - alpha])
        q = np.broadcast_to(q.reshape((2,) + (1,) * value.ndim), (2, *value.shape))
    else:
        z0 = ndtri(percentile_of(samples, value))
        if not np.all(np.isfinite(z0)):
            raise ReprlabError(
                "The BCa interval is undefined here: every bootstrap value lies on one side of the full-sample "
                "value (e.g. a measure at the edge of its range, such as CKA = 1). Use method='percentile'."
            )
        d = jackknife.mean(0) - jackknife
        ss = (d**2).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(ss > 0, (d**3).sum(0) / (6.0 * np.where(ss > 0, ss, 1.0) ** 1.5), 0.0)
        z = ndtri(np.array([alpha, 1.0 - alpha])).reshape((2,) + (1,) * value.ndim)
        q = ndtr(z0 + (z0 + z) / (1.0 - acc * (z0 + z)))
    lo = np.empty(value.shape)
    hi = np.empty(value.shape)
    flat_s = samples.reshape(samples.shape[0], -1)
    for k, (ql, qh) in enumerate(zip(q[0].reshape(-1), q[1].reshape(-1))):
        lo.reshape(-1)[k] = np.quantile(flat_s[:, k], ql)
        hi.reshape(-1)[k] = np.quantile(flat_s[:, k], qh)
    return lo, hi


def run_bootstrap(
    value_on: Callable[[np.ndarray], Any], n_units: int, *, n: int, rng: np.random.Generator, jackknife: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Evaluate ``value_on(ix)`` on all units, on ``n`` bootstrap resamples and (optionally) the jackknife.

    Returns ``(value, samples, jack)`` with the resample axis first.
    """
    full = np.arange(n_units)
    value = np.asarray(value_on(full), dtype=float)
    draws = progress(range(n), n, "bootstrap", "resample")
    samples = np.stack([np.asarray(value_on(rng.integers(0, n_units, n_units)), dtype=float) for _ in draws])
    jack = None
    if jackknife:
        jack = np.stack([np.asarray(value_on(np.delete(full, k)), dtype=float) for k in range(n_units)])
    return value, samples, jack


@dataclass(frozen=True)
class BootstrapResult:
    """A value with its bootstrap interval over stimuli.

    ``samples`` holds the ``n`` bootstrap values; ``rule`` says how resamples were evaluated
    (``distinct_pairs``, ``linearised`` or ``jackknife``, see :mod:`reprlab.stats.resampling`).
    """

    value: float
    ci_low: float
    ci_high: float
    samples: np.ndarray = field(repr=False)
    method: str
    n: int
    seed: int | None
    ci: float
    measure: str
    rule: str

    @property
    def se(self) -> float:
        """The bootstrap standard error (standard deviation of the samples, ddof=1)."""
        return float(np.std(self.samples, ddof=1)) if self.n > 1 else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def __str__(self) -> str:
        return (
            f"{self.measure} = {self.value:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}] ({self.ci:.0%} {self.method})"
        )


def _seed_of(seed: Any) -> int | None:
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def bootstrap(
    X: Any,
    Y: Any,
    measure: str = "cka",
    /,
    *,
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> BootstrapResult:
    """Bootstrap confidence interval of ``measure(X, Y)`` over stimuli.

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
        The same stimuli in the same row order (resampled together).
    measure : str
        Any compare measure name or spec (``reprlab.measures.available("compare")``).
    n : int
        Number of bootstrap resamples.
    seed : int, None or numpy Generator
        Seeds the resampling (results are reproducible for an int seed).
    ci : float
        Confidence level in (0, 1).
    method : {"percentile", "bca"}
        Interval construction (module docstring); ``bca`` costs n_stimuli more evaluations (jackknife).
    dtype, device, **params
        As for :func:`reprlab.compare`.

    Returns
    -------
    BootstrapResult
        ``value`` (the measure on all stimuli), ``ci_low``, ``ci_high``, ``samples``, ...

    Examples
    --------
    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); Y = X + rng.normal(size=(60, 5))
    >>> r = rl.stats.bootstrap(X, Y, "cka", n=200, seed=0)
    >>> r.ci_low < r.value < r.ci_high
    True
    """
    X, Y = match_rows([("X", X), ("Y", Y)], None)
    n = check_count(n)
    ci = check_level(ci)
    method = _check_method(method)
    rng = check_seed(seed)
    ev = Evaluator.resolve(measure, params, dtype, device)
    TX, TY = ev.load(X, "X"), ev.load(Y, "Y")
    from .._validation import check_same_rows

    check_same_rows(TX, TY)
    FX, FY = ev.full(TX), ev.full(TY)
    units = ev.units(FX)
    _check_units(units)
    ev.check_bootstrap()

    def value_on(ix: np.ndarray) -> float:
        t = torch.from_numpy(ix).to(FX.device)
        return ev.on(FX, FY, t)

    value, samples, jack = run_bootstrap(
        guarded(value_on, ev.spec, "bootstrap resample", units), units, n=n, rng=rng, jackknife=method == "bca"
    )
    lo, hi = interval(samples, value, ci, method, jack)
    return BootstrapResult(float(value), float(lo), float(hi), samples, method, n, _seed_of(seed), ci, ev.spec, ev.rule)


# --------------------------------------------------------------------------------------------------
# Paired comparisons and layer sweeps


def fdr_bh(pvalues: Any, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg false-discovery-rate correction.

    Returns ``(adjusted, reject)``: the BH-adjusted p-values ``min_{j >= i} min(1, p_(j) m / j)`` (in the
    input order) and whether each hypothesis is rejected at FDR level ``q``. Benjamini & Hochberg
    (1995), JRSS-B 57:289; equals ``scipy.stats.false_discovery_control(p, method="bh")``.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ReprlabError(f"`pvalues` must be a non-empty 1-D array; got shape {p.shape}.")
    if not np.all((p >= 0) & (p <= 1)):
        raise ReprlabError("`pvalues` must lie in [0, 1] (and not be NaN).")
    if isinstance(q, bool) or not isinstance(q, (int, float, np.floating)) or not 0.0 < float(q) < 1.0:
        raise ReprlabError(f"`q` (the false-discovery rate) must be a number strictly between 0 and 1; got {q!r}.")
    m = p.size
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    adj_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    adjusted = np.empty(m)
    adjusted[order] = adj_sorted
    return adjusted, adjusted <= q


@dataclass(frozen=True)
class PairedResult:
    """Is A more aligned with the target than B? ``difference = value_a - value_b`` with its interval.

    ``p`` is the one-sided bootstrap p-value that A is *not* more similar to the target than B
    (``(1 + #{resamples where A is not more similar}) / (1 + n)``; "more similar" respects the
    measure's direction), or two-sided when ``alternative="two-sided"``.
    """

    value_a: float
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    p: float
    samples: np.ndarray = field(repr=False)
    n: int
    seed: int | None
    ci: float
    method: str
    measure: str
    alternative: str
    larger_is_similar: bool


ALTERNATIVES_PAIRED = ("greater", "two-sided")


def _paired_p(adv_samples: np.ndarray, alternative: str) -> np.ndarray:
    n = adv_samples.shape[0]
    p_greater = (1.0 + (adv_samples <= 0).sum(0)) / (1.0 + n)
    if alternative == "greater":
        return p_greater
    p_less = (1.0 + (adv_samples >= 0).sum(0)) / (1.0 + n)
    return np.minimum(1.0, 2.0 * np.minimum(p_greater, p_less))


def _paired_setup(measure, params, dtype, device, n, ci, method, seed, alternative):
    if alternative not in ALTERNATIVES_PAIRED:
        raise ReprlabError(f"`alternative` must be one of {ALTERNATIVES_PAIRED}; got {alternative!r}.")
    return (
        check_count(n),
        check_level(ci),
        _check_method(method),
        check_seed(seed),
        Evaluator.resolve(measure, params, dtype, device),
    )


def paired_bootstrap(
    A: Any,
    B: Any,
    target: Any,
    measure: str = "cka",
    /,
    *,
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
    alternative: str = "greater",
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> PairedResult:
    """Paired bootstrap: is representation ``A`` more aligned with ``target`` than ``B``?

    ``A``, ``B`` and ``target`` hold the same stimuli in the same rows. Each resample draws one set of
    stimuli and evaluates both ``measure(A, target)`` and ``measure(B, target)`` on it, so the interval
    of the difference accounts for their correlation.

    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(1)
    >>> T = rng.normal(size=(80, 6)); A = T + 0.5 * rng.normal(size=T.shape); B = T + 2 * rng.normal(size=T.shape)
    >>> rl.stats.paired_bootstrap(A, B, T, "cka", n=200).p < 0.05
    True
    """
    sweep = paired_sweep(
        {"A": A},
        B,
        target,
        measure,
        n=n,
        seed=seed,
        ci=ci,
        method=method,
        alternative=alternative,
        dtype=dtype,
        device=device,
        **params,
    )
    return sweep.results[0]


@dataclass(frozen=True)
class SweepResult:
    """Paired comparisons over a sweep of layers, with Benjamini-Hochberg adjusted p-values."""

    names: list[str]
    results: list[PairedResult]
    p_adjusted: np.ndarray
    significant: np.ndarray
    q: float

    def to_pandas(self) -> Any:
        """One row per layer (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "layer": self.names,
                "value_a": [r.value_a for r in self.results],
                "value_b": [r.value_b for r in self.results],
                "difference": [r.difference for r in self.results],
                "ci_low": [r.ci_low for r in self.results],
                "ci_high": [r.ci_high for r in self.results],
                "p": [r.p for r in self.results],
                "p_adjusted": self.p_adjusted,
                "significant": self.significant,
            }
        )


def paired_sweep(
    layers_a: Mapping[str, Any],
    layers_b: Mapping[str, Any] | Any,
    target: Any,
    measure: str = "cka",
    /,
    *,
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
    alternative: str = "greater",
    q: float = 0.05,
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> SweepResult:
    """Paired bootstrap for every layer of a sweep, with FDR correction across layers.

    Parameters
    ----------
    layers_a : Mapping[str, array]
        Layer name -> representation of model A.
    layers_b : Mapping[str, array] or array
        The same layer names for model B (layer l of A is compared with layer l of B), or one array (a
        fixed baseline compared with every layer of A).
    target : array
        The target representation (e.g. brain data), same stimuli.
    q : float
        FDR level for the Benjamini-Hochberg procedure over the layers.

    All layers share the same resamples. Returns a :class:`SweepResult` whose ``results[i]`` is the
    :class:`PairedResult` of ``names[i]``.
    """
    n, ci, method, rng, ev = _paired_setup(measure, params, dtype, device, n, ci, method, seed, alternative)
    if not isinstance(layers_a, Mapping) or not layers_a:
        raise ReprlabTypeError("`layers_a` must be a non-empty mapping of layer name -> array.")
    names = [str(k) for k in layers_a]
    if isinstance(layers_b, Mapping):
        missing = [k for k in layers_a if k not in layers_b]
        if missing:
            raise ReprlabError(
                f"`layers_b` has no layer {missing[0]!r}; give the same layer names as `layers_a`, "
                "or one array as a fixed baseline."
            )
        bs = [ev.load(layers_b[k], f"layers_b[{k!r}]") for k in layers_a]
    else:
        base = ev.load(layers_b, "B")
        bs = [base] * len(names)
    As = [ev.load(layers_a[k], f"layers_a[{k!r}]") for k in layers_a]
    T = ev.load(target, "target")
    for t, nm in [*zip(As, names), *zip(bs, names)]:
        if t.shape[0] != T.shape[0]:
            raise ReprlabError(
                f"Layer {nm!r} has {t.shape[0]} rows but `target` has {T.shape[0]}; all must hold the same stimuli."
            )
    FT = ev.full(T)
    FA = [ev.full(t) for t in As]
    FB_unique = {id(t): ev.full(t) for t in bs}
    units = ev.units(FT)
    _check_units(units)
    ev.check_bootstrap()
    sign = 1.0 if ev.larger_is_similar else -1.0

    def value_on(ix: np.ndarray) -> np.ndarray:
        vals = ev.on_all([*FA, *FB_unique.values()], [FT], torch.from_numpy(ix).to(FT.device))[:, 0]
        of_b = dict(zip(FB_unique, vals[len(FA) :]))
        return np.stack([vals[: len(FA)], [of_b[id(t)] for t in bs]], axis=1)

    value, samples, jack = run_bootstrap(
        guarded(value_on, ev.spec, "bootstrap resample", units), units, n=n, rng=rng, jackknife=method == "bca"
    )
    diff = value[:, 0] - value[:, 1]
    diff_s = samples[:, :, 0] - samples[:, :, 1]
    lo, hi = interval(diff_s, diff, ci, method, None if jack is None else jack[:, :, 0] - jack[:, :, 1])
    p = _paired_p(sign * diff_s, alternative)
    adjusted, reject = fdr_bh(p, q)
    results = [
        PairedResult(
            float(value[i, 0]),
            float(value[i, 1]),
            float(diff[i]),
            float(lo[i]),
            float(hi[i]),
            float(p[i]),
            diff_s[:, i],
            n,
            _seed_of(seed),
            ci,
            method,
            ev.spec,
            alternative,
            ev.larger_is_similar,
        )
        for i in range(len(names))
    ]
    return SweepResult(names, results, adjusted, reject, q)
