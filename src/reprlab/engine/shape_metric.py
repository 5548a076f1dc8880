"""Shape metrics for :func:`reprlab.compare_all`: every pair from batched cross-products.

Per representation, :func:`reprlab.measures.shape._prepare` (centring, projection, whitening) runs
once and its points ``F_i`` are packed side by side into one ``n x sum(d_i)`` matrix. Per left
representation ``i`` one GEMM ``F_i^T [F_j ...]`` gives the cross-products of all its pairs (each
unordered pair once within one set); their nuclear norms are taken in batches, spread over the CPU
threads (:func:`reprlab.measures.shape.nuclear_norms`), and each pair is scored exactly as
:func:`reprlab.measures.shape.shape` scores it (equal to the per-pair ``rl.compare`` to rounding).
The diagonal of a within-set matrix is 0, the distance of a representation to itself.

Covers the orthogonal group (the permutation group solves one assignment per pair and takes the
generic per-pair path). Memory: the packed points (the size of the inputs) and at most
``options.budget`` bytes of cross-products at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from ..measures.shape import ShapeState, _prepare, nuclear_norms, orthogonal_score
from .moments import Options


def _pack(states: list[ShapeState]) -> tuple[torch.Tensor, list[int]]:
    """Copy every point ``F`` into one matrix (columns side by side) and make the states views of it."""
    offsets = [0]
    for s in states:
        offsets.append(offsets[-1] + s.F.shape[1])
    F0 = states[0].F
    Z = torch.empty((F0.shape[0], offsets[-1]), dtype=F0.dtype, device=F0.device)
    for s, a, b in zip(states, offsets, offsets[1:]):
        Z[:, a:b] = s.F
        s.F = Z[:, a:b]
    return Z, offsets


def _blocks(
    Z: torch.Tensor, offsets: list[int], rows: range, cols: dict[int, range], budget: int
) -> Iterator[tuple[list[tuple[int, int]], list[torch.Tensor]]]:
    """Cross-products ``F_i^T F_j`` for i in ``rows``, j in ``cols[i]``, about ``budget`` bytes at a time."""
    item = Z.element_size()
    pairs: list[tuple[int, int]] = []
    mats: list[torch.Tensor] = []
    used = 0
    for i in rows:
        Fi = Z[:, offsets[i] : offsets[i + 1]]
        js = list(cols[i])
        start = 0
        while start < len(js):
            stop = start + 1  # as many right representations as fit in the budget, at least one
            while stop < len(js) and Fi.shape[1] * (offsets[js[stop] + 1] - offsets[js[start]]) * item <= budget:
                stop += 1
            lo, hi = offsets[js[start]], offsets[js[stop - 1] + 1]
            P = Fi.T @ Z[:, lo:hi]
            for j in js[start:stop]:
                pairs.append((i, j))
                mats.append(P[:, offsets[j] - lo : offsets[j + 1] - lo])
            used += P.numel() * item
            start = stop
            if used >= budget:
                yield pairs, mats
                pairs, mats, used = [], [], 0
    if pairs:
        yield pairs, mats


def _nuclear_by_shape(mats: list[torch.Tensor], bounds: list[torch.Tensor]) -> list[torch.Tensor]:
    """Nuclear norms of matrices of possibly different shapes, one batch per shape."""
    out: list[torch.Tensor | None] = [None] * len(mats)
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, m in enumerate(mats):
        groups.setdefault(tuple(m.shape), []).append(k)
    for idx in groups.values():
        nuc = nuclear_norms(torch.stack([mats[k] for k in idx]), torch.stack([bounds[k] for k in idx]))
        for k, v in zip(idx, nuc):
            out[k] = v
    return out  # type: ignore[return-value]


def all_pairs(
    A: list[torch.Tensor], B: list[torch.Tensor] | None, params: dict[str, Any], opts: Options
) -> torch.Tensor | None:
    """The shape-metric matrix for the orthogonal group; None (per-pair path) for permutations."""
    if params["group"] != "orthogonal":
        return None
    reps = A if B is None else [*A, *B]
    states = [_prepare(x, **params) for x in reps]
    Z, offsets = _pack(states)
    la = len(A)
    if B is None:
        rows, cols = range(la), {i: range(i + 1, la) for i in range(la)}
    else:
        rows, cols = range(la), {i: range(la, len(reps)) for i in range(la)}
    out = torch.zeros((la, la if B is None else len(B)), dtype=torch.float64, device=Z.device)
    score = params["score"]
    for pairs, mats in _blocks(Z, offsets, rows, cols, opts.budget):
        bounds = [torch.sqrt(states[i].sq_norm * states[j].sq_norm) for i, j in pairs]
        for (i, j), nuc in zip(pairs, _nuclear_by_shape(mats, bounds)):
            v = orthogonal_score(states[i], states[j], nuc, score).to(torch.float64)
            if B is None:
                out[i, j] = out[j, i] = v
            else:
                out[i, j - la] = v
    return out
