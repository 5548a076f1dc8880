"""Comparison measures: every measure is a plain function here, e.g. ``reprlab.measures.cka(X, Y)``.

One module per family (``cka.py``, ``cca.py``, ``shape.py``, ``rsa.py``, ...); each registers its
measures with :func:`reprlab._registry.register`, and every registered measure is exposed as an
attribute of this package. ``available()`` and ``info()`` read the registry.
"""

from .._registry import MeasureInfo, Param, Variant, available, info, load_all

__all__ = ["MeasureInfo", "Param", "Variant", "available", "info", "stochastic_shape_from_moments"]

load_all()

from .stochastic import stochastic_shape_from_moments  # noqa: E402  (an entry point beside the registry)
