"""Time-lagged (FIR) designs and the folds of an encoding model.

**Lags.** A lag ``k`` pairs the response at sample ``t`` with the features at ``t - k``: positive
lags model a response that follows its stimulus (the usual case, e.g. 0 to 0.5 s after a word),
negative lags a response that precedes it. The lagged design ``[X(t - k_1), ..., X(t - k_L)]`` has
``L x F`` columns, lag-major (all features at the first lag, then all at the second, ...), so its
coefficients reshape to a temporal receptive field ``(L, F, n_channels)`` (the FIR filter of
Theunissen et al. 2001; Crosse et al. 2016, the mTRF). Samples whose lagged index falls outside
their *segment* are zero: a segment is a run of consecutive samples with the same group label
(one stimulus or trial), so no lag reaches into another trial's features.

**Folds.** Cross-validation never shuffles time samples: without ``groups`` the samples are cut into
``cv`` contiguous blocks of near-equal length; with ``groups`` (a stimulus or trial label per sample)
whole groups are assigned to folds, in their order of first appearance, ``cv`` contiguous runs of
groups, so a fold never splits a stimulus.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError


def check_lags(lags: Any) -> np.ndarray:
    """The lags as a 1-D int array (at least one, distinct), or a clear error."""
    if isinstance(lags, (int, np.integer)) and not isinstance(lags, bool):
        lags = [int(lags)]
    if not isinstance(lags, (Iterable, np.ndarray)) or isinstance(lags, (str, bytes)):
        raise ReprlabError(f"`lags` must be a sequence of integer sample delays, e.g. range(0, 10); got {lags!r}.")
    arr = np.asarray(list(lags))
    if arr.size == 0:
        raise ReprlabError("`lags` is empty; give at least one delay (lags=[0] fits without delays).")
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ReprlabError(f"`lags` must hold integers (delays in samples); got {arr.tolist()!r}.")
    if len(np.unique(arr)) != arr.size:
        raise ReprlabError(f"`lags` holds repeated delays: {arr.tolist()}; each delay must appear once.")
    return arr.astype(np.int64)


def segments_of(groups: np.ndarray | None, n: int) -> np.ndarray:
    """The segment index of every sample: runs of consecutive equal group labels (one segment without groups)."""
    if groups is None:
        return np.zeros(n, dtype=np.int64)
    change = np.r_[True, groups[1:] != groups[:-1]]
    return np.cumsum(change) - 1


def lagged(X: torch.Tensor, lags: np.ndarray, segments: np.ndarray, rows: np.ndarray | None = None) -> torch.Tensor:
    """The lagged design of ``X`` (n, F) -> (len(rows), L * F), lag-major, zero outside each segment.

    ``rows`` selects the output samples (all by default); lagged values may come from any row of ``X``
    in the same segment. Built by one gather: output row ``t``, lag block ``i`` copies row
    ``t - lags[i]`` of ``X`` padded with a row of zeros, which every out-of-segment index points to.
    """
    n, f = X.shape
    rows = np.arange(n) if rows is None else np.asarray(rows)
    src = rows[:, None] - lags[None, :]  # (R, L)
    ok = (src >= 0) & (src < n)
    ok &= segments[np.where(ok, src, 0)] == segments[rows][:, None]
    index = torch.as_tensor(np.where(ok, src, n).reshape(-1), device=X.device)
    padded = torch.cat([X, X.new_zeros((1, f))])
    return padded[index].reshape(len(rows), len(lags) * f)


def make_folds(n: int, cv: Any, groups: np.ndarray | None) -> np.ndarray:
    """The fold (0 .. cv-1) of every sample: contiguous time blocks, or contiguous runs of whole groups."""
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ReprlabError(f"`cv` must be an integer number of folds >= 2; got {cv!r}.")
    cv = int(cv)
    if groups is None:
        if n < 2 * cv:
            raise ReprlabError(f"{n} samples cannot be cut into cv={cv} time blocks of at least 2 samples.")
        return (np.arange(n) * cv) // n
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # rank of each unique label by first appearance
    n_groups = len(first)
    if n_groups < cv:
        raise ReprlabError(
            f"`groups` holds {n_groups} distinct stimuli but cv={cv}: every fold needs at least one whole "
            f"stimulus. Use cv <= {n_groups} or give finer groups."
        )
    return (order[inverse.reshape(-1)] * cv) // n_groups
