"""RDMs (:func:`rdm`, :class:`RDM`): the dissimilarities of conditions, the first stage of RSA
(see :mod:`reprlab.measures.rsa` for the methods, formulas and references)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..._validation import as_tensor, check_labels, resolve_device, resolve_dtype
from ...errors import ReprlabError, ReprlabTypeError, close_matches

RDM_METHODS = (
    "correlation",
    "euclidean",
    "sqeuclidean",
    "cosine",
    "mahalanobis",
    "crossnobis",
    "poisson",
    "poisson_cv",
)


def _n_from_length(m: int, name: str) -> int:
    n = round((1 + math.sqrt(1 + 8 * m)) / 2)
    if n * (n - 1) // 2 != m:
        raise ReprlabError(
            f"`{name}` has {m} entries, which is not n(n-1)/2 for any number of conditions n; a condensed RDM "
            "holds the upper triangle (i < j) of an n x n matrix. Pass the square matrix via reprlab.RDM(square)."
        )
    return n


@functools.lru_cache(maxsize=8)
def _triu_flat(n: int, device: torch.device) -> torch.Tensor:
    """Flat indices ``i * n + j`` of the upper triangle (i < j), row-major."""
    iu = torch.triu_indices(n, n, offset=1, device=device)
    return iu[0] * n + iu[1]


def _squareform(v: torch.Tensor, n: int) -> torch.Tensor:
    S = torch.zeros(n * n, dtype=v.dtype, device=v.device)
    S[_triu_flat(n, v.device)] = v
    S = S.reshape(n, n)
    return S + S.T


def _condensed(S: torch.Tensor) -> torch.Tensor:
    return S.reshape(-1)[_triu_flat(S.shape[0], S.device)]


class RDM:
    """A representational dissimilarity matrix over ``n_conditions`` conditions.

    Parameters
    ----------
    dissimilarities : array of shape (n_pairs,) or (n, n)
        The condensed vector (upper triangle, i < j, row-major, as ``scipy.spatial.distance.squareform``)
        or the square matrix (symmetric, zero diagonal).
    method : str, optional
        How the dissimilarities were computed (e.g. ``"correlation"``).
    labels : sequence, optional
        The condition of each row / column, in order (default ``0 .. n-1``).

    Attributes
    ----------
    condensed : ndarray (n_pairs,);  square : ndarray (n, n);  n_conditions : int;  method : str | None;
    labels : ndarray (n,);  tensor : the condensed vector as a torch tensor (the compute dtype/device).
    """

    def __init__(self, dissimilarities: Any, *, method: str | None = None, labels: Any = None) -> None:
        if isinstance(dissimilarities, RDM):
            dissimilarities = dissimilarities.tensor
        nd = dissimilarities.ndim if isinstance(dissimilarities, torch.Tensor) else np.ndim(dissimilarities)
        if nd not in (1, 2):
            raise ReprlabError(f"An RDM is a condensed vector or an n x n matrix; got {nd}-D input.")
        dt = dissimilarities.dtype if isinstance(dissimilarities, torch.Tensor) else None
        dt = dt if dt is not None and dt.is_floating_point else None
        t = as_tensor(dissimilarities, "dissimilarities", ndim=nd, dtype=dt, allow_nonfinite=True)
        if t.ndim == 2:
            if t.shape[0] != t.shape[1]:
                raise ReprlabError(
                    f"A square RDM must be n x n; got shape {tuple(t.shape)}. Pass a condensed vector "
                    "(upper triangle, i < j) for a single RDM."
                )
            if not torch.equal(t, t.T) or bool((torch.diagonal(t) != 0).any()):
                raise ReprlabError(
                    "A square RDM must be symmetric with a zero diagonal; this one is not. "
                    "Symmetrise it ((D + D.T) / 2, zero diagonal) or pass its condensed upper triangle."
                )
            n = t.shape[0]
            t = _condensed(t)
        else:
            n = _n_from_length(t.numel(), "dissimilarities")
        if n < 2:
            raise ReprlabError("An RDM needs at least 2 conditions.")
        if bool(torch.isnan(t).any()):
            raise ReprlabError("The RDM contains NaN dissimilarities; remove the affected conditions first.")
        self.tensor = t
        self.n_conditions = n
        self.method = method
        self.labels = np.arange(n) if labels is None else check_labels(labels, n, "labels")

    @classmethod
    def _from_condensed(cls, v: torch.Tensor, n: int, method: str | None, labels: Any) -> RDM:
        """An RDM from a checked condensed tensor (internal: no copies, no re-validation)."""
        self = cls.__new__(cls)
        self.tensor, self.n_conditions, self.method = v, n, method
        self.labels = np.arange(n) if labels is None else np.asarray(labels)
        return self

    @property
    def condensed(self) -> np.ndarray:
        return self.tensor.detach().cpu().numpy().astype(np.float64, copy=True)

    @property
    def square(self) -> np.ndarray:
        return _squareform(self.tensor.detach(), self.n_conditions).cpu().numpy().astype(np.float64)

    def __len__(self) -> int:
        return self.n_conditions

    def __repr__(self) -> str:
        return f"RDM(n_conditions={self.n_conditions}, method={self.method!r})"


def _group_rows(X: torch.Tensor, codes: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the rows of each group ``0 .. k-1``."""
    sums = torch.zeros((k, X.shape[1]), dtype=X.dtype, device=X.device).index_add_(0, codes, X)
    counts = torch.bincount(codes, minlength=k).to(X.dtype)
    return sums / counts[:, None]


def _squared_form(A: torch.Tensor, B: torch.Tensor, P: torch.Tensor | None) -> torch.Tensor:
    """Condensed ``(a_i - a_j) P (b_i - b_j)^T`` from the kernel ``K = A P B^T`` (symmetrised)."""
    K = A @ B.T if P is None else A @ P @ B.T
    dg = torch.diagonal(K)
    S = dg[None, :] + dg[:, None] - K - K.T
    return _condensed(S)


def _check_noise(noise: Any, d: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    P = as_tensor(noise, "noise", ndim=2, dtype=dtype, device=device)
    if P.shape != (d, d):
        raise ReprlabError(
            f"`noise` must be the ({d}, {d}) noise precision matrix of the {d} channels; got shape {tuple(P.shape)}."
        )
    if not torch.allclose(P, P.T, rtol=1e-8, atol=1e-10 * float(P.abs().max())):
        raise ReprlabError("`noise` (a precision matrix) must be symmetric.")
    return P


def _conditions(X: torch.Tensor, conditions: Any) -> tuple[np.ndarray, torch.Tensor]:
    """Sorted unique labels and each row's code (rsatoolbox orders RDM rows by sorted labels)."""
    if conditions is None:
        n = X.shape[0]
        return np.arange(n), torch.arange(n, device=X.device)
    labels = check_labels(conditions, X.shape[0], "conditions")
    uniq, codes = np.unique(labels, return_inverse=True)
    return uniq, torch.as_tensor(codes.reshape(-1), device=X.device)


def _rdm_core(
    X: torch.Tensor,
    method: str,
    conditions: Any = None,
    runs: Any = None,
    noise: Any = None,
    normalize: bool = False,
    remove_mean: bool = False,
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
    cv_average: bool = True,
) -> tuple[torch.Tensor, np.ndarray]:
    """The condensed RDM of a checked tensor and the condition order."""
    if method not in RDM_METHODS:
        raise ReprlabError(
            f"Unknown RDM method {method!r}; use one of {', '.join(RDM_METHODS)}." + close_matches(method, RDM_METHODS)
        )
    d = X.shape[1]
    labels, codes = _conditions(X, conditions)
    k = len(labels)
    if k < 2:
        raise ReprlabError(f"An RDM needs at least 2 conditions; got {k}.")
    cv = method in ("crossnobis", "poisson_cv")
    if runs is not None and not cv:
        raise ReprlabError(
            f"`runs` is used only by the cross-validated methods (crossnobis, poisson_cv), not {method!r}."
        )
    if noise is not None and method not in ("mahalanobis", "crossnobis"):
        raise ReprlabError(f"`noise` (a precision matrix) is used only by mahalanobis and crossnobis, not {method!r}.")
    P = None if noise is None else _check_noise(noise, d, X.dtype, X.device)
    if method == "mahalanobis" and P is None:
        raise ReprlabError(
            "method='mahalanobis' needs `noise`, the noise precision matrix (channels x channels), e.g. the "
            "inverse of a shrinkage covariance of the residuals. Without noise it is method='sqeuclidean'."
        )
    if method in ("poisson", "poisson_cv") and bool((X < 0).any()):
        raise ReprlabError(f"method={method!r} needs non-negative counts; `X` has negative entries.")
    scale = 1.0 / d if (normalize or method in ("mahalanobis", "crossnobis", "poisson", "poisson_cv")) else 1.0

    if cv:
        if conditions is None or runs is None:
            raise ReprlabError(
                f"method={method!r} is cross-validated across runs: pass `conditions` (the condition of each row) "
                "and `runs` (the run / partition of each row), with every condition measured in at least 2 runs."
            )
        run_labels = check_labels(runs, X.shape[0], "runs")
        folds = np.unique(run_labels)
        if len(folds) < 2:
            raise ReprlabError(f"method={method!r} needs at least 2 distinct runs; `runs` has {len(folds)}.")
        codes_np = codes.cpu().numpy()
        rdms = []
        for f in folds:
            test = run_labels == f
            for part, name in ((test, f"run {f.item()!r}"), (~test, f"the runs other than {f.item()!r}")):
                missing = np.setdiff1d(np.arange(k), codes_np[part])
                if missing.size:
                    raise ReprlabError(
                        f"Condition {labels[missing[0]].item()!r} has no rows in {name}; cross-validation across runs "
                        "needs every condition in every run (drop the condition or the run)."
                    )
            ti = torch.as_tensor(np.nonzero(test)[0], device=X.device)
            tr = torch.as_tensor(np.nonzero(~test)[0], device=X.device)
            A = _group_rows(X[tr], codes[tr], k)
            B = _group_rows(X[ti], codes[ti], k)
            if method == "crossnobis":
                if remove_mean:
                    A = A - A.mean(1, keepdim=True)
                    B = B - B.mean(1, keepdim=True)
                rdms.append(_squared_form(A, B, P))
            else:
                A = (A + prior_lambda * prior_weight) / (1 + prior_weight)
                B = (B + prior_lambda * prior_weight) / (1 + prior_weight)
                rdms.append(_squared_form(A, torch.log(B), None))
        v = torch.stack(rdms).mean(0) if cv_average else rdms[-1]
        return v * scale, labels

    U = _group_rows(X, codes, k) if conditions is not None else X
    if remove_mean or method == "correlation":
        U = U - U.mean(1, keepdim=True)
    if method in ("correlation", "cosine"):
        norms = torch.linalg.vector_norm(U, dim=1)
        if bool((norms == 0).any()):
            bad = labels[int(torch.nonzero(norms == 0)[0])].item()
            what = "constant across features" if method == "correlation" else "all zero"
            raise ReprlabError(
                f"The pattern of condition {bad!r} is {what} (zero norm), so its {method} distance is undefined. "
                "Drop it or use method='euclidean'."
            )
        Un = U / norms[:, None]
        v = (1.0 - _condensed(Un @ Un.T)).clamp_min(0.0)
        return v, labels
    if method == "poisson":
        R = (U + prior_lambda * prior_weight) / (1 + prior_weight)
        return _squared_form(R, torch.log(R), None) * scale, labels
    if method == "mahalanobis":
        return _squared_form(U, U, P).clamp_min(0.0) * scale, labels
    # euclidean / sqeuclidean from the centred Gram matrix (translation-free, exact zero diagonal)
    Uc = U - U.mean(0, keepdim=True)
    v = _squared_form(Uc, Uc, None).clamp_min(0.0) * scale
    return (v.sqrt() if method == "euclidean" else v), labels


def rdm(
    X: Any,
    method: str = "correlation",
    *,
    conditions: Any = None,
    runs: Any = None,
    noise: Any = None,
    normalize: bool = False,
    remove_mean: bool = False,
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
    cv_average: bool = True,
    dtype: Any = None,
    device: Any = None,
) -> RDM:
    """The representational dissimilarity matrix of ``X`` (n_observations, n_channels).

    Parameters
    ----------
    X : array (n_observations, n_channels)
    method : {"correlation", "euclidean", "sqeuclidean", "cosine", "mahalanobis", "crossnobis", "poisson",
        "poisson_cv"}
        See the module docstring for each formula.
    conditions : sequence, optional
        The condition label of each row. Rows of one condition are averaged; the RDM's conditions follow
        the sorted labels (``RDM.labels``), as rsatoolbox. Default: each row is its own condition.
    runs : sequence, optional
        The run (partition) of each row: crossnobis and poisson_cv cross-validate leave-one-run-out.
    noise : array (n_channels, n_channels), optional
        The noise PRECISION matrix (inverse covariance) for mahalanobis (required) and crossnobis
        (default identity), as rsatoolbox's ``noise``.
    normalize : bool
        Divide squared distances by n_channels (rsatoolbox's convention: its ``'euclidean'`` is
        ``method="sqeuclidean", normalize=True``). mahalanobis, crossnobis and poisson are always
        divided by n_channels, as in rsatoolbox.
    remove_mean : bool
        Subtract each pattern's mean over channels first (rsatoolbox ``remove_mean``).
    prior_lambda, prior_weight : float
        Poisson rate prior: ``rate = (mean count + prior_lambda prior_weight) / (1 + prior_weight)``.
    cv_average : bool
        poisson_cv: average the per-fold RDMs (default). ``False`` returns only the last fold's RDM,
        reproducing rsatoolbox 0.3.2's ``calc_rdm_poisson_cv`` (which overwrites the RDM in its fold loop).

    Returns
    -------
    RDM
    """
    Xt = as_tensor(X, "X", ndim=2, dtype=dtype, device=device)
    v, labels = _rdm_core(
        Xt, method, conditions, runs, noise, normalize, remove_mean, prior_lambda, prior_weight, cv_average
    )
    return RDM._from_condensed(v, len(labels), method, labels)


def _as_stack(D: Any, name: str, dtype: Any = None, device: Any = None) -> tuple[torch.Tensor, int, bool]:
    """(k, n_pairs) tensor, number of conditions, and whether a single RDM was given.

    Accepts an RDM, a sequence of RDMs, a condensed vector, a (k, n_pairs) stack, or one square
    (symmetric, zero-diagonal) matrix.
    """
    if isinstance(D, RDM):
        dev = D.tensor.device if device is None else resolve_device(device)
        return D.tensor.to(dtype=resolve_dtype(dtype), device=dev)[None], D.n_conditions, True
    if isinstance(D, Sequence) and D and all(isinstance(r, RDM) for r in D):
        ns = {r.n_conditions for r in D}
        if len(ns) > 1:
            raise ReprlabError(f"`{name}` holds RDMs of different sizes ({sorted(ns)} conditions).")
        return torch.stack([_as_stack(r, name, dtype, device)[0][0] for r in D]), ns.pop(), False
    if not (isinstance(D, (torch.Tensor, np.ndarray, list, tuple))):
        raise ReprlabTypeError(
            f"`{name}` must be an RDM, a condensed dissimilarity vector or a (k, n_pairs) stack; "
            f"got {type(D).__name__}."
        )
    nd = np.ndim(D) if not isinstance(D, torch.Tensor) else D.ndim
    if nd not in (1, 2):
        raise ReprlabError(f"`{name}` must be a condensed vector (1-D) or a stack (k, n_pairs); got {nd}-D input.")
    t = as_tensor(D, name, ndim=nd, dtype=dtype, device=device, allow_nonfinite=True)
    if bool(torch.isnan(t).any()):
        raise ReprlabError(f"`{name}` contains NaN dissimilarities; remove the affected conditions first.")
    if (
        nd == 2
        and t.shape[0] == t.shape[1]
        and t.shape[0] > 1
        and torch.equal(t, t.T)
        and not bool(torch.diagonal(t).any())
    ):
        return _condensed(t)[None], t.shape[0], True  # one square RDM
    V = t[None] if nd == 1 else t
    return V, _n_from_length(V.shape[1], name), nd == 1
