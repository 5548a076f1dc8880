"""Shape metrics for :func:`reprlab.compare_all`: every pair from batched cross-products.

Per representation, :func:`reprlab.measures.shape.core.prepare` (centring, projection, whitening) runs
once and its points ``F_i`` are packed, transposed, into one ``sum(d_i) x n`` matrix. Per left
representation ``i`` one GEMM ``F_i^T [F_j ...]`` (:func:`reprlab._linalg.matmul`) gives the
cross-products of all its pairs (each unordered pair once within one set), whose nuclear norms come
from float64 eigensolves (:func:`reprlab.measures.shape.nuclear_norms`); each pair is scored exactly
as :func:`reprlab.measures.shape.shape` scores it (equal to the per-pair ``rl.compare`` to rounding).
The diagonal of a within-set matrix is 0, the distance of a representation to itself. On the CPU the
work is spread over torch's thread count as single-threaded workers
(:func:`reprlab._linalg.torch_on_threads`): the preparations (when they need eigendecompositions),
then one row of pairs per worker, its product followed by its eigensolves (which beat all products
on all threads followed by all eigensolves; docs/benchmarks.md); elsewhere the products stream into
batched eigensolves.

Covers the orthogonal group (the permutation group solves one assignment per pair and takes the
generic per-pair path). Memory: the packed points (the size of the inputs) and at most
``options.budget`` bytes of cross-products at a time per worker.

Streaming (:func:`stream_spec`, stores larger than memory and Dask): every quantity is a function
of the centred cross-products ``C_xy = Xc^T Yc``. Per representation, the eigendecomposition of
``C_xx = V diag(lam) V^T`` gives the whitening (and the projection onto the top ``dim`` axes) as a
d x r map ``T = V diag(w)`` with ``Xw = Xc T`` in the principal basis (``V diag(w) V^T`` in the unit
basis for permutations), and ``|Xw|_F^2 = sum lam w^2``; per pair ``Xw^T Yw = T_x^T C_xy T_y``, then
its nuclear norm or linear assignment, scored as in memory. For d <= n this is the in-memory
whitening itself (which also starts from ``Xc^T Xc``); null directions are judged at the rounding
of the dtype the chunks were multiplied in (``PairStats.eps``). Limitation: the closed forms lose
accuracy for nearly identical representations (an angle below ~1e-3 or a Euclidean distance below
~1e-3 of the norms is known to ~1e-8 absolute), where in memory the explicitly aligned matrices are
used; a representation against itself is 0. Permutations after a projection (``dim``) depend on the
signs of the principal axes and do not stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..._linalg import matmul, torch_on_threads
from ...stream.moments import Options, PairStats, StreamSpec
from .core import (
    ShapePoint,
    ShapeState,
    assignment_inner,
    check_not_zero,
    check_stimuli,
    group_score,
    nuclear_norms,
    null_mask,
    orthogonal_score,
    prepare,
    warn_if_spanning,
    whitening_weights,
)


def _pack(states: list[ShapeState]) -> tuple[torch.Tensor, list[int]]:
    """Copy every point ``F`` into one matrix, transposed (``F_i^T`` stacked as rows: contiguous blocks
    for :func:`reprlab._linalg.matmul`), and make the states views of it."""
    offsets = [0]
    for s in states:
        offsets.append(offsets[-1] + s.F.shape[1])
    F0 = states[0].F
    Zt = torch.empty((offsets[-1], F0.shape[0]), dtype=F0.dtype, device=F0.device)
    for s, a, b in zip(states, offsets, offsets[1:]):
        Zt[a:b] = s.F.T
        s.F = Zt[a:b].T
    return Zt, offsets


def _blocks(
    Zt: torch.Tensor, offsets: list[int], rows: range, cols: dict[int, range], budget: int
) -> Iterator[tuple[list[tuple[int, int]], list[torch.Tensor]]]:
    """Cross-products ``F_i^T F_j`` for i in ``rows``, j in ``cols[i]``, about ``budget`` bytes at a time."""
    item = Zt.element_size()
    pairs: list[tuple[int, int]] = []
    mats: list[torch.Tensor] = []
    used = 0
    for i in rows:
        Fit = Zt[offsets[i] : offsets[i + 1]]
        js = list(cols[i])
        start = 0
        while start < len(js):
            stop = start + 1  # as many right representations as fit in the budget, at least one
            while stop < len(js) and Fit.shape[0] * (offsets[js[stop] + 1] - offsets[js[start]]) * item <= budget:
                stop += 1
            lo, hi = offsets[js[start]], offsets[js[stop - 1] + 1]
            P = matmul(Fit, Zt[lo:hi].T)
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
        nuc = nuclear_norms([mats[k] for k in idx], torch.stack([bounds[k] for k in idx]))
        for k, v in zip(idx, nuc):
            out[k] = v
    return out  # type: ignore[return-value]


def _prepare_all(reps: list[torch.Tensor], params: dict[str, Any]) -> list[ShapeState]:
    """:func:`reprlab.measures.shape.core.prepare` of every representation; on the CPU, where each needs an
    eigendecomposition (partial whitening, a projection, or more features than stimuli), two or more at
    a time on single-threaded workers (:func:`reprlab._linalg.torch_on_threads`); without
    eigendecompositions the threads' start-up costs more than they save (docs/benchmarks.md)."""
    heavy = params["alpha"] != 1.0 or params["dim"] is not None or any(x.shape[1] > x.shape[0] for x in reps)
    if heavy and reps[0].device.type == "cpu":
        return torch_on_threads(lambda x: prepare(x, **params), reps)
    return [prepare(x, **params) for x in reps]


def all_pairs(
    A: list[torch.Tensor], B: list[torch.Tensor] | None, params: dict[str, Any], opts: Options
) -> torch.Tensor | None:
    """The shape-metric matrix for the orthogonal group; None (per-pair path) for permutations."""
    if params["group"] != "orthogonal":
        return None
    reps = A if B is None else [*A, *B]
    states = _prepare_all(reps, params)
    Zt, offsets = _pack(states)
    la = len(A)
    if B is None:
        rows, cols = range(la), {i: range(i + 1, la) for i in range(la)}
    else:
        rows, cols = range(la), {i: range(la, len(reps)) for i in range(la)}
    score = params["score"]

    def scored(rows: range) -> list[tuple[int, int, torch.Tensor]]:
        out = []
        for pairs, mats in _blocks(Zt, offsets, rows, cols, opts.budget):
            bounds = [torch.sqrt(states[i].sq_norm * states[j].sq_norm) for i, j in pairs]
            for (i, j), nuc in zip(pairs, _nuclear_by_shape(mats, bounds)):
                out.append((i, j, orthogonal_score(states[i], states[j], nuc, score)))
        return out

    if Zt.device.type == "cpu":  # a row of pairs per worker: its product, then its eigensolves
        order = [r for k in range(la // 2) for r in (k, la - 1 - k)] + ([la // 2] if la % 2 else [])
        values = [v for part in torch_on_threads(lambda i: scored(range(i, i + 1)), order) for v in part]
    else:  # one stream of products and batched eigensolves
        values = scored(rows)
    out = torch.zeros((la, la if B is None else len(B)), dtype=torch.float64, device=Zt.device)
    for i, j, v in values:
        if B is None:
            out[i, j] = out[j, i] = v.to(torch.float64)
        else:
            out[i, j - la] = v.to(torch.float64)
    return out


@dataclass
class StreamPoint(ShapePoint):
    """A representation's whitening from its covariance: ``Xw = Xc T`` (``T`` None: ``Xw = Xc``)."""

    T: torch.Tensor | None


def stream_spec(params: dict[str, Any]) -> StreamSpec | None:
    """The shape metric from accumulated cross-moments (module docstring); None for permutations of
    projected data."""
    alpha, score, group = params["alpha"], params["score"], params["group"]
    convention, dim = params["convention"], params["dim"]
    if group == "permutation" and dim is not None:
        return None

    def rep(st: PairStats) -> StreamPoint:
        check_stimuli(st.n)
        C = st.cross
        if score == "angular":
            check_not_zero(C, f"the angular shape distance (`{st.label_x}`)")
        d = C.shape[0]
        width = d if dim is None else min(d, dim)
        if alpha == 1.0 and width == d:
            return StreamPoint(sq_norm=torch.trace(C), rescale=None, width=width, T=None)
        lam, V = torch.linalg.eigh(C)
        lam, V = lam[d - width :], V[:, d - width :]  # the top `width` principal axes
        if alpha == 0.0 and width >= st.n - 1:
            rank = int((~null_mask(lam, (st.n, width), st.eps)).sum())
            warn_if_spanning(rank, st.n, d, stacklevel=8)
        if alpha == 1.0:
            return StreamPoint(sq_norm=lam.clamp_min(0.0).sum(), rescale=None, width=width, T=V)
        w, rescale = whitening_weights(lam, (st.n, width), alpha, convention, st.eps)
        T = V * w if group == "orthogonal" else (V * w) @ V.T
        return StreamPoint(sq_norm=(lam.clamp_min(0.0) * w * w).sum(), rescale=rescale, width=width, T=T)

    def pair(st: PairStats, x: StreamPoint, y: StreamPoint) -> torch.Tensor | float:
        if x is y:
            return 0.0
        M = st.cross if x.T is None else x.T.T @ st.cross
        M = M if y.T is None else M @ y.T
        if group == "orthogonal":
            inner = nuclear_norms(M[None], torch.sqrt(x.sq_norm * y.sq_norm)[None])[0]
        else:
            inner = assignment_inner(M)
        return group_score(x, y, inner, score)

    return StreamSpec(rep, pair, in_memory=False)
