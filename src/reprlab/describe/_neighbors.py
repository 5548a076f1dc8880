"""Exact k-nearest-neighbour search on torch: chunked, any device.

The rows are processed one block at a time (``BLOCK_ENTRIES`` distances, 4 MB in float32: the block
stays in cache between the product and the selection): for a block of queries the squared distances
to all n points, ``|x_j|^2 - 2 x_i . x_j`` (the query's own norm does not change its ranking), come
from one matrix product ``[x_j, |x_j|^2] . [-2 x_i, 1]`` (the norms ride in the product), and a nested
selection keeps the ``k + MARGIN`` nearest candidates: chunk minima, the best groups of chunks, the
best chunks, the best sub-chunks, so that ``torch.topk`` only ever sees rows of a few hundred entries
(see ``_search`` for why this is exact). Memory is O(block x n), never n x n. On the CPU the query
blocks are spread over torch's thread count, one single-threaded worker thread each with its own
product buffer: a block's many small steps (selection, gathers, the exact recomputation) gain little
from threads inside each step, while blocks on separate threads do (docs/benchmarks.md).

Low-rank screen. When a few principal directions hold nearly all the variance, the first search runs
on ``[P x, |x - P x|]`` (m + 1 coordinates, ``P`` the projection on the leading m directions): their
squared distances ``|P(x_i - x_j)|^2 + (|r_i| - |r_j|)^2`` are lower bounds of ``|x_i - x_j|^2``, so the
certificate below applies unchanged, and the product costs m + 1 instead of d per pair.

Exactness. For float64 input the candidate search runs in float32 (twice as fast on CPUs and far
faster on GPUs) and keeps ``k + MARGIN`` candidates; their distances are then recomputed exactly as
``|x_i - x_j|`` in the input dtype and re-sorted (equal distances by index). A query is accepted only
when its exact k-th distance is certified: every point outside the candidate set has a screened
squared distance of at least the largest candidate's, and the float32 rounding error of a screened
value is bounded by ``tol`` (below), so when ``d_k^2 <= s_last - tol`` no outside point can be nearer.
Queries that fail the certificate are searched again with the full coordinates and, if they fail again
(near ties below the search's resolution, e.g. many near-duplicates), with direct differences
``|x_i - x_j|`` to every point. The returned distances are therefore those of a direct computation, as
scikit-learn's brute-force search.

Not used, after measurement (docs/benchmarks.md): a k-d tree (``scipy.spatial.cKDTree``) on the
low-rank screen coordinates, with the same lower-bound certificate. In about ten dimensions the tree
prunes little (the k-th neighbour radius is half the data's spread), and its queries were slower than
the whole blocked search.

The query itself is excluded (as ``sklearn.neighbors.NearestNeighbors.kneighbors()`` without
arguments), so duplicates of a point are returned as neighbours at distance exactly 0.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from ..errors import ReprlabError

#: Target number of entries of one (n x block) distance block (4 MB in float32).
BLOCK_ENTRIES = 1 << 20
#: Extra candidates kept by the float32 screen.
MARGIN = 4
#: Columns per chunk, chunks per group and sub-chunks per chunk of the selection in ``_search``.
CHUNK = 16
SUPER = 16
SUB = 4


def _block_rows(n: int, block_rows: int | None) -> int:
    if block_rows is not None:
        return max(1, int(block_rows))
    return max(1, min(n, BLOCK_ENTRIES // max(n, 1)))


def _search(
    Q: torch.Tensor, sc: _Screen, rows: torch.Tensor, kk: int, buf: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``kk`` smallest screened squared distances (up to the query norm) from ``Q`` (the data rows
    ``rows``, in screen coordinates) to all rows of the screen, and their column indices (unsorted).

    One product gives the block (queries x columns): ``[-2 q, 1] . [z, |z|^2]^T``, so the norms ride in
    the product and no separate pass adds them; the screen keeps ``[z, |z|^2]`` transposed, so the
    large operand is read as stored. It is written into ``buf`` (flat, at least queries x columns
    entries) when given: reusing the memory avoids the page faults of a fresh multi-megabyte block per
    query block.

    Selection, exact, by one argument applied at three levels: if the entries are split into groups,
    the ``kk`` groups with the smallest minima hold the ``kk`` smallest entries (a group holding one of
    them has its minimum at most the kk-th smallest value; if an outside entry x beat the kk-th smallest
    inside, the kk chosen minima would be kk entries all <= x). The columns form ``nchunks`` chunks of
    ``CHUNK`` (chunk c: columns c, c + nchunks, ...: a strided minimum over contiguous slabs is cheap);
    the chunk minima form groups of ``SUPER``; a chosen chunk's entries form groups of ``CHUNK // SUB``.
    ``torch.topk`` thus only sees short rows (``nchunks / SUPER``, ``kk * SUPER``, ``kk * SUB``,
    ``kk * CHUNK / SUB``) instead of all n entries.
    """
    b = Q.shape[0]
    dev = Q.device
    ar = torch.arange(b, device=dev)
    R = torch.cat([-2.0 * Q, Q.new_ones(b, 1)], 1)
    ncols = sc.ZaT.shape[1]
    D = R @ sc.ZaT if buf is None else torch.mm(R, sc.ZaT, out=buf[: b * ncols].view(b, ncols))
    D[ar, rows] = float("inf")  # exclude the query itself
    nchunks = ncols // CHUNK
    if nchunks <= kk * SUPER:
        return D.topk(kk, dim=1, largest=False, sorted=False)
    M = D.view(b, CHUNK, nchunks).amin(1)  # (b, nchunks) chunk minima
    nsuper = nchunks // SUPER
    sup = M.view(b, SUPER, nsuper).amin(1).topk(kk, dim=1, largest=False, sorted=False).indices
    chunks = (sup[:, :, None] + nsuper * torch.arange(SUPER, device=dev)).view(b, -1)  # kk * SUPER
    chunks = chunks.gather(1, M.gather(1, chunks).topk(kk, dim=1, largest=False, sorted=False).indices)
    cols = chunks[:, :, None] + nchunks * torch.arange(CHUNK, device=dev)  # (b, kk, CHUNK)
    G = D.view(-1).take(cols + ncols * ar[:, None, None]).view(b, kk, SUB, CHUNK // SUB)
    sub = G.amin(3).view(b, -1).topk(kk, dim=1, largest=False, sorted=False).indices  # of kk * SUB
    sel = (sub[:, :, None] * (CHUNK // SUB) + torch.arange(CHUNK // SUB, device=dev)).view(b, -1)
    vals, j = G.view(b, -1).gather(1, sel).topk(kk, dim=1, largest=False, sorted=False)
    return vals, cols.view(b, -1).gather(1, sel.gather(1, j))


def _exact(X: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact distances from ``X[rows]`` to the candidates ``X[idx]``, the k nearest, sorted (equal
    distances by increasing index)."""
    idx = idx.sort(dim=1).values
    b, c = idx.shape
    diff = X.index_select(0, idx.reshape(-1)).view(b, c, -1) - X.index_select(0, rows)[:, None, :]
    dist = torch.linalg.vector_norm(diff, dim=2)
    dist, order = dist.sort(dim=1, stable=True)
    return dist[:, :k], idx.gather(1, order)[:, :k]


class _Screen:
    """Search coordinates ``Z`` (n, m) whose squared distances are lower bounds of the true ones (equal
    for the full coordinates; for the low-rank screen ``[P x, |x - P x|]`` by the reverse triangle
    inequality on the residual), with what the certificate needs."""

    def __init__(self, Z: torch.Tensor, d: int, dtype: torch.dtype):
        n = Z.shape[0]
        sq = (Z * Z).sum(1)
        pad = -n % (CHUNK * SUPER)  # pad to whole chunk groups with points at infinite distance
        self.Z = Z
        Za = torch.cat([Z, sq[:, None]], 1)  # coordinates and squared norm: see _search
        pad_rows = torch.cat([Z.new_zeros(pad, Z.shape[1]), Z.new_full((pad, 1), float("inf"))], 1)
        self.ZaT = (torch.cat([Za, pad_rows]) if pad else Za).T.contiguous()
        self.norms = sq.sqrt().to(dtype)
        self.big = float(self.norms.max())
        # Bound on |screened - exact| in the search dtype (d products, the cast of each coordinate, the
        # projection, the addition): a generous (2d + 8) eps (|x_i| + |x_j|)^2.
        self.coef = (2 * d + 8) * torch.finfo(Z.dtype).eps

    def certified(
        self, rows: torch.Tensor, Xc: torch.Tensor, k: int, kk: int, buf: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Candidates of ``rows``, their exact k nearest, and which rows are certified exact."""
        vals, cand = _search(self.Z[rows], self, rows, kk, buf)
        dist, idx = _exact(Xc, rows, cand, k)
        nr = self.norms[rows]
        last = vals.amax(1).to(Xc.dtype) + nr**2  # every other point's bound is at least this
        ok = dist[:, -1] ** 2 <= last - self.coef * (nr + self.big) ** 2
        return dist, idx, ok


#: The low-rank screen is used when the leading m + 1 <= d / 2 coordinates leave at most this
#: fraction of the variance in the residual.
LOWRANK_RESIDUAL = 1e-3


def _screens(Xc: torch.Tensor, screen: bool) -> list[_Screen]:
    n, d = Xc.shape
    sdt = torch.float32 if screen else Xc.dtype
    out = []
    if d >= 8 and n > 4 * d:
        ev, V = torch.linalg.eigh(Xc.T @ Xc)  # ascending
        tail = torch.cumsum(ev, 0)  # tail[j]: variance of the j + 1 smallest directions
        total = float(tail[-1])
        m = d - int((tail <= LOWRANK_RESIDUAL * total).sum())  # leading directions kept
        if total > 0 and m + 1 <= d // 2:
            Vm = V[:, d - m :]
            P = Xc @ Vm
            res = torch.linalg.vector_norm(Xc - P @ Vm.T, dim=1, keepdim=True)
            out.append(_Screen(torch.cat([P, res], 1).to(sdt), d, Xc.dtype))
    out.append(_Screen(Xc.to(sdt), d, Xc.dtype))
    return out


def knn(
    X: torch.Tensor, k: int, *, block_rows: int | None = None, screen: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest neighbours of every row of ``X`` (n, d), excluding the row itself.

    Returns ``(dist, idx)``, both (n, k), sorted by increasing Euclidean distance; ``dist`` is in
    ``X``'s dtype. ``screen`` (default: when ``X`` is float64) runs the candidate search in float32;
    ``screen=False`` searches in ``X``'s dtype. Either way the result is certified (module docstring).
    """
    n, d = X.shape
    if not 1 <= k <= n - 1:
        raise ReprlabError(f"A {k}-nearest-neighbour search needs at least {k + 1} points; got n={n}.")
    Xc = X - X.mean(dim=0, keepdim=True)  # distances are translation invariant; centring limits rounding
    if screen is None:
        screen = X.dtype == torch.float64
    kk = min(n - 1, k + MARGIN)
    screens = _screens(Xc, screen) if kk < n - 1 else [_Screen(Xc, d, X.dtype)]
    dist = torch.empty(n, k, dtype=X.dtype, device=X.device)
    idx = torch.empty(n, k, dtype=torch.long, device=X.device)
    B = _block_rows(n, block_rows)
    starts = range(0, n, B)

    def blocks(part: range, threaded: bool) -> None:
        if threaded:
            torch.set_num_threads(1)  # this worker thread only
        buf = screens[0].ZaT.new_empty(screens[0].ZaT.shape[1] * B)
        for s in part:
            _block(torch.arange(s, min(n, s + B), device=X.device), screens, Xc, k, kk, dist, idx, buf)

    workers = min(torch.get_num_threads(), len(starts)) if X.device.type == "cpu" else 1
    if workers < 2:
        blocks(starts, False)
    else:  # query blocks on worker threads: each block's many small steps parallelise poorly inside
        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(blocks, starts[w::workers], True) for w in range(workers)]:
                f.result()
    return dist, idx


def _block(
    pending: torch.Tensor,
    screens: list[_Screen],
    Xc: torch.Tensor,
    k: int,
    kk: int,
    dist: torch.Tensor,
    idx: torch.Tensor,
    buf: torch.Tensor,
) -> None:
    """The certified k nearest neighbours of the rows ``pending``, written into ``dist`` and ``idx``."""
    n = Xc.shape[0]
    for sc in screens:
        dd, ii, ok = sc.certified(pending, Xc, k, kk, buf if sc is screens[0] else None)
        if kk >= n - 1:  # every point was a candidate: nothing to certify
            ok = torch.ones_like(ok)
        dist[pending[ok]], idx[pending[ok]] = dd[ok], ii[ok]
        pending = pending[~ok]
        if pending.numel() == 0:
            return
    # near ties below the searches' resolution: direct differences to every point
    D = torch.cdist(Xc[pending], Xc, compute_mode="donot_use_mm_for_euclid_dist")
    D[torch.arange(len(pending), device=Xc.device), pending] = float("inf")
    cand = D.topk(kk, dim=1, largest=False).indices
    dist[pending], idx[pending] = _exact(Xc, pending, cand, k)


def count_within(X: torch.Tensor, radii: torch.Tensor, *, block_rows: int | None = None) -> torch.Tensor:
    """For each radius r, the number of ordered pairs (i, j), i != j, with ``|x_i - x_j| < r``.

    A pair within a relative 1e-9 of r counts as a tie, not as closer: radii are often pair distances
    themselves (medians of neighbour distances), and their rounding must not decide the count. At an
    exact tie this is the strict ``<`` of scikit-dimension.
    """
    n = X.shape[0]
    Xc = X - X.mean(dim=0, keepdim=True)
    sq = (Xc * Xc).sum(1)
    r2 = (radii.to(X.dtype) * (1.0 - 1e-9)) ** 2
    counts = torch.zeros(len(radii), dtype=torch.int64, device=X.device)
    B = _block_rows(n, block_rows)
    for s in range(0, n, B):
        D = (torch.addmm(sq[None, :], Xc[s : s + B], Xc.T, alpha=-2.0) + sq[s : s + B, None]).clamp_min_(0.0)
        D[:, s : s + B].diagonal().fill_(float("inf"))
        counts += (D[None, :, :] < r2[:, None, None]).sum(dim=(1, 2))
    return counts
