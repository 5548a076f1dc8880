"""Neighbourhood measures: how far two representations agree on each stimulus's nearest neighbours.

For every stimulus ``i`` each representation gives its ``k`` nearest other stimuli ``N_X(i)`` and
``N_Y(i)`` (ordered, nearest first). The measures compare these lists row by row and average over
rows:

* ``mutual_knn``: ``|N_X(i) & N_Y(i)| / k`` (Huh et al. 2024, platonic-rep ``mutual_knn``).
* ``jaccard_knn``: ``|N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|`` (ReSi ``JaccardSimilarity``).
* ``cycle_knn``: 1 if ``i`` is among the X-neighbours of one of its Y-neighbours, else 0
  (platonic-rep ``cycle_knn``; asymmetric).
* ``rank_knn``: rank similarity (Wang et al. 2020, ReSi ``RankSimilarity``): over the shared
  neighbours ``j`` with ranks ``r_X(j), r_Y(j)`` in 1..k,
  ``sum_j 2 / ((1 + |r_X - r_Y|)(r_X + r_Y)) / sum_{l=1}^{|shared|} 1/l`` (0 when none is shared).
* ``second_order_cosine``: cosine between the vectors of distances from ``i`` to the union
  ``N_X(i) | N_Y(i)`` measured in X and in Y (Hamilton et al. 2016; ReSi ``SecondOrderCosineSimilarity``).
* ``lcs_knn`` / ``edit_distance_knn``: longest common subsequence length and ``1 - Levenshtein / k``
  of the two ordered lists (platonic-rep ``lcs_knn`` / ``edit_distance_knn``).
* ``cknna``: CKA restricted to mutual neighbour pairs (Huh et al. 2024, platonic-rep ``cknna``).

Neighbours (``neighbors=``): ``"cosine"`` (default; largest cosine similarity: ReSi's sklearn cosine
neighbours, and platonic-rep on L2-normalised rows as its pipeline does), ``"inner_product"`` (largest
``x_i . x_j`` on the rows as given: platonic-rep's ``compute_nearest_neighbors`` on raw input) or
``"euclidean"`` (smallest Euclidean distance). The point itself is always excluded **by index**, so an
exact duplicate row is a genuine neighbour at distance 0 (ReSi drops the first returned neighbour
instead, which with duplicate rows may drop the twin and keep the point itself: oracle README bug 4;
reprlab does not reproduce that).

Neighbour search is reprlab's one exact search, :mod:`reprlab._neighbors` (shared with the describe
family): for representations of many units the symmetric similarity matrix is visited in square tiles
on and above the diagonal (half the products), each tile's ``torch.topk`` serving its rows and its
columns; float64 input is screened in float32 and the candidates' scores recomputed and certified, so
the lists are those of a direct computation, equal scores by index. The index tables are the
per-representation work (``prepare``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._neighbors import features, search
from .._registry import Hooks, Param, Variant, nonnegative, register
from ..errors import ReprlabError

NEIGHBORS = ("cosine", "inner_product", "euclidean")
_PAIR_ELEMS = 2**22  # rows x k x k comparisons per chunk in the pair cores

_COSINE_ONLY = frozenset({"permutation", "orthogonal", "isotropic_scaling"})
_EUCLID = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"})


def _k_check(v: object) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
        return None
    return "must be a positive integer (the number of neighbours)"


def _k_param(default: int = 10) -> Param:
    return Param(default, check=_k_check, doc="number of nearest neighbours per stimulus (1 <= k < n)")


def _neighbors_param(choices: tuple[str, ...] = NEIGHBORS) -> Param:
    return Param(
        "cosine",
        choices=choices,
        doc="neighbour ranking: " + ", ".join(choices) + " (inner_product = platonic-rep on raw rows)",
    )


def _check_k(n: int, k: int, who: str, allow_self: bool = False) -> None:
    limit = n if allow_self else n - 1
    if k > limit:
        raise ReprlabError(
            f"`k`={k} is too large for {who} with n={n} stimuli: each stimulus has only {limit} "
            f"{'candidate' if allow_self else 'other'} neighbours, so k must be at most {limit} "
            f"(k < n). Use a smaller k or more stimuli."
        )


def nearest_neighbors(
    X: torch.Tensor,
    k: int,
    neighbors: str = "cosine",
    *,
    include_self: bool = False,
    block: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of every row of ``X`` (nearest first) and their similarity scores.

    ``X`` is a checked 2-D tensor. Returns ``(indices, scores)``, both (n, k): for ``cosine`` and
    ``inner_product`` the scores are the cosine similarities / inner products; for ``euclidean`` they
    are ``-|x_i - x_j|^2`` (larger = nearer). The row itself is excluded by index unless
    ``include_self`` (then it competes like any other row, as in platonic-rep's biased ``cknna``).
    Equal scores come by increasing index. The search is reprlab's one exact neighbour search,
    :func:`reprlab._neighbors.search` (symmetric tiles of ``Z Z^T`` for wide representations, never the
    n x n matrix); ``block`` is its block size (rows per block, side of a tile).
    """
    _check_k(X.shape[0], k, "the neighbour search", allow_self=include_self)
    score, idx = search(X, k, neighbors, include_self=include_self, block_rows=block)
    return idx, (-(score**2) if neighbors == "euclidean" else -score)


@dataclass
class KNNState:
    """Per-representation work: the ordered neighbour indices (n, k) and, where needed, the features."""

    idx: torch.Tensor
    Z: torch.Tensor | None = None  # rows as ranked (unit rows for cosine, centred for euclidean)
    val: torch.Tensor | None = None  # kernel values at the neighbours (cknna)


def _prepare_lists(X: torch.Tensor, *, k: int, neighbors: str, **_: object) -> KNNState:
    return KNNState(nearest_neighbors(X, k, neighbors)[0])


def _prepare_with_features(X: torch.Tensor, *, k: int, neighbors: str, **_: object) -> KNNState:
    idx, _v = nearest_neighbors(X, k, neighbors)
    return KNNState(idx, Z=features(X, neighbors))


def _row_chunks(n: int, k: int):
    step = max(1, _PAIR_ELEMS // (k * k))
    for r0 in range(0, n, step):
        yield r0, min(n, r0 + step)


def _matches(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``E[r, p, q] = a[r, p] == b[r, q]`` for rows of two neighbour tables."""
    return a[:, :, None] == b[:, None, :]


def _by_rows(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], X: KNNState, Y: KNNState) -> torch.Tensor:
    """``fn(a, b)`` on the same rows of the two neighbour tables, a block of rows at a time, concatenated."""
    n, k = X.idx.shape
    return torch.cat([fn(X.idx[r0:r1], Y.idx[r0:r1]) for r0, r1 in _row_chunks(n, k)])


def _credits(X: KNNState, Y: KNNState, weigh: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``w[i, p]``: the part of row i's score credited to its p-th X-neighbour ``X.idx[i, p]`` (0 unless
    that neighbour is shared), from ``weigh(E)`` on the rows' match tensors ``E`` (:func:`_matches`).
    A row's score is ``w[i].sum()`` and the measure their mean."""
    return _by_rows(lambda a, b: weigh(_matches(a, b)), X, Y)


def _mutual_weights(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda E: E.any(dim=2).to(torch.float64) / k


def _jaccard_weights(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def weigh(E: torch.Tensor) -> torch.Tensor:  # m shared of k: m / (2k - m), 1 / (2k - m) each
        shared = E.any(dim=2).to(torch.float64)
        return shared / (2 * k - shared.sum(1, keepdim=True))

    return weigh


def _rank_weights(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    r = torch.arange(1, k + 1, dtype=torch.float64)
    W = 2.0 / ((1.0 + (r[:, None] - r[None, :]).abs()) * (r[:, None] + r[None, :]))
    harmonic = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumsum(1.0 / r, 0)])  # H(0) -> 1: 0 / 1

    def weigh(E: torch.Tensor) -> torch.Tensor:
        m = E.sum(dim=(1, 2))
        return (E * W.to(E.device)).sum(2) / harmonic.to(E.device)[m][:, None]

    return weigh


def _influence(weights: Callable[[int], Callable[[torch.Tensor], torch.Tensor]]) -> Callable[..., torch.Tensor]:
    """The bootstrap hook ``influence(X, Y, **params)`` (:mod:`reprlab.stats.resampling`, linearised rule).

    The measure is a mean of row scores, ``v = 1/n sum_i sum_j w_ij`` with ``w_ij`` stimulus j's credit
    in row i (:func:`_credits`): a V-statistic of degree 2 in the stimuli. Holding the neighbour lists
    fixed, its first-order influence (Hoeffding projection) of stimulus i is
    ``psi_i = s_i + c_i - 2 v``, the row's own score ``s_i = sum_j w_ij`` plus its credit in the other
    rows ``c_i = sum_j w_ji``, minus twice the value; ``sum_i psi_i = 0``. Efron & Tibshirani (1993),
    ch. 21 (the linear bootstrap); the rule and its calibration are in docs/stats.md.
    """

    def influence(X: KNNState, Y: KNNState, *, k: int, **_: object) -> torch.Tensor:
        w = _credits(X, Y, weights(k))
        s = w.sum(1)
        c = torch.zeros_like(s).index_add_(0, X.idx.reshape(-1), w.reshape(-1))
        return s + c - 2.0 * s.mean()

    return influence


_KNN_REFS_PLATONIC = "Huh, Cheung, Wang & Isola (2024) The Platonic Representation Hypothesis, ICML"
_KNN_REFS_RESI = "Klabunde et al. (2024) ReSi: A comprehensive benchmark for representational similarity measures"


def _variants(range_: tuple[float, float], larger: bool = True) -> tuple[Variant, ...]:
    return (
        Variant({"neighbors": "euclidean"}, larger, False, _EUCLID, range_, "Euclidean neighbours"),
        Variant(
            {"neighbors": "inner_product"},
            larger,
            False,
            _COSINE_ONLY,
            range_,
            "inner products: depends on centring and row norms; scaling by c > 0 keeps the order",
        ),
    )


KNN_PARAMS = {"k": _k_param(), "neighbors": _neighbors_param()}


@register(
    "mutual_knn",
    family="knn",
    params=KNN_PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_COSINE_ONLY,
    range=(0.0, 1.0),
    references=(
        _KNN_REFS_PLATONIC,
        (
            "matches: platonic-rep AlignmentMetrics.mutual_knn (neighbors='inner_product'; on L2-normalised rows "
            "= neighbors='cosine')"
        ),
    ),
    summary="Mutual k-NN alignment: mean fraction of shared nearest neighbours, |N_X(i) & N_Y(i)| / k",
    variants=_variants((0.0, 1.0)),
    prepare=_prepare_lists,
    hooks=Hooks(influence=_influence(_mutual_weights)),
)
def mutual_knn(X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine") -> torch.Tensor:
    """Mutual k-NN alignment: ``mean_i |N_X(i) & N_Y(i)| / k`` (Huh et al. 2024).

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
    k : int
        Neighbours per stimulus, ``1 <= k < n``.
    neighbors : {"cosine", "inner_product", "euclidean"}
        How neighbours are ranked (module docstring). platonic-rep's ``mutual_knn`` ranks by the
        inner product of the rows it is given: ``neighbors="inner_product"`` on raw rows, which equals
        ``"cosine"`` when its pipeline has L2-normalised the rows.

    Returns
    -------
    float in [0, 1]; 1 when every stimulus has the same k neighbours in both.
    """
    return _credits(X, Y, _mutual_weights(k)).sum(1).mean()


@register(
    "jaccard_knn",
    family="knn",
    params=KNN_PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_COSINE_ONLY,
    range=(0.0, 1.0),
    references=(
        _KNN_REFS_RESI,
        "Schumacher et al. (2021) Effects of random seeds on the accuracy and convergence of NLP models",
        "matches: ReSi JaccardSimilarity (inner='cosine'; correct self-exclusion with duplicate rows)",
    ),
    summary="Jaccard similarity of the k-NN sets: mean |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|",
    variants=_variants((0.0, 1.0)),
    prepare=_prepare_lists,
    hooks=Hooks(influence=_influence(_jaccard_weights)),
)
def jaccard_knn(X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine") -> torch.Tensor:
    """k-NN Jaccard similarity: ``mean_i |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|``.

    With m shared neighbours of k, the row's value is ``m / (2k - m)``. ReSi's ``JaccardSimilarity``
    with its default cosine neighbours is ``neighbors="cosine"``. Parameters as :func:`mutual_knn`.
    """
    return _credits(X, Y, _jaccard_weights(k)).sum(1).mean()


@register(
    "cycle_knn",
    family="knn",
    params=KNN_PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=False,
    invariances=_COSINE_ONLY,
    range=(0.0, 1.0),
    references=(_KNN_REFS_PLATONIC, "matches: platonic-rep AlignmentMetrics.cycle_knn (neighbors='inner_product')"),
    summary="Cycle k-NN: fraction of stimuli that are an X-neighbour of one of their own Y-neighbours",
    variants=_variants((0.0, 1.0)),
    prepare=_prepare_lists,
)
def cycle_knn(X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine") -> torch.Tensor:
    """Cycle k-NN accuracy: the fraction of stimuli ``i`` with ``i in N_X(j)`` for some ``j in N_Y(i)``.

    Go from ``i`` to its neighbours in Y, then to their neighbours in X, and ask whether ``i`` comes
    back (platonic-rep ``cycle_knn(feats_A=X, feats_B=Y)``). Asymmetric. Parameters as :func:`mutual_knn`.
    """
    n = X.idx.shape[0]
    hits = []
    for r0, r1 in _row_chunks(n, k):
        back = X.idx[Y.idx[r0:r1]]  # (rows, k, k): X-neighbours of each Y-neighbour
        me = torch.arange(r0, r1, device=back.device)[:, None, None]
        hits.append((back == me).flatten(1).any(dim=1))
    return torch.cat(hits).to(torch.float64).mean()


@register(
    "rank_knn",
    family="knn",
    params=KNN_PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_COSINE_ONLY,
    range=(0.0, 1.0),
    references=(
        (
            "Wang et al. (2020) Towards understanding learning representations: to what extent do different "
            "neural networks learn the same representation (rank similarity)"
        ),
        _KNN_REFS_RESI,
        "matches: ReSi RankSimilarity (inner='cosine')",
    ),
    summary="Rank similarity of the k-NN lists: shared neighbours weighted by how close their ranks are",
    variants=_variants((0.0, 1.0)),
    prepare=_prepare_lists,
    hooks=Hooks(influence=_influence(_rank_weights)),
)
def rank_knn(X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine") -> torch.Tensor:
    """Rank similarity (Wang et al. 2020) of the ordered k-NN lists, averaged over stimuli.

    For stimulus ``i`` with shared neighbours ``J = N_X(i) & N_Y(i)`` at ranks ``r_X(j), r_Y(j)``
    (1 = nearest): ``sum_{j in J} 2 / ((1 + |r_X(j) - r_Y(j)|)(r_X(j) + r_Y(j))) / sum_{l=1}^{|J|} 1/l``,
    and 0 when ``J`` is empty. Identical lists give 1. Parameters as :func:`mutual_knn`.
    """
    return _credits(X, Y, _rank_weights(k)).sum(1).mean()


def _union_distances(S: KNNState, cand: torch.Tensor, r0: int, neighbors: str) -> torch.Tensor:
    """Distances from rows r0.. to their candidate neighbours ``cand`` (rows, m), in representation S."""
    Z = S.Z
    me = Z[r0 : r0 + cand.shape[0]]
    other = Z[cand]  # (rows, m, d)
    if neighbors == "cosine":  # sklearn cosine distance 1 - cos, clipped to [0, 2]
        return (1.0 - torch.einsum("rd,rmd->rm", me, other)).clamp(0.0, 2.0)
    return torch.linalg.vector_norm(other - me[:, None, :], dim=2)


@register(
    "second_order_cosine",
    family="knn",
    params={"k": _k_param(), "neighbors": _neighbors_param(("cosine", "euclidean"))},
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_COSINE_ONLY,
    range=(-1.0, 1.0),
    references=(
        "Hamilton, Leskovec & Jurafsky (2016) Cultural shift or linguistic drift? (second-order similarity)",
        _KNN_REFS_RESI,
        "matches: ReSi SecondOrderCosineSimilarity (cosine neighbours and cosine distances)",
    ),
    summary="Second-order cosine: cosine between distance profiles to the union of both k-NN sets",
    variants=(Variant({"neighbors": "euclidean"}, True, False, _EUCLID, (-1.0, 1.0), "Euclidean distances"),),
    prepare=_prepare_with_features,
)
def second_order_cosine(X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine") -> torch.Tensor:
    """Second-order cosine similarity, averaged over stimuli.

    For stimulus ``i``, with ``U = N_X(i) | N_Y(i)``, the vectors ``d_X(i, U)`` and ``d_Y(i, U)`` of
    distances from ``i`` to the stimuli of ``U`` (cosine distances ``1 - cos`` for ``neighbors="cosine"``,
    as ReSi; Euclidean distances for ``"euclidean"``) are compared by their cosine. Distances are
    non-negative, so in practice the value lies in [0, 1].

    Raises when a distance vector is all zero (every neighbour of a stimulus coincides with it).
    """
    n = X.idx.shape[0]
    out = []
    for r0, r1 in _row_chunks(n, 2 * k):
        a, b = X.idx[r0:r1], Y.idx[r0:r1]
        cand = torch.cat([a, b], dim=1)  # (rows, 2k); Y's entries already in X's list get weight 0
        w = torch.cat([torch.ones_like(a, dtype=torch.bool), ~_matches(b, a).any(dim=2)], dim=1).to(X.Z.dtype)
        dx = _union_distances(X, cand, r0, neighbors) * w
        dy = _union_distances(Y, cand, r0, neighbors) * w
        nx, ny = torch.linalg.vector_norm(dx, dim=1), torch.linalg.vector_norm(dy, dim=1)
        if bool(((nx == 0) | (ny == 0)).any()):
            raise ReprlabError(
                "second_order_cosine is undefined for a stimulus whose neighbours all lie at distance 0 "
                "from it (duplicate rows): its distance profile is the zero vector. Remove duplicate "
                "stimuli or increase k."
            )
        out.append((dx * dy).sum(1) / (nx * ny))
    return torch.cat(out).mean()


def _lcs_lengths(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Length of the longest common subsequence of each row pair (dynamic programming over k x k)."""
    rows, k = a.shape
    eq = _matches(a, b)
    prev = torch.zeros((rows, k + 1), dtype=torch.long, device=a.device)
    for p in range(k):
        cur = torch.zeros_like(prev)
        for q in range(k):
            cur[:, q + 1] = torch.where(eq[:, p, q], prev[:, q] + 1, torch.maximum(prev[:, q + 1], cur[:, q]))
        prev = cur
    return prev[:, k]


def _levenshtein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Levenshtein distance (insert, delete, substitute; unit costs) of each row pair."""
    rows, k = a.shape
    eq = _matches(a, b)
    prev = torch.arange(k + 1, device=a.device).expand(rows, k + 1).clone()
    for p in range(k):
        cur = torch.empty_like(prev)
        cur[:, 0] = p + 1
        for q in range(k):
            sub = prev[:, q] + (~eq[:, p, q]).long()
            cur[:, q + 1] = torch.minimum(torch.minimum(prev[:, q + 1] + 1, cur[:, q] + 1), sub)
        prev = cur
    return prev[:, k]


@register(
    "lcs_knn",
    family="knn",
    params={**KNN_PARAMS, "normalize": Param(True, choices=(True, False), doc="divide the length by k")},
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_COSINE_ONLY,
    range=(0.0, 1.0),
    references=(_KNN_REFS_PLATONIC, "matches: platonic-rep AlignmentMetrics.lcs_knn (normalize=False)"),
    summary="Mean longest-common-subsequence length of the ordered k-NN lists (divided by k)",
    variants=(
        *_variants((0.0, 1.0)),
        Variant({"normalize": False}, True, False, _COSINE_ONLY, (0.0, float("inf")), "a length in [0, k]"),
    ),
    prepare=_prepare_lists,
)
def lcs_knn(
    X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine", normalize: bool = True
) -> torch.Tensor:
    """Mean length of the longest common subsequence of the ordered lists ``N_X(i)`` and ``N_Y(i)``.

    Divided by ``k`` (in [0, 1]) unless ``normalize=False``, which returns platonic-rep's ``lcs_knn``
    value (a length in [0, k]).
    """
    mean = _by_rows(_lcs_lengths, X, Y).to(torch.float64).mean()
    return mean / k if normalize else mean


@register(
    "edit_distance_knn",
    family="knn",
    params=KNN_PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances=_COSINE_ONLY,
    range=(0.0, 1.0),
    references=(_KNN_REFS_PLATONIC, "matches: platonic-rep AlignmentMetrics.edit_distance_knn"),
    summary="1 - mean Levenshtein distance between the ordered k-NN lists / k",
    variants=_variants((0.0, 1.0)),
    prepare=_prepare_lists,
)
def edit_distance_knn(X: KNNState, Y: KNNState, *, k: int = 10, neighbors: str = "cosine") -> torch.Tensor:
    """``1 - mean_i Levenshtein(N_X(i), N_Y(i)) / k`` over the ordered neighbour lists (platonic-rep)."""
    return 1.0 - _by_rows(_levenshtein, X, Y).to(torch.float64).mean() / k


# --- CKNNA -------------------------------------------------------------------------------------------


def _prepare_cknna(X: torch.Tensor, *, k: int, neighbors: str, estimator: str, form: str, **_: object) -> KNNState:
    n = X.shape[0]
    if n < 4 and estimator == "unbiased" and form == "platonic":
        raise ReprlabError(
            f"cknna with the unbiased HSIC estimator divides by n(n-3) and needs at least 4 stimuli; got n={n}."
        )
    if k < 2:
        raise ReprlabError(f"cknna needs k >= 2 (as platonic-rep); got k={k}.")
    Z = features(X, neighbors)
    include_self = form == "platonic" and estimator == "biased"
    idx, val = nearest_neighbors(Z, k, "inner_product", include_self=include_self)
    if form == "paper":  # centre each kernel row on its mean over all n stimuli: K_ij - z_i . mean(z)
        val = val - (Z @ Z.mean(dim=0))[:, None]
    return KNNState(idx, val=val)


def _sparse_hsic(
    rows: torch.Tensor, cols: torch.Tensor, a: torch.Tensor, b: torch.Tensor, n: int, estimator: str
) -> torch.Tensor:
    """HSIC of two n x n matrices A, B with the same support (entries ``(rows, cols)``, values a, b).

    Biased: ``tr(A H B H)``; unbiased: Song et al.'s estimator with zeroed diagonals, in platonic-rep's
    form ``[sum(A~ * B~^T) + sum A~ sum B~ / ((n-1)(n-2)) - 2 1^T A~ B~ 1 / (n-2)] / (n(n-3))``. The
    matrices need not be symmetric; every term reduces to sums over the support.
    """
    if estimator == "unbiased":
        off = rows != cols
        rows, cols, a, b = rows[off], cols[off], a[off], b[off]
    # tr(AB) = sum_ij A_ij B_ji: match each entry (i, j) of A with entry (j, i) of B.
    key = rows * n + cols
    order = torch.argsort(key)
    skey = key[order]
    tkey = cols * n + rows
    pos = torch.searchsorted(skey, tkey).clamp_max_(skey.numel() - 1)
    hit = skey[pos] == tkey
    tr_ab = (a * torch.where(hit, b[order][pos], torch.zeros_like(b))).sum()
    rowsum = lambda v: torch.zeros(n, dtype=v.dtype, device=v.device).index_add_(0, rows, v)  # noqa: E731
    colsum = lambda v: torch.zeros(n, dtype=v.dtype, device=v.device).index_add_(0, cols, v)  # noqa: E731
    sa, sb = a.sum(), b.sum()
    if estimator == "biased":
        return tr_ab - (rowsum(a) @ colsum(b) + colsum(a) @ rowsum(b)) / n + sa * sb / n**2
    return (tr_ab + sa * sb / ((n - 1) * (n - 2)) - 2.0 * (colsum(a) @ rowsum(b)) / (n - 2)) / (n * (n - 3))


@register(
    "cknna",
    family="knn",
    params={
        "k": _k_param(),
        "neighbors": _neighbors_param(("cosine", "inner_product")),
        "estimator": Param("unbiased", choices=("unbiased", "biased"), doc="HSIC estimator: unbiased (Song), biased"),
        "eps": Param(0.0, check=nonnegative, doc="added to the denominator (platonic-rep uses 1e-6)"),
        "form": Param(
            "platonic",
            choices=("platonic", "paper"),
            doc="platonic: HSIC of masked kernels (platonic-rep code); paper: row-centred masked alignment (eq.)",
        ),
    },
    larger_is_similar=True,
    is_metric=False,
    symmetric=False,
    invariances=_COSINE_ONLY,
    range=(-math.inf, math.inf),
    references=(
        _KNN_REFS_PLATONIC,
        (
            "matches: platonic-rep AlignmentMetrics.cknna(distance_agnostic=False) with eps=1e-6 and "
            "neighbors='inner_product' (or 'cosine' on its L2-normalised rows)"
        ),
    ),
    summary="CKNNA: CKA of inner-product kernels restricted to mutual k-nearest-neighbour pairs",
    variants=(
        Variant(
            {"neighbors": "inner_product"},
            True,
            False,
            _COSINE_ONLY,
            (-math.inf, math.inf),
            "kernel = raw inner products; scaling multiplies K by c^2, which cancels when eps = 0",
        ),
        Variant({"estimator": "biased"}, True, False, _COSINE_ONLY, (-math.inf, math.inf)),
        Variant(
            {"form": "paper"},
            True,
            False,
            _COSINE_ONLY,
            (-1.0, 1.0),
            "the paper's row-centred alignment: symmetric and in [-1, 1] by Cauchy-Schwarz",
        ),
    ),
    prepare=_prepare_cknna,
)
def cknna(
    X: KNNState,
    Y: KNNState,
    *,
    k: int = 10,
    neighbors: str = "cosine",
    estimator: str = "unbiased",
    eps: float = 0.0,
    form: str = "platonic",
) -> torch.Tensor:
    """Centered kernel nearest-neighbour alignment (Huh et al. 2024).

    ``K = Z_X Z_X^T`` and ``L = Z_Y Z_Y^T`` are uncentred inner-product kernels (``Z`` = unit rows for
    ``neighbors="cosine"``, the rows as given for ``"inner_product"``). ``M_K[i, j] = 1`` when ``j`` is
    among the k largest entries of row i of K, likewise ``M_L``, and ``M = M_K * M_L`` (mutual pairs).

    ``form="platonic"`` (default; platonic-rep's code, which produced the paper's numbers): the diagonal is
    excluded from the top-k for the unbiased estimator and competes for the biased one, and

        sim(K, L) = HSIC(M * K, M * L),   CKNNA = sim(K, L) / (sqrt(sim(K, K) sim(L, L)) + eps)

    with ``sim(K, K)`` on ``M_K`` alone; HSIC is Song et al.'s unbiased estimator (default) or the biased
    ``tr(A H B H)``, applied to the masked, NON-symmetric matrices. Hence this form is not symmetric
    (``1^T A B 1`` and, on small samples, the whole value change when X and Y swap, by up to tenths when
    k is a large fraction of n) and not bounded by 1 (the numerator and denominator use different masks).
    The property declarations say so (asymmetric, unbounded range).

    ``form="paper"``: the paper's definition, ``Align(K, L) = sum_i sum_{j != i} M_ij (K_ij - E_l K_il)
    (L_ij - E_l L_il)`` with row means over all n stimuli, ``CKNNA = Align(K, L) / (sqrt(Align_{M_K}(K, K)
    Align_{M_L}(L, L)) + eps)``: symmetric and in [-1, 1] (Cauchy-Schwarz, since M is inside M_K and M_L).
    ``estimator`` does not apply to it.

    ``eps=1e-6`` reproduces platonic-rep's value. Computed on the sparse n x k supports, never an n x n
    matrix. Raises when the normalisation is not positive.
    """
    n, kk = X.idx.shape
    rows = torch.arange(n, device=X.idx.device).repeat_interleave(kk)
    cx, cy = X.idx.reshape(-1), Y.idx.reshape(-1)
    vx, vy = X.val.reshape(-1), Y.val.reshape(-1)
    # Entries of K on X's neighbour list that are also on Y's list, with L's value there.
    idx_match = _matches(X.idx, Y.idx)  # (n, k, k)
    shared = idx_match.any(dim=2).reshape(-1)
    # L[i, j] for shared j: take Y's value at the matching position (the lists hold distinct indices).
    pos = idx_match.to(torch.int8).argmax(dim=2).reshape(-1)
    ly = vy.reshape(n, kk).gather(1, pos.reshape(n, kk)).reshape(-1)
    if form == "paper":  # the values are already row-centred
        sim_kl = (vx[shared] * ly[shared]).sum()
        sim_kk, sim_ll = (vx * vx).sum(), (vy * vy).sum()
    else:
        sim_kl = _sparse_hsic(rows[shared], cx[shared], vx[shared], ly[shared], n, estimator)
        sim_kk = _sparse_hsic(rows, cx, vx, vx, n, estimator)
        sim_ll = _sparse_hsic(rows, cy, vy, vy, n, estimator)
    den = sim_kk * sim_ll
    if not float(den) > 0.0:
        raise ReprlabError(
            f"cknna is undefined here: the masked self-similarities sim(K, K) = {float(sim_kk):.3g} and "
            f"sim(L, L) = {float(sim_ll):.3g} must both be positive (a kernel is 0 or constant on the "
            "neighbour pairs). Use more neighbours (k), estimator='biased' or form='paper'."
        )
    return sim_kl / (torch.sqrt(den) + eps)
