"""The CKA family: one package owns every form of centred kernel alignment.

* :mod:`.core`: the HSIC estimators, the per-representation state (``prepare``) and the per-pair core;
* :mod:`.kernels`: the linear, rbf and laplace kernels and the median-heuristic bandwidth (once);
* :mod:`.batched`: :func:`reprlab.compare_all`'s all-pairs linear CKA in sample space and the
  streaming form from accumulated cross-moments (``StreamSpec``);
* :mod:`.minibatch` and :mod:`.sketch`: the explicit-opt-in approximations for kernels at scale
  (:func:`minibatch_cka`, :func:`sketched_cka`).

This ``__init__`` registers the measure (its metadata and its :class:`~reprlab._registry.Hooks`).
"""

import math

from ..._registry import Hooks, Variant, register
from . import batched, core
from .core import ESTIMATORS, CKAState, check_stimuli, cka_from_hsic, hsic_from_moments
from .kernels import KERNELS
from .minibatch import minibatch_cka
from .sketch import sketched_cka

__all__ = [
    "ESTIMATORS",
    "KERNELS",
    "CKAState",
    "check_stimuli",
    "cka",
    "cka_from_hsic",
    "hsic_from_moments",
    "minibatch_cka",
    "sketched_cka",
]

cka = register(
    "cka",
    family="cka",
    params=core.PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    invariances={"orthogonal", "isotropic_scaling", "translation"},
    range=(0.0, 1.0),
    references=(
        "Kornblith et al. (2019) Similarity of neural network representations revisited, ICML",
        "Song et al. (2012) Feature selection via dependence maximization, JMLR (unbiased HSIC)",
        "Lange et al. (2022) arXiv:2206.10999 (off-diagonal masked HSIC)",
        (
            "matches: ReSi CKA (biased); netrep LinearCKA and wrongu/repsim AngularCKA (angular=True); "
            "platonic-rep AlignmentMetrics.cka (eps=1e-6)"
        ),
    ),
    summary="Centered kernel alignment: cosine between centred kernel matrices (HSIC-normalised)",
    variants=(
        Variant(
            {"angular": True},
            False,
            True,
            frozenset({"orthogonal", "isotropic_scaling", "translation"}),
            (0.0, math.pi / 2),
            "arccos of CKA: an angular pseudometric (Williams et al. 2021)",
        ),
        Variant(
            {"estimator": "unbiased"},
            True,
            False,
            frozenset({"orthogonal", "isotropic_scaling", "translation"}),
            (-1.0, 1.0),
        ),
        Variant(
            {"kernel": "rbf"},
            True,
            False,
            frozenset({"orthogonal", "isotropic_scaling", "translation"}),
            (0.0, 1.0),
            "invariant to isotropic scaling only with the median-heuristic bandwidth (sigma=None)",
        ),
        Variant(
            {"kernel": "laplace", "estimator": "lange", "angular": True},
            False,
            False,
            frozenset({"orthogonal", "isotropic_scaling", "translation"}),
            (0.0, math.pi),
        ),
    ),
    prepare=core.prepare,
    hooks=Hooks(all_pairs=batched.all_pairs, stream=batched.stream_spec),
)(core.cka)
