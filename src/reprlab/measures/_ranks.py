"""Rank statistics for RDM comparison: ranks with ties, Spearman / rho-a, and Kendall's tau in O(m log m).

Everything that depends on one vector alone (its sort order, tie groups, dense ranks, tie counts) is
computed once by :func:`tau_prepare`; the per-pair step of Kendall's tau is then one gather and one
O(m log m) count of discordant pairs.

Discordant pairs are counted with SciPy's compiled Fenwick-tree routine
(``scipy.stats._stats._kendall_dis``, the one behind ``scipy.stats.kendalltau``) when it is importable;
it is private SciPy API, so a pure NumPy fallback (:func:`_discordant_numpy`, a bottom-up merge count,
O(m log^2 m) but vectorised) is used otherwise. Both count exactly the same pairs; the tests check one
against the other and against an O(m^2) count on small inputs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

try:  # SciPy's compiled discordant-pair count (private API: guarded, with an exact fallback)
    from scipy.stats._stats import _kendall_dis as _scipy_kendall_dis
except ImportError:  # pragma: no cover - depends on the SciPy version
    _scipy_kendall_dis = None

RANK_METHODS = ("average", "min", "max", "dense", "ordinal")


def rankdata_np(x: np.ndarray, method: str = "average") -> np.ndarray:
    """Ranks (from 1, float64) of a 1-D NumPy array, ties as ``scipy.stats.rankdata``; one sort, and
    nothing more for a vector without ties."""
    m = x.size
    order = np.argsort(x, kind="stable" if method == "ordinal" else None)
    xs = x[order]
    out = np.empty(m, dtype=np.float64)
    new = np.empty(m, dtype=bool)
    new[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    if method == "ordinal" or new.all():
        out[order] = np.arange(1, m + 1, dtype=np.float64)
        return out
    gid = np.cumsum(new) - 1  # tie-group id of each sorted entry
    if method == "dense":
        out[order] = gid + 1.0
        return out
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], m)  # exclusive
    per_group = {"min": starts + 1.0, "max": ends * 1.0}.get(method)
    if per_group is None:
        per_group = (starts + 1 + ends) / 2.0
    out[order] = per_group[gid]
    return out


def rankdata(v: torch.Tensor, method: str = "average") -> torch.Tensor:
    """Ranks of the entries of each row of ``v`` (1-D or 2-D), from 1, ties as ``scipy.stats.rankdata``
    (``average``: the mean rank of a tie group; ``min`` / ``max``; ``dense``: 1, 2, ... over distinct
    values; ``ordinal``: the position in a stable sort). Returned in ``v``'s dtype and device.

    The sort runs in NumPy on the CPU: its SIMD argsort is faster than ``torch.sort`` on CPU (docs/benchmarks.md), and
    ranking is a per-RDM step (never per pair). The rows of a stack are ranked on as many threads as
    torch uses (NumPy's sort releases the GIL).
    """
    x = v.detach().cpu().numpy()
    if x.ndim == 1:
        r = rankdata_np(x, method)
    else:
        workers = max(1, min(len(x), torch.get_num_threads()))
        with ThreadPoolExecutor(workers) as pool:
            r = np.stack(list(pool.map(lambda row: rankdata_np(row, method), x)))
    return torch.from_numpy(r).to(dtype=v.dtype, device=v.device)


def tie_pairs(counts: np.ndarray) -> int:
    """Number of tied pairs, ``sum c (c - 1) / 2`` over tie-group sizes ``c``."""
    c = counts.astype(np.int64)
    return int((c * (c - 1) // 2).sum())


@dataclass
class TauPrep:
    """Per-vector work for Kendall's tau: sort order, dense ranks and ties."""

    m: int
    order: np.ndarray  # stable argsort of the vector
    sorted_ranks: np.ndarray  # dense ranks (from 1) in sorted order: non-decreasing, intp
    ranks: np.ndarray  # dense ranks (from 1) in original order, intp
    ties: int  # number of tied pairs within the vector
    tied: np.ndarray  # indices (original order) of the entries that belong to a tie group


def tau_prepare(v: torch.Tensor) -> TauPrep:
    """Sort ``v`` (1-D) once and record what every Kendall tau with it needs."""
    x = v.detach().cpu().numpy()
    order = np.argsort(x)  # any order of x works: the Fenwick count treats x-ties as groups
    xs = x[order]
    new = np.empty(x.size, dtype=bool)
    new[:1] = True
    new[1:] = xs[1:] != xs[:-1]
    sorted_ranks = np.cumsum(new, dtype=np.intp)
    ranks = np.empty(x.size, dtype=np.intp)
    ranks[order] = sorted_ranks
    counts = np.bincount(sorted_ranks)[1:]
    ties = tie_pairs(counts)
    tied = order[counts[sorted_ranks - 1] > 1] if ties else np.empty(0, dtype=np.intp)
    return TauPrep(x.size, order, sorted_ranks, ranks, ties, np.sort(tied))


def _discordant_numpy(xs: np.ndarray, y: np.ndarray) -> int:
    """Pairs i < j with ``xs[i] < xs[j]`` and ``y[i] > y[j]``, for non-decreasing ``xs``.

    Within a group of equal ``xs`` the ``y`` values are first sorted, so that no pair inside the group
    is counted; the remaining strict inversions of ``y`` are counted by a bottom-up merge: at block width
    ``w``, for every pair of adjacent sorted blocks (L, R), ``sum_{r in R} #{l in L: l > r}`` by one
    vectorised ``searchsorted`` over keys ``block * M + value``.
    """
    m = y.size
    y = y.astype(np.int64)
    # sort y within groups of equal x (a lexicographic sort by (x, y))
    a = y[np.lexsort((y, xs))]
    big = int(a.max()) + 2 if m else 1
    dis = 0
    w = 1
    idx = np.arange(m, dtype=np.int64)
    while w < m:
        block = idx // w
        pair = block // 2
        is_right = (block % 2) == 1
        keys_left = pair[~is_right] * big + a[~is_right]  # sorted: blocks are sorted and ordered
        qr = pair[is_right] * big + a[is_right]
        # number of left-block entries <= r, and the left-block end, for each right entry r
        pos = np.searchsorted(keys_left, qr, side="right")
        left_end = np.searchsorted(keys_left, pair[is_right] * big + big - 1, side="right")
        dis += int((left_end - pos).sum())
        # merge: sort by (pair, value); runs are sorted, so the stable sort merges them
        a = a[np.argsort(pair * big + a, kind="stable")]
        w *= 2
    return dis


def discordant_pairs(xs: np.ndarray, y: np.ndarray) -> int:
    """Strictly discordant pairs of (x, y), given x's dense ranks in sorted order (non-decreasing, from 1)
    and y's dense ranks (from 1) in the same order. Ties in x or in y count as neither."""
    if _scipy_kendall_dis is not None:
        return int(_scipy_kendall_dis(np.ascontiguousarray(xs, dtype=np.intp), np.ascontiguousarray(y, dtype=np.intp)))
    return _discordant_numpy(xs, y)


def joint_ties(a: TauPrep, b: TauPrep) -> int:
    """Pairs tied in both vectors: only entries inside a tie group of ``a`` can take part."""
    if not a.ties or not b.ties:
        return 0
    idx = a.tied
    key = a.ranks[idx].astype(np.int64) * (b.m + 1) + b.ranks[idx]
    _, counts = np.unique(key, return_counts=True)
    return tie_pairs(counts)


def kendall_tau(a: TauPrep, b: TauPrep, variant: str = "a") -> float:
    """Kendall's tau-a or tau-b of two prepared vectors of equal length.

    With ``tot = m (m - 1) / 2`` pairs, ``xt``, ``yt`` the pairs tied in x, in y, ``nt`` those tied in
    both and ``D`` the discordant pairs: ``C - D = tot - xt - yt + nt - 2 D`` (scipy's identity);
    tau-a = (C - D) / tot (ties count as neither, rsatoolbox ``tau-a``), tau-b = (C - D) /
    sqrt((tot - xt)(tot - yt)) (``scipy.stats.kendalltau``). Clipped to [-1, 1] like both.
    """
    if a.ties > b.ties:  # the Fenwick count walks the x-groups; fewer ties in x is cheaper
        a, b = b, a
    dis = discordant_pairs(a.sorted_ranks, b.ranks[a.order])
    tot = a.m * (a.m - 1) // 2
    con_minus_dis = tot - a.ties - b.ties + joint_ties(a, b) - 2 * dis
    if variant == "a":
        tau = con_minus_dis / tot
    else:
        tau = con_minus_dis / np.sqrt(float(tot - a.ties)) / np.sqrt(float(tot - b.ties))
    return float(min(1.0, max(-1.0, tau)))
