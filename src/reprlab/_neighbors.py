"""The one exact k-nearest-neighbour search: Euclidean, cosine or inner-product neighbours, on torch.

Used by the describe family (distances for the intrinsic-dimension estimators, :func:`knn`,
:func:`count_within`) and by the neighbourhood measures (:func:`search` through
``reprlab.measures.knn.nearest_neighbors``). Every metric is ranked by a *score*, smaller = nearer:

* ``"euclidean"``: the distance ``|x_i - x_j|`` (rows centred first: distances are translation
  invariant and centring limits rounding);
* ``"inner_product"``: ``-x_i . x_j`` (rows as given);
* ``"cosine"``: ``-x_i . x_j`` on unit rows ``x / |x|`` (an all-zero row is an error).

Equal scores are returned by increasing index. The row itself is excluded by index unless
``include_self`` (then it competes like any other row, as platonic-rep's biased ``cknna`` does), so
an exact duplicate is a genuine neighbour (at distance exactly 0).

Search: candidates, then exact recomputation and a certificate. A *screen* is a set of coordinates
``Z`` (n, m) whose screened score is a lower bound of the true one, up to rounding:

* the full coordinates cast to float32 when the input is float64 (``screen=True``, the default for
  float64: float32 products are about twice as fast on CPUs and far faster on GPUs);
* a low-rank screen ``[P x, |x - P x|]`` when a few principal directions (``P`` the projection on the
  leading m) hold nearly all the energy (:data:`LOWRANK_RESIDUAL`): for Euclidean distances
  ``|P(x_i - x_j)|^2 + (|r_i| - |r_j|)^2 <= |x_i - x_j|^2`` (reverse triangle inequality on the
  residuals ``r``), for inner products ``P x_i . P x_j + |r_i||r_j| >= x_i . x_j`` (Cauchy-Schwarz on
  the residuals), and the product costs m + 1 instead of d per pair. It is looked for in 8 to
  :data:`LOWRANK_MAX_DIM` dimensions only: the test (a d x d Gram matrix and its eigendecomposition,
  O(n d^2 + d^3)) is paid on every call whether or not the screen is taken, and for wider rows
  it costs a sizeable part of the search itself (docs/benchmarks.md, the kNN workload) while representations of
  hundreds of units within 0.1% of rank d / 2 are rare.

The blocked search keeps the ``kk = k + MARGIN`` candidates with the smallest screened scores per row.
Their scores are then recomputed directly in the input dtype (``|x_i - x_j|`` from differences,
``x_i . x_j`` as an elementwise product summed) and sorted; a row is accepted when its exact k-th score
is *certified*: every point outside the candidates has a screened score of at least the largest
candidate's, ``s_last``, and the rounding error of a screened value is bounded, so when the k-th
score lies strictly below ``s_last - tol`` no outside point can be as near. The bound ``tol``, with
``c = (2 d + 8) eps`` of the screen's dtype (a generous bound for d products, the cast of each
coordinate and the projection; Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, sec.
3.1): ``c (|x_i| + |x_j|)^2`` on a squared distance ``|x_j|^2 - 2 x_i . x_j + |x_i|^2``, and
``c |x_i||x_j|`` on an inner product. Rows that fail are searched again with the next screen (the full
coordinates) and, if they fail again (near ties below the screens' resolution, e.g. near-duplicates),
by a direct computation against every point. The returned neighbours and scores are therefore those
of a direct computation in the input dtype (as scikit-learn's brute-force search). The one case needing
no recomputation: inner products screened on the full coordinates in the input dtype, where the
screened score *is* the direct computation; its certificate has no rounding term (``tol = 0``), so only
a tie across the kk-th place sends a row to the direct search, whose full stable sort orders ties by
index. (Euclidean scores are always recomputed: the expansion ``|x_j|^2 - 2 x_i . x_j + |x_i|^2`` loses
digits to cancellation that differences keep.)

Two ways to select candidates, one per shape of the screen (:data:`TILES_MIN_WIDTH`):

* Narrow screens (the describe workloads, e.g. 11 low-rank coordinates): blocks of query rows x all
  n points, ``BLOCK_ENTRIES`` scores a block (4 MB in float32: the block stays in cache between the
  product and the selection), one product ``[a Q, 1] . [Z, t]^T`` with the column term ``t = |z|^2``
  (Euclidean, ``a = -2``) or 0 (inner products, ``a = -1``) riding in the product, and the nested exact
  selection of :func:`_search`. On the CPU the query blocks run on torch's thread count of worker
  threads, one single-threaded torch each with its own product buffer: a block's many small steps
  gain little from threads inside each step. Measured: computing each symmetric block once was slower
  here (the transposes and large selections cost more than the halved products; docs/benchmarks.md).
* Wide screens (the measures' representations, hundreds of units): the score matrix is symmetric, so
  it is visited in square tiles on and above the diagonal only (:func:`_tiles`, half the products,
  each through :func:`reprlab._linalg.matmul`), each tile's ``torch.topk`` serving its rows and,
  transposed, its columns, merged into running n x kk lists. There the products dominate and halving
  them is what pays; the crossover was measured at about 256 coordinates on one thread
  (docs/benchmarks.md, "one neighbour search").

Memory is O(block x n) or one tile plus the n x kk tables, never n x n.

Not used, after measurement (docs/benchmarks.md): a k-d tree (``scipy.spatial.cKDTree``) on the
low-rank screen coordinates, with the same lower-bound certificate. In about ten dimensions the tree
prunes little (the k-th neighbour radius is half the data's spread), and its queries were slower than
the whole blocked search.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from ._linalg import matmul
from .errors import ReprlabError

METRICS = ("euclidean", "cosine", "inner_product")
#: Target number of entries of one (block x n) score block of the row-block search (4 MB in float32).
BLOCK_ENTRIES = 1 << 20
#: One square tile of the symmetric search stays below this many bytes.
TILE_BYTES = 32 * 2**20
#: Screens at least this wide are searched in symmetric tiles, narrower ones in row blocks.
TILES_MIN_WIDTH = 256
#: Extra candidates kept when the screened scores are recomputed (one when they are direct).
MARGIN = 4
#: Columns per chunk, chunks per group and sub-chunks per chunk of the selection in ``_search``.
CHUNK = 16
SUPER = 16
SUB = 4
#: The low-rank screen is used when the leading m + 1 <= d / 2 coordinates leave at most this
#: fraction of the energy in the residual.
LOWRANK_RESIDUAL = 1e-3
#: ... and is looked for only in 8 to this many dimensions, with more than 4 d rows.
LOWRANK_MAX_DIM = 256


def unit_rows(X: torch.Tensor) -> torch.Tensor:
    """``x / |x|`` for every row (cosine neighbours); an all-zero row is an error, its cosine undefined."""
    norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    zero = norms[:, 0] == 0
    if bool(zero.any()):
        rows = torch.nonzero(zero).flatten()[:5].tolist()
        raise ReprlabError(
            f"A representation has {int(zero.sum())} all-zero rows (e.g. rows {rows}): their cosine "
            "similarity to other stimuli is undefined. Drop those stimuli or use neighbors='euclidean'."
        )
    return X / norms


def features(X: torch.Tensor, metric: str) -> torch.Tensor:
    """The rows as searched: centred (Euclidean), unit rows (cosine) or as given (inner products)."""
    if metric == "euclidean":
        return X - X.mean(dim=0, keepdim=True)
    if metric == "cosine":
        return unit_rows(X)
    if metric == "inner_product":
        return X
    raise ReprlabError(f"`metric`={metric!r} is not a neighbour metric; use one of {', '.join(METRICS)}.")


class _Screen:
    """Search coordinates ``Z`` (n, m) whose screened scores are lower bounds of the true ones (equal
    for the full coordinates), with what the certificate needs (module docstring)."""

    def __init__(self, Z: torch.Tensor, d: int, dtype: torch.dtype, euclid: bool, direct: bool):
        self.Z = Z
        self.euclid = euclid
        sq = (Z * Z).sum(1)
        self.sq = sq if euclid else None  # the column term of a Euclidean score
        self.norms = sq.sqrt().to(dtype)
        self.big = float(self.norms.max())
        self.coef = (2 * d + 8) * torch.finfo(Z.dtype).eps
        self.direct = direct  # the screened score is the direct computation: no recomputation
        self._ZaT: torch.Tensor | None = None
        self._lock = threading.Lock()  # query blocks on worker threads may ask for ZaT at once

    @property
    def ZaT(self) -> torch.Tensor:
        """``[Z, t]^T`` padded to whole chunk groups with points at infinite score (see ``_search``)."""
        with self._lock:
            if self._ZaT is None:
                self._ZaT = self._padded_transpose()
        return self._ZaT

    def _padded_transpose(self) -> torch.Tensor:
        Z = self.Z
        n = Z.shape[0]
        t = self.sq if self.euclid else Z.new_zeros(n)
        pad = -n % (CHUNK * SUPER)
        Za = torch.cat([Z, t[:, None]], 1)
        pad_rows = torch.cat([Z.new_zeros(pad, Z.shape[1]), Z.new_full((pad, 1), float("inf"))], 1)
        return (torch.cat([Za, pad_rows]) if pad else Za).T.contiguous()

    def certified(self, rows: torch.Tensor, vals: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        """Which rows' exact k-th score (``score[:, -1]``) is certified by the screened candidate
        values ``vals`` (as :func:`_search` returns them)."""
        last = vals.amax(1).to(score.dtype)
        if self.direct:  # exact values: only a tie across the kk-th place is in doubt
            return score[:, -1] < last
        nr = self.norms[rows]
        if self.euclid:  # vals are |z_j|^2 - 2 z_i . z_j: add the query's |z_i|^2
            return score[:, -1] ** 2 < last + nr**2 - self.coef * (nr + self.big) ** 2
        return score[:, -1] < last - self.coef * nr * self.big


def _screens(Xc: torch.Tensor, screen: bool, euclid: bool = True) -> list[_Screen]:
    """The screens tried in turn on the searched rows ``Xc``: the low-rank one where it applies, then the
    full coordinates (in float32 when ``screen``)."""
    n, d = Xc.shape
    sdt = torch.float32 if screen else Xc.dtype
    out = []
    if 8 <= d <= LOWRANK_MAX_DIM and n > 4 * d:
        ev, V = torch.linalg.eigh(Xc.T @ Xc)  # ascending
        tail = torch.cumsum(ev, 0)  # tail[j]: energy of the j + 1 smallest directions
        total = float(tail[-1])
        m = d - int((tail <= LOWRANK_RESIDUAL * total).sum())  # leading directions kept
        if total > 0 and m + 1 <= d // 2:
            Vm = V[:, d - m :]
            P = Xc @ Vm
            res = torch.linalg.vector_norm(Xc - P @ Vm.T, dim=1, keepdim=True)
            out.append(_Screen(torch.cat([P, res], 1).to(sdt), d, Xc.dtype, euclid, False))
    out.append(_Screen(Xc.to(sdt), d, Xc.dtype, euclid, not euclid and sdt == Xc.dtype))
    return out


def _search(
    Q: torch.Tensor,
    sc: _Screen,
    rows: torch.Tensor,
    kk: int,
    include_self: bool,
    buf: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``kk`` smallest screened scores from ``Q`` (the data rows ``rows``, in screen coordinates)
    to all rows of the screen, and their column indices (unsorted). Euclidean scores are squared
    distances less the query's own ``|q|^2`` (which does not change a row's ranking).

    One product gives the block (queries x columns): ``[a q, 1] . [z, t]^T`` (module docstring), so the
    column term rides in the product and no separate pass adds it; the screen keeps ``[z, t]``
    transposed, so the large operand is read as stored. It is written into ``buf`` (flat, at least
    queries x columns entries) when given: reusing the memory avoids the page faults of a fresh
    multi-megabyte block per query block.

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
    R = torch.cat([(-2.0 if sc.euclid else -1.0) * Q, Q.new_ones(b, 1)], 1)
    ZaT = sc.ZaT
    ncols = ZaT.shape[1]
    D = R @ ZaT if buf is None else torch.mm(R, ZaT, out=buf[: b * ncols].view(b, ncols))
    if not include_self:
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


def _merge(val: torch.Tensor, idx: torch.Tensor, r0: int, v: torch.Tensor, i: torch.Tensor) -> None:
    """Merge candidates (v, i) of rows r0.. into the running lists of the smallest values, in place."""
    r1 = r0 + v.shape[0]
    allv = torch.cat([val[r0:r1], v], dim=1)
    alli = torch.cat([idx[r0:r1], i], dim=1)
    best, pos = torch.topk(allv, val.shape[1], dim=1, largest=False, sorted=False)
    val[r0:r1], idx[r0:r1] = best, alli.gather(1, pos)


def _tiles(sc: _Screen, kk: int, include_self: bool, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``kk`` smallest screened scores of every row and their indices, as :func:`_search` returns
    them (Euclidean: ``|z_j|^2 - 2 z_i . z_j``), from square tiles of the symmetric product ``Z Z^T`` on
    and above the diagonal: each tile's top-kk serves its rows and, transposed, its columns."""
    Z, sq = sc.Z, sc.sq
    n = Z.shape[0]
    val = torch.full((n, kk), torch.inf, dtype=Z.dtype, device=Z.device)
    idx = torch.zeros((n, kk), dtype=torch.long, device=Z.device)
    for i0 in range(0, n, side):
        i1 = min(n, i0 + side)
        for j0 in range(i0, n, side):
            j1 = min(n, j0 + side)
            G = matmul(Z[i0:i1], Z[j0:j1].T)
            # rows i0..i1 against columns j0..j1, larger = nearer: 2 z_i . z_j - |z_j|^2, or z_i . z_j
            A = 2.0 * G - sq[None, j0:j1] if sq is not None else G
            if j0 == i0 and not include_self:  # a diagonal tile: G is not needed again
                A.fill_diagonal_(-torch.inf)
            v, i = torch.topk(A, min(kk, j1 - j0), dim=1, largest=True, sorted=False)
            _merge(val, idx, i0, v.neg_(), i + j0)
            if j0 != i0:  # the same products serve rows j0..j1 against columns i0..i1
                B = 2.0 * G - sq[i0:i1, None] if sq is not None else G
                v, i = torch.topk(B, min(kk, i1 - i0), dim=0, largest=True, sorted=False)
                _merge(val, idx, j0, v.T.neg(), i.T + i0)
    return val, idx


def _exact(
    X: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor, k: int, euclid: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Direct scores from ``X[rows]`` to the candidates ``X[idx]`` (``|x_i - x_j|`` or ``-x_i . x_j``),
    the k smallest, sorted (equal scores by increasing index)."""
    idx = idx.sort(dim=1).values
    b, c = idx.shape
    cand = X.index_select(0, idx.reshape(-1)).view(b, c, -1)
    q = X.index_select(0, rows)[:, None, :]
    score = torch.linalg.vector_norm(cand - q, dim=2) if euclid else -torch.bmm(cand, q.mT)[:, :, 0]
    score, order = score.sort(dim=1, stable=True)
    return score[:, :k], idx.gather(1, order)[:, :k]


def _ordered(vals: torch.Tensor, idx: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest of candidate scores that are already direct, sorted (equal scores by index)."""
    idx, pos = idx.sort(dim=1)
    vals, order = vals.gather(1, pos).sort(dim=1, stable=True)
    return vals[:, :k], idx.gather(1, order)[:, :k]


def _block(
    pending: torch.Tensor,
    screens: list[_Screen],
    Xc: torch.Tensor,
    k: int,
    kk: int,
    include_self: bool,
    score: torch.Tensor,
    idx: torch.Tensor,
    buf: torch.Tensor | None,
    first: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> None:
    """The certified k nearest neighbours of the rows ``pending``, written into ``score`` and ``idx``;
    ``first``: the first screen's candidates of these rows when already selected (:func:`_tiles`)."""
    n = Xc.shape[0]
    everyone = kk >= n - (0 if include_self else 1)  # every point is a candidate: nothing to certify
    for s, sc in enumerate(screens):
        if s == 0 and first is not None:
            vals, cand = first
        else:
            vals, cand = _search(sc.Z[pending], sc, pending, kk, include_self, buf if s == 0 else None)
        dd, ii = _ordered(vals, cand, k) if sc.direct else _exact(Xc, pending, cand, k, sc.euclid)
        ok = torch.ones_like(dd[:, 0], dtype=torch.bool) if everyone else sc.certified(pending, vals, dd)
        score[pending[ok]], idx[pending[ok]] = dd[ok], ii[ok]
        pending = pending[~ok]
        if pending.numel() == 0:
            return
    # near ties below the screens' resolution (or exact ties across the kk-th place): direct scores
    # against every point, about BLOCK_ENTRIES of them at a time
    sc = screens[-1]
    for p in pending.split(max(1, BLOCK_ENTRIES // n)):
        if sc.euclid:
            D = torch.cdist(Xc[p], Xc, compute_mode="donot_use_mm_for_euclid_dist")
        else:
            D = -(Xc[p] @ Xc.T)
        if not include_self:
            D[torch.arange(len(p), device=Xc.device), p] = float("inf")
        D, cand = D.sort(dim=1, stable=True)  # not topk: a tie at the kk-th place goes by index
        if sc.direct:
            score[p], idx[p] = D[:, :k], cand[:, :k]
        else:
            score[p], idx[p] = _exact(Xc, p, cand[:, :kk], k, sc.euclid)


def search(
    X: torch.Tensor,
    k: int,
    metric: str = "euclidean",
    *,
    include_self: bool = False,
    block_rows: int | None = None,
    screen: bool | None = None,
    tiles: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of every row of ``X`` (n, d) under ``metric`` (module docstring).

    Returns ``(score, idx)``, both (n, k), nearest first, equal scores by increasing index; ``score``
    is in ``X``'s dtype: the distance ``|x_i - x_j|`` (Euclidean) or ``-x_i . x_j`` (inner product; on
    unit rows for cosine). ``screen`` (default: when ``X`` is float64) runs the candidate search in
    float32; ``screen=False`` searches in ``X``'s dtype; either way the result is that of a direct
    computation (module docstring). ``block_rows``: query rows per block (and the side of the
    symmetric tiles); default about 1 million scores per block, 32 MiB per tile. ``tiles`` forces the
    symmetric-tile (True) or row-block (False) candidate search; default by the screen's width
    (:data:`TILES_MIN_WIDTH`).
    """
    n, d = X.shape
    need = k if include_self else k + 1
    if k < 1 or n < need:
        raise ReprlabError(f"A {k}-nearest-neighbour search needs at least {need} points; got n={n}.")
    Xc = features(X, metric)
    euclid = metric == "euclidean"
    if screen is None:
        screen = X.dtype == torch.float64
    ncand = n if include_self else n - 1
    kk = min(ncand, k + MARGIN)
    screens = _screens(Xc, screen, euclid) if kk < ncand else [_Screen(Xc, d, X.dtype, euclid, False)]
    if screens[0].direct:  # exact scores: one more candidate shows a tie across the k-th place
        kk = k + 1
    score = torch.empty(n, k, dtype=X.dtype, device=X.device)
    idx = torch.empty(n, k, dtype=torch.long, device=X.device)
    if tiles is None:
        tiles = screens[0].Z.shape[1] >= TILES_MIN_WIDTH
    if tiles:  # every row's candidates at once; then query blocks of about BLOCK_ENTRIES recomputed entries
        side = max(1, min(n, block_rows or math.isqrt(TILE_BYTES // screens[0].Z.element_size())))
        vals, cand = _tiles(screens[0], kk, include_self, side)
        B = max(1, block_rows or BLOCK_ENTRIES // (kk * d))
    else:
        B = _block_rows(n, block_rows)
    starts = range(0, n, B)

    def blocks(part: range, threaded: bool) -> None:
        if threaded:
            torch.set_num_threads(1)  # this worker thread only
        buf = None if tiles else screens[0].ZaT.new_empty(screens[0].ZaT.shape[1] * B)
        for s in part:
            rows = torch.arange(s, min(n, s + B), device=X.device)
            first = (vals[s : s + B], cand[s : s + B]) if tiles else None
            _block(rows, screens, Xc, k, kk, include_self, score, idx, buf, first)

    workers = min(torch.get_num_threads(), len(starts)) if X.device.type == "cpu" else 1
    if workers < 2:
        blocks(starts, False)
    else:  # query blocks on worker threads: each block's many small steps parallelise poorly inside
        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(blocks, starts[w::workers], True) for w in range(workers)]:
                f.result()
    return score, idx


def _block_rows(n: int, block_rows: int | None) -> int:
    if block_rows is not None:
        return max(1, int(block_rows))
    return max(1, min(n, BLOCK_ENTRIES // max(n, 1)))


def knn(
    X: torch.Tensor, k: int, *, block_rows: int | None = None, screen: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest neighbours of every row of ``X`` (n, d) by Euclidean distance, excluding the
    row itself (as ``sklearn.neighbors.NearestNeighbors.kneighbors()`` without arguments).

    Returns ``(dist, idx)``, both (n, k), sorted by increasing distance (equal ones by index); ``dist``
    is in ``X``'s dtype and certified exact (:func:`search`, module docstring).
    """
    return search(X, k, "euclidean", block_rows=block_rows, screen=screen)


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
