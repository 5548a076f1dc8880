"""reprlab: measure, compare and interpret the representations inside neural networks and brains.

>>> import reprlab as rl
>>> rl.compare(X, Y, "cka")                     # doctest: +SKIP
>>> rl.compare_all(layers_a, layers_b, "rsa")   # doctest: +SKIP

See ``reprlab.measures.available()`` for every measure and its properties.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from . import measures
from ._registry import MeasureInfo
from .api import compare
from .engine import ComparisonResult, compare_all
from .errors import MissingDependencyError, ReprlabError, ReprlabTypeError

# Imported on first use: optional dependencies (transformers, zarr, matplotlib) load only when needed.
_LAZY = {
    "describe": ("reprlab.describe", None),
    "describe_all": ("reprlab.api", "describe_all"),
    "rdm": ("reprlab.measures.rsa", "rdm"),
    "RDM": ("reprlab.measures.rsa", "RDM"),
    "compare_rdms": ("reprlab.measures.rsa", "compare_rdms"),
    "rdm_transform": ("reprlab.measures.rsa", "rdm_transform"),
    "extract": ("reprlab.capture.extract", "extract"),
    "Activations": ("reprlab.store.activations", "Activations"),
    "zoo": ("reprlab.capture.zoo", None),
    "stimuli": ("reprlab.capture.stimuli", None),
    "stats": ("reprlab.stats", None),
    "io": ("reprlab.io", None),
    "datasets": ("reprlab.io.datasets", None),
    "encoding": ("reprlab.brain.encode", "encoding"),
    "identification": ("reprlab.brain.identify", "identification"),
    "surprisal": ("reprlab.brain.behaviour", "surprisal"),
}

__all__ = [
    "ComparisonResult",
    "MeasureInfo",
    "MissingDependencyError",
    "ReprlabError",
    "ReprlabTypeError",
    "__version__",
    "compare",
    "compare_all",
    "measures",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        obj = importlib.import_module(module)
        value = obj if attr is None else getattr(obj, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reprlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
