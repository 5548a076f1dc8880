"""The one loop over pairs of representations, shared by :func:`reprlab.compare_all` (in memory and on
a Dask cluster) and the resampling statistics (:meth:`reprlab.stats.resampling.Evaluator.on_all`).

Within one set (``mirror=True``) a symmetric measure is computed once per unordered pair and mirrored;
otherwise every ordered pair is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np


def needed(na: int, nb: int, mirror: bool) -> list[tuple[int, int]]:
    """The (i, j) pairs to compute: all of them, or ``j >= i`` when the matrix is mirrored."""
    return [(i, j) for i in range(na) for j in range(nb) if not (mirror and j < i)]


def fill(na: int, nb: int, pairs: Iterable[tuple[int, int]], values: Iterable[float], mirror: bool) -> np.ndarray:
    """The (na, nb) matrix from the values of :func:`needed` pairs, mirrored when ``mirror``."""
    out = np.full((na, nb), np.nan)
    for (i, j), v in zip(pairs, values):
        out[i, j] = v
        if mirror:
            out[j, i] = v
    return out


def matrix(sa: Sequence[Any], sb: Sequence[Any], value: Callable[[Any, Any], float], mirror: bool) -> np.ndarray:
    """``value(sa[i], sb[j])`` for every needed pair, as a (len(sa), len(sb)) float array."""
    pairs = needed(len(sa), len(sb), mirror)
    return fill(len(sa), len(sb), pairs, (value(sa[i], sb[j]) for i, j in pairs), mirror)
