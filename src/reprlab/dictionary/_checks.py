"""Argument checks shared by the dictionary modules (integers, positive numbers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ReprlabError


def _check_int(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ReprlabError(f"`{name}` must be an integer >= {low}; got {value!r}.")
    return int(value)


def _check_pos(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not (value > 0)
        or not math.isfinite(value)
    ):
        raise ReprlabError(f"`{name}` must be a positive number; got {value!r}.")
    return float(value)
