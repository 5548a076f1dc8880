"""Evaluating any registered measure on resampled or permuted stimuli.

Every statistic in :mod:`reprlab.stats` goes through :class:`Evaluator`, which resolves a measure in
the registry and evaluates it on a *resample* ``ix`` (indices into the stimuli, repeats allowed).
A bootstrap resample duplicates stimuli, and the copies of a stimulus inflate every similarity that
looks at the rows jointly (two identical rows agree in both representations; in high dimensions the
chance alignment of a measure grows as the number of distinct stimuli falls to ~63%). Evaluating the
measure on the resampled rows (the plug-in "rows" bootstrap) therefore gives intervals that need not
contain the measure's own value (docs/stats.md measured it). Each measure gets one of three rules,
chosen automatically (:attr:`Evaluator.rule`, stated in every result) or is refused:

**Distinct pairs** (measures whose value is a comparison of pairwise dissimilarities between stimuli,
such as RSA). A stimulus drawn twice would add zero dissimilarities between its copies in *both*
representations: trivially "agreeing" pairs that bias the comparison upwards. Such measures declare two
hooks (``register(..., hooks=Hooks(pair_matrix=..., compare_pairs=...))``, :class:`reprlab._registry.Hooks`):

``pair_matrix(P, **params) -> (m, m) tensor``
    The symmetric dissimilarity (or similarity) matrix over the m resampling units (stimuli, or
    conditions when the measure averages rows into conditions) of a prepared representation ``P``
    (the output of the measure's ``prepare``). It may raise :class:`~reprlab.errors.ReprlabError` for
    parameter settings that cannot be evaluated on pairs; it runs once, on all stimuli, before any
    resampling, so the message reaches the user unchanged.
``compare_pairs(dx, dy, **params) -> float``
    The measure's value from two 1-D tensors of the same pairs' entries, of any length >= 3 (a pair
    may occur several times; it then counts several times).

On a resample ``ix`` the matrices are computed once on all stimuli and the entries
``F[min(ix[a], ix[b]), max(ix[a], ix[b])]`` (upper triangle) of the pairs of positions ``a < b`` with
``ix[a] != ix[b]`` are compared: the pairs of a stimulus with its own copy
are dropped, every other pair counts as often as it was drawn. This is rsatoolbox's rule
(``RDMs.subsample_pattern`` marks the self-pairs NaN and the comparison skips them). A permutation
``ix = perm`` of one side has no repeats and compares all pairs.

**Linearised** (neighbourhood measures that are a mean of row scores, such as ``mutual_knn``) declare

``influence(PX, PY, **params) -> (n,) tensor``
    The first-order influence ``psi_i`` of each stimulus on the value of the prepared full-sample
    representations (the measure's Hoeffding projection with the neighbour lists held fixed),
    summing to 0.

**Jackknife** (every other measure, unless refused below). The influence values are the jackknife's:
with ``t_(g)`` the measure recomputed without the stimuli of group ``g`` (each stimulus its own group
up to :data:`MAX_JACKKNIFE_GROUPS` stimuli; beyond, G = :data:`MAX_JACKKNIFE_GROUPS` groups of a fixed
random partition) and ``t_bar`` their mean, ``psi_g = (G - 1) (t_bar - t_(g))`` (Efron & Tibshirani
1993, ch. 11 and 21; for a mean this is exactly ``x_g - x_bar``). No leave-out sample repeats a stimulus,
so no copies enter the measure. A stimulus carries its group's ``psi_g`` scaled by ``sqrt(n / G)`` (1 for
the delete-one jackknife), which gives the grouped jackknife's variance (the counts of G groups in a
resample of n stimuli vary ``sqrt(G / n)`` times less than in a resample of G groups).

Under both influence rules a bootstrap resample ``ix`` is worth ``v + mean(psi[ix])`` with ``v`` the
full-sample value (the linear bootstrap, Efron & Tibshirani 1993, ch. 21); ``v`` and ``psi`` are
computed once per pair of representations, so a resample costs a gather. The interval is centred on
``v`` (it contains the measure's value), its width is the jackknife's standard error (the delete-one
jackknife variance is conservative, Efron & Stein 1981), and BCa reads its acceleration from the same
values. Only resamples with repeats use it: permutations (no repeats) recompute the measure on the
permuted rows.

**Refused**: :data:`REFUSED` lists measures for which no rule was found valid (with the reason); their
bootstrap raises an error that points to :func:`reprlab.stats.permutation_test`. docs/stats.md has the
simulations behind every choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import _pairs, _registry
from .._validation import as_float
from ..errors import ReprlabError, ReprlabTypeError

#: Above this many stimuli the jackknife leaves out groups of stimuli instead of single ones (its cost
#: is one evaluation of the measure per group, comparable to a 1000-resample bootstrap).
MAX_JACKKNIFE_GROUPS = 500

#: Measures without a valid bootstrap rule, with the reason (docs/stats.md). Their bootstrap is refused.
REFUSED: dict[str, str] = {
    "cycle_knn": (
        "its value is a step function of the neighbour graphs, near 1 on unrelated data, so most leave-one-out "
        "values tie and the jackknife interval collapses (it covered the null expectation in 7 of 10 runs of "
        "30 unrelated stimuli), while resampling rows makes the copies of a stimulus each other's neighbours"
    ),
}

#: The fewest stimuli a bootstrap accepts: with fewer, many resamples hold only one or two distinct
#: stimuli (a resample of 4 repeats one stimulus 4 times with probability 1/64).
MIN_BOOTSTRAP = 5
#: The fewest stimuli a permutation test accepts: 3 stimuli have only 3! = 6 orders, so no p-value
#: could fall below 0.05.
MIN_PERMUTATION = 4


def check_count(n: Any, name: str = "n") -> int:
    """Return ``n`` as an int >= 1 or raise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ReprlabTypeError(f"`{name}` (the number of resamples) must be an integer; got {n!r}.")
    if n < 1:
        raise ReprlabError(
            f"`{name}` (the number of resamples) must be at least 1; got {n}. Typical values: 1000-10000."
        )
    return int(n)


def check_level(ci: Any) -> float:
    """Return the confidence level ``ci`` as a float in (0, 1) or raise."""
    if isinstance(ci, bool) or not isinstance(ci, (int, float, np.floating)) or not 0.0 < float(ci) < 1.0:
        raise ReprlabError(
            f"`ci` is the confidence level, a number strictly between 0 and 1 (e.g. 0.95 for a 95% interval); "
            f"got {ci!r}."
        )
    return float(ci)


def check_seed(seed: Any) -> np.random.Generator:
    """A NumPy generator from an int seed, ``None`` (fresh entropy) or an existing generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ReprlabError(f"`seed` must be a non-negative integer, None or a numpy Generator; got {seed!r}.")
    return np.random.default_rng(seed)


def distinct_pairs(ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions ``(a, b)``, ``a < b``, of a resample ``ix`` whose stimuli differ (``ix[a] != ix[b]``).

    >>> a, b = distinct_pairs(torch.tensor([3, 1, 3]))
    >>> list(zip(a.tolist(), b.tolist()))
    [(0, 1), (1, 2)]
    """
    m = ix.shape[0]
    a, b = torch.triu_indices(m, m, offset=1, device=ix.device)
    keep = ix[a] != ix[b]
    return a[keep], b[keep]


def larger_is_similar(info: _registry.MeasureInfo, params: Mapping[str, Any]) -> bool:
    """Whether larger values mean "more similar" for ``info`` at ``params``.

    The default's direction, unless a declared variant whose parameters all match ``params`` flips it
    (``cka(angular=True)`` is a distance). Matching variants that flip it in different directions are
    an error in the declarations.
    """
    flips = {
        v.larger_is_similar
        for v in info.variants
        if v.larger_is_similar != info.larger_is_similar and all(params.get(k) == val for k, val in v.params.items())
    }
    if len(flips) > 1:  # pragma: no cover - only a contradictory registration reaches this
        raise ReprlabError(f"The variants of {info.name!r} disagree on whether larger values are more similar.")
    return flips.pop() if flips else info.larger_is_similar


@dataclass
class Evaluator:
    """A resolved compare measure that can be evaluated on resamples of stimuli (see module docstring)."""

    measure: Any
    params: dict[str, Any]
    spec: str
    dtype: Any = None
    device: Any = None
    #: The linearised rule's work, done once: (id(FX), id(FY)) -> (value, psi), and id(F) -> (F, prepared F);
    #: holding F keeps its id from being reused.
    _influence: dict[tuple[int, int], tuple[float, torch.Tensor]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _prepared: dict[int, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def resolve(cls, measure: str, params: Mapping[str, Any], dtype: Any = None, device: Any = None) -> Evaluator:
        m, p = _registry.resolve(measure, params)
        if m.info.kind != "compare":
            raise ReprlabError(
                f"{m.info.name!r} describes one representation; these statistics need a compare measure."
            )
        ev = cls(m, p, _registry.format_spec(m.info.name, p), dtype, device)
        if not ev.pairwise:
            data = [k for k, prm in m.info.params.items() if prm.data and p[k] is not None]
            if data:
                raise ReprlabError(
                    f"{ev.spec} is given the per-stimulus data parameter {data[0]!r}, which resampling rows would "
                    "not carry along. Resample or permute without it, or average the rows into conditions first."
                )
        return ev

    @property
    def pairwise(self) -> bool:
        """True when the measure declares the distinct-pairs hooks (``pair_matrix`` and ``compare_pairs``)."""
        return self.measure.hooks.pair_matrix is not None

    @property
    def linearised(self) -> bool:
        """True when bootstrap resamples are evaluated from influence values (``linearised`` or ``jackknife``)."""
        return not self.pairwise

    @property
    def rule(self) -> str:
        """How bootstrap resamples are evaluated: ``distinct_pairs``, ``linearised`` or ``jackknife``."""
        if self.pairwise:
            return "distinct_pairs"
        return "linearised" if self.measure.hooks.influence is not None else "jackknife"

    @property
    def larger_is_similar(self) -> bool:
        return larger_is_similar(self.measure.info, self.params)

    def check_bootstrap(self) -> None:
        """Refuse to bootstrap a measure without a valid rule (:data:`REFUSED`), pointing to the permutation test."""
        reason = REFUSED.get(self.measure.info.name)
        if reason is not None:
            raise ReprlabError(
                f"{self.spec} has no valid bootstrap over stimuli: {reason} (docs/stats.md). Test whether it "
                "differs from chance with rl.stats.permutation_test (rows of Y permuted, no repeated stimuli)."
            )

    def load(self, X: Any, name: str) -> torch.Tensor:
        """Check one input as the measure does."""
        return self.measure.check_input(X, name, self.dtype, self.device)

    def full(self, T: torch.Tensor) -> torch.Tensor:
        """What resamples index: the pair matrix (distinct-pairs rule) or the rows themselves."""
        if not self.pairwise:
            return T
        P = self.measure.prepare_one(T, self.params)
        return self.measure.hooks.pair_matrix(P, **self.params)

    def units(self, F: torch.Tensor) -> int:
        """How many resampling units (stimuli, or conditions) ``F`` has."""
        return int(F.shape[0])

    def positions(self, ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The pair positions a resample compares (distinct-pairs rule), or None (the other rules)."""
        return distinct_pairs(ix) if self.pairwise else None

    def sample(self, F: torch.Tensor, ix: torch.Tensor, pos: tuple[torch.Tensor, torch.Tensor] | None) -> Any:
        """One side of a resample: its pairs' entries, or its prepared rows."""
        if self.pairwise:
            a, b = pos
            i, j = ix[a], ix[b]
            # Always read the upper triangle: a matrix symmetric only to rounding must not turn the two
            # draws of one pair into two slightly different values (which would break their rank tie).
            return F[torch.minimum(i, j), torch.maximum(i, j)]
        return self.measure.prepare_one(F[ix], self.params)

    def value(self, SX: Any, SY: Any) -> float:
        """The measure on two samples from :meth:`sample`."""
        if self.pairwise:
            if SX.shape[0] < 3:
                raise ReprlabError(f"only {SX.shape[0]} distinct pairs of stimuli remain to compare")
            v = self.measure.hooks.compare_pairs(SX, SY, **self.params)
        else:
            v = self.measure.core(SX, SY, **self.params)
        return as_float(v, self.spec, "resampling statistics")

    def on(self, FX: torch.Tensor, FY: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor | None = None) -> float:
        """The measure with X's units ``ix`` against Y's units ``iy`` (default ``ix``: a resample of
        both, which the linearised rule evaluates from the influence values)."""
        if iy is None and self.linearised:
            return self._linear(FX, FY, ix)
        pos = self.positions(ix)
        return self.value(self.sample(FX, ix, pos), self.sample(FY, ix if iy is None else iy, pos))

    def on_all(self, FA: list[torch.Tensor], FB: list[torch.Tensor], ix: torch.Tensor) -> np.ndarray:
        """The measure of every ``FA[a]`` against every ``FB[b]`` on one resample ``ix`` of both, each
        representation prepared once (a (len(FA), len(FB)) array)."""
        if self.linearised:
            return _pairs.matrix(FA, FB, lambda a, b: self._linear(a, b, ix), mirror=False)
        pos = self.positions(ix)
        sa = [self.sample(f, ix, pos) for f in FA]
        sb = [self.sample(f, ix, pos) for f in FB]
        return _pairs.matrix(sa, sb, self.value, mirror=False)

    def _linear(self, FX: torch.Tensor, FY: torch.Tensor, ix: torch.Tensor) -> float:
        """``v + mean(psi[ix])`` (module docstring); exactly ``v`` on the full sample in any order."""
        v, psi = self.influence(FX, FY)
        n = psi.shape[0]
        if ix.shape[0] == n and bool((torch.bincount(ix, minlength=n) == 1).all()):
            return v
        return v + float(psi[ix].mean())

    def influence(self, FX: torch.Tensor, FY: torch.Tensor) -> tuple[float, torch.Tensor]:
        """The full-sample value ``v`` and the influence ``psi`` of each stimulus (the measure's
        ``influence`` hook, else the jackknife's), computed once per pair of representations."""
        key = (id(FX), id(FY))
        if key not in self._influence:
            for F in (FX, FY):
                if id(F) not in self._prepared:
                    self._prepared[id(F)] = (F, self.measure.prepare_one(F, self.params))
            PX, PY = self._prepared[id(FX)][1], self._prepared[id(FY)][1]
            v = as_float(self.measure.core(PX, PY, **self.params), self.spec, "resampling statistics")
            if self.measure.hooks.influence is not None:
                psi = self.measure.hooks.influence(PX, PY, **self.params).to(torch.float64)
            else:
                psi = self.jackknife_influence(FX, FY)
            self._influence[key] = (v, psi)
        return self._influence[key]

    def jackknife_influence(self, FX: torch.Tensor, FY: torch.Tensor) -> torch.Tensor:
        """The jackknife influence of each stimulus, ``sqrt(n / G) psi_g(i)`` (module docstring)."""
        n = FX.shape[0]
        group = jackknife_groups(n)
        G = int(group.max()) + 1
        t = torch.empty(G, dtype=torch.float64, device=FX.device)  # psi lives where the resamples' indices do
        for g in range(G):
            keep = torch.nonzero(group != g).reshape(-1).to(FX.device)
            try:
                t[g] = self.value(self.sample(FX, keep, None), self.sample(FY, keep, None))
            except ReprlabError as err:
                left = f"stimulus {g}" if G == n else f"group {g} of {G} stimulus groups"
                raise ReprlabError(f"(jackknife: {left} left out) {err}") from err
        psi = (G - 1) * (t.mean() - t)
        return psi[group.to(FX.device)] * (n / G) ** 0.5


def jackknife_groups(n: int) -> torch.Tensor:
    """The jackknife group of each of ``n`` stimuli: itself up to :data:`MAX_JACKKNIFE_GROUPS` stimuli, else
    one of that many near-equal groups of a fixed random partition (seeded, so results are reproducible)."""
    if n <= MAX_JACKKNIFE_GROUPS:
        return torch.arange(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    group = torch.empty(n, dtype=torch.long)
    group[perm] = torch.arange(n) % MAX_JACKKNIFE_GROUPS
    return group


def guarded(fn: Callable[[np.ndarray], Any], spec: str, what: str, n_units: int) -> Callable[[np.ndarray], Any]:
    """Wrap ``fn(ix)`` so that a measure failing on one resample says which and why, and how to avoid it."""

    def call(ix: np.ndarray) -> Any:
        try:
            return fn(ix)
        except ReprlabError as err:
            distinct = len(np.unique(ix))
            raise ReprlabError(
                f"{spec} could not be computed on a {what} of the {n_units} stimuli ({distinct} distinct): {err} "
                "Resamples of few stimuli are often degenerate; use more stimuli (or a measure defined on them)."
            ) from err

    return call
