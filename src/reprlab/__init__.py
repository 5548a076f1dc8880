"""reprlab: measure, compare and interpret the representations inside neural networks and brains.

>>> import reprlab as rl
>>> rl.compare(X, Y, "cka")                     # doctest: +SKIP
>>> rl.compare_all(layers_a, layers_b, "rsa")   # doctest: +SKIP

See ``reprlab.measures.available()`` for every measure and its properties.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import (
    _callable,  # noqa: F401  (first: installs the finder that makes _callable.CALLABLE callable)
    measures,
)
from . import describe as _describe_package
from ._registry import MeasureInfo
from ._version import __version__
from .api import DescribeNamespace, compare
from .engine import ComparisonResult, compare_all
from .errors import MissingDependencyError, ReprlabError, ReprlabTypeError

# The registry is filled here, once: importing the two packages above registers every measure (each
# family module calls register() at import). ``rl.describe`` is callable and exposes the describe
# measures as functions (reprlab.api.DescribeNamespace); the package stays importable by its path.
describe = DescribeNamespace(_describe_package)

# Imported on first use: optional dependencies (transformers, zarr, matplotlib) load only when needed.
_LAZY = {
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
    "lens": ("reprlab.lens", None),
    "heads": ("reprlab.lens.heads", None),
    "dictionary": ("reprlab.dictionary", None),
    "intervene": ("reprlab.intervene", None),  # a callable package (reprlab/_callable.py)
    "add": ("reprlab.intervene.edits", "add"),
    "ablate": ("reprlab.intervene.edits", "ablate"),
    "project_out": ("reprlab.intervene.edits", "project_out"),
    "patch": ("reprlab.intervene.edits", "patch"),
    "replace": ("reprlab.intervene.edits", "replace"),
    "direction": ("reprlab.intervene.directions", "direction"),
    "Direction": ("reprlab.intervene.directions", "Direction"),
    "erase": ("reprlab.intervene.erase", "erase"),
    "patching": ("reprlab.intervene.patching", "patching"),
    "steer_sweep": ("reprlab.intervene.steering", "steer_sweep"),
    "probe": ("reprlab.probe", None),  # a callable package (reprlab/_callable.py)
    "probe_layers": ("reprlab.probe", "probe_layers"),
    "control_labels": ("reprlab.probe", "control_labels"),
    "feature_variance": ("reprlab.probe", "feature_variance"),
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
    "describe",
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
