"""Rows matched by stimulus id, at the public boundary, before any measure runs.

Inputs that know which stimulus each row is (an ``rl.Activations`` store, an ``rl.stimuli`` set, an
``RDM`` with string labels, a pandas object with a non-default index) are put in one common order by
id: two stores of the same stimuli extracted in different orders compare as if their rows were
aligned. Different id sets are refused, naming the ids missing on each side, unless the caller asks
for the intersection (``intersect=True``), whose size is then reported. Inputs without ids keep the
plain rule: the same rows in the same order (checked later by shape).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ReprlabError


def ids_of(x: Any) -> list[str] | None:
    """The stimulus ids ``x`` carries, in row order, or None when it carries none."""
    from .measures.rsa import RDM
    from .store.activations import Activations

    if isinstance(x, Activations):
        return list(x.ids)
    if isinstance(x, RDM):
        labels = np.asarray(x.labels)
        return [str(v) for v in labels] if labels.dtype.kind in "UO" else None
    if type(x).__name__ == "Stimuli" and hasattr(x, "ids"):
        return list(x.ids)
    index = getattr(x, "index", None)
    if index is not None and type(x).__module__.startswith("pandas") and type(index).__name__ != "RangeIndex":
        return [str(v) for v in index]
    return None


def _reorder(x: Any, ids: list[str]) -> Any:
    """``x`` with its rows (conditions) in the order ``ids``."""
    from .measures.rsa import RDM
    from .store.activations import Activations

    if isinstance(x, Activations) or type(x).__name__ == "Stimuli":
        return x.subset(ids)
    if isinstance(x, RDM):
        where = {str(v): i for i, v in enumerate(x.labels)}
        rows = [where[i] for i in ids]
        return RDM(x.square[np.ix_(rows, rows)], method=x.method, labels=np.asarray(ids, dtype=object))
    where = {str(v): i for i, v in enumerate(x.index)}
    return x.iloc[[where[i] for i in ids]]


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:5])
    return f"{len(ids)} id(s): {shown}{', ...' if len(ids) > 5 else ''}"


def match_rows(named: Sequence[tuple[str, Any]], intersect: bool | None = False, stacklevel: int = 3) -> list[Any]:
    """The inputs with their rows matched by stimulus id (unchanged when at most one carries ids).

    ``named``: (argument name, value) pairs. The first input with ids sets the order; the others are
    reordered to it. Different id sets raise, naming what each side lacks, unless ``intersect``: then
    the common ids (in the first input's order) are used and their number reported as a warning.
    ``intersect=None``: the caller has no such option (the message then only suggests a subset).
    """
    if intersect is not None and not isinstance(intersect, bool):
        raise ReprlabError(f"`intersect` must be True or False; got {intersect!r}.")
    carried = [(i, name, ids_of(x)) for i, (name, x) in enumerate(named)]
    carried = [(i, name, ids) for i, name, ids in carried if ids is not None]
    if len(carried) < 2:
        return [x for _, x in named]
    order = carried[0][2]
    common = set(order)
    for _, _, ids in carried[1:]:
        common &= set(ids)
    same = all(set(ids) == set(order) for _, _, ids in carried[1:])
    if not same:
        if not intersect:
            parts = []
            for _, name, ids in carried:
                have = set(ids)
                lacking = list(dict.fromkeys(i for _, _, other in carried for i in other if i not in have))
                if lacking:
                    parts.append(f"`{name}` lacks {_listed(lacking)}")
            raise ReprlabError(
                "The inputs hold different stimuli (matched by stimulus id): "
                + "; ".join(parts)
                + ". Compare the same stimuli (e.g. store.subset(ids))"
                + (", or pass intersect=True to use only the stimuli they share." if intersect is not None else ".")
            )
        order = [i for i in order if i in common]
        if len(order) < 2:
            raise ReprlabError(f"The inputs share {len(order)} stimulus id(s); at least 2 are needed.")
        warnings.warn(
            f"intersect=True: using the {len(order)} stimuli that "
            + ", ".join(f"`{name}`" for _, name, _ in carried)
            + f" share (of {', '.join(str(len(ids)) for _, _, ids in carried)}).",
            UserWarning,
            stacklevel=stacklevel,
        )
    out = [x for _, x in named]
    for i, _, ids in carried:
        if ids != order:
            out[i] = _reorder(out[i], order)
    return out
