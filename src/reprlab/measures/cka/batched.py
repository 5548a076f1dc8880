"""Linear CKA for :func:`reprlab.compare_all`: all pairs from batched cross-products, and streaming.

Linear CKA needs, per pair, ``cross = |Xc^T Yc|_F^2 = <Kc, Lc>`` (Kc = Xc Xc^T), and for the unbiased
and Lange estimators ``kl = sum_r K_rr L_rr`` and the traces; per representation the self-HSIC. The
engine gets them either

* in feature space, as centred cross-moments accumulated over chunks of rows
  (:mod:`reprlab.stream.moments`): one GEMM ``Z_i^T [Z_i+1 ... Z_L]`` per layer and chunk, so each
  unordered pair's d_i x d_j product is computed exactly once (the GEMM lower bound); this is also the
  streaming path over stores larger than memory; or
* in sample space, when the stimuli are fewer than the features make worthwhile: each centred Gram
  matrix ``K_i = Xc_i Xc_i^T`` once (in chunks of rows), and all ``<K_i, L_j>`` as one product of the
  stacked, flattened Grams.

The choice is by operation count. The HSIC estimator formulas are those of
:mod:`reprlab.measures.cka.core` (equal to rounding to the per-pair ``rl.compare``).
"""

from __future__ import annotations

from typing import Any

import torch

from ..._linalg import add_matmul_, matmul
from ...errors import ReprlabError
from ...stream.moments import Options, PairStats, StreamSpec
from .core import check_stimuli, cka_from_hsic, hsic_from_moments


def _check_self(h: torch.Tensor, label: str, estimator: str) -> None:
    if not float(h) > 0.0:
        raise ReprlabError(
            f"HSIC(K, K) under the {estimator} estimator is {float(h):.3g} <= 0 for {label}, so CKA is undefined "
            "(zero variance across stimuli: constant or dead units; or, for the unbiased estimator, too few "
            "or degenerate stimuli). Drop it from the comparison or use estimator='biased'."
        )


def hsic_of_stats(st: PairStats, estimator: str) -> torch.Tensor:
    """Linear-kernel HSIC of a pair from its accumulated centred cross-moments (``row_norms`` needed
    unless ``estimator="biased"``)."""
    cross = (st.cross * st.cross).sum()
    return hsic_from_moments(cross, st.kl, st.trace_x, st.trace_y, st.n, estimator)


def stream_spec(params: dict[str, Any]) -> StreamSpec | None:
    """Linear CKA (every estimator) from accumulated cross-moments; None for other kernels."""
    if params["kernel"] != "linear":
        return None
    est, eps, angular = params["estimator"], params["eps"], params["angular"]

    def hsic(st: PairStats) -> torch.Tensor:
        return hsic_of_stats(st, est)

    def rep(st: PairStats) -> torch.Tensor:
        check_stimuli(st.n, est)
        h = hsic(st)
        _check_self(h, st.label_x, est)
        return h

    def pair(st: PairStats, hx: torch.Tensor, hy: torch.Tensor) -> torch.Tensor:
        return cka_from_hsic(hsic(st), hx, hy, eps, angular)

    return StreamSpec(rep, pair, row_norms=est != "biased")


def _feature_flops(n: int, wa: list[int], wb: list[int] | None) -> float:
    if wb is None:
        s = sum(wa)
        return n * (s * s + sum(w * w for w in wa))  # 2 n sum_{i<=j} d_i d_j
    return 2.0 * n * (sum(wa) * sum(wb) + sum(w * w for w in wa) + sum(w * w for w in wb))


def _sample_flops(n: int, wa: list[int], wb: list[int] | None) -> float:
    reps = len(wa) + len(wb or [])
    pairs = len(wa) * (len(wa) + 1) / 2 if wb is None else len(wa) * len(wb) + reps
    return 2.0 * n * n * (sum(wa) + sum(wb or [])) + 2.0 * n * n * pairs


def all_pairs(
    A: list[torch.Tensor], B: list[torch.Tensor] | None, params: dict[str, Any], opts: Options
) -> torch.Tensor | None:
    """All-pairs linear CKA in sample space when that is cheaper; None to use the feature-space path."""
    if params["kernel"] != "linear":
        return None
    n = A[0].shape[0]
    wa, wb = [x.shape[1] for x in A], None if B is None else [x.shape[1] for x in B]
    if _sample_flops(n, wa, wb) >= _feature_flops(n, wa, wb):
        return None
    est = params["estimator"]
    check_stimuli(n, est)
    reps = A if B is None else [*A, *B]
    Xc = [x - x.mean(0, dtype=opts.acc).to(opts.dtype) for x in reps]
    diag = torch.stack([(x * x).sum(1, dtype=opts.acc) for x in Xc], 1)  # (n, R): diagonals of the Grams
    r, item = len(reps), torch.empty((), dtype=opts.dtype).element_size()
    rows = opts.chunk_rows or max(1, min(n, opts.budget // (r * n * item)))
    G = torch.zeros((r, r), dtype=opts.acc, device=opts.device)
    for a in range(0, n, rows):
        F = torch.stack([matmul(x[a : a + rows], x.T).reshape(-1) for x in Xc])  # rows of every Gram, flattened
        add_matmul_(G, F, F.T)
    kl = diag.T @ diag
    tr = diag.sum(0)
    selfs = hsic_from_moments(torch.diagonal(G), torch.diagonal(kl), tr, tr, n, est)
    for h, lab in zip(selfs, opts.labels):
        _check_self(h, lab, est)
    H = hsic_from_moments(G, kl, tr[:, None], tr[None, :], n, est)
    V = cka_from_hsic(H, selfs[:, None], selfs[None, :], params["eps"], params["angular"])
    return V if B is None else V[: len(A), len(A) :]
