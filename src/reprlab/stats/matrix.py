"""Intervals and p-values for whole layer x layer matrices, in batched passes over all pairs.

:func:`bootstrap_all` and :func:`permutation_test_all` return the :class:`~reprlab.ComparisonResult` of
:func:`reprlab.compare_all` with ``ci_low`` / ``ci_high`` or ``p`` filled in. Each resample is one call
of ``compare_all`` over every pair (its batched all-pairs routines and prepare-once path), never one
bootstrap per pair:

* **jackknife rule** (:mod:`reprlab.stats.resampling`): one ``compare_all`` per left-out stimulus (or
  group of stimuli) gives the influence matrix ``psi[i, a, b]`` of every stimulus on every pair; the
  bootstrap values of all pairs are then ``V + C psi / n`` for the resamples' count matrix ``C`` (one
  matrix product);
* **linearised rule** (kNN measures with an ``influence`` hook): the same product, with each pair's
  influence from its hook;
* **distinct-pairs rule** (RSA): each resample gathers the entries of every representation's RDM once
  and compares every pair.

The values of each pair equal :func:`reprlab.stats.bootstrap` of that pair with the same seed (the
resamples are drawn in the same order). Permutation tests permute the stimuli of the column
representations (all with one permutation) and recompute the matrix with ``compare_all``; p-values use
the exact Monte-Carlo rule (Phipson & Smyth 2010) per cell. With many pairs, correct the p-values for
multiple comparisons (:func:`reprlab.stats.fdr_bh`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..engine.compare_all import compare_all
from ..errors import ReprlabError
from ..results import ComparisonResult
from ..stream.sources import is_lazy, named_sets
from .bootstrap import _check_method, _check_units, _seed_of, interval
from .permutation import ALTERNATIVES, p_values
from .resampling import MIN_PERMUTATION, Evaluator, check_count, check_level, check_seed, guarded, jackknife_groups


def _loaded(ev: Evaluator, A: Any, B: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """The representations as checked in-memory tensors (stores are read once), by name."""
    rows, cols, values, _ = named_sets(A, B)
    tensors = [ev.load(np.asarray(x[:]) if is_lazy(x) else x, name) for x, name in zip(values, [*rows, *cols])]
    ta = dict(zip(rows, tensors[: len(rows)]))
    return ta, None if B is None else dict(zip(cols, tensors[len(rows) :]))


def _rows_of(reps: dict[str, torch.Tensor] | None, ix: torch.Tensor) -> dict[str, torch.Tensor] | None:
    return None if reps is None else {k: v[ix] for k, v in reps.items()}


def bootstrap_all(
    A: Any,
    B: Any = None,
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
) -> ComparisonResult:
    """:func:`reprlab.compare_all` with a bootstrap interval over stimuli for every cell.

    Parameters are those of :func:`reprlab.compare_all` (``A``, ``B``, ``measure``, ``dtype``, ``device``,
    ``**params``) and of :func:`reprlab.stats.bootstrap` (``n``, ``seed``, ``ci``, ``method``). Returns
    the matrix with ``ci_low`` and ``ci_high`` set and ``meta["intervals"]`` saying how (rule, method,
    level, resamples, seed).

    >>> import numpy as np, reprlab as rl
    >>> g = np.random.default_rng(0); X = g.normal(size=(40, 5))
    >>> res = rl.stats.bootstrap_all({"a": X, "b": X + g.normal(size=(40, 5))}, None, "cka", n=200)
    >>> bool(np.all((res.ci_low <= res.values) & (res.values <= res.ci_high)))
    True
    """
    n = check_count(n)
    ci = check_level(ci)
    method = _check_method(method)
    rng = check_seed(seed)
    ev = Evaluator.resolve(measure, params, dtype, device)
    ev.check_bootstrap()
    res = compare_all(A, B, measure, dtype=dtype, device=device, **params)
    ta, tb = _loaded(ev, A, B)
    units = next(iter(ta.values())).shape[0]
    _check_units(units)
    draws = [rng.integers(0, units, units) for _ in range(n)]
    if ev.rule == "distinct_pairs":
        FA = [ev.full(t) for t in ta.values()]
        FB = FA if tb is None else [ev.full(t) for t in tb.values()]

        def value_on(ix: np.ndarray) -> np.ndarray:
            return ev.on_all(FA, FB, torch.from_numpy(ix).to(FA[0].device))

        call = guarded(value_on, ev.spec, "bootstrap resample", units)
        samples = np.stack([call(ix) for ix in draws])
        jack = np.stack([call(np.delete(np.arange(units), k)) for k in range(units)]) if method == "bca" else None
    else:
        psi = _influence(ev, ta, tb, res.values, measure, dtype, device, params)
        flat = torch.from_numpy(psi.reshape(units, -1))
        counts = torch.stack([torch.bincount(torch.from_numpy(ix), minlength=units) for ix in draws]).to(flat.dtype)
        samples = res.values + (counts @ flat).numpy().reshape(n, *res.values.shape) / units
        jack = res.values - psi / (units - 1) if method == "bca" else None
    lo, hi = interval(samples, res.values, ci, method, jack)
    res.ci_low, res.ci_high = lo, hi
    res.meta["intervals"] = {"rule": ev.rule, "method": method, "ci": ci, "n": n, "seed": _seed_of(seed)}
    return res


def _influence(
    ev: Evaluator,
    ta: dict[str, torch.Tensor],
    tb: dict[str, torch.Tensor] | None,
    values: np.ndarray,
    measure: str,
    dtype: Any,
    device: Any,
    params: dict[str, Any],
) -> np.ndarray:
    """The influence ``psi[i, a, b]`` of stimulus i on cell (a, b) (:mod:`reprlab.stats.resampling`)."""
    units = next(iter(ta.values())).shape[0]
    if ev.rule == "linearised":
        tcols = ta if tb is None else tb
        return np.stack(
            [np.stack([ev.influence(a, b)[1].numpy() for b in tcols.values()], axis=-1) for a in ta.values()],
            axis=1,
        )
    group = jackknife_groups(units)
    G = int(group.max()) + 1
    jack = np.empty((G, *values.shape))
    for g in range(G):
        keep = torch.nonzero(group != g).reshape(-1)
        try:
            jack[g] = compare_all(
                _rows_of(ta, keep), _rows_of(tb, keep), measure, dtype=dtype, device=device, **params
            ).values
        except ReprlabError as err:
            raise ReprlabError(
                f"{ev.spec} could not be computed with stimulus group {g} of {G} left out: {err}"
            ) from err
    psi = (G - 1) * (jack.mean(0) - jack)
    return psi[group.numpy()] * (units / G) ** 0.5


def permutation_test_all(
    A: Any,
    B: Any = None,
    measure: str = "cka",
    /,
    *,
    n: int = 1000,
    seed: Any = 0,
    alternative: str = "similar",
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> ComparisonResult:
    """:func:`reprlab.compare_all` with a permutation p-value for every cell.

    Each of the ``n`` permutations shuffles the stimuli of every column representation (one permutation
    for all) and recomputes the whole matrix with ``compare_all``. ``p[a, b]`` is the exact Monte-Carlo
    p-value of :func:`reprlab.stats.permutation_test` (``alternative`` as there). Returns the matrix with
    ``p`` set and ``meta["p_values"]`` saying how.

    >>> import numpy as np, reprlab as rl
    >>> g = np.random.default_rng(0); X = g.normal(size=(40, 5))
    >>> res = rl.stats.permutation_test_all({"a": X}, {"b": X + g.normal(size=(40, 5))}, "cka", n=99)
    >>> float(res.p[0, 0])
    0.01
    """
    n = check_count(n)
    if alternative not in ALTERNATIVES:
        raise ReprlabError(f"`alternative` must be one of {ALTERNATIVES}; got {alternative!r}.")
    rng = check_seed(seed)
    ev = Evaluator.resolve(measure, params, dtype, device)
    res = compare_all(A, B, measure, dtype=dtype, device=device, **params)
    ta, tb = _loaded(ev, A, B)
    units = next(iter(ta.values())).shape[0]
    if units < MIN_PERMUTATION:
        raise ReprlabError(
            f"The representations have {units} stimuli; a permutation test needs at least {MIN_PERMUTATION}."
        )
    cols = ta if tb is None else tb
    null = np.stack(
        [
            compare_all(
                ta,
                _rows_of(cols, torch.from_numpy(rng.permutation(units))),
                measure,
                dtype=dtype,
                device=device,
                **params,
            ).values
            for _ in range(n)
        ]
    )
    res.p = p_values(res.values, null, alternative, ev.larger_is_similar)
    res.meta["p_values"] = {"test": "permutation", "alternative": alternative, "n": n, "seed": _seed_of(seed)}
    return res
