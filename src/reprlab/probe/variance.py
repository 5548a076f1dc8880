"""``rl.feature_variance``: how much of a representation each feature takes, beside how decodable it is.

Lampinen et al. (2024), *Learned feature representations are biased by complexity, learning order,
position, and more* (TMLR), show that features a network computes equally well (equally decodable)
can take very different shares of its representation's variance: simpler features dominate, so
analyses that follow the variance (PCA, RSA, regression) follow the easy features. This puts both
sides in one table. For each named feature (a value per row; numbers as float are continuous,
anything else categorical and dummy-coded with one column per class but the first):

* ``alone``: the share of X's total variance explained by the least-squares fit (with intercept) of
  X's units on that feature, ``R^2 = |P_F Xc|_F^2 / |Xc|_F^2`` with ``P_F`` the projection on the
  centred design (equal to ``rl.compare(X, F, "linear_regression", direction="y_to_x")``);
* ``unique``: ``R^2(all features) - R^2(all features but this one)`` (nested models);
* ``pc_share``: for each of the top principal components of X, the share of that component's
  variance explained by the feature (and ``pc_variance``, each component's share of the total);
* ``unit_r2``: R^2 of each unit on the feature (0 for a unit constant over rows);
* ``decodability``: the cross-validated probe score (balanced accuracy, or R^2 for a continuous
  feature) of :func:`reprlab.probe` with the same folds options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor
from ..errors import ReprlabError, ReprlabTypeError


def _design(values: Any, n: int, name: str) -> tuple[np.ndarray, bool]:
    arr = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ReprlabError(
            f"`features[{name!r}]` must be 1-D with one value per row of X ({n}); got shape {arr.shape}."
        )
    continuous = arr.dtype.kind == "f"
    if continuous:
        if not np.all(np.isfinite(arr)):
            raise ReprlabError(f"`features[{name!r}]` contains NaN or Inf; drop those rows.")
        if np.ptp(arr) == 0:
            raise ReprlabError(f"`features[{name!r}]` is constant; it cannot explain any variance.")
        return arr.reshape(-1, 1).astype(np.float64), True
    classes, codes = np.unique(arr, return_inverse=True)
    if classes.size < 2:
        raise ReprlabError(f"`features[{name!r}]` has a single value ({classes[0]!r}); it cannot explain any variance.")
    return np.eye(classes.size)[codes.reshape(-1)][:, 1:], False


def _explained(Xc: torch.Tensor, D: np.ndarray) -> torch.Tensor:
    """Per-unit explained sum of squares of Xc's least-squares fit on the centred design D."""
    Dc = torch.as_tensor(D - D.mean(0), dtype=Xc.dtype, device=Xc.device)
    U, s, _ = torch.linalg.svd(Dc, full_matrices=False)
    keep = s > s.max() * max(Dc.shape) * torch.finfo(Dc.dtype).eps
    U = U[:, keep]
    return ((U.T @ Xc) ** 2).sum(0)


@dataclass
class FeatureVariance:
    """The table of :func:`feature_variance` (one entry per feature, in the order given)."""

    features: list[str]
    alone: dict[str, float]
    unique: dict[str, float]
    pc_share: np.ndarray  # (n_features, n_components)
    pc_variance: np.ndarray  # (n_components,)
    unit_r2: dict[str, np.ndarray]
    decodability: dict[str, float]
    decodability_metric: dict[str, str]
    total: float  # R^2 of all features together

    def table(self) -> list[dict[str, Any]]:
        """One row per feature: variance shares, the first components' shares, and decodability."""
        rows = []
        for i, f in enumerate(self.features):
            row = {"feature": f, "alone": self.alone[f], "unique": self.unique[f],
                   "decodability": self.decodability[f], "metric": self.decodability_metric[f]}
            for j in range(min(3, self.pc_share.shape[1])):
                row[f"pc{j + 1}"] = float(self.pc_share[i, j])
            rows.append(row)
        return rows

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.table()).set_index("feature")

    def plot(self, title: str | None = None) -> Any:
        """Variance share (alone, unique) beside decodability, one group of bars per feature."""
        from ..report.figures import OKABE_ITO, _plt

        plt = _plt()
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
        x = np.arange(len(self.features))
        a1.bar(x - 0.2, [self.alone[f] for f in self.features], 0.4, label="alone", color=OKABE_ITO[0])
        a1.bar(x + 0.2, [self.unique[f] for f in self.features], 0.4, label="unique", color=OKABE_ITO[1])
        a1.set_xticks(x, self.features)
        a1.set_ylabel("share of total variance")
        a1.legend(frameon=False)
        a2.bar(x, [self.decodability[f] for f in self.features], 0.5, color=OKABE_ITO[2])
        a2.set_xticks(x, self.features)
        a2.set_ylabel("decodability (CV)")
        a2.set_ylim(0, 1)
        fig.suptitle(title or "Equally decodable, unequally represented?")
        return fig


def feature_variance(
    X: Any,
    features: Mapping[str, Any],
    *,
    n_components: int = 10,
    cv: int = 5,
    C: float | None = 1.0,
    groups: Any = None,
    seed: int = 0,
    dtype: Any = None,
    device: Any = None,
) -> FeatureVariance:
    """Share of ``X``'s variance each feature explains (alone, uniquely, per PC, per unit) and its decodability.

    Parameters
    ----------
    X : array (n, d)
    features : mapping name -> values (n,)
        Float values are continuous; anything else (ints, bools, strings) is categorical.
    n_components : top principal components of X to report shares for.
    cv, groups, seed : folds of the decodability probe (:func:`reprlab.probe`).
    C : the decodability probe's regularisation (logistic ``C``, ridge ``alpha = 1 / C``); ``None``
        searches the default grid by inner CV (slower).
    """
    from .core import probe

    if not isinstance(features, Mapping) or not features:
        raise ReprlabTypeError("`features` must be a non-empty mapping name -> one value per row.")
    Xt = as_tensor(X, "X", dtype=dtype, device=device, min_rows=3)
    n = Xt.shape[0]
    Xc = Xt - Xt.mean(0)
    unit_total = (Xc * Xc).sum(0)
    total = float(unit_total.sum())
    if total == 0.0:
        raise ReprlabError("`X` has zero variance across rows; there is no variance to share out.")
    names = [str(k) for k in features]
    designs = {name: _design(v, n, name) for name, v in zip(names, features.values())}
    full = np.concatenate([designs[f][0] for f in names], axis=1)
    r2_all = float(_explained(Xc, full).sum()) / total
    k = max(1, min(int(n_components), min(Xc.shape) - 1 if min(Xc.shape) > 1 else 1))
    U, s, _ = torch.linalg.svd(Xc, full_matrices=False)
    scores = U[:, :k] * s[:k]
    pc_var = (s[:k] ** 2 / total).cpu().numpy()
    alone, unique, unit_r2, pc_share, dec, metric = {}, {}, {}, [], {}, {}
    safe = torch.where(unit_total > 0, unit_total, torch.ones_like(unit_total))
    for f in names:
        D, continuous = designs[f]
        per_unit = _explained(Xc, D)
        alone[f] = float(per_unit.sum()) / total
        unit_r2[f] = torch.where(unit_total > 0, per_unit / safe, torch.zeros_like(per_unit)).cpu().numpy()
        others = [designs[g][0] for g in names if g != f]
        r2_rest = float(_explained(Xc, np.concatenate(others, axis=1)).sum()) / total if others else 0.0
        unique[f] = r2_all - r2_rest
        pc_share.append((_explained(scores, D) / (s[:k] ** 2)).cpu().numpy())
        kind = "ridge" if continuous else "logistic"
        values = features[list(features)[names.index(f)]]
        reg = {} if C is None else ({"alpha": 1.0 / C} if continuous else {"C": C})
        r = probe(Xt, np.asarray(values), kind, cv=cv, groups=groups, seed=seed, n_permutations=0, n_boot=0, **reg)
        dec[f], metric[f] = r.score, r.metric
    return FeatureVariance(names, alone, unique, np.stack(pc_share), pc_var, unit_r2, dec, metric, r2_all)
