"""The result of :func:`reprlab.compare_all`: a labelled matrix with its provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ComparisonResult:
    """A ``(len(rows), len(cols))`` matrix of one measure over two sets of representations.

    ``measure`` is the spec string (name and non-default parameters), ``params`` every parameter
    value used, ``meta`` free provenance (shapes, dtype, library version). ``ci_low`` / ``ci_high``
    (bootstrap intervals) and ``p`` (permutation p-values), matrices of the same shape, are set by
    :func:`reprlab.stats.bootstrap_all` and :func:`reprlab.stats.permutation_test_all`, which describe
    how in ``meta["intervals"]`` / ``meta["p_values"]``.
    """

    values: np.ndarray
    rows: list[str]
    cols: list[str]
    measure: str
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    ci_low: np.ndarray | None = field(default=None, kw_only=True)
    ci_high: np.ndarray | None = field(default=None, kw_only=True)
    p: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.shape != (len(self.rows), len(self.cols)):
            raise ValueError(
                f"values of shape {self.values.shape} do not fit {len(self.rows)} rows x {len(self.cols)} cols"
            )
        for name in _EXTRA:
            extra = getattr(self, name)
            if extra is not None:
                setattr(self, name, np.asarray(extra, dtype=np.float64).reshape(self.values.shape))

    def __repr__(self) -> str:
        return f"ComparisonResult({self.measure!r}, {len(self.rows)} x {len(self.cols)})"

    def to_pandas(self):
        """The matrix as a ``pandas.DataFrame`` indexed by row and column names."""
        import pandas as pd

        return pd.DataFrame(self.values, index=self.rows, columns=self.cols)

    def to_dict(self) -> dict[str, Any]:
        params = {k: v for k, v in self.params.items() if _jsonable(v)}
        return {
            "measure": self.measure,
            "params": params,
            "rows": list(self.rows),
            "cols": list(self.cols),
            "values": _matrix(self.values),
            "meta": self.meta,
            **{name: _matrix(getattr(self, name)) for name in _EXTRA if getattr(self, name) is not None},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComparisonResult:
        def read(rows: list[list[Any]]) -> np.ndarray:
            return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)

        extra = {name: read(d[name]) for name in _EXTRA if d.get(name) is not None}
        return cls(
            read(d["values"]),
            list(d["rows"]),
            list(d["cols"]),
            d["measure"],
            d.get("params", {}),
            d.get("meta", {}),
            **extra,
        )

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON (``.json``) or CSV (``.csv``, the matrix with its labels)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            lines = [",".join(["", *map(_csv, self.cols)])]
            lines += [",".join([_csv(r), *(repr(float(v)) for v in row)]) for r, row in zip(self.rows, self.values)]
            path.write_text("\n".join(lines) + "\n")
        else:
            path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ComparisonResult:
        """Read a result written by :meth:`save` as JSON."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def plot(self, ax=None, **kwargs: Any):
        """Draw the matrix as a labelled heatmap (matplotlib); returns the axes."""
        from .report.figures import heatmap

        return heatmap(self, ax=ax, **kwargs)


#: The optional matrices beside ``values`` (intervals and p-values), saved under these keys.
_EXTRA = ("ci_low", "ci_high", "p")


def _matrix(values: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in values]


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def _csv(s: str) -> str:
    s = str(s)
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


@dataclass
class DescribeResult(ComparisonResult):
    """The result of :func:`reprlab.describe_all`: representations (rows) x measures (columns).

    A :class:`ComparisonResult` whose columns are measure specs; a measure returning a dictionary
    gives one column per scalar entry (``"neural_collapse.nc1"``). Non-scalar outputs (per-point
    estimates, unit indices) are kept in ``details[row][column]`` as lists and saved with the JSON.
    """

    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DescribeResult({len(self.rows)} representations x {len(self.cols)} values)"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["details"] = self.details
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DescribeResult:
        base = ComparisonResult.from_dict(d)
        return cls(base.values, base.rows, base.cols, base.measure, base.params, base.meta, d.get("details", {}))
