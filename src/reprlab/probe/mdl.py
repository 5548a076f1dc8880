"""Minimum description length probes: the online code of Voita & Titov (2020).

The labels are transmitted block by block. The rows are put in a random order (seeded; with groups,
whole groups in a random order, so a block boundary splits at most one group) and cut at the
timesteps ``t_i = max(1, floor(f_i n / 100))`` for ``f = 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25,
50, 100`` percent. The first block is sent with the uniform code, ``t_1 log2 K`` bits; every later
block ``[t_i, t_{i+1})`` with the code of a probe trained on the rows before it:

    codelength = t_1 log2 K + sum_i sum_{j in [t_i, t_{i+1})} -log2 p_i(y_j | x_j)

``compression = n log2 K / codelength`` (the uniform codelength over the online one; larger: the
labels are easier to extract). The probe for each prefix is a multinomial logistic regression on
the prefix's standardised rows with an L2 penalty ``1/C`` on weights *and* intercepts, so a prefix
that misses a class still gives that class a finite probability (a small first block always misses
classes); all ten prefix fits run as one batch.

Reference: Voita & Titov (2020), Information-theoretic probing with minimum description length, EMNLP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import as_tensor
from ..errors import ReprlabError
from . import _folds
from ._solvers import fit_logistic
from .result import CONTROLS, ProbeResult, _check_choice

#: Block boundaries in percent of the data (Voita & Titov 2020).
BLOCKS_PERCENT = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25.0, 50.0, 100.0)


def timesteps(n: int) -> np.ndarray:
    """The block boundaries ``t_1 .. t_11`` for ``n`` rows (``t_11 = n``)."""
    t = np.maximum(1, np.floor(np.asarray(BLOCKS_PERCENT) * n / 100.0).astype(np.int64))
    t[-1] = n
    return t


def transmission_order(n: int, groups: np.ndarray | None, seed: int) -> np.ndarray:
    """Row order: a seeded permutation of the groups (rows of a group in their order), or of the rows."""
    rng = np.random.default_rng([seed, 23])
    if groups is None:
        return rng.permutation(n)
    perm = rng.permutation(int(groups.max()) + 1)
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    return np.argsort(rank[groups], kind="stable")


def online_codelength(
    X: torch.Tensor, codes: np.ndarray, n_classes: int, order: np.ndarray, C: float
) -> tuple[float, np.ndarray]:
    """Online codelength in bits of the class codes in the given order, and each block's bits."""
    n = X.shape[0]
    Xo = X[torch.as_tensor(order, device=X.device)]
    yo = codes[order]
    t = timesteps(n)
    masks = np.zeros((t.size - 1, n))
    for i in range(t.size - 1):
        masks[i, : t[i]] = 1.0
    dt = X.dtype
    fit = fit_logistic(
        Xo,
        torch.as_tensor(np.broadcast_to(yo, masks.shape).copy(), device=X.device),
        torch.as_tensor(masks, dtype=dt, device=X.device),
        torch.full((masks.shape[0],), float(C), dtype=dt, device=X.device),
        n_classes,
        penalise_intercept=True,
    )
    proba = fit.proba(Xo).cpu().numpy()  # (blocks, n, K)
    bits = [t[0] * np.log2(n_classes)]
    for i in range(t.size - 1):
        rows = np.arange(t[i], t[i + 1])
        p = proba[i, rows, yo[rows]]
        bits.append(float(-np.log2(p).sum()))
    blocks = np.asarray(bits)
    return float(blocks.sum()), blocks


def mdl_probe(
    X: Any,
    y: Any,
    *,
    groups: Any = None,
    C: float | None = None,
    seed: int = 0,
    control: str | None = None,
    types: Any = None,
    dtype: Any = None,
    device: Any = None,
) -> Any:
    """``rl.probe(X, y, kind="mdl")``: the online codelength and compression of ``y`` given ``X``."""

    Xt = as_tensor(X, "X", dtype=dtype, device=device, min_rows=4)
    n = Xt.shape[0]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ReprlabError(f"`seed` must be an integer; got {seed!r}.")
    c = 1.0 if C is None else C
    if isinstance(c, bool) or not isinstance(c, (int, float, np.floating)) or not np.isfinite(c) or c <= 0:
        raise ReprlabError(f"`C` for the MDL probe must be one positive number; got {C!r}.")
    g = _folds.group_codes(groups, n) if groups is not None else None
    arr = _folds._labels_array(y, n)
    classes, codes = np.unique(arr, return_inverse=True)
    codes = codes.reshape(-1)
    if classes.size < 2:
        raise ReprlabError(f"`y` has a single class ({classes[0]!r}); the MDL probe needs at least two.")
    order = transmission_order(n, g, int(seed))
    length, blocks = online_codelength(Xt, codes, classes.size, order, float(c))
    uniform = n * float(np.log2(classes.size))
    result = ProbeResult(
        kind="mdl",
        metric="compression",
        score=uniform / length,
        ci_low=None,
        ci_high=None,
        p_value=None,
        predictions=np.empty(0),
        folds=np.empty(0, dtype=np.int64),
        groups=np.arange(n) if g is None else g,
        classes=classes,
        codelength=length,
        uniform_codelength=uniform,
        compression=uniform / length,
        block_codelengths=blocks,
    )
    if control is not None:
        _check_choice(control, "control", CONTROLS)
        from .controls import control_labels, random_representation

        Xc, yc = Xt, arr
        if control == "task":
            if types is None:
                raise ReprlabError("`control='task'` needs `types`: the word type of each row.")
            yc = control_labels(types, arr, seed=seed)
        elif control == "shuffle":
            yc = arr[np.random.default_rng([seed, 13]).permutation(n)]
        else:
            Xc = torch.as_tensor(random_representation((n, Xt.shape[1]), seed), dtype=Xt.dtype, device=Xt.device)
        ctrl = mdl_probe(Xc, yc, groups=groups, C=c, seed=seed)
        result.control, result.control_score, result.control_result = control, ctrl.score, ctrl
        result.selectivity = result.score - ctrl.score
    return result
