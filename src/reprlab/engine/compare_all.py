"""``compare_all``: one measure over every pair of two sets of representations.

Each representation is checked and prepared once (centring, Gram matrices, ranks, whitening, ...:
whatever the measure's ``prepare`` does), then the measure's core runs on every pair. For a symmetric
measure within one set, each unordered pair is computed once and mirrored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import __version__, _registry
from ..errors import ReprlabError, ReprlabTypeError
from .results import ComparisonResult


def _named(reps: Any, arg: str) -> tuple[list[str], Any]:
    """Names and a name -> array accessor for a mapping or a sequence of representations."""
    if isinstance(reps, Mapping):
        names = [str(k) for k in reps.keys()]
        lookup = {str(k): k for k in reps.keys()}
        return names, lambda name: reps[lookup[name]]
    if isinstance(reps, Sequence) and not isinstance(reps, (str, bytes)):
        items = list(reps)
        return [str(i) for i in range(len(items))], lambda name: items[int(name)]
    raise ReprlabTypeError(
        f"`{arg}` must be a mapping of name -> array (e.g. layer name -> activations), an "
        f"reprlab.Activations store, or a list of arrays; got {type(reps).__name__}."
    )


def compare_all(
    A: Any,
    B: Any = None,
    measure: str = "cka",
    /,
    *,
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> ComparisonResult:
    """Compare every representation of ``A`` with every one of ``B`` (or of ``A`` when ``B`` is None).

    Parameters
    ----------
    A, B : Mapping[str, array] or reprlab.Activations or list of arrays
        Representations of shape (n_stimuli, n_features_i), all with the same stimuli.
    measure : str
        Name or spec string of a compare measure with a scalar value.
    dtype, device, **params
        As for :func:`reprlab.compare`.

    Returns
    -------
    ComparisonResult
        ``values[i, j] = compare(A[rows[i]], B[cols[j]], measure)``.
    """
    m, p = _registry.resolve(measure, params)
    if m.info.kind != "compare":
        raise ReprlabError(f"{m.info.name!r} is a describe measure; use reprlab.describe_all.")
    rows, get_a = _named(A, "A")
    within = B is None
    cols, get_b = (rows, get_a) if within else _named(B, "B")
    if not rows or not cols:
        raise ReprlabError("`A` and `B` must each hold at least one representation.")

    n_rows: dict[int, str] = {}

    def prepared(names: list[str], get: Any, side: str) -> list[Any]:
        out = []
        for name in names:
            t = m.check_input(get(name), f"{side}[{name!r}]", dtype, device)
            n_rows.setdefault(t.shape[0], f"{side}[{name!r}]")
            if len(n_rows) > 1:
                (n1, r1), (n2, r2) = list(n_rows.items())[:2]
                raise ReprlabError(
                    f"All representations must have the same rows (stimuli); {r1} has {n1} rows and {r2} has {n2}."
                )
            out.append(m.prepare_one(t, p))
        return out

    sa = prepared(rows, get_a, "A")
    sb = sa if within else prepared(cols, get_b, "B")
    symmetric = m.info.symmetric_for(p)
    values = np.full((len(rows), len(cols)), np.nan)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if within and symmetric and j < i:
                values[i, j] = values[j, i]
                continue
            v = _registry._to_python(m.core(sa[i], sb[j], **p))
            if not isinstance(v, float):
                raise ReprlabError(
                    f"compare_all needs a measure with a scalar value; {m.info.name!r} returned {type(v).__name__}."
                )
            values[i, j] = v
    meta = {"n_stimuli": next(iter(n_rows)), "library_version": __version__, "dtype": str(dtype or "float64")}
    spec = _registry.format_spec(m.info.name, p)
    return ComparisonResult(values, rows, cols, spec, p, meta)
