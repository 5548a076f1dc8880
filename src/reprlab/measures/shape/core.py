"""Generalized shape metrics (Williams, Kunz, Kornblith & Linderman 2021).

Each representation ``X`` (n stimuli x d units) is mapped once to a point on which a Procrustes-type
distance is computed (the per-representation work is :func:`prepare`, so
:func:`reprlab.compare_all` whitens K networks K times, not K^2 times):

1. centre the columns, ``Xc = X - 1 mean(X)``;
2. optionally project onto the top ``dim`` principal axes (``dim=None``: no projection);
3. partial whitening with ``0 <= alpha <= 1``:
   ``Xw = Xc Z``, ``Z = V diag(alpha + (1 - alpha) lam^-1/2) V^T`` with ``C = V diag(lam) V^T``;
   ``alpha=1`` leaves ``Xc`` unchanged (Procrustes), ``alpha=0`` fully whitens (CCA-like).

Two conventions for step 3:

* ``convention="netrep"`` (default; netrep ``LinearMetric``): ``C = Xc^T Xc`` (no 1/n), eigenvalues
  clipped below at 1e-7, then ``Xw`` rescaled so that its total variance ``|Xw|_F^2`` equals
  ``|Xc|_F^2``.
* ``convention="repsim"`` (wrongu/repsim ``ShapeMetric``): ``C = Xc^T Xc / n``, eigenvalues clipped
  at 1e-9, no rescaling; wrongu/repsim always projects to ``p`` dimensions: pass ``dim=p``.

The pair step aligns the two points by the best element of the group (narrower matrix zero-padded):

* ``group="orthogonal"``: ``max_Q <Xw Q, Yw> = |Xw^T Yw|_*`` (nuclear norm, one SVD of a small
  cross-covariance);
* ``group="permutation"``: ``max_P <Xw P, Yw>`` over unit permutations (linear assignment).

and scores it as

* ``score="angular"``: ``arccos(max <Xw G, Yw> / (|Xw|_F |Yw|_F))`` in radians;
* ``score="euclidean"``: ``min_G |Xw G - Yw|_F = sqrt(|Xw|^2 + |Yw|^2 - 2 max <Xw G, Yw>)``
  (not squared, not divided by n).

Both scores are metrics on the equivalence classes (pseudometrics on matrices): each is the
quotient of a metric (great-circle or Euclidean distance) by a group of isometries, pulled back
through the fixed per-representation map ``X -> Xw``.

Invariances: translation and the group (permutation; orthogonal for ``group="orthogonal"``) always;
isotropic scaling for ``score="angular"`` with ``alpha`` in {0, 1} (for 0 < alpha < 1 the mixture
``alpha I + (1 - alpha) C^-1/2`` depends on the scale); invertible linear maps for ``alpha=0`` with
the angular score (full whitening of full-column-rank data).

Rank-deficient input never gives NaN: the whitening is one symmetric eigendecomposition of
``Xc^T Xc`` (or of ``Xc Xc^T`` when d > n), and eigen-directions whose eigenvalue is zero to
rounding (``<= max(n, d) eps lam_max``) are null directions of ``Xc``: they get weight 0 rather than
rounding noise times the large clipped weight (netrep keeps that noise; on full-rank data the two
agree). netrep's variance-preserving factor depends on the width the data are zero-padded to
(:class:`NetrepRescale`), so it is applied in the pair step, from the per-representation sums.

The pair step costs one cross-product ``Xw^T Yw`` and one small symmetric eigenvalue problem
(:func:`nuclear_inner`).

References: Williams, Kunz, Kornblith & Linderman (2021), "Generalized shape metrics on neural
representations", NeurIPS. Matches netrep (ahwillia/netrep ``LinearMetric(center_columns=True,
zero_pad=True)`` and ``PermutationMetric``) and wrongu/repsim (``angular_shape_metric`` /
``euclidean_shape_metric``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..._linalg import center_columns, matmul, numpy_on_threads
from ..._registry import Param
from ...errors import ReprlabError

SCORES = ("angular", "euclidean")
GROUPS = ("orthogonal", "permutation")
CONVENTIONS = ("netrep", "repsim")
_CLIP = {"netrep": 1e-7, "repsim": 1e-9}


def _alpha(v: object) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
    return None if ok else "must be a number in [0, 1] (1: Procrustes, no whitening; 0: full whitening)"


def _dim(v: object) -> str | None:
    ok = v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    return None if ok else "must be None or a positive integer (the number of principal axes kept)"


PARAMS = {
    "alpha": Param(1.0, check=_alpha, doc="whitening: 1 none (Procrustes), 0 full (CCA-like), between: partial"),
    "score": Param("angular", choices=SCORES, doc="angular (arccos, radians) or euclidean (Frobenius norm)"),
    "group": Param("orthogonal", choices=GROUPS, doc="alignment group: orthogonal maps or unit permutations"),
    "convention": Param("netrep", choices=CONVENTIONS, doc="whitening convention: netrep or repsim (wrongu)"),
    "dim": Param(None, check=_dim, doc="project onto the top dim principal axes first (wrongu's p); None: no"),
}


@dataclass
class NetrepRescale:
    """netrep's rescaling of the whitening, which depends on the width ``D`` the data are padded to.

    netrep computes the variance after whitening from the clipped eigenvalues of the padded
    ``D x D`` matrix ``C``, ``sum_i (alpha sqrt(lam_i) + 1 - alpha)^2``, so each of the ``D - r`` null
    (or zero-padded) directions counts ``(alpha sqrt(tol) + 1 - alpha)^2`` although the whitened data
    have no variance there, and rescales by ``sqrt(sum_i lam_i / that)``. For data of full column
    rank ``D`` this preserves the total variance exactly.
    """

    rank: int  # number of singular values of Xc (min(n, d))
    lam_sum: torch.Tensor  # sum of the clipped eigenvalues over those
    var_sum: torch.Tensor  # sum of (alpha sqrt(lam) + 1 - alpha)^2 over those
    tol: float
    alpha: float

    def factor(self, width: int) -> torch.Tensor:
        null = max(width - self.rank, 0)
        phantom = (self.alpha * math.sqrt(self.tol) + 1.0 - self.alpha) ** 2
        return torch.sqrt((self.lam_sum + null * self.tol) / (self.var_sum + null * phantom))


@dataclass
class ShapePoint:
    """What the scores need of a representation's point: ``|Xw|_F^2`` (``sq_norm``), netrep's
    variance-preserving rescaling as a function of the zero-padded width, and the width itself."""

    sq_norm: torch.Tensor
    rescale: NetrepRescale | None
    width: int  # columns after centring and projection, before zero-padding

    def scale(self, width: int) -> torch.Tensor | float:
        return 1.0 if self.rescale is None else self.rescale.factor(width)


@dataclass
class ShapeState(ShapePoint):
    """A representation mapped to its point: ``F`` with ``F F^T = Xw Xw^T``, and ``|F|_F^2``.

    For the orthogonal group ``F`` may be ``Xw`` in any orthonormal basis (here the eigenbasis of
    ``Xc^T Xc``, or an n-column basis when d > n); for permutations it is ``Xw`` in the unit basis.
    """

    F: torch.Tensor


def null_mask(lam: torch.Tensor, shape: tuple[int, ...], eps: float | None = None) -> torch.Tensor:
    """Eigenvalues of ``Xc^T Xc`` (or ``Xc Xc^T``) that are zero to rounding: ``lam <= max(n, d) eps lam_max``
    (``eps``: the unit roundoff of the dtype the products were rounded in; by default ``lam``'s)."""
    eps = torch.finfo(lam.dtype).eps if eps is None else eps
    return lam <= max(shape) * eps * lam.max().clamp_min(0.0)


def whiten(
    Xc: torch.Tensor, alpha: float, convention: str = "netrep", basis: str = "principal"
) -> tuple[torch.Tensor, NetrepRescale | None]:
    """Partially whiten column-centred ``Xc`` (module docstring, step 3), before any rescaling.

    Returns ``Xw`` in the original unit basis (``basis="units"``: ``Xc Z``) or in any orthonormal
    basis (``basis="principal"``: with at most min(n, d) columns; fine wherever only inner products
    between representations matter), and, for the netrep convention with ``alpha < 1``, netrep's
    variance-preserving factor to apply at a given padded width.

    The eigendecomposition is that of the d x d matrix ``Xc^T Xc`` (or, when d > n, of the n x n
    ``Xc Xc^T``, which has the same non-zero eigenvalues). Directions whose eigenvalue is zero to
    rounding (:func:`null_mask`) are null directions of ``Xc`` and get weight 0 instead of the
    rounding noise ``Xc v`` times the large clipped weight.
    """
    n, d = Xc.shape
    if alpha == 1.0 and (basis == "units" or d <= n):
        return Xc, None
    gram = d > n
    lam, V = torch.linalg.eigh(Xc @ Xc.T if gram else Xc.T @ Xc)  # V: n x n (gram) or d x d
    if alpha == 1.0:  # d > n, principal basis: Xc Xc^T = V diag(lam) V^T, so F = V sqrt(lam)
        return V * lam.clamp_min(0.0).sqrt().masked_fill(null_mask(lam, (n, d)), 0.0), None
    w, rescale = whitening_weights(lam, (n, d), alpha, convention)
    if gram:  # Xw = Xc Z = V diag(w) V^T Xc; in the principal basis V diag(sqrt(lam) w)
        F = V * (lam.clamp_min(0.0).sqrt() * w) if basis == "principal" else (V * w) @ (V.T @ Xc)
    else:
        # principal basis: F = Xc V diag(w), formed as (diag(w) V^T) Xc^T and returned as a transposed
        # view (its transpose is what compare_all packs, :func:`reprlab.measures.shape.batched._pack`)
        F = matmul((V * w).T.contiguous(), Xc.T).T if basis == "principal" else (Xc @ V * w) @ V.T
    return F, rescale


def whitening_weights(
    lam: torch.Tensor, shape: tuple[int, int], alpha: float, convention: str, eps: float | None = None
) -> tuple[torch.Tensor, NetrepRescale | None]:
    """The whitening's weight on each eigen-direction of ``Xc^T Xc`` (eigenvalues ``lam``, data of
    ``shape`` (n, d)), ``alpha + (1 - alpha) lam_c^-1/2`` with ``lam_c`` the convention's clipped
    eigenvalue and 0 on null directions (:func:`null_mask` with ``eps``), and netrep's rescaling
    (None for repsim)."""
    tol = _CLIP[convention]
    scale = 1.0 / shape[0] if convention == "repsim" else 1.0
    lam_c = (lam * scale).clamp_min(tol)
    w = (alpha + (1.0 - alpha) * lam_c.rsqrt()).masked_fill(null_mask(lam, shape, eps), 0.0)
    rescale = None
    if convention == "netrep":
        terms = (alpha * lam_c.sqrt() + (1.0 - alpha)) ** 2
        rescale = NetrepRescale(lam.shape[0], lam_c.sum(), terms.sum(), tol, alpha)
    return w, rescale


def project(Xc: torch.Tensor, dim: int | None) -> torch.Tensor:
    """Project centred data onto its top ``dim`` principal axes when it has more columns (PCA)."""
    if dim is None or Xc.shape[1] <= dim:
        return Xc
    _, _, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vh[:dim].T


def check_not_zero(Xc: torch.Tensor, what: str) -> None:
    """Raise when a (centred) representation is identically zero, where ``what`` is undefined."""
    if not bool(Xc.any()):
        raise ReprlabError(
            f"A representation has zero variance across stimuli (every row is identical), so {what} is "
            "undefined. Check the layer (constant or dead units) or drop it from the comparison."
        )


def check_stimuli(n: int) -> None:
    """The shape metric needs at least two stimuli."""
    if n < 2:
        raise ReprlabError(f"The shape metric needs at least 2 stimuli (rows); got {n}.")


def warn_if_spanning(rank: int, n: int, d: int, stacklevel: int) -> None:
    """Warn when a fully whitened representation (alpha=0) spans every centred direction."""
    if rank >= n - 1:
        warnings.warn(
            f"A representation has rank {rank} = n - 1 after centring (n={n} stimuli, {d} "
            "features): fully whitened (alpha=0), it spans every centred direction and its distance "
            "to any such representation is degenerate (0 for the angular score). Use more stimuli "
            "than features, alpha > 0, or dim < n - 1.",
            UserWarning,
            stacklevel=stacklevel,
        )


def prepare(
    X: torch.Tensor, *, alpha: float, score: str, group: str, convention: str, dim: int | None, **_: object
) -> ShapeState:
    n = X.shape[0]
    check_stimuli(n)
    Xc = project(center_columns(X), dim)
    if score == "angular":
        check_not_zero(Xc, "the angular shape distance")
    if alpha == 0.0 and Xc.shape[1] >= n - 1:
        warn_if_spanning(int(torch.linalg.matrix_rank(Xc)), n, X.shape[1], stacklevel=5)
    F, rescale = whiten(Xc, alpha, convention, "units" if group == "permutation" else "principal")
    return ShapeState(sq_norm=(F * F).sum(), rescale=rescale, width=Xc.shape[1], F=F)


#: Matrices per step of :func:`_gram_spectra`.
SPECTRA_CHUNK = 4


def _gram_spectra(mats: Sequence[np.ndarray]) -> np.ndarray:
    """Eigenvalues (ascending) of ``M^T M`` for float32/float64 matrices ``M`` (p x q, p >= q, any
    strides), in float64.

    A few matrices at a time, each step's float64 copies made in one go from the matrices as they lie
    (no stacked copy of the whole batch first): a whole batch's copies and Grams (hundreds of MB for
    many wide networks) are fresh memory whose page faults cost more than the products (measured in
    docs/benchmarks.md, "Figures behind implementation choices")."""
    out = np.empty((len(mats), mats[0].shape[1]))
    for s in range(0, len(mats), SPECTRA_CHUNK):
        m = np.array(mats[s : s + SPECTRA_CHUNK], dtype=np.float64)
        out[s : s + SPECTRA_CHUNK] = np.linalg.eigvalsh(np.matmul(m.transpose(0, 2, 1), m))
    return out


def nuclear_norms(M: Sequence[torch.Tensor], bound: torch.Tensor) -> torch.Tensor:
    """Nuclear norms ``|M_b|_*`` of matrices ``M_b`` of one shape (p x q; a batch tensor or a list of
    them, in any layout), given ``bound_b >= |M_b|_*``.

    For ``M_b = Fx^T Fy`` the bound is ``|Fx|_F |Fy|_F`` (Cauchy-Schwarz); it flags nearly aligned
    shapes. The sum of the singular values is ``sum sqrt(eig(G))`` with ``G`` the smaller of ``M^T M``
    and ``M M^T`` formed in float64: a symmetric eigenvalue problem is several times cheaper than an
    SVD. On the CPU the matrices are spread over the threads (:func:`reprlab._linalg.numpy_on_threads`;
    NumPy's LAPACK solves these small problems about a third faster than torch's CPU build), elsewhere
    it is one batched torch call. The eigenvalues carry absolute errors ~ eps lam_max, so a singular
    value ``sigma_i`` errs by ~ eps sigma_max^2 / sigma_i: with every ``lam_i >= 1e-12 lam_max`` the
    sum is accurate to ~ d eps 1e6 (about 1e-8 relative for d = 256). Otherwise (null directions, zero
    padding) the singular values of a float64 ``M`` are computed directly; for a float32 ``M`` the
    float64 eigenvalues are always accurate enough (their error, <= 1.5e-8 sigma_max, is below the
    float32 resolution of ``M`` itself). Nearly aligned shapes (``|M|_* > (1 - 1e-6) bound``, where
    ``arccos`` amplifies any error) use the SVD too. Returned in ``M``'s dtype.
    """
    mats = [m if m.shape[0] >= m.shape[1] else m.T for m in M]
    dtype, device = mats[0].dtype, mats[0].device
    if device.type == "cpu":
        lam = torch.from_numpy(numpy_on_threads(_gram_spectra, [m.detach().numpy() for m in mats]))
    else:
        A64 = torch.stack(mats).to(torch.float64)
        lam = torch.linalg.eigvalsh(A64.mT @ A64)
    nuc = lam.clamp_min(0.0).sqrt().sum(-1).to(device)
    lam = lam.to(device)
    ok = (lam[:, -1] > 0.0) & (nuc <= (1.0 - 1e-6) * bound.to(torch.float64))
    if dtype == torch.float64:
        ok &= lam[:, 0] >= 1e-12 * lam[:, -1]
    redo = (~ok).nonzero().flatten()
    if redo.numel():
        nuc[redo] = torch.linalg.svdvals(torch.stack([mats[k] for k in redo.tolist()])).sum(-1).to(torch.float64)
    return nuc.to(dtype)


def nuclear_inner(
    Fx: torch.Tensor, Fy: torch.Tensor, sq_x: torch.Tensor | None = None, sq_y: torch.Tensor | None = None
) -> torch.Tensor:
    """``max_Q <Fx Q, Fy>`` over orthogonal Q (zero-padding the narrower): ``|Fx^T Fy|_*``
    (:func:`nuclear_norms`). ``sq_x``, ``sq_y``: ``|Fx|_F^2`` and ``|Fy|_F^2`` when already known."""
    sq_x = (Fx * Fx).sum() if sq_x is None else sq_x
    sq_y = (Fy * Fy).sum() if sq_y is None else sq_y
    bound = torch.sqrt(sq_x.to(torch.float64) * sq_y.to(torch.float64))
    return nuclear_norms(matmul(Fx.T, Fy)[None], bound[None])[0]


def assignment(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (partial) permutation maximising ``<P, M>``: matched row and column indices (linear assignment)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(M.detach().cpu().numpy(), maximize=True)
    return torch.as_tensor(np.asarray(rows), device=M.device), torch.as_tensor(np.asarray(cols), device=M.device)


def assignment_inner(M: torch.Tensor) -> torch.Tensor:
    """``max_P <P, M>`` over (partial) permutation matrices."""
    rows, cols = assignment(M)
    return M[rows, cols].sum()


def _permuted_difference(Fx: torch.Tensor, Fy: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``|Fx P - Fy|_F`` for the matching ``rows`` -> ``cols``; unmatched columns meet zero padding."""
    sq = ((Fx[:, rows] - Fy[:, cols]) ** 2).sum()
    for F, matched in ((Fx, rows), (Fy, cols)):
        rest = torch.ones(F.shape[1], dtype=torch.bool, device=F.device)
        rest[matched] = False
        sq = sq + (F[:, rest] ** 2).sum()
    return sq.sqrt()


def _aligned_difference(Fx: torch.Tensor, Fy: torch.Tensor) -> torch.Tensor:
    """``min_Q |Fx Q - Fy|_F`` over orthogonal Q, from the aligned matrices (accurate when small)."""
    w = max(Fx.shape[1], Fy.shape[1])
    A = torch.nn.functional.pad(Fx, (0, w - Fx.shape[1]))
    B = torch.nn.functional.pad(Fy, (0, w - Fy.shape[1]))
    U, _, Vh = torch.linalg.svd(A.T @ B)
    return torch.linalg.matrix_norm(A @ (U @ Vh) - B)


def score_from_inner(
    inner: torch.Tensor,
    sq_x: torch.Tensor,
    sq_y: torch.Tensor,
    score: str,
    aligned: Callable[[], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Turn the aligned inner product ``max_G <X G, Y>`` into the angular or Euclidean score.

    ``aligned`` (orthogonal group) returns the Frobenius norm of the explicitly aligned difference:
    of the unit-norm matrices for the angular score, of the matrices themselves for the Euclidean one.
    Where the closed forms lose accuracy it replaces them, and it is called only then: an angle below
    ~1.4e-3 (``arccos`` of a cosine within 1e-6 of 1 keeps only ~1e-8 absolute accuracy) is
    ``2 arcsin(|Xu Q - Yu|_F / 2)``, exact to rounding; a Euclidean distance tiny relative to the
    norms is not taken from ``|X|^2 + |Y|^2 - 2 <X Q, Y>``, which cancels catastrophically there.
    """
    if score == "angular":
        cos = (inner / torch.sqrt(sq_x * sq_y)).clamp(-1.0, 1.0)
        if aligned is not None and float(cos) > 1.0 - 1e-6:
            return 2.0 * torch.arcsin((aligned() / 2.0).clamp(max=1.0))
        return torch.arccos(cos)
    sq = sq_x + sq_y - 2.0 * inner
    if aligned is not None and float(sq) < 1e-6 * float(sq_x + sq_y):
        return aligned()
    return sq.clamp_min(0.0).sqrt()


def group_score(
    X: ShapePoint,
    Y: ShapePoint,
    inner: torch.Tensor,
    score: str,
    difference: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """A pair's score from its aligned inner product ``max_G <Fx G, Fy>``, with netrep's rescaling at the
    padded width applied (:class:`NetrepRescale`). ``difference(A, B)``, given points with their ``F``
    (:class:`ShapeState`), is ``|A G - B|_F`` for the optimal ``G``, used where the closed forms lose
    accuracy (:func:`score_from_inner`); without it the closed forms are used throughout."""
    width = max(X.width, Y.width)  # the narrower is zero-padded to this width
    cx, cy = X.scale(width), Y.scale(width)
    aligned = None
    if difference is not None:
        Fx, Fy = X.F, Y.F  # type: ignore[attr-defined]

        def aligned() -> torch.Tensor:
            if score == "angular":
                return difference(Fx / X.sq_norm.sqrt(), Fy / Y.sq_norm.sqrt())
            return difference(Fx * cx, Fy * cy)

    return score_from_inner(inner * (cx * cy), X.sq_norm * cx**2, Y.sq_norm * cy**2, score, aligned)


def orthogonal_score(X: ShapeState, Y: ShapeState, nuc: torch.Tensor, score: str) -> torch.Tensor:
    """:func:`group_score` for the orthogonal group, from the nuclear inner ``|Fx^T Fy|_*``."""
    return group_score(X, Y, nuc, score, _aligned_difference)


def permutation_score(X: ShapeState, Y: ShapeState, score: str) -> torch.Tensor:
    """:func:`group_score` for unit permutations (one linear assignment)."""
    M = X.F.T @ Y.F
    rows, cols = assignment(M)
    return group_score(X, Y, M[rows, cols].sum(), score, lambda A, B: _permuted_difference(A, B, rows, cols))


def shape(
    X: ShapeState,
    Y: ShapeState,
    *,
    alpha: float = 1.0,
    score: str = "angular",
    group: str = "orthogonal",
    convention: str = "netrep",
    dim: int | None = None,
) -> float:
    """Generalized shape metric (Williams et al. 2021) between ``X`` (n, d1) and ``Y`` (n, d2).

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
    alpha : float in [0, 1]
        Regularisation of the whitening: 1 (default) none, i.e. the Procrustes distance; 0 full
        whitening (for full-rank X and Y of equal width the angular form is then ``arccos`` of the
        mean canonical correlation); in between, partial whitening.
    score : {"angular", "euclidean"}
        ``arccos`` of the normalised aligned inner product (radians, default), or the Frobenius
        norm of the aligned difference (not squared, not divided by n).
    group : {"orthogonal", "permutation"}
        Align by the best orthogonal map (default) or the best one-to-one matching of units.
    convention : {"netrep", "repsim"}
        Whitening convention (module docstring): netrep (``C = Xc^T Xc``, clip 1e-7, variance
        rescaled) or wrongu/repsim (``C = Xc^T Xc / n``, clip 1e-9, no rescale).
    dim : int, optional
        Project each representation onto its top ``dim`` principal axes first (wrongu/repsim's
        ``p``; narrower ones are left as they are, which equals zero-padding).

    Returns
    -------
    float
        A distance: radians in [0, pi/2] (orthogonal group; [0, pi] for permutations), or a
        Frobenius norm for ``score="euclidean"``.
    """
    if group == "orthogonal":
        return orthogonal_score(X, Y, nuclear_inner(X.F, Y.F, X.sq_norm, Y.sq_norm), score)
    return permutation_score(X, Y, score)
