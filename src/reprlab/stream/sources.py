"""Representations as row sources: in-memory tensors or lazily read stores, read in chunks of rows.

A *store value* is anything with a 2-D ``shape`` and row slicing ``arr[i:j]`` that is not already in
memory: a zarr array, an ``np.memmap``, an ``h5py`` dataset, the layers of an ``rl.Activations`` store.
Such values are read chunk by chunk (and checked chunk by chunk) by the streaming path; NumPy arrays,
torch tensors and nested lists are checked and converted once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor
from ..errors import ReprlabError, ReprlabTypeError


def named(reps: Any, arg: str) -> tuple[list[str], list[Any]]:
    """Names and values of a mapping (or ``rl.Activations`` store) or a sequence of representations."""
    if isinstance(reps, Mapping):
        keys = list(reps.keys())
        return [str(k) for k in keys], [reps[k] for k in keys]
    if isinstance(reps, Sequence) and not isinstance(reps, (str, bytes)):
        items = list(reps)
        return [str(i) for i in range(len(items))], items
    raise ReprlabTypeError(
        f"`{arg}` must be a mapping of name -> array (e.g. layer name -> activations), an "
        f"reprlab.Activations store, or a list of arrays; got {type(reps).__name__}."
    )


def named_sets(A: Any, B: Any | None) -> tuple[list[str], list[str], list[Any], list[str]]:
    """The representations of ``A`` and (unless None) ``B``: row names, column names (``A``'s when
    ``B`` is None), the values (``A``'s, then ``B``'s) and their labels for messages (``A['name']``)."""
    rows, va = named(A, "A")
    cols, vb = (rows, []) if B is None else named(B, "B")
    if not rows or not cols:
        raise ReprlabError("`A` and `B` must each hold at least one representation (both were given empty or one was).")
    labels = [f"A[{r!r}]" for r in rows] + ([] if B is None else [f"B[{c!r}]" for c in cols])
    return rows, cols, [*va, *vb], labels


def is_lazy(x: Any) -> bool:
    """True for store values read in chunks (zarr arrays, memmaps, ...), False for in-memory arrays."""
    if isinstance(x, np.memmap):
        return True
    if isinstance(x, (np.ndarray, torch.Tensor, list, tuple)):
        return False
    return hasattr(x, "shape") and hasattr(x, "__getitem__")


@dataclass
class Source:
    """One representation: its label for messages, shape, and the data (a tensor or a lazy store)."""

    label: str
    data: Any
    n: int
    d: int
    lazy: bool

    def read(self, a: int, b: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Rows ``a:b`` as a checked tensor of ``dtype`` on ``device``."""
        if not self.lazy:
            return self.data[a:b]
        return as_tensor(self.data[a:b], f"{self.label} rows {a}:{b}", dtype=dtype, device=device)


def make_source(
    x: Any, label: str, dtype: torch.dtype, device: torch.device, load: bool, rescale: bool = False
) -> Source:
    """Wrap ``x``; a store value is kept lazy unless ``load`` (then read and checked whole; ``rescale``:
    see :func:`reprlab._validation.as_tensor`)."""
    if is_lazy(x) and not load:
        shape = tuple(x.shape)
        if len(shape) != 2:
            raise ReprlabError(f"`{label}` must be 2-D (n_stimuli, n_features); got shape {shape}.")
        kind = np.dtype(getattr(x, "dtype", np.float64))
        if not (np.issubdtype(kind, np.number) or kind == np.bool_) or np.issubdtype(kind, np.complexfloating):
            raise ReprlabTypeError(f"`{label}` must hold real numbers; got dtype {kind}.")
        if shape[1] == 0:
            raise ReprlabError(f"`{label}` has no features (shape {shape}).")
        return Source(label, x, shape[0], shape[1], True)
    data = np.asarray(x[:]) if is_lazy(x) else x
    t = as_tensor(data, label, dtype=dtype, device=device, rescale=rescale)
    return Source(label, t, t.shape[0], t.shape[1], False)


def check_rows(sources: list[Source]) -> int:
    """The common number of rows, or an error naming two representations that differ."""
    n = sources[0].n
    for s in sources[1:]:
        if s.n != n:
            raise ReprlabError(
                f"All representations must have the same rows (stimuli) in the same order; "
                f"{sources[0].label} has {n} rows and {s.label} has {s.n}."
            )
    return n
