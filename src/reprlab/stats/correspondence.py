"""Which layer of one network corresponds to which layer of another?

:func:`layer_correspondence` finds, for two sets of layers, the best-matching layer of each (the most
similar under the measure, respecting whether it is a similarity or a distance) with a bootstrap
interval over stimuli: how often each layer keeps its best match across resamples, and the
percentile interval of the best match's position in the other network.

:func:`layer_identification` is the sanity check of Kornblith et al. (2019, section 6.1, Table 2) for
judging similarity measures: across networks of one architecture trained from different seeds, a
good measure finds that layer i of one network is most similar to layer i of the other. For every
ordered pair of networks (s, t) and every layer i of s, the layer j of t most similar to it is found;
the accuracy is the share with j = i.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import _registry
from .._stimulus_ids import match_rows
from .._validation import as_float
from ..errors import ReprlabError, ReprlabTypeError
from .bootstrap import _check_units, run_bootstrap
from .resampling import Evaluator, check_count, check_level, check_seed, guarded


def _layers(reps: Any, arg: str) -> tuple[list[str], list[Any]]:
    if not isinstance(reps, Mapping) or not reps:
        raise ReprlabTypeError(f"`{arg}` must be a non-empty mapping of layer name -> array (n_stimuli, n_features).")
    return [str(k) for k in reps], list(reps.values())


def _load_all(
    ev: Evaluator, names: list[str], arrays: list[Any], arg: str, n_rows: dict[int, str], full: bool = True
) -> list[Any]:
    """Check every layer (all with the same rows); ``full``: what resamples index (``Evaluator.full``)."""
    out = []
    for nm, a in zip(names, arrays):
        t = ev.load(a, f"{arg}[{nm!r}]")
        n_rows.setdefault(t.shape[0], f"{arg}[{nm!r}]")
        if len(n_rows) > 1:
            (n1, r1), (n2, r2) = list(n_rows.items())[:2]
            raise ReprlabError(f"All layers must hold the same stimuli; {r1} has {n1} rows and {r2} has {n2}.")
        out.append(ev.full(t) if full else t)
    return out


def _best(values: np.ndarray, larger: bool, axis: int) -> np.ndarray:
    return np.argmax(values, axis=axis) if larger else np.argmin(values, axis=axis)


@dataclass(frozen=True)
class Correspondence:
    """Best-matching layers in both directions, with bootstrap support.

    ``values[i, j]`` is the measure between ``names_a[i]`` and ``names_b[j]``. ``best_b[i]`` is the layer
    of B most similar to layer i of A; ``best_b_share[i]`` the share of bootstrap resamples in which it
    stays the best; ``best_b_interval[i]`` the (low, high) layer names of the ``ci`` percentile interval
    of the best match's position in B over resamples. The same for B's layers in A (``best_a*``).
    """

    names_a: list[str]
    names_b: list[str]
    values: np.ndarray
    best_b: list[str]
    best_b_share: np.ndarray
    best_b_interval: list[tuple[str, str]]
    best_a: list[str]
    best_a_share: np.ndarray
    best_a_interval: list[tuple[str, str]]
    samples: np.ndarray = field(repr=False)
    measure: str
    n: int
    ci: float


def _summarise(value_best: np.ndarray, sample_best: np.ndarray, names: list[str], alpha: float):
    share = (sample_best == value_best[None, :]).mean(0)
    lo = np.quantile(sample_best, alpha, axis=0, method="lower")
    hi = np.quantile(sample_best, 1 - alpha, axis=0, method="higher")
    return [names[i] for i in value_best], share, [(names[a], names[b]) for a, b in zip(lo, hi)]


def layer_correspondence(
    layers_a: Mapping[str, Any],
    layers_b: Mapping[str, Any],
    measure: str = "cka",
    /,
    *,
    n: int = 200,
    seed: Any = 0,
    ci: float = 0.95,
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> Correspondence:
    """Best-matching layers between two networks, with bootstrap intervals over stimuli.

    Every resample draws one set of stimuli for all layers (rule as in :func:`reprlab.stats.bootstrap`).

    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> h1 = rng.normal(size=(60, 8)); h2 = np.tanh(h1 @ rng.normal(size=(8, 8)))
    >>> A = {"l1": h1, "l2": h2}; B = {"m1": h1 @ rng.normal(size=(8, 8)), "m2": h2 + 0.1 * rng.normal(size=h2.shape)}
    >>> rl.stats.layer_correspondence(A, B, "cka", n=50).best_b
    ['m1', 'm2']
    """
    layers_a, layers_b = match_rows([("layers_a", layers_a), ("layers_b", layers_b)], None)
    n = check_count(n)
    ci = check_level(ci)
    rng = check_seed(seed)
    ev = Evaluator.resolve(measure, params, dtype, device)
    na, xa = _layers(layers_a, "layers_a")
    nb, xb = _layers(layers_b, "layers_b")
    rows: dict[int, str] = {}
    FA = _load_all(ev, na, xa, "layers_a", rows)
    FB = _load_all(ev, nb, xb, "layers_b", rows)
    units = ev.units(FA[0])
    _check_units(units, "The layers")
    ev.check_bootstrap()

    def value_on(ix: np.ndarray) -> np.ndarray:
        return ev.on_all(FA, FB, torch.from_numpy(ix).to(FA[0].device))

    values, samples, _ = run_bootstrap(
        guarded(value_on, ev.spec, "bootstrap resample", units), units, n=n, rng=rng, jackknife=False
    )
    larger = ev.larger_is_similar
    alpha = (1 - ci) / 2
    bb, bb_share, bb_int = _summarise(_best(values, larger, 1), _best(samples, larger, 2), nb, alpha)
    ba, ba_share, ba_int = _summarise(_best(values, larger, 0), _best(samples, larger, 1), na, alpha)
    return Correspondence(na, nb, values, bb, bb_share, bb_int, ba, ba_share, ba_int, samples, ev.spec, n, ci)


@dataclass(frozen=True)
class LayerIdentification:
    """How often each layer's best match in another network is the same layer.

    ``accuracy`` is the share over all (ordered network pair, layer) cases; ``per_layer[name]`` the share
    for one layer; ``matches[s, t, i]`` the index of network t's layer best matching layer i of network s
    (-1 on the diagonal s = t).
    """

    accuracy: float
    per_layer: dict[str, float]
    layers: list[str]
    matches: np.ndarray = field(repr=False)
    n_networks: int
    measure: str


def layer_identification(
    reps_by_seed: Sequence[Mapping[str, Any]],
    measure: str = "cka",
    /,
    *,
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> LayerIdentification:
    """Kornblith et al.'s layer identification test (module docstring).

    Parameters
    ----------
    reps_by_seed : sequence of Mapping[str, array]
        One mapping layer name -> activations (n_stimuli, n_features) per network (at least 2), all with
        the same layer names and the same stimuli, e.g. ``[net.layers for net in digits_networks(seeds)]``.
    measure, dtype, device, **params
        The compare measure, as for :func:`reprlab.compare`.

    Each layer is prepared once; for a symmetric measure each pair of layers is computed once.

    >>> import numpy as np, reprlab as rl
    >>> rng = np.random.default_rng(0)
    >>> base = {"l1": rng.normal(size=(50, 6)), "l2": rng.normal(size=(50, 6))}
    >>> nets = [{k: v @ rng.normal(size=(6, 6)) for k, v in base.items()} for _ in range(3)]
    >>> rl.stats.layer_identification(nets, "cka").accuracy
    1.0
    """
    if isinstance(reps_by_seed, Mapping) or not isinstance(reps_by_seed, Sequence) or len(reps_by_seed) < 2:
        raise ReprlabError(
            "`reps_by_seed` must be a sequence of at least 2 mappings (one per network) of layer name -> array."
        )
    m, p = _registry.resolve(measure, params)
    if m.info.kind != "compare":
        raise ReprlabError(
            f"{m.info.name!r} describes one representation; layer identification needs a compare measure."
        )
    ev = Evaluator(m, p, _registry.format_spec(m.info.name, p), dtype, device)
    names, _ = _layers(reps_by_seed[0], "reps_by_seed[0]")
    rows: dict[int, str] = {}
    prepared = []
    for s, reps in enumerate(reps_by_seed):
        ns, xs = _layers(reps, f"reps_by_seed[{s}]")
        if ns != names:
            raise ReprlabError(
                f"reps_by_seed[{s}] has layers {ns} but reps_by_seed[0] has {names}; every network needs the same "
                "layers in the same order."
            )
        # No resampling here: each layer is prepared once and compared by the measure's own core.
        tensors = _load_all(ev, ns, xs, f"reps_by_seed[{s}]", rows, full=False)
        prepared.append([ev.measure.prepare_one(t, ev.params) for t in tensors])
    k, L = len(prepared), len(names)
    larger = ev.larger_is_similar
    symmetric = ev.measure.info.symmetric_for(ev.params)
    core = ev.measure.core
    matches = np.full((k, k, L), -1, dtype=int)
    for s in range(k):
        for t in range(k):
            if s == t or (symmetric and t < s):
                continue
            M = np.array(
                [
                    [as_float(core(a, b, **ev.params), ev.spec, "resampling statistics") for b in prepared[t]]
                    for a in prepared[s]
                ]
            )
            matches[s, t] = _best(M, larger, 1)
            if symmetric:
                matches[t, s] = _best(M, larger, 0)
    off = ~np.eye(k, dtype=bool)
    correct = matches[off] == np.arange(L)[None, :]
    return LayerIdentification(
        float(correct.mean()),
        {nm: float(correct[:, i].mean()) for i, nm in enumerate(names)},
        names,
        matches,
        k,
        ev.spec,
    )
