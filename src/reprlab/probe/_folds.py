"""Grouped cross-validation folds and the checks on labels and groups that make them valid.

Folds never split a group: every row of a group (e.g. every token of one sentence) is in the same
test fold. Groups are assigned largest first, each to the fold with the fewest rows so far (ties: the
lowest fold), after a seeded shuffle of the groups, so folds are balanced in rows and the assignment
depends on the seed and not on the order of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_labels
from ..errors import ReprlabError


def group_codes(groups: Any, n: int) -> np.ndarray:
    """Integer group codes 0..G-1 for ``groups`` (one id per row), or one group per row if None."""
    if groups is None:
        return np.arange(n)
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ReprlabError(f"`groups` must be 1-D with one group id per row; got shape {g.shape}.")
    if g.shape[0] != n:
        raise ReprlabError(
            f"`groups` has {g.shape[0]} entries but X has {n} rows; give one group id (e.g. the stimulus "
            "of each token) per row."
        )
    if g.dtype.kind == "f" and np.isnan(g).any():
        raise ReprlabError("`groups` contains NaN; give every row a group id.")
    return np.unique(g, return_inverse=True)[1].reshape(-1)


def assign_folds(codes: np.ndarray, cv: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """Fold id (0..cv-1) of every row; raises when there are fewer groups than folds.

    With ``strata`` (class codes per row) the folds are also stratified: groups are taken in order of
    their majority class (then largest first), each to the fold holding the fewest rows of that class
    so far (ties: the fewest rows), so every fold's class balance is close to the whole set's. Without
    stratification the class balance of a training set is anti-correlated with its test fold's, which
    biases cross-validated scores of uninformative probes below chance.
    """
    n_groups = int(codes.max()) + 1
    if n_groups < cv:
        raise ReprlabError(
            f"`groups` has {n_groups} distinct groups but cv={cv} folds were asked for, so at least one fold "
            f"would be empty. Use cv <= {n_groups}, or more groups."
        )
    sizes = np.bincount(codes, minlength=n_groups)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(n_groups)
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    if strata is None:
        major = np.zeros(n_groups, dtype=np.int64)
    else:
        n_strata = int(strata.max()) + 1
        table = np.zeros((n_groups, n_strata), dtype=np.int64)
        np.add.at(table, (codes, strata), 1)
        major = table.argmax(1)
        order = order[np.argsort(major[order], kind="stable")]
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    load = np.zeros(cv, dtype=np.int64)
    class_load = np.zeros((int(major.max()) + 1, cv), dtype=np.int64)
    for g in order:
        c = major[g]
        f = int(np.lexsort((np.arange(cv), load, class_load[c]))[0])
        fold_of_group[g] = f
        load[f] += sizes[g]
        class_load[c, f] += sizes[g]
    return fold_of_group[codes]


def folds_from_splits(splits: Sequence[tuple[Any, Any]], n: int) -> np.ndarray:
    """Fold ids from explicit ``(train, test)`` index pairs (e.g. ``list(GroupKFold(5).split(...))``).

    Every row must be in exactly one test set, and each train set must be the complement of its test
    set (so the out-of-fold predictions are defined once per row).
    """
    fold = np.full(n, -1, dtype=np.int64)
    for f, pair in enumerate(splits):
        try:
            train, test = pair
        except (TypeError, ValueError):
            raise ReprlabError("`cv` as a list must hold (train_indices, test_indices) pairs.") from None
        test = np.asarray(test, dtype=np.int64).reshape(-1)
        train = np.asarray(train, dtype=np.int64).reshape(-1)
        if test.size == 0:
            raise ReprlabError(f"`cv`: split {f} has an empty test set.")
        if (fold[test] >= 0).any():
            raise ReprlabError(
                f"`cv`: a row is in the test sets of two splits (split {f}); test sets must not overlap."
            )
        fold[test] = f
        if train.size + test.size != n or np.intersect1d(train, test).size:
            raise ReprlabError(
                f"`cv`: split {f}'s train set must be every row not in its test set (out-of-fold predictions "
                "need each row predicted exactly once)."
            )
    if (fold < 0).any():
        raise ReprlabError(f"`cv`: {int((fold < 0).sum())} row(s) are in no test set; every row must be tested once.")
    return fold


def make_folds(cv: Any, codes: np.ndarray, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    n = codes.shape[0]
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv < 2:
            raise ReprlabError(f"`cv` must be at least 2 folds; got {cv}.")
        return assign_folds(codes, int(cv), seed, strata)
    if isinstance(cv, (list, tuple)):
        fold = folds_from_splits(cv, n)
        for f in range(int(fold.max()) + 1):
            if np.intersect1d(codes[fold == f], codes[fold != f]).size:
                raise ReprlabError(f"`cv`: split {f} puts rows of one group on both sides; keep each group together.")
        return fold
    raise ReprlabError(f"`cv` must be a number of folds (int >= 2) or a list of (train, test) pairs; got {cv!r}.")


def encode_classes(y: Any, n: int, n_folds: int, fold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and the class values, after checking the labels are fit for classification."""
    arr = _labels_array(y, n)
    classes, codes = np.unique(arr, return_inverse=True)
    codes = codes.reshape(-1)
    if classes.size < 2:
        raise ReprlabError(
            f"`y` has a single class ({classes[0]!r}); a classifier needs at least two. Check the labels "
            "or use kind='ridge' for a continuous target."
        )
    counts = np.bincount(codes)
    small = [classes[c] for c in np.flatnonzero(counts < n_folds)]
    if small:
        raise ReprlabError(
            f"`y`: class(es) {small[:5]} have fewer members ({int(counts.min())}) than the {n_folds} folds, so some "
            "training fold would miss them. Merge or drop rare classes, or use fewer folds."
        )
    for f in range(n_folds):
        present = np.unique(codes[fold != f])
        if present.size < classes.size:
            missing = [classes[c] for c in np.setdiff1d(np.arange(classes.size), present)]
            raise ReprlabError(
                f"`y`: the training rows of fold {f} contain no example of class(es) {missing[:5]} (all of "
                "them share groups in one fold). Merge rare classes or use fewer folds."
            )
    return codes, classes


def continuous_target(y: Any, n: int) -> np.ndarray:
    arr = _labels_array(y, n)
    if arr.dtype.kind not in "biuf":
        raise ReprlabError(f"`y` must be numbers for kind='ridge'; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if np.ptp(arr) == 0:
        raise ReprlabError("`y` is constant; a regression probe needs a target that varies.")
    return arr


def _labels_array(y: Any, n: int) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    arr = check_labels(y, n, "y", of="X", hint="give exactly one label per row (for a token-level store: one per "
                       "token row).")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ReprlabError(
            f"`y` contains {int(np.isnan(arr).sum())} NaN label(s); drop those rows from X and y "
            "(or give them a label)."
        )
    if arr.dtype == object and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in arr):
        raise ReprlabError("`y` contains None / NaN labels; drop those rows from X and y.")
    return arr


def constant_within_groups(values: np.ndarray, codes: np.ndarray) -> bool:
    """Whether every group carries a single value (then permutations move whole groups)."""
    order = np.argsort(codes, kind="stable")
    c, v = codes[order], values[order]
    same_group = c[1:] == c[:-1]
    return bool(np.all(v[1:][same_group] == v[:-1][same_group]))


def permute_labels(values: np.ndarray, codes: np.ndarray, rng: np.random.Generator, by_group: bool) -> np.ndarray:
    """One permutation of ``values``: of whole groups' labels when ``by_group``, else of rows."""
    if not by_group:
        return values[rng.permutation(values.shape[0])]
    n_groups = int(codes.max()) + 1
    first = np.full(n_groups, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.shape[0])[::-1]
    group_value = values[first]
    return group_value[rng.permutation(n_groups)][codes]
