"""Probes: what can be read out of a representation, and how strongly it is represented.

>>> import reprlab as rl
>>> r = rl.probe(X, y, groups=sentence_of_token)          # doctest: +SKIP
>>> r.score, r.ci_low, r.ci_high, r.p_value               # doctest: +SKIP
>>> rl.probe_layers(acts, y, groups="stimulus")           # doctest: +SKIP
>>> rl.feature_variance(X, {"easy": a, "hard": b})        # doctest: +SKIP

The package is callable: ``rl.probe(X, y, ...)`` is :func:`reprlab.probe.core.probe` (the import system
creates it as a callable module; see :mod:`reprlab._callable`).
"""

from __future__ import annotations

from .controls import control_labels, random_representation
from .core import DEFAULT_ALPHAS, DEFAULT_CS, ProbeResult, balanced_accuracy, probe, probe_layers
from .mdl import BLOCKS_PERCENT, online_codelength, timesteps
from .sparse import sparse_sweep
from .variance import FeatureVariance, feature_variance

__all__ = [
    "BLOCKS_PERCENT",
    "DEFAULT_ALPHAS",
    "DEFAULT_CS",
    "FeatureVariance",
    "ProbeResult",
    "balanced_accuracy",
    "control_labels",
    "feature_variance",
    "online_codelength",
    "probe",
    "probe_layers",
    "random_representation",
    "sparse_sweep",
    "timesteps",
]
