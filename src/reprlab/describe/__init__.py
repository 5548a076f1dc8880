"""Measures of one representation (intrinsic dimension, neural collapse, sparsity, ...).

One module per family; each registers its measures with kind ``"describe"`` when imported, and the
imports below list the families. Every measure is a plain function here, e.g.
``reprlab.describe.dimension.twonn`` or, through the public namespace, ``rl.describe.twonn(X)``;
``rl.describe(X, "twonn")`` is :func:`reprlab.api.describe` (``rl.describe`` is a
:class:`reprlab.api.DescribeNamespace` over this package, bound in ``reprlab/__init__.py``).
"""

from .activations import (
    alignment,
    anisotropy,
    coding_rate,
    dead_units,
    massive_activations,
    rate_reduction,
    sparsity,
    uniformity,
)
from .collapse import nc1, neural_collapse, vci
from .dimension import corrint, gride, local_dimension, mada, mind_ml, mle, mom, tle, twonn
from .spectrum import alpha_req, effective_rank, lpca, participation_ratio, rankme, spectrum

__all__ = [
    "alignment",
    "alpha_req",
    "anisotropy",
    "coding_rate",
    "corrint",
    "dead_units",
    "effective_rank",
    "gride",
    "local_dimension",
    "lpca",
    "mada",
    "massive_activations",
    "mind_ml",
    "mle",
    "mom",
    "nc1",
    "neural_collapse",
    "participation_ratio",
    "rankme",
    "rate_reduction",
    "sparsity",
    "spectrum",
    "tle",
    "twonn",
    "uniformity",
    "vci",
]
