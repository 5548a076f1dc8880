"""Progress bars for long loops (bootstrap and permutation resamples, compare_all over many pairs).

A bar is drawn on stderr with tqdm when stderr is a terminal (so pipes, logs and tests stay clean)
and the loop has at least ``min_total`` steps. ``REPRLAB_PROGRESS=1`` forces bars on, ``0`` off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled(total: int, min_total: int) -> bool:
    setting = os.environ.get("REPRLAB_PROGRESS", "")
    if setting in {"0", "1"}:
        return setting == "1" and total > 0
    return total >= min_total and sys.stderr.isatty()


def progress(items: Iterable[T], total: int, desc: str, unit: str = "it", min_total: int = 20) -> Iterator[T]:
    """``items``, with a progress bar of ``total`` steps when :func:`enabled` (and tqdm is installed)."""
    if not enabled(total, min_total):
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)
