"""Exact k-nearest-neighbour search on torch: chunked, any device.

The rows are processed one block at a time: for a block of queries the squared distances to all n
points, ``|x_j|^2 - 2 x_i . x_j`` (the query's own norm does not change its ranking), come from one
matrix product, and a two-step ``torch.topk`` (over chunk minima, then over the best chunks; see
``_search``) keeps the nearest candidates. Memory is O(block x n), never n x n.

Exactness. For float64 input the candidate search runs in float32 (twice as fast on CPUs and far
faster on GPUs) and keeps ``k + margin`` candidates; their distances are then recomputed exactly as
``|x_i - x_j|`` in the input dtype and re-sorted. A query is accepted only when its exact k-th distance
is certified: every point outside the candidate set has a screened squared distance of at least the
last candidate's, and the float32 rounding error of a screened value is bounded by ``tol`` (below), so
when ``d_k^2 <= s_last - tol`` no outside point can be nearer. Queries that fail the certificate
(near ties below the search's resolution, e.g. many near-duplicates) are redone with direct
differences ``|x_i - x_j|`` to every point. The
returned distances are therefore those of a direct computation, as scikit-learn's brute-force search.

The query itself is excluded (as ``sklearn.neighbors.NearestNeighbors.kneighbors()`` without
arguments), so duplicates of a point are returned as neighbours at distance exactly 0.
"""

from __future__ import annotations

import torch

from ..errors import ReprlabError

#: Target number of entries of one (block x n) distance block (16 MB in float32): small enough to
#: stay in cache between the product and the selection.
BLOCK_ENTRIES = 1 << 22
#: Extra candidates kept by the float32 screen.
MARGIN = 4
#: Columns per chunk of the two-step selection in ``_search``.
CHUNK = 32


def _block_rows(n: int, block_rows: int | None) -> int:
    if block_rows is not None:
        return max(1, int(block_rows))
    return max(1, min(n, BLOCK_ENTRIES // max(n, 1)))


def _search(
    Q: torch.Tensor, Z: torch.Tensor, sqz: torch.Tensor, start: int, kk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``kk`` smallest screened squared distances (up to the query norm) from block ``Q`` (rows
    ``start:`` of the data) to the rows of ``Z``, and their column indices; sorted.

    ``Z`` and ``sqz`` are padded with rows at infinite distance to a multiple of ``CHUNK`` columns.
    Selection in two steps, exact: the minimum of every chunk of ``CHUNK`` columns, then the ``kk``
    chunks with the smallest minima hold the ``kk`` smallest entries (a chunk holding one of them has
    its minimum at most the kk-th smallest value, and at most kk chunks can), and ``torch.topk`` runs on
    those ``kk * CHUNK`` entries only instead of the whole row.
    """
    D = torch.addmm(sqz[None, :], Q, Z.T, alpha=-2.0)
    b = Q.shape[0]
    D[:, start : start + b].diagonal().fill_(float("inf"))  # exclude the query itself
    nchunks = D.shape[1] // CHUNK
    if nchunks <= kk:
        vals, idx = D.topk(kk, dim=1, largest=False, sorted=True)
        return vals, idx
    chunks = D.view(b, nchunks, CHUNK).amin(2).topk(kk, dim=1, largest=False, sorted=False).indices
    cols = (chunks[:, :, None] * CHUNK + torch.arange(CHUNK, device=D.device)).reshape(b, -1)
    vals, j = D.gather(1, cols).topk(kk, dim=1, largest=False, sorted=True)
    return vals, cols.gather(1, j)


def _exact(X: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact distances from ``X[rows]`` to the candidates ``X[idx]``, the k nearest, sorted."""
    diff = X[idx] - X[rows][:, None, :]
    dist = torch.linalg.vector_norm(diff, dim=2)
    dist, order = dist.sort(dim=1, stable=True)
    return dist[:, :k], idx.gather(1, order)[:, :k]


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
    Z = Xc.to(torch.float32) if screen else Xc
    sqz = (Z * Z).sum(1)
    pad = -n % CHUNK  # pad to whole chunks with points at infinite distance
    Zp = torch.cat([Z, Z.new_zeros(pad, d)]) if pad else Z
    sqp = torch.cat([sqz, sqz.new_full((pad,), float("inf"))]) if pad else sqz
    kk = min(n - 1, k + MARGIN)
    # Bound on |screened - exact| for |x_j|^2 - 2 x_i.x_j in the search dtype (d products, the cast
    # of each coordinate, the addition): a generous (2d + 8) eps (|x_i| + |x_j|)^2.
    eps = torch.finfo(Z.dtype).eps
    norms = sqz.sqrt().to(X.dtype)
    big = float(norms.max())
    B = _block_rows(n, block_rows)
    dists, idxs = [], []
    for s in range(0, n, B):
        rows = torch.arange(s, min(n, s + B), device=X.device)
        vals, cand = _search(Z[s : s + B], Zp, sqp, s, kk)
        dist, idx = _exact(Xc, rows, cand, k)
        if kk < n - 1:
            # certify: the exact d_k^2 must lie below the last screened value minus the error bound
            last = vals[:, -1].to(X.dtype) + norms[s : s + B] ** 2
            tol = (2 * d + 8) * eps * (norms[s : s + B] + big) ** 2
            bad = ~(dist[:, -1] ** 2 <= last - tol)
            if bool(bad.any()):
                # near ties below the search's resolution: direct differences to every point
                r = rows[bad]
                D = torch.cdist(Xc[r], Xc, compute_mode="donot_use_mm_for_euclid_dist")
                D[torch.arange(len(r), device=X.device), r] = float("inf")
                cand2 = D.topk(kk, dim=1, largest=False).indices
                dist[bad], idx[bad] = _exact(Xc, r, cand2, k)
        dists.append(dist)
        idxs.append(idx)
    return torch.cat(dists), torch.cat(idxs)


def count_within(X: torch.Tensor, radii: torch.Tensor, *, block_rows: int | None = None) -> torch.Tensor:
    """For each radius r, the number of ordered pairs (i, j), i != j, with ``|x_i - x_j| < r``."""
    n = X.shape[0]
    Xc = X - X.mean(dim=0, keepdim=True)
    sq = (Xc * Xc).sum(1)
    r2 = radii.to(X.dtype) ** 2
    counts = torch.zeros(len(radii), dtype=torch.int64, device=X.device)
    B = _block_rows(n, block_rows)
    for s in range(0, n, B):
        D = (torch.addmm(sq[None, :], Xc[s : s + B], Xc.T, alpha=-2.0) + sq[s : s + B, None]).clamp_min_(0.0)
        D[:, s : s + B].diagonal().fill_(float("inf"))
        counts += (D[None, :, :] < r2[:, None, None]).sum(dim=(1, 2))
    return counts
