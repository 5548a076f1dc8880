"""Cross-moments of many representations, accumulated chunk by chunk over the stimuli.

Measures that depend on the data only through centred (cross-)covariance sums, such as linear CKA,
CCA, shape metrics and linear regression, can be computed in one pass over the rows with memory
bounded by the chunk size and the d x d accumulators, not by the number of stimuli n. A measure
opts in by registering a :class:`StreamSpec` factory as its ``stream`` hook
(``register(..., hooks=Hooks(stream=...))``, :class:`reprlab._registry.Hooks`).

For every needed pair of representations (x, y) the pass accumulates, with a fixed per-representation
shift c (the exact column mean for in-memory data, the mean of the first chunk for stores; it only
conditions the sums, the result does not depend on it), ``S = sum_r u_r v_r^T`` with ``u = x - c_x``,
``v = y - c_y``, and ``sum_r u_r``. The centred cross-product is then

    C = sum_r (x_r - mu_x)(y_r - mu_y)^T = S - n delta_x delta_y^T,   delta = sum_r u_r / n.

Measures that also need the row norms of the centred data (the unbiased and Lange HSIC estimators:
``tr K = sum_r |x_r - mu_x|^2`` and ``sum_r |x_r - mu_x|^2 |y_r - mu_y|^2``) set ``row_norms=True``;
the pass then also accumulates ``a_r = |u_r|^2`` sums, ``sum_r a_r b_r`` and ``sum_r a_r v_r``, from
which those are exact polynomial corrections (see :func:`block_stats`).

Work is organised in *tasks*: representation g against a contiguous range of representations
(one GEMM ``Z_g^T Z_range`` per chunk). Tasks are packed into passes so that the accumulators of a
pass fit in ``budget`` bytes; a pass reads every row once. Self blocks come first, so per-representation
states (e.g. self-HSIC, whitening) exist before the pairs that need them are reduced.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.linalg import vector_norm

from .._linalg import add_matmul_, onednn_enabled
from .._validation import as_float
from .sources import Source

ACC_BUDGET = 1 << 30  # bytes of accumulators per pass
CHUNK_BYTES = 1 << 27  # target size of one centred chunk of all representations


@dataclass
class Options:
    """Engine options shared by the in-memory, streaming and Dask paths."""

    dtype: torch.dtype
    device: torch.device
    acc: torch.dtype  # accumulation dtype (float64 when asked, else the compute dtype)
    chunk_rows: int | None = None
    budget: int = field(default_factory=lambda: ACC_BUDGET)  # read at construction (tests lower it)
    labels: list[str] = field(default_factory=list)  # A's representations, then B's, for messages


@dataclass
class PairStats:
    """What a :class:`StreamSpec` sees for one pair (x, y); for a self block x is y.

    ``cross`` is ``sum_r (x_r - mu_x)(y_r - mu_y)^T`` (d_x, d_y) in the accumulation dtype. With
    ``row_norms``: ``kl = sum_r |x_r - mu_x|^2 |y_r - mu_y|^2`` and the traces ``sum_r |x_r - mu_x|^2``.
    ``eps`` is the unit roundoff of the compute dtype: each chunk's product is rounded at that
    precision even when the sums are accumulated in a wider dtype (rank tolerances scale with it).
    """

    n: int
    cross: torch.Tensor
    label_x: str
    label_y: str
    kl: torch.Tensor | None = None
    trace_x: torch.Tensor | None = None
    trace_y: torch.Tensor | None = None
    eps: float = float(torch.finfo(torch.float64).eps)

    def transposed(self) -> PairStats:
        return PairStats(
            self.n, self.cross.T, self.label_y, self.label_x, self.kl, self.trace_y, self.trace_x, self.eps
        )


@dataclass(frozen=True)
class StreamSpec:
    """How a measure is computed from accumulated cross-moments.

    ``rep(stats)`` gets the self block of one representation and returns its state (anything);
    ``pair(stats, state_x, state_y)`` returns the value for one ordered pair. ``row_norms`` asks for
    the centred row-norm statistics (``PairStats.kl``, ``trace_x``, ``trace_y``). ``in_memory=False``
    keeps in-memory data on the measure's per-pair path (``prepare`` once, core per pair), for
    measures whose per-pair path resolves what covariances cannot (an SVD of the data sees directions
    whose variance is below the rounding of a covariance, see :func:`psd_basis`): ``compare_all`` on
    arrays then equals ``rl.compare`` on ill-conditioned data too. Stores and ``stream=True`` stream.
    """

    rep: Callable[[PairStats], Any]
    pair: Callable[[PairStats, Any, Any], Any]
    row_norms: bool = False
    in_memory: bool = True


def psd_basis(C: torch.Tensor, n: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values and right singular vectors of the centred data ``Xc`` from ``C = Xc^T Xc``.

    Returns ``s`` (r,), decreasing, and ``V`` (d, r) with ``Xc = U diag(s) V^T`` on the kept
    directions. The eigenvalues ``lambda = s^2`` of ``C`` are known only to about ``eps * lambda_max``
    (rounding of the accumulated products and of the eigensolver; measured on exactly rank-deficient
    data: a few ``eps`` at n = 2,000 and 26 ``eps`` at n = 200,000 in float64, under 3 ``eps`` in
    float32), so a direction is kept when ``lambda > (d + sqrt(n)) * eps * lambda_max``, i.e.
    ``s > sqrt((d + sqrt(n)) eps) * s_max``. That is coarser than the rank rule on the data themselves
    (``s > max(n, d) * eps * s_max``): exactly rank-deficient inputs (collinear or constant units,
    d >= n) lose the same directions either way, but directions whose spread lies between the two
    tolerances (about 1e-13 to 1e-7 of the largest in float64) are resolved only by an SVD of the
    data. A zero ``C`` (a constant representation) has no directions (r = 0).
    """
    lam, V = torch.linalg.eigh(C)
    lam, V = lam.flip(0), V.flip(1)
    tol = (C.shape[0] + n**0.5) * eps * lam[0]
    keep = (lam > tol) & (lam[0] > 0)
    return lam[keep].sqrt(), V[:, keep]


@dataclass(frozen=True)
class Task:
    left: int
    lo: int  # right representations lo .. hi-1 (global indices)
    hi: int

    @property
    def is_self(self) -> bool:
        return self.lo == self.left and self.hi == self.left + 1


@dataclass
class Plan:
    """The global representations (A, then B when comparing two sets), offsets and passes of tasks."""

    widths: list[int]
    passes: list[list[Task]]
    offsets: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.offsets = [0, *np.cumsum(self.widths).tolist()]

    def span(self, lo: int, hi: int) -> slice:
        return slice(self.offsets[lo], self.offsets[hi])


def make_plan(widths_a: list[int], widths_b: list[int] | None, itemsize: int, budget: int) -> Plan:
    """Tasks for every self block and every cross block, packed into passes under ``budget`` bytes."""
    la = len(widths_a)
    widths = list(widths_a) + list(widths_b or [])
    tasks = [Task(g, g, g + 1) for g in range(len(widths))]
    if widths_b is None:
        cross = [(i, i + 1, la) for i in range(la - 1)]
    else:
        cross = [(i, la, len(widths)) for i in range(la)]
    for g, lo, hi in cross:
        start = lo
        for h in range(lo, hi):  # split a row of blocks whose accumulator exceeds the budget
            if h > start and widths[g] * sum(widths[start : h + 1]) * itemsize > budget:
                tasks.append(Task(g, start, h))
                start = h
        tasks.append(Task(g, start, hi))
    passes: list[list[Task]] = [[]]
    used = 0
    for t in tasks:
        size = widths[t.left] * sum(widths[t.lo : t.hi]) * itemsize
        if passes[-1] and used + size > budget:
            passes.append([])
            used = 0
        passes[-1].append(t)
        used += size
    return Plan(widths, passes)


def chunk_rows(sources: list[Source], opts: Options) -> int:
    """Rows per chunk: ``opts.chunk_rows`` when set, else about CHUNK_BYTES of centred data, a
    multiple of a store's row chunking."""
    n = sources[0].n
    if opts.chunk_rows:
        return opts.chunk_rows
    width = sum(s.d for s in sources)
    rows = max(256, CHUNK_BYTES // max(1, width * opts.dtype.itemsize))
    store_chunk = max((int(s.data.chunks[0]) for s in sources if s.lazy and hasattr(s.data, "chunks")), default=1)
    if store_chunk > 1:
        rows = max(store_chunk, rows // store_chunk * store_chunk)
    return min(rows, n)


def shifts_for(sources: list[Source], opts: Options, chunk_rows: int) -> list[torch.Tensor]:
    """Per-representation shifts: the column mean in memory, the first chunk's mean for a store.

    A shift only conditions the sums (centring is exact through ``delta``), so it is computed in the
    compute dtype."""
    out = []
    for s in sources:
        if s.lazy:
            out.append(s.read(0, min(s.n, chunk_rows), opts.dtype, opts.device).mean(0))
        else:
            out.append(s.data.mean(0))
    return out


@dataclass
class Accumulators:
    """Sums of one pass over some rows; additive across row ranges (``+``)."""

    n: int
    blocks: list[torch.Tensor]
    sum_u: torch.Tensor | None = None
    sum_a: torch.Tensor | None = None
    ab: torch.Tensor | None = None
    au: torch.Tensor | None = None

    def __add__(self, other: Accumulators) -> Accumulators:
        def add(x: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x + y

        return Accumulators(
            self.n + other.n,
            [x + y for x, y in zip(self.blocks, other.blocks)],
            add(self.sum_u, other.sum_u),
            add(self.sum_a, other.sum_a),
            add(self.ab, other.ab),
            add(self.au, other.au),
        )


#: Multiply-adds per element of a chunk above which its products are worth laying the chunk out
#: transposed for oneDNN (:func:`_rows_first`).
ROWS_FIRST_MIN_MACS = 1024


def _rows_first(tasks: list[Task], widths: list[int], total: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether to store a chunk transposed (units as rows), so that every block product ``Z_l^T Z_r``
    has a row-major left factor and :func:`reprlab._linalg.matmul` can take oneDNN. The transposing
    copy (:func:`_sub_into`) costs more per element than a row-major one, and the faster products save
    time per multiply-add, so it pays above a number of multiply-adds per element of the chunk,
    :data:`ROWS_FIRST_MIN_MACS` (the measurements that set it are in docs/benchmarks.md)."""
    if not onednn_enabled(dtype, device):
        return False
    macs = sum(widths[t.left] * sum(widths[t.lo : t.hi]) for t in tasks)
    return macs >= ROWS_FIRST_MIN_MACS * total


#: Rows per block of a transposing copy (:func:`_sub_into`).
TRANSPOSE_ROWS = 256


def _sub_into(out: torch.Tensor, x: torch.Tensor, shift: torch.Tensor) -> None:
    """``out = x - shift``. Into a units-first chunk (``out`` a transposed view) a block of
    ``TRANSPOSE_ROWS`` rows at a time: each block is read contiguously and written as runs of that many
    elements, which is several times faster than one strided copy (docs/benchmarks.md)."""
    if out.stride(0) != 1 or out.shape[0] <= TRANSPOSE_ROWS:
        torch.sub(x, shift, out=out)
        return
    for a in range(0, x.shape[0], TRANSPOSE_ROWS):
        torch.sub(x[a : a + TRANSPOSE_ROWS], shift, out=out[a : a + TRANSPOSE_ROWS])


#: Units per step of :func:`_row_sq_norms` on a units-first chunk.
NORM_UNITS = 64


def _row_sq_norms(Z: torch.Tensor, spans: list[slice]) -> torch.Tensor:
    """``|z_r|^2`` of every row (stimulus) of the chunk ``Z`` (m x total) over each span of columns
    (one source each): len(spans) x m. Row-major: a fused norm per span, which reads the chunk once
    (no squared temporary). Units-first (``Z`` a transposed view): the squares of ``NORM_UNITS`` units
    at a time summed into the m norms, reading along the contiguous stimuli rather than across the
    strided dimension (an order of magnitude faster; docs/benchmarks.md)."""
    if Z.stride(0) != 1:
        return torch.stack([vector_norm(Z[:, span], dim=1) for span in spans]).square_()
    Zt = Z.T
    out = torch.zeros((len(spans), Z.shape[0]), dtype=Z.dtype, device=Z.device)
    for g, span in enumerate(spans):
        for a in range(span.start, span.stop, NORM_UNITS):
            block = Zt[a : min(a + NORM_UNITS, span.stop)]
            out[g] += (block * block).sum(0)
    return out


def accumulate(
    sources: list[Source],
    shifts: list[torch.Tensor],
    plan: Plan,
    tasks: list[Task],
    first: bool,
    row_norms: bool,
    opts: Options,
    rows: tuple[int, int],
    chunk_rows: int,
) -> Accumulators:
    """One pass over rows ``rows[0]:rows[1]`` of every source, accumulating ``tasks``' blocks.

    ``first`` also accumulates the column sums (and the row-norm sums when ``row_norms``).
    """
    dt, acc, dev = opts.dtype, opts.acc, opts.device
    w = plan.widths
    blocks = [torch.zeros((w[t.left], sum(w[t.lo : t.hi])), dtype=acc, device=dev) for t in tasks]
    total = plan.offsets[-1]
    out = Accumulators(rows[1] - rows[0], blocks)
    if first:
        out.sum_u = torch.zeros(total, dtype=acc, device=dev)
        if row_norms:
            r = len(sources)
            out.sum_a = torch.zeros(r, dtype=acc, device=dev)
            out.ab = torch.zeros((r, r), dtype=acc, device=dev)
            out.au = torch.zeros((r, total), dtype=acc, device=dev)
    starts = list(range(rows[0], rows[1], chunk_rows))
    rows_first = _rows_first(tasks, w, total, dt, dev)

    def load(a: int) -> list[torch.Tensor]:
        b = min(a + chunk_rows, rows[1])
        return [s.read(a, b, dt, dev) for s in sources]

    lazy = any(s.lazy for s in sources)
    with ThreadPoolExecutor(max_workers=1) as pool:  # read the next chunk of a store while computing
        pending = pool.submit(load, starts[0]) if lazy and starts else None
        for k, a in enumerate(starts):
            if lazy:
                parts = pending.result()
                pending = pool.submit(load, starts[k + 1]) if k + 1 < len(starts) else None
            else:
                parts = load(a)
            m = parts[0].shape[0]
            Z = torch.empty((total, m) if rows_first else (m, total), dtype=dt, device=dev)
            Z = Z.T if rows_first else Z  # m x total either way
            for g, x in enumerate(parts):
                _sub_into(Z[:, plan.span(g, g + 1)], x, shifts[g])
            del parts
            for t, blk in zip(tasks, blocks):
                add_matmul_(blk, Z[:, plan.span(t.left, t.left + 1)].T, Z[:, plan.span(t.lo, t.hi)])
            if first:
                out.sum_u += Z.sum(0).to(acc)  # a chunk's sum in the compute dtype (a float64 reduction is slow)
                if row_norms:
                    sq = _row_sq_norms(Z, [plan.span(g, g + 1) for g in range(len(sources))])
                    add_matmul_(out.au, sq, Z)
                    sq = sq.to(acc)
                    out.sum_a += sq.sum(1)
                    out.ab += sq @ sq.T
            del Z
    return out


def block_stats(
    g: int,
    h: int,
    S: torch.Tensor,
    base: Accumulators,
    plan: Plan,
    labels: list[str],
    row_norms: bool,
    eps: float,
) -> PairStats:
    """Centred statistics of pair (g, h) from its shifted block ``S`` and the first pass's sums."""
    n = base.n
    dg = base.sum_u[plan.span(g, g + 1)] / n
    dh = base.sum_u[plan.span(h, h + 1)] / n
    st = PairStats(n, S - n * torch.outer(dg, dh), labels[g], labels[h], eps=eps)
    if row_norms:
        # |x_r - mu|^2 = a_r - 2 u_r.delta + |delta|^2; expand sum_r of the product for x and y.
        ng, nh = dg @ dg, dh @ dh
        sa_g, sa_h = base.sum_a[g], base.sum_a[h]
        st.kl = (
            base.ab[g, h]
            - 2 * (base.au[g, plan.span(h, h + 1)] @ dh)
            + nh * sa_g
            - 2 * (base.au[h, plan.span(g, g + 1)] @ dg)
            + 4 * (dg @ S @ dh)
            + ng * sa_h
            - 3 * n * ng * nh
        )
        st.trace_x = sa_g - n * ng
        st.trace_y = sa_h - n * nh
    return st


def run_plan(
    spec: StreamSpec,
    sources: list[Source],
    la: int,
    within: bool,
    symmetric: bool,
    opts: Options,
    partial: Callable[[Plan, list[Task], bool], Accumulators],
) -> np.ndarray:
    """Every pass of the plan (``partial(plan, tasks, first)`` accumulates one), then the values."""
    labels = [s.label for s in sources]
    plan = make_plan(
        [s.d for s in sources[:la]],
        None if within else [s.d for s in sources[la:]],
        torch.empty((), dtype=opts.acc).element_size(),
        opts.budget,
    )
    lb = la if within else len(sources) - la
    values = np.full((la, lb), np.nan)
    eps = float(torch.finfo(opts.dtype).eps)
    states: dict[int, Any] = {}
    base: Accumulators | None = None
    for p, tasks in enumerate(plan.passes):
        acc = partial(plan, tasks, p == 0)
        if p == 0:  # the column (and row-norm) sums, without the blocks
            base = Accumulators(acc.n, [], acc.sum_u, acc.sum_a, acc.ab, acc.au)
        for t, S in zip(tasks, acc.blocks):
            if t.is_self:
                st = block_stats(t.left, t.left, S, base, plan, labels, spec.row_norms, eps)
                states[t.left] = spec.rep(st)
                if within:
                    values[t.left, t.left] = as_float(
                        spec.pair(st, states[t.left], states[t.left]),
                        f"the measure on {labels[t.left]!r}",
                        "compare_all",
                    )
        for t, S in zip(tasks, acc.blocks):
            if t.is_self:
                continue
            off = 0
            for h in range(t.lo, t.hi):
                blk = S[:, off : off + plan.widths[h]]
                off += plan.widths[h]
                st = block_stats(t.left, h, blk, base, plan, labels, spec.row_norms, eps)
                g = t.left
                j = h if within else h - la
                values[g, j] = as_float(
                    spec.pair(st, states[g], states[h]), f"the measure on {labels[g]!r}", "compare_all"
                )
                if within:
                    if symmetric:
                        values[j, g] = values[g, j]
                    else:
                        values[j, g] = as_float(
                            spec.pair(st.transposed(), states[h], states[g]),
                            f"the measure on {labels[h]!r}",
                            "compare_all",
                        )
        del acc
    return values


def _value(v: object, label: str) -> float:
    return as_float(v, f"the measure on {label!r}", "compare_all")
