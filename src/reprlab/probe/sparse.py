"""k-sparse probes (Gurnee et al. 2023, Finding neurons in a haystack): a sweep over k.

For each k the units are ranked on each fold's training rows only (see
:func:`reprlab.probe.core._rank_units`) and the probe is fitted on the top k; the score as k grows
shows whether a property lives in a few units (a jump at small k) or is spread out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ReprlabError
from .core import ProbeResult, probe


def sparse_sweep(
    X: Any, y: Any, ks: Sequence[int] = (1, 2, 4, 8, 16, 32), kind: str = "logistic", **kwargs: Any
) -> dict[int, ProbeResult]:
    """``rl.probe(X, y, kind, k_sparse=k, **kwargs)`` for each ``k`` in ``ks`` (ks above the width are dropped).

    Permutation p-values are off unless ``n_permutations`` is given (each k would refit them).
    """
    if kind not in ("logistic", "ridge"):
        raise ReprlabError(f"`kind` for a sparse sweep must be 'logistic' or 'ridge'; got {kind!r}.")
    ks = list(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ReprlabError(f"`ks` must be a non-empty list of positive integers; got {ks!r}.")
    kwargs.setdefault("n_permutations", 0)
    width = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
    return {k: probe(X, y, kind, k_sparse=k, **kwargs) for k in sorted(set(ks)) if width is None or k <= width}
