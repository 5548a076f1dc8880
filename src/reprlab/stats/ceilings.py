"""Noise ceilings: how well could any model do, given the noise in the target data?

**RDM targets with several subjects** (:func:`noise_ceiling`, Nili et al. 2014). With the subjects'
RDMs ``R_1 ... R_S`` and an RDM comparator ``c``:

* upper bound: ``mean_s c(pool(R_1..R_S), R_s)``: the pooled RDM of all subjects, which includes the
  subject itself, so no model can be expected to beat it;
* lower bound: ``mean_s c(pool(R_t, t != s), R_s)``: leave one subject out, an achievable score.

``pool`` is the average RDM that is optimal for the comparator (rsatoolbox's ``pool_rdm``): ranks for
``spearman`` / ``rho_a`` / Kendall's tau, z-scored RDMs for ``pearson``, RMS-normalised RDMs for
``cosine``. Matches ``rsatoolbox.inference.boot_noise_ceiling`` (rsatoolbox 0.3).

**Encoding targets with repeated measurements** (:func:`split_half_reliability`): the data's repeats
are split into two random halves, the two half-averages correlated across stimuli for every unit,
and the correlation stepped up to the full number of repeats with the Spearman-Brown formula
``r_SB = 2 r / (1 + r)`` (Spearman 1910, Brown 1910); averaged over random splits. This is the
consistency ceiling Brain-Score divides encoding scores by (Schrimpf et al. 2018).

**Normalised alignment** (:func:`normalise`): ``raw / ceiling``, reported beside the raw value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import ReprlabError
from ._rdm import compare_vectors, pool, rdm_stack
from .resampling import check_seed

METHODS = ("spearman", "rho_a", "pearson", "cosine", "kendall_tau_a", "kendall_tau_b")


class NoiseCeiling(NamedTuple):
    """Lower and upper bound of the noise ceiling (unpacks as ``lower, upper``)."""

    lower: float
    upper: float


def noise_ceiling(rdms_per_subject: Any, method: str = "spearman") -> NoiseCeiling:
    """Leave-one-subject-out lower and all-subject upper bound of the RDM noise ceiling.

    Parameters
    ----------
    rdms_per_subject : (n_subjects, n_pairs) condensed RDMs, (n_subjects, n, n) square RDMs, or a list of RDMs
        One RDM per subject, all over the same stimuli in the same order (at least 2 subjects).
    method : str
        The RDM comparator: ``spearman`` (default), ``rho_a``, ``pearson``, ``cosine``, ``kendall_tau_a``,
        ``kendall_tau_b`` (the last two need the RSA measures installed).

    Returns
    -------
    NoiseCeiling
        ``(lower, upper)``; see the module docstring for the definitions.

    Examples
    --------
    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(45)
    >>> subjects = truth + 0.3 * rng.normal(size=(5, 45))
    >>> lower, upper = rl.stats.noise_ceiling(subjects)
    >>> 0 < lower < upper < 1
    True
    """
    if method not in METHODS:
        raise ReprlabError(f"`method` must be one of {METHODS}; got {method!r}.")
    V = rdm_stack(rdms_per_subject, "rdms_per_subject")
    k = V.shape[0]
    if k < 2:
        raise ReprlabError(
            f"`rdms_per_subject` holds {k} RDM; a leave-one-subject-out noise ceiling needs at least 2 subjects."
        )
    everyone = pool(V, method)
    lower = [compare_vectors(pool(np.delete(V, s, axis=0), method), V[s], method) for s in range(k)]
    upper = [compare_vectors(everyone, V[s], method) for s in range(k)]
    return NoiseCeiling(float(np.mean(lower)), float(np.mean(upper)))


def spearman_brown(r: Any, factor: float = 2.0) -> Any:
    """The Spearman-Brown prophecy ``factor r / (1 + (factor - 1) r)``: reliability of ``factor`` times
    as many repeats (``factor=2`` steps a split-half correlation up to the full data)."""
    if not factor > 0:
        raise ReprlabError(f"`factor` must be positive; got {factor!r}.")
    r = np.asarray(r, dtype=float)
    out = factor * r / (1.0 + (factor - 1.0) * r)
    return float(out) if out.ndim == 0 else out


def split_half_reliability(data: Any, n_splits: int = 100, seed: Any = 0, corrected: bool = True) -> Any:
    """Split-half reliability of each unit, Spearman-Brown corrected (module docstring).

    Parameters
    ----------
    data : array of shape (n_repeats, n_stimuli, n_units) or (n_repeats, n_stimuli)
        Repeated measurements of the same stimuli (at least 2 repeats, 3 stimuli).
    n_splits : int
        Random splits of the repeats into two halves (an odd repeat count leaves one out per split).
    seed : int, None or numpy Generator
    corrected : bool
        Apply the Spearman-Brown step-up (default); ``False`` returns the raw half-half correlation.

    Returns
    -------
    numpy array of shape (n_units,), or a float for 2-D ``data``
        The mean over splits of each unit's (corrected) reliability. Units with no variance across
        stimuli in a half have no defined reliability: an error names them.
    """
    arr = np.asarray(data, dtype=float)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ReprlabError(
            f"`data` must have shape (n_repeats, n_stimuli, n_units) or (n_repeats, n_stimuli); got {arr.shape}."
        )
    reps, n_stim, _ = arr.shape
    if reps < 2:
        raise ReprlabError(f"`data` has {reps} repeat; split-half reliability needs at least 2 repeats per stimulus.")
    if n_stim < 3:
        raise ReprlabError(f"`data` has {n_stim} stimuli; a correlation across stimuli needs at least 3.")
    if not np.all(np.isfinite(arr)):
        raise ReprlabError("`data` contains NaN or Inf; remove or impute them first.")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise ReprlabError(f"`n_splits` must be a positive integer; got {n_splits!r}.")
    rng = check_seed(seed)
    half = reps // 2
    total = np.zeros(arr.shape[2])
    for _ in range(n_splits):
        order = rng.permutation(reps)
        a = arr[order[:half]].mean(0)
        b = arr[order[half : 2 * half]].mean(0)
        a = a - a.mean(0)
        b = b - b.mean(0)
        den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
        if np.any(den == 0):
            bad = np.flatnonzero(den == 0)
            raise ReprlabError(
                f"Units {bad[:5].tolist()} have no variance across stimuli in a half of the repeats, so their "
                "reliability is undefined; drop constant units first."
            )
        r = (a * b).sum(0) / den
        total += spearman_brown(r) if corrected else r
    out = total / n_splits
    return float(out[0]) if squeeze else out


@dataclass(frozen=True)
class Alignment:
    """An alignment score reported raw and normalised by a noise ceiling (``normalised = raw / ceiling``).

    ``normalised_interval`` is the raw score's bootstrap interval divided by the ceiling, when the score
    came with one (a :class:`~reprlab.stats.BootstrapResult`); the ceiling is treated as fixed.
    """

    raw: Any
    ceiling: Any
    normalised: Any
    normalised_interval: tuple[float, float] | None = None


def normalise(raw: Any, ceiling: Any, bound: str = "lower") -> Alignment:
    """Report ``raw`` (a score or an array of per-unit scores) raw and divided by ``ceiling``.

    ``raw`` may also be a :class:`~reprlab.stats.BootstrapResult`, whose interval is then normalised too.
    ``ceiling`` is a number, an array (per unit, e.g. from :func:`split_half_reliability`) or a
    :class:`NoiseCeiling`, of which ``bound`` picks the ``lower`` (default: the score an independent
    group of subjects reaches, so 1 means "as good as other subjects") or the ``upper`` bound.
    Ceilings <= 0 leave the score undefined and raise.
    """
    if isinstance(ceiling, NoiseCeiling):
        if bound not in ("lower", "upper"):
            raise ReprlabError(f"`bound` must be 'lower' or 'upper'; got {bound!r}.")
        ceiling = getattr(ceiling, bound)
    interval = None
    if hasattr(raw, "ci_low") and hasattr(raw, "value"):
        interval = (raw.ci_low, raw.ci_high)
        raw = raw.value
    c = np.asarray(ceiling, dtype=float)
    r = np.asarray(raw, dtype=float)
    if np.any(~np.isfinite(c)) or np.any(c <= 0):
        raise ReprlabError(
            f"The ceiling must be positive and finite to normalise by it; got {ceiling!r}. A ceiling <= 0 means the "
            "target data are too noisy for any model to reach a reliable score."
        )
    out = r / c
    if interval is not None:
        if c.ndim:
            raise ReprlabError("A bootstrap result is one score; normalise it by one ceiling, not an array.")
        interval = (float(interval[0] / c), float(interval[1] / c))

    def py(a: np.ndarray) -> Any:
        return float(a) if a.ndim == 0 else a

    return Alignment(py(r), py(c), py(out), interval)
