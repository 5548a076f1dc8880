"""Controls for probes: control tasks (Hewitt & Liang 2019) and the random-representation baseline.

A probe that scores well may have learned the property from the representation, or may simply be
expressive enough to memorise any labelling of the word types it sees. Hewitt & Liang's control task
gives every word *type* one random label, drawn from the real labels' distribution, so it has the
same number of classes and the same class frequencies but no linguistic content; *selectivity* is
the real task's score minus the control task's (same probe, same folds, same search). A shuffled-label
control and a Gaussian matrix of the same shape (what a probe gets from no representation at all)
are the two other controls of :func:`reprlab.probe` (``control="shuffle"`` / ``"random"``).

Reference: Hewitt & Liang (2019), Designing and interpreting probes with control tasks, EMNLP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ReprlabError


def control_labels(types: Any, labels: Any, seed: int = 0) -> np.ndarray:
    """One random label per word type, drawn from the empirical distribution of ``labels``.

    Parameters
    ----------
    types : sequence (n,)
        The word type of each row (e.g. the lower-cased word); rows of one type get the same label.
    labels : sequence (n,)
        The real labels; the control labels take their values with the same frequencies (each type's
        label is drawn with the probabilities of the labels over rows).
    seed : int

    Returns
    -------
    numpy.ndarray (n,) of labels (values of ``labels``).
    """
    t = np.asarray(types)
    y = np.asarray(labels)
    if t.ndim != 1 or y.ndim != 1:
        raise ReprlabError(f"`types` and `labels` must be 1-D; got shapes {t.shape} and {y.shape}.")
    if t.shape[0] != y.shape[0]:
        raise ReprlabError(
            f"`types` has {t.shape[0]} entries but `labels` has {y.shape[0]}; give one word type per labelled row."
        )
    if t.shape[0] == 0:
        raise ReprlabError("`labels` is empty.")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ReprlabError("`labels` contains NaN; drop those rows first.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ReprlabError(f"`seed` must be an integer; got {seed!r}.")
    values, codes = np.unique(y, return_inverse=True)
    p = np.bincount(codes.reshape(-1)) / y.shape[0]
    type_ids, type_of_row = np.unique(t, return_inverse=True)
    rng = np.random.default_rng(seed)
    type_label = rng.choice(values.size, size=type_ids.size, p=p)
    return values[type_label[type_of_row.reshape(-1)]]


def random_representation(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A standard Gaussian matrix of ``shape``: the random-representation baseline for a probe."""
    if len(shape) != 2 or min(shape) < 1:
        raise ReprlabError(f"`shape` must be (n_rows, n_features) with both >= 1; got {shape!r}.")
    return np.random.default_rng([seed, 17]).standard_normal(shape)
