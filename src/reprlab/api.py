"""The top-level entry points: :func:`compare`, :func:`describe` and :func:`describe_all`, and
:class:`DescribeNamespace`, the object behind ``rl.describe``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from . import _registry
from ._validation import to_python
from .errors import ReprlabError


def compare(
    X: Any,
    Y: Any,
    measure: str = "cka",
    /,
    *,
    dtype: Any = None,
    device: Any = None,
    intersect: bool = False,
    **params: Any,
) -> Any:
    """Compare two representations with one measure.

    Parameters
    ----------
    X, Y : arrays of shape (n_stimuli, n_features_x) and (n_stimuli, n_features_y)
        The same stimuli in the same row order; NumPy arrays or torch tensors. Inputs that carry
        stimulus ids (pandas objects with an index, RDMs with string labels) are matched by id first.
    measure : str
        A measure name (``"cka"``) or spec string (``"cka(kernel=rbf, sigma=0.8)"``); see
        ``reprlab.measures.available()``.
    dtype, device
        Compute dtype (float64 by default) and torch device (CPU by default).
    intersect : bool
        When ``X`` and ``Y`` carry different stimulus ids: use the ones they share (reported in a
        warning) instead of raising.
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
    from ._stimulus_ids import match_rows

    X, Y = match_rows([("X", X), ("Y", Y)], intersect)
    return _registry.run(m, (X, Y), p, dtype, device)


def describe(X: Any, name: str, /, *, dtype: Any = None, device: Any = None, **params: Any) -> Any:
    """Describe one representation ``X`` (n_stimuli, n_features) with the measure ``name``.

    ``name`` is a describe measure or spec string (``reprlab.measures.available(kind="describe")``).
    """
    m, p = _registry.resolve(name, params)
    if m.info.kind != "describe":
        raise ReprlabError(f"{m.info.name!r} compares two representations; use reprlab.compare(X, Y, {m.info.name!r}).")
    return _registry.run(m, (X,), p, dtype, device)


class DescribeNamespace:
    """``rl.describe``: call it to run a describe measure by name, or use a measure as a function.

    ``rl.describe(X, "twonn")`` is :func:`describe`; ``rl.describe.participation_ratio(X)`` is the
    registered public function of that measure, read from the package that registers the describe
    measures (:mod:`reprlab.describe`, which lists them in its ``__all__``). A plain object rather than
    a callable module: the package stays an ordinary module, importable by its dotted path.
    """

    def __init__(self, package: ModuleType) -> None:
        self._package = package

    def __call__(self, X: Any, name: str, /, **params: Any) -> Any:
        return describe(X, name, **params)

    def __getattr__(self, name: str) -> Any:
        if name in self._package.__all__:
            return getattr(self._package, name)
        raise AttributeError(
            f"reprlab.describe has no describe measure {name!r}; see reprlab.measures.available(kind='describe')."
        )

    def __dir__(self) -> list[str]:
        return sorted(self._package.__all__)

    def __repr__(self) -> str:
        return "<reprlab.describe: call describe(X, name) or a measure, e.g. reprlab.describe.twonn(X)>"


def _repeated_rows(X: Any) -> int:
    """How many rows of ``X`` (a tensor) repeat an earlier row exactly."""
    import torch

    return X.shape[0] - torch.unique(X, dim=0).shape[0]


def _flatten(spec: str, value: Any, scalars: dict[str, float], details: dict[str, Any]) -> None:
    """Split a describe result into scalar columns and non-scalar details."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if value is None:
        scalars[spec] = float("nan")
    elif isinstance(value, (bool, int, float, np.integer, np.floating)):
        scalars[spec] = float(value)
    elif isinstance(value, dict):
        for key, v in value.items():
            _flatten(f"{spec}.{key}", v, scalars, details)
    else:
        details[spec] = np.asarray(value).tolist() if isinstance(value, np.ndarray) else value


def describe_all(
    acts: Any,
    measures: str | Sequence[str] = ("participation_ratio", "twonn"),
    /,
    *,
    dtype: Any = None,
    device: Any = None,
    **params: Any,
) -> Any:
    """Describe every representation of ``acts`` with one or more describe measures.

    Parameters
    ----------
    acts : Mapping[str, array] or reprlab.Activations or list of arrays
        Representations of shape (n_stimuli_i, n_features_i), e.g. layer name -> activations.
    measures : str or list of str
        Describe measure names or spec strings (``"mle(k=10)"``).
    dtype, device
        Compute dtype (float64 by default) and torch device (CPU by default).
    **params
        Parameters passed to every measure that declares them (e.g. ``labels=y`` for
        ``neural_collapse``, ``nc1``, ``vci``); a parameter no listed measure takes is an error.

    A representation with exactly repeated rows (the same stimulus twice: lee300 holds 7 repeated
    documents) has points at distance 0, where the nearest-neighbour estimators that declare a
    ``duplicates`` parameter (TwoNN, GRIDE) are undefined. Unless that parameter is given, those
    measures then leave the repeats out (``duplicates="drop"``, as scikit-dimension does) and a warning
    says how many rows repeat; ``duplicates="raise"`` refuses instead. ``rl.describe(X, "twonn")`` on one
    representation keeps the measure's own default (refuse, with the count).

    Returns
    -------
    DescribeResult
        ``values[i, j]``: representation ``rows[i]``, value ``cols[j]``. A measure returning a
        dictionary gives one column per scalar entry (``"neural_collapse.nc1"``); non-scalar outputs
        (per-point estimates, unit indices) are in ``details[row][column]``.
    """
    import numpy as np

    from ._version import __version__
    from .results import DescribeResult
    from .stream.sources import named

    specs = [measures] if isinstance(measures, str) else list(measures)
    if not specs:
        raise ReprlabError("`measures` must name at least one describe measure.")
    resolved = []
    used: set[str] = set()
    for spec in specs:
        name = _registry.parse_spec(spec)[0]
        m = _registry.get(name)
        if m.info.kind != "describe":
            raise ReprlabError(f"{name!r} compares two representations; use reprlab.compare_all.")
        mine = {k: v for k, v in params.items() if k in m.info.params}
        used |= set(mine)
        m, p = _registry.resolve(spec, mine)
        fixed = "duplicates" in mine or "duplicates" in _registry.parse_spec(spec)[1]
        resolved.append((_registry.format_spec(m.info.name, p), m, p, "duplicates" in m.info.params and not fixed))
    unused = sorted(set(params) - used)
    if unused:
        raise ReprlabError(
            f"Parameter {unused[0]!r} is not a parameter of any of the measures {', '.join(specs)}; "
            "check its spelling or the measure list."
        )
    rows, reps = named(acts, "acts")
    if not rows:
        raise ReprlabError("`acts` must hold at least one representation.")
    table: list[dict[str, float]] = []
    details: dict[str, dict[str, Any]] = {}
    shapes: dict[str, list[int]] = {}
    for row, rep in zip(rows, reps):
        X = resolved[0][1].check_input(rep, f"acts[{row!r}]", dtype, device)
        shapes[row] = list(X.shape)
        scalars: dict[str, float] = {}
        extra: dict[str, Any] = {}
        repeats = _repeated_rows(X) if any(free for *_, free in resolved) else 0
        if repeats:
            warnings.warn(
                f"acts[{row!r}]: {repeats} of {X.shape[0]} rows repeat an earlier row exactly (the same "
                "stimulus twice?); the nearest-neighbour estimators leave the repeats out "
                "(duplicates='drop'). Pass duplicates='raise' to refuse, or deduplicate the stimuli "
                "(Stimuli.distinct()).",
                stacklevel=2,
            )
        for spec, m, p, free in resolved:
            if free and repeats:
                p = {**p, "duplicates": "drop"}
            value = to_python(m.core(m.prepare_one(X, p), **p))
            _flatten(spec, value, scalars, extra)
        table.append(scalars)
        if extra:
            details[row] = extra
    cols: list[str] = []
    for scalars in table:
        cols += [c for c in scalars if c not in cols]
    values = np.array([[s.get(c, np.nan) for c in cols] for s in table], dtype=np.float64).reshape(len(rows), -1)
    meta = {"shapes": shapes, "library_version": __version__, "dtype": str(dtype or "float64")}
    shown = {k: v for k, v in params.items() if not isinstance(v, (list, tuple)) and np.ndim(v) == 0}
    return DescribeResult(
        values, rows, cols, "describe_all: " + ", ".join(s for s, *_ in resolved), shown, meta, details
    )
