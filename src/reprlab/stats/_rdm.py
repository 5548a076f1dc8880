"""RDM inputs and RDM-vector comparisons for the statistics (noise ceilings, human targets).

RDMs arrive as ``reprlab.RDM`` objects (anything with a ``.condensed`` attribute), square symmetric
arrays ``(n, n)``, or condensed vectors (upper triangle ``i < j``, row-major, as ``scipy``'s
``squareform``). Comparisons of two dissimilarity vectors go through the RSA family
(``reprlab.compare_rdms``) when it is installed; until then a local implementation of the four
comparators the noise ceiling needs (``spearman``, ``rho_a``, ``pearson``, ``cosine``, following
rsatoolbox 0.3's definitions) is used. The two agree on the rsatoolbox reference values.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..errors import ReprlabError

LOCAL_METHODS = ("spearman", "rho_a", "pearson", "cosine")


def n_from_condensed(length: int, name: str) -> int:
    """The number of stimuli of a condensed RDM of ``length`` entries, or raise."""
    n = round((1 + math.sqrt(1 + 8 * length)) / 2)
    if n * (n - 1) // 2 != length or length < 1:
        raise ReprlabError(
            f"`{name}` has {length} entries, which is not n(n-1)/2 for any number of stimuli n; give a condensed "
            "RDM (upper triangle i < j, row-major, as scipy.spatial.distance.squareform) or a square (n, n) RDM."
        )
    return n


def rdm_vector(rdm: Any, name: str) -> np.ndarray:
    """One RDM as a condensed float64 vector (see module docstring for the accepted forms)."""
    if hasattr(rdm, "condensed"):
        v = np.asarray(rdm.condensed, dtype=float)
    else:
        try:
            arr = np.asarray(rdm.detach().cpu() if hasattr(rdm, "detach") else rdm, dtype=float)
        except (TypeError, ValueError) as err:
            raise ReprlabError(f"`{name}` must be an RDM, a square (n, n) array or a condensed vector: {err}") from None
        if arr.ndim == 2:
            if arr.shape[0] != arr.shape[1]:
                raise ReprlabError(
                    f"`{name}` must be a square (n, n) RDM or a condensed vector; got shape {arr.shape}."
                )
            if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12, equal_nan=True):
                raise ReprlabError(f"`{name}` is a square matrix but not symmetric; an RDM must be symmetric.")
            iu = np.triu_indices(arr.shape[0], 1)
            v = arr[iu]
        elif arr.ndim == 1:
            v = arr
        else:
            raise ReprlabError(f"`{name}` must be one RDM (square or condensed); got an array of shape {arr.shape}.")
    n_from_condensed(v.shape[0], name)
    if not np.all(np.isfinite(v)):
        raise ReprlabError(f"`{name}` contains NaN or Inf dissimilarities; remove the affected stimuli first.")
    return v


def rdm_stack(rdms: Any, name: str) -> np.ndarray:
    """Several RDMs (one per subject) as a ``(k, n_pairs)`` array, all over the same stimuli."""
    if hasattr(rdms, "condensed"):
        stack = np.atleast_2d(np.asarray(rdms.condensed, dtype=float))
        vecs = list(stack)
    elif isinstance(rdms, np.ndarray) or hasattr(rdms, "detach"):
        arr = np.asarray(rdms.detach().cpu() if hasattr(rdms, "detach") else rdms, dtype=float)
        if arr.ndim == 2:
            vecs = list(arr)  # (k, n_pairs): condensed RDMs, one per row
        elif arr.ndim == 3:
            vecs = list(arr)  # (k, n, n): square RDMs
        else:
            raise ReprlabError(
                f"`{name}` must be (n_subjects, n_pairs) condensed RDMs, (n_subjects, n, n) square RDMs or a list "
                f"of RDMs; got an array of shape {arr.shape}."
            )
    else:
        vecs = list(rdms)
    out = [rdm_vector(v, f"{name}[{i}]") for i, v in enumerate(vecs)]
    sizes = [n_from_condensed(len(v), f"{name}[{i}]") for i, v in enumerate(out)]
    if len(set(sizes)) > 1:
        j = next(i for i, s in enumerate(sizes) if s != sizes[0])
        raise ReprlabError(
            f"The RDMs in `{name}` are over different stimulus sets: {name}[0] covers {sizes[0]} stimuli and "
            f"{name}[{j}] {sizes[j]}. Every subject's RDM must cover the same stimuli in the same order; "
            "restrict them to the shared stimuli first."
        )
    return np.stack(out)


def _rsa():
    """The RSA family module, or None while it is not installed."""
    try:
        return importlib.import_module("reprlab.measures.rsa")
    except ModuleNotFoundError as err:
        if err.name != "reprlab.measures.rsa":
            raise
        return None


def _local_compare(a: np.ndarray, b: np.ndarray, method: str) -> float:
    if method == "cosine":
        return float(a @ b / math.sqrt((a @ a) * (b @ b)))
    if method == "rho_a":  # rsatoolbox compare_rho_a: no tie correction in the denominator
        ra, rb = rankdata(a), rankdata(b)
        m = a.shape[0]
        return float(12.0 * ((ra - ra.mean()) @ (rb - rb.mean())) / (m**3 - m))
    if method == "spearman":
        a, b = rankdata(a), rankdata(b)
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / math.sqrt((a @ a) * (b @ b)))


def compare_vectors(a: np.ndarray, b: np.ndarray, method: str) -> float:
    """Compare two condensed RDMs with ``method`` (``reprlab.compare_rdms`` when available)."""
    rsa = _rsa()
    if rsa is not None:
        return float(rsa.compare_rdms(a, b, method=method))
    if method not in LOCAL_METHODS:
        raise ReprlabError(
            f"RDM comparison {method!r} needs the RSA measures (reprlab.measures.rsa), which are not installed; "
            f"available here: {', '.join(LOCAL_METHODS)}."
        )
    return _local_compare(a, b, method)


def pool(vectors: np.ndarray, method: str) -> np.ndarray:
    """The pooled (average) RDM that is optimal for ``method`` (rsatoolbox ``pool_rdm``'s rules)."""
    if method == "cosine":
        v = vectors / np.sqrt((vectors**2).mean(1, keepdims=True))
    elif method == "pearson":
        v = vectors - vectors.mean(1, keepdims=True)
        v = v / v.std(1, keepdims=True)
    elif method in ("spearman", "rho_a", "kendall_tau_a", "kendall_tau_b"):
        v = np.apply_along_axis(rankdata, 1, vectors)
    else:
        raise ReprlabError(
            f"No pooling rule for the RDM comparison {method!r}; the noise ceiling supports "
            "spearman, rho_a, pearson, cosine, kendall_tau_a and kendall_tau_b."
        )
    return v.mean(0)
