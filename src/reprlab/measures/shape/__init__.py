"""The shape-metric family (Williams et al. 2021): one package owns every form of the measure.

* :mod:`.core`: the per-representation whitening (``prepare``) and the per-pair Procrustes score;
* :mod:`.batched`: :func:`reprlab.compare_all`'s all-pairs path (batched cross-products and
  eigensolves) and the streaming form from accumulated cross-moments (``StreamSpec``).

This ``__init__`` registers the measure (its metadata and its :class:`~reprlab._registry.Hooks`) and
exports the helpers other families use (Procrustes builds on the shape metric's scores).
"""

import math

from ..._registry import Hooks, Variant, register
from . import batched, core
from .core import (
    ShapePoint,
    ShapeState,
    assignment_inner,
    check_not_zero,
    nuclear_inner,
    nuclear_norms,
    orthogonal_score,
    permutation_score,
    whiten,
    whitening_weights,
)

__all__ = [
    "ShapePoint",
    "ShapeState",
    "assignment_inner",
    "check_not_zero",
    "nuclear_inner",
    "nuclear_norms",
    "orthogonal_score",
    "permutation_score",
    "shape",
    "whiten",
    "whitening_weights",
]

_INV_GROUP = frozenset({"permutation", "orthogonal", "translation"})
_INV_PERM = frozenset({"permutation", "translation"})


shape = register(
    "shape",
    family="shape",
    params=core.PARAMS,
    larger_is_similar=False,
    is_metric=True,
    symmetric=True,
    invariances=_INV_GROUP | {"isotropic_scaling"},
    range=(0.0, math.pi / 2),
    references=(
        "Williams, Kunz, Kornblith & Linderman (2021) Generalized shape metrics on neural representations, NeurIPS",
        (
            "matches: netrep LinearMetric(center_columns=True, zero_pad=True) and PermutationMetric "
            "(convention='netrep'); wrongu/repsim angular_shape_metric / euclidean_shape_metric with p "
            "(convention='repsim', dim=p); ReSi OrthogonalAngularShapeMetricCentered (alpha=1) and "
            "ProcrustesSizeAndShapeDistance (alpha=1, score='euclidean')"
        ),
    ),
    summary="Generalized shape metric: partial whitening, then an angular or Euclidean Procrustes distance",
    variants=(
        Variant(
            {"score": "euclidean"},
            False,
            True,
            _INV_GROUP,
            (0.0, math.inf),
            "Procrustes size-and-shape distance: not scale invariant",
        ),
        Variant(
            {"alpha": 0.0},
            False,
            True,
            _INV_GROUP | {"isotropic_scaling", "invertible_linear", "affine"},
            (0.0, math.pi / 2),
            "fully whitened: invariant to invertible linear maps of full-column-rank data (CCA-like)",
        ),
        Variant(
            {"alpha": 0.5},
            False,
            True,
            _INV_GROUP,
            (0.0, math.pi / 2),
            "partial whitening mixes I and C^-1/2, so the value depends on the scale",
        ),
        Variant(
            {"alpha": 0.5, "score": "euclidean"},
            False,
            True,
            _INV_GROUP,
            (0.0, math.inf),
            "netrep's rescaling depends on the zero-padded width: a metric among representations padded to one width",
        ),
        Variant({"alpha": 0.0, "score": "euclidean"}, False, True, _INV_GROUP, (0.0, math.inf)),
        Variant(
            {"alpha": 0.5, "convention": "repsim", "dim": 6},
            False,
            True,
            _INV_GROUP,
            (0.0, math.pi / 2),
            "wrongu/repsim convention, projected onto 6 principal axes",
        ),
        Variant(
            {"group": "permutation"},
            False,
            True,
            _INV_PERM | {"isotropic_scaling"},
            (0.0, math.pi),
            "units matched one-to-one; the best match can have a negative inner product",
        ),
        Variant({"group": "permutation", "score": "euclidean"}, False, True, _INV_PERM, (0.0, math.inf)),
        Variant({"group": "permutation", "alpha": 0.5}, False, True, _INV_PERM, (0.0, math.pi)),
    ),
    prepare=core.prepare,
    hooks=Hooks(all_pairs=batched.all_pairs, stream=batched.stream_spec),
)(core.shape)
