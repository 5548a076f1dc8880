"""The top-level entry points: :func:`compare` and :func:`describe`."""

from __future__ import annotations

from typing import Any

from . import _registry
from .errors import ReprlabError


def compare(X: Any, Y: Any, measure: str = "cka", /, *, dtype: Any = None, device: Any = None, **params: Any) -> Any:
    """Compare two representations with one measure.

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
        The same stimuli in the same row order; NumPy arrays or torch tensors.
    measure : str
        A measure name (``"cka"``) or spec string (``"cka(kernel=rbf, sigma=0.8)"``); see
        ``reprlab.measures.available()``.
    dtype, device
        Compute dtype (float64 by default) and torch device (CPU by default).
    **params
        The measure's parameters; they may also be written in the spec string, not both differently.

    Examples
    --------
    >>> import numpy as np, reprlab as rl
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(rl.compare(X, 2 * X + 1, "cka"), 12)
    1.0
    """
    m, p = _registry.resolve(measure, params)
    if m.info.kind != "compare":
        raise ReprlabError(f"{m.info.name!r} describes one representation; use reprlab.describe(X, {m.info.name!r}).")
    return _registry.run(m, (X, Y), p, dtype, device)


def describe(X: Any, name: str, /, *, dtype: Any = None, device: Any = None, **params: Any) -> Any:
    """Describe one representation ``X`` (n_stimuli, n_features) with the measure ``name``.

    ``name`` is a describe measure or spec string (``reprlab.measures.available(kind="describe")``).
    """
    m, p = _registry.resolve(name, params)
    if m.info.kind != "describe":
        raise ReprlabError(f"{m.info.name!r} compares two representations; use reprlab.compare(X, Y, {m.info.name!r}).")
    return _registry.run(m, (X,), p, dtype, device)
