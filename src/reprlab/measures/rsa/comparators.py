"""RDM comparators (:func:`compare_rdms`): the correlation, Kendall, whitened, Bures and Riemannian
comparisons of RDMs, each RDM prepared once (see :mod:`reprlab.measures.rsa` for the formulas)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...errors import ReprlabError, close_matches
from .. import _ranks
from .rdms import _as_stack, _squareform

COMPARATORS = (
    "spearman",
    "pearson",
    "cosine",
    "kendall_tau_a",
    "kendall_tau_b",
    "rho_a",
    "whitened_cosine",
    "whitened_pearson",
    "bures",
    "bures_metric",
    "bures_metric_squared",
    "riemannian",
    "neg_riemannian",
)
_INNER_PRODUCT = ("cosine", "pearson", "spearman", "rho_a", "whitened_cosine", "whitened_pearson")

# ------------------------------------------------------------------------------------- comparators


@dataclass
class CompareState:
    """Per-RDM (or per-stack) work for one comparator, so that each pair is cheap.

    ``Z`` (k, p): rows whose inner products (times ``scale``) are the comparator (cosine, Pearson,
    Spearman, rho-a, whitened forms); ``tau``: Kendall preparations; ``mats``: per-RDM matrices
    (Bures: ``(sqrt(G+), tr G)``; Riemannian: the (n-1) x (n-1) contrast-space second moment).
    """

    method: str
    k: int
    n_pairs: int
    n_conditions: int
    Z: torch.Tensor | None = None
    scale: float = 1.0
    tau: list[_ranks.TauPrep] = field(default_factory=list)
    mats: list[Any] = field(default_factory=list)
    vector: torch.Tensor | None = None  # the (transformed) condensed RDM, kept by the rsa measure's prepare


def _unit_rows(Z: torch.Tensor, method: str, what: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(Z, dim=1)
    if bool((norms == 0).any()):
        i = int(torch.nonzero(norms == 0)[0])
        raise ReprlabError(
            f"An RDM (index {i} of its stack) is {what}, so the {method!r} comparison (a correlation / cosine) "
            "is undefined (rsatoolbox returns 0 here). A constant RDM carries no ordering: check the "
            "representation (constant or duplicated rows), or use rho_a / kendall_tau_a, which give 0 for it."
        )
    return Z / norms[:, None]


def _double_centred(V: torch.Tensor, n: int) -> torch.Tensor:
    """``H S H`` flattened for each row of V (S the square form, zero diagonal): (k, n*n)."""
    out = []
    for v in V:
        S = _squareform(v, n)
        S = S - S.mean(0, keepdim=True) - S.mean(1, keepdim=True) + S.mean()
        out.append(S.reshape(-1))
    return torch.stack(out)


def prepare_rdms(V: torch.Tensor, n: int, method: str) -> CompareState:
    """Do the per-RDM work of comparator ``method`` for a (k, n_pairs) stack of condensed RDMs."""
    if method not in COMPARATORS:
        raise ReprlabError(
            f"Unknown RDM comparator {method!r}; use one of {', '.join(COMPARATORS)}."
            + close_matches(str(method), COMPARATORS)
        )
    k, m = V.shape
    st = CompareState(method, k, m, n)
    if method in ("pearson", "whitened_pearson"):  # exact test: V - mean(V) of a constant V need not be 0
        lo, hi = torch.aminmax(V, dim=1)
        if bool((lo == hi).any()):
            _unit_rows(torch.where((lo == hi)[:, None], 0.0, 1.0).to(V.dtype), method, "constant")
    if not bool(torch.isfinite(V).all()):
        raise ReprlabError("The RDM has infinite dissimilarities (e.g. a disconnected geodesic transform).")
    if method == "cosine":
        st.Z = _unit_rows(V, method, "all zero")
    elif method == "pearson":
        st.Z = _unit_rows(V - V.mean(1, keepdim=True), method, "constant")
    elif method in ("spearman", "rho_a"):
        R = _ranks.rankdata(V, "average")
        R = R - (m + 1) / 2.0
        if method == "spearman":
            st.Z = _unit_rows(R, method, "constant")
        else:
            st.Z = R
            st.scale = 12.0 / (float(m) ** 3 - m)
    elif method in ("kendall_tau_a", "kendall_tau_b"):
        st.tau = [_ranks.tau_prepare(v) for v in V]
        if method == "kendall_tau_b":
            tot = m * (m - 1) // 2
            for i, p in enumerate(st.tau):
                if p.ties == tot:
                    raise ReprlabError(
                        f"An RDM (index {i} of its stack) is constant, so Kendall's tau-b is undefined (0/0)."
                    )
    elif method in ("whitened_cosine", "whitened_pearson"):
        W = V - V.mean(1, keepdim=True) if method == "whitened_pearson" else V
        st.Z = _unit_rows(_double_centred(W, n), method, "all zero" if method == "whitened_cosine" else "constant")
    elif method in ("bures", "bures_metric", "bures_metric_squared"):
        for i, v in enumerate(V):
            G = -0.5 * _double_centred(v[None], n)[0].reshape(n, n)
            lam, U = torch.linalg.eigh(G)
            Gs = (U * lam.clamp_min(0.0).sqrt()) @ U.T
            tr = torch.trace(G)
            if method == "bures" and not bool(tr > 0):
                raise ReprlabError(
                    f"An RDM (index {i} of its stack) has a second moment G = -HDH/2 with trace {float(tr):.3g} "
                    "<= 0, so the Bures similarity (divided by sqrt(tr G1 tr G2)) is undefined."
                )
            st.mats.append((Gs, tr))
    else:  # riemannian, neg_riemannian
        for v in V:
            S = _squareform(v, n)
            d0 = S[0, 1:]
            st.mats.append((0.5 * (d0[:, None] + d0[None, :] - S[1:, 1:])).cpu().numpy().astype(np.float64))
    return st


def _riemannian(G1: np.ndarray, G2: np.ndarray) -> float:
    """rsatoolbox's Riemannian RDM distance: min over (t0, t1) of the affine-invariant distance between
    ``exp(t0) G1 + exp(t1) Sigma`` and ``G2`` (Sigma = P I P^T, the iid-noise contrast covariance),
    ``sqrt(sum log^2 eig(A, G2))``, by Nelder-Mead from (0, 0) (tightened tolerances)."""
    from scipy import linalg
    from scipy.optimize import minimize

    k = G1.shape[0]
    Sig = np.eye(k) + np.ones((k, k))
    try:
        np.linalg.cholesky(G2)
    except np.linalg.LinAlgError:
        raise ReprlabError(
            "The Riemannian RDM comparison needs a positive-definite second moment for the second RDM (in the "
            "contrast space: n_conditions - 1 must not exceed the rank of the patterns)."
        ) from None

    def fun(theta: np.ndarray) -> float:
        ev = linalg.eigvalsh(np.exp(theta[0]) * G1 + np.exp(theta[1]) * Sig, G2)
        return float(np.sqrt((np.log(ev) ** 2).sum()))

    res = minimize(fun, (0.0, 0.0), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    return float(res.fun)


def compare_states(A: CompareState, B: CompareState) -> torch.Tensor:
    """The (kA, kB) matrix of comparisons between two prepared stacks (same comparator)."""
    if A.n_pairs != B.n_pairs:
        raise ReprlabError(
            f"The RDMs have different sizes: {A.n_conditions} and {B.n_conditions} conditions "
            f"({A.n_pairs} and {B.n_pairs} pairs); compare RDMs over the same conditions."
        )
    method = A.method
    if method in _INNER_PRODUCT:
        out = (A.Z @ B.Z.T) * A.scale
        return out.clamp(-1.0, 1.0)
    out = torch.empty((A.k, B.k), dtype=torch.float64)
    for i in range(A.k):
        for j in range(B.k):
            if method in ("kendall_tau_a", "kendall_tau_b"):
                out[i, j] = _ranks.kendall_tau(A.tau[i], B.tau[j], "a" if method == "kendall_tau_a" else "b")
            elif method in ("riemannian", "neg_riemannian"):
                d = _riemannian(A.mats[i], B.mats[j])
                out[i, j] = -d if method == "neg_riemannian" else d
            else:
                S1, t1 = A.mats[i]
                S2, t2 = B.mats[j]
                # tr (G1^1/2 G2 G1^1/2)^1/2 = |G1^1/2 G2^1/2|_* (nuclear norm): symmetric, and accurate for
                # rank-deficient G (no square roots of rounding-level eigenvalues of a product)
                nuc = torch.linalg.svdvals(S1 @ S2).sum()
                if method == "bures":
                    out[i, j] = float(nuc / torch.sqrt(t1 * t2))
                else:
                    sq = float(t1 + t2 - 2.0 * nuc)
                    out[i, j] = sq if method == "bures_metric_squared" else math.sqrt(max(sq, 0.0))
    return out


def compare_rdms(D1: Any, D2: Any, method: str = "spearman", *, dtype: Any = None, device: Any = None) -> Any:
    """Compare RDMs: a float for two RDMs, a (k1, k2) array for stacks.

    Parameters
    ----------
    D1, D2 : RDM, condensed vector (n_pairs,), stack (k, n_pairs), sequence of RDMs, or one square matrix
    method : str
        One of ``COMPARATORS`` (module docstring). Similarities, except ``bures_metric`` (a distance),
        ``bures_metric_squared`` (its square, rsatoolbox's ``bures_metric``), ``riemannian`` (a
        distance) and ``neg_riemannian`` (minus it, rsatoolbox's ``neg_riem_dist``). ``riemannian`` is not
        symmetric (rsatoolbox fits a scaling of the first RDM only).

    Returns
    -------
    float or ndarray (k1, k2)
    """
    V1, n1, s1 = _as_stack(D1, "D1", dtype, device)
    V2, n2, s2 = _as_stack(D2, "D2", dtype, device)
    if V1.shape[1] != V2.shape[1]:
        raise ReprlabError(
            f"`D1` and `D2` are RDMs of different sizes: {n1} and {n2} conditions ({V1.shape[1]} and "
            f"{V2.shape[1]} pairs); compare RDMs over the same conditions in the same order."
        )
    A = prepare_rdms(V1, n1, method)
    B = prepare_rdms(V2, n2, method)
    out = compare_states(A, B)
    if s1 and s2:
        return float(out[0, 0])
    return out.cpu().numpy().astype(np.float64)
