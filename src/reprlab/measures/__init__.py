"""Comparison measures: every measure is a plain function here, e.g. ``reprlab.measures.cka(X, Y)``.

One module or package per family (``cka/``, ``shape/``, ``rsa/``, ``cca.py``, ...); each registers its
measures with :func:`reprlab._registry.register` when imported. The imports below are the list of
families: a new family adds its line here (docs/architecture.md, "How to add a measure family").

Six measures share their name with their family's package or module (``cka``, ``shape``, ``rsa``,
``cca``, ``procrustes``, ``riemannian``). There the name is the family's module, created by the import
system as a callable module (:mod:`reprlab._callable`): ``reprlab.measures.cka(X, Y)`` calls the measure
``reprlab.measures.cka.cka`` and ``import reprlab.measures.cka as m`` gives the package.
"""

from .._registry import MeasureInfo, Param, Variant, available, info
from . import cca, cka, procrustes, riemannian, rsa, shape
from .geometry import distance_correlation, rsm_norm_difference, stress
from .knn import (
    cknna,
    cycle_knn,
    edit_distance_knn,
    jaccard_knn,
    lcs_knn,
    mutual_knn,
    rank_knn,
    second_order_cosine,
)
from .matching import correlation_match
from .procrustes import aligned_cosine
from .regression import linear_regression, ridge
from .statistics import concentricity_difference, magnitude_difference, uniformity_difference
from .stochastic import stochastic_shape, stochastic_shape_from_moments
from .subspace import eigenspace_overlap, gulp

__all__ = [
    "MeasureInfo",
    "Param",
    "Variant",
    "aligned_cosine",
    "available",
    "cca",
    "cka",
    "cknna",
    "concentricity_difference",
    "correlation_match",
    "cycle_knn",
    "distance_correlation",
    "edit_distance_knn",
    "eigenspace_overlap",
    "gulp",
    "info",
    "jaccard_knn",
    "lcs_knn",
    "linear_regression",
    "magnitude_difference",
    "mutual_knn",
    "procrustes",
    "rank_knn",
    "ridge",
    "riemannian",
    "rsa",
    "rsm_norm_difference",
    "second_order_cosine",
    "shape",
    "stochastic_shape",
    "stochastic_shape_from_moments",
    "stress",
    "uniformity_difference",
]
