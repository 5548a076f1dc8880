"""RDM inputs and RDM-vector comparisons for the statistics (noise ceilings, human targets).

RDMs arrive as ``reprlab.RDM`` objects (anything with a ``.condensed`` attribute), square symmetric
arrays ``(n, n)``, or condensed vectors (upper triangle ``i < j``, row-major, as ``scipy``'s
``squareform``). Comparisons of two dissimilarity vectors are the RSA family's comparators
(:mod:`reprlab.measures.rsa.comparators`): one RSA in the library.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..errors import ReprlabError
from ..measures.rsa import comparators


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


def compare_vectors(a: np.ndarray, b: np.ndarray, method: str) -> float:
    """Compare two condensed RDMs with ``method`` (:func:`reprlab.compare_rdms`)."""
    return float(comparators.compare_rdms(a, b, method=method))


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
