"""The result of a probe (rl.probe), shared by every kind of probe, and the choice check its callers use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ReprlabError

CONTROLS = ("task", "shuffle", "random")


@dataclass
class ProbeResult:
    """A cross-validated probe of one representation.

    Attributes
    ----------
    score : float
        Balanced accuracy (classifiers) or out-of-fold R^2 (``"ridge"``); for ``"mdl"`` the
        compression (uniform codelength / online codelength).
    ci_low, ci_high : float or None
        Bootstrap interval over groups (``None`` for ``"mdl"`` and with ``n_boot=0``).
    p_value : float or None
        Permutation p (Phipson-Smyth); ``None`` with ``n_permutations=0``.
    p_adjusted : float or None
        Benjamini-Hochberg adjusted p across the layers of one :func:`probe_layers` call.
    predictions : numpy.ndarray
        Out-of-fold predictions, one per row (class labels, or values for ``"ridge"``).
    proba : numpy.ndarray or None
        Out-of-fold class probabilities (n, n_classes), columns in the order of ``classes``.
    direction : numpy.ndarray or None
        Unit vector in X's feature space (original units): the normal of the probe's decision
        boundary fitted on all rows, pointing towards ``classes[1]`` (or larger y); binary and 1-D
        targets of linear probes only.
    control_score, selectivity : float or None
        The same probe on the control (``control=``) and ``score - control_score``.
    units : list of numpy.ndarray or None
        ``k_sparse``: the units chosen on each fold's training rows.
    codelength, uniform_codelength, compression : float or None
        ``"mdl"``: online codelength in bits (Voita & Titov 2020), ``n log2 K`` and their ratio.
    """

    kind: str
    metric: str
    score: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    predictions: np.ndarray = field(repr=False)
    folds: np.ndarray = field(repr=False)
    groups: np.ndarray = field(repr=False)
    classes: np.ndarray | None = field(default=None, repr=False)
    proba: np.ndarray | None = field(default=None, repr=False)
    direction: np.ndarray | None = field(default=None, repr=False)
    coef: np.ndarray | None = field(default=None, repr=False)
    chosen: list[float] | None = None
    control: str | None = None
    control_score: float | None = None
    selectivity: float | None = None
    control_result: ProbeResult | None = field(default=None, repr=False)
    units: list[np.ndarray] | None = field(default=None, repr=False)
    null: np.ndarray | None = field(default=None, repr=False)
    n_permutations: int = 0
    p_adjusted: float | None = None
    codelength: float | None = None
    uniform_codelength: float | None = None
    compression: float | None = None
    block_codelengths: np.ndarray | None = field(default=None, repr=False)
    layer: str | None = None

    def __str__(self) -> str:
        name = f"{self.layer}: " if self.layer else ""
        s = f"{name}{self.kind} probe {self.metric} = {self.score:.3f}"
        if self.ci_low is not None:
            s += f" [{self.ci_low:.3f}, {self.ci_high:.3f}]"
        if self.p_value is not None:
            s += f", p = {self.p_value:.3g}"
        if self.selectivity is not None:
            s += f", {self.control} control {self.control_score:.3f}, selectivity {self.selectivity:+.3f}"
        return s

    def to_dict(self) -> dict[str, Any]:
        """The scalar fields (for tables and JSON)."""
        keys = ("layer", "kind", "metric", "score", "ci_low", "ci_high", "p_value", "p_adjusted", "control",
                "control_score", "selectivity", "codelength", "uniform_codelength", "compression")
        return {k: getattr(self, k) for k in keys}


# --------------------------------------------------------------------------------------------------
# scores


def _check_choice(value: Any, name: str, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ReprlabError(f"`{name}` must be one of {list(choices)}; got {value!r}.")
