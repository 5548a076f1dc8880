"""Permutation tests over stimuli, for any compare measure in the registry.

The null distribution breaks the correspondence of stimuli between the two representations: the rows
of ``Y`` are permuted (uniformly at random, ``n`` times) and the measure recomputed against the
unpermuted ``X``. For RDM-based measures (distinct-pairs rule, :mod:`reprlab.stats.resampling`) this
permutes the rows and columns of Y's RDM together, as in the Mantel test.

p-values use the exact rule for Monte-Carlo permutation tests (Phipson & Smyth 2010, "Permutation
P-values should never be zero", SAGMB 9:39):

    p = (1 + #{null values at least as similar as the observed one}) / (1 + n),

where "at least as similar" is ``>=`` for similarities and ``<=`` for distances (the measure's
``larger_is_similar``, at the given parameters). Ties within ``1e-12 * max(1, |observed|)`` count as
at least as extreme (rounding must not make a test anti-conservative). This p is valid (super-uniform
under the null) for any ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._progress import progress
from .._stimulus_ids import match_rows
from .._validation import check_same_rows
from ..errors import ReprlabError
from .resampling import MIN_PERMUTATION, Evaluator, check_count, check_seed, guarded

ALTERNATIVES = ("similar", "dissimilar", "two-sided")


@dataclass(frozen=True)
class PermutationResult:
    """The observed value, its permutation p-value and the null distribution."""

    value: float
    p: float
    null: np.ndarray = field(repr=False)
    n: int
    seed: int | None
    alternative: str
    measure: str
    larger_is_similar: bool

    def __str__(self) -> str:
        return f"{self.measure} = {self.value:.4g}, p = {self.p:.4g} ({self.alternative}, {self.n} permutations)"


def p_values(observed: Any, null: np.ndarray, alternative: str, larger_is_similar: bool) -> np.ndarray:
    """The exact Monte-Carlo permutation p-value (module docstring) of each entry of ``observed``;
    ``null`` holds the permuted values along axis 0."""
    observed = np.asarray(observed, dtype=float)
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    more_similar = null >= observed - tol if larger_is_similar else null <= observed + tol
    less_similar = null <= observed + tol if larger_is_similar else null >= observed - tol
    n = null.shape[0]
    p_sim = (1.0 + more_similar.sum(0)) / (1.0 + n)
    p_dis = (1.0 + less_similar.sum(0)) / (1.0 + n)
    if alternative == "similar":
        return p_sim
    if alternative == "dissimilar":
        return p_dis
    return np.minimum(1.0, 2.0 * np.minimum(p_sim, p_dis))


def p_value(observed: float, null: np.ndarray, alternative: str, larger_is_similar: bool) -> float:
    """The exact Monte-Carlo permutation p-value (module docstring) of one observed value."""
    return float(p_values(observed, null, alternative, larger_is_similar))


def permutation_test(
    X: Any,
    Y: Any,
    measure: str = "cka",
    /,
    *,
    n: int = 1000,
    seed: Any = 0,
    alternative: str = "similar",
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> PermutationResult:
    """Test whether ``X`` and ``Y`` are more similar than with their stimuli shuffled.

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
    measure : str
        Any compare measure name or spec.
    n : int
        Number of random permutations of Y's stimuli.
    seed : int, None or numpy Generator
    alternative : {"similar", "dissimilar", "two-sided"}
        ``similar`` (default): X and Y are more similar than chance (larger values for similarities,
        smaller for distances); ``dissimilar``: less similar; ``two-sided``: ``min(1, 2 min(p_similar,
        p_dissimilar))``.

    Returns
    -------
    PermutationResult
        ``value``, ``p`` (exact rule, module docstring), ``null`` (the n permuted values).

    Examples
    --------
    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 4)); Y = X @ rng.normal(size=(4, 6))
    >>> rl.stats.permutation_test(X, Y, "cka", n=99).p
    0.01
    """
    X, Y = match_rows([("X", X), ("Y", Y)], None)
    n = check_count(n)
    if alternative not in ALTERNATIVES:
        raise ReprlabError(f"`alternative` must be one of {ALTERNATIVES}; got {alternative!r}.")
    rng = check_seed(seed)
    ev = Evaluator.resolve(measure, params, dtype, device)
    TX, TY = ev.load(X, "X"), ev.load(Y, "Y")
    check_same_rows(TX, TY)
    FX, FY = ev.full(TX), ev.full(TY)
    units = ev.units(FX)
    if units < MIN_PERMUTATION:
        raise ReprlabError(
            f"The representations have {units} stimuli; a permutation test needs at least {MIN_PERMUTATION} "
            f"({units} stimuli have only {int(np.prod(np.arange(1, units + 1)))} orders, too few for any p < 0.05)."
        )
    ident = torch.arange(units, device=FX.device)
    pos = ev.positions(ident)
    SX = ev.sample(FX, ident, pos)
    larger = ev.larger_is_similar

    def value_on(perm: np.ndarray) -> float:
        return ev.value(SX, ev.sample(FY, torch.from_numpy(perm).to(FX.device), pos))

    call = guarded(value_on, ev.spec, "permutation", units)
    observed = call(np.arange(units))
    null = np.array([call(rng.permutation(units)) for _ in progress(range(n), n, "permutation test", "perm")])
    p = p_value(observed, null, alternative, larger)
    seed_int = int(seed) if isinstance(seed, (int, np.integer)) else None
    return PermutationResult(observed, p, null, n, seed_int, alternative, ev.spec, larger)
