"""Statistics for every measure in the registry: intervals, tests, ceilings, layer correspondence.

>>> import reprlab as rl
>>> rl.stats.bootstrap(X, Y, "cka", n=1000, seed=0)          # doctest: +SKIP
>>> rl.stats.permutation_test(X, Y, "rsa", n=1000, seed=0)   # doctest: +SKIP
>>> rl.stats.noise_ceiling(rdms_per_subject, method="spearman")  # doctest: +SKIP

Resampling goes through the measure registry, so every compare measure works; how a resample is
evaluated (distinct pairs for RDM-based measures, influence values for the others, so that no measure
sees two copies of a stimulus) is explained in :mod:`reprlab.stats.resampling`.
:func:`bootstrap_all` and :func:`permutation_test_all` do the same for whole ``compare_all`` matrices.
"""

from .bootstrap import BootstrapResult, PairedResult, SweepResult, bootstrap, fdr_bh, paired_bootstrap, paired_sweep
from .ceilings import Alignment, NoiseCeiling, noise_ceiling, normalise, spearman_brown, split_half_reliability
from .correspondence import Correspondence, LayerIdentification, layer_correspondence, layer_identification
from .human import human_rsa, layerwise_rdm_alignment, rdm_alignment, word_similarity, word_similarity_from_vectors
from .matrix import bootstrap_all, permutation_test_all
from .permutation import PermutationResult, permutation_test
from .resampling import distinct_pairs

__all__ = [
    "Alignment",
    "BootstrapResult",
    "Correspondence",
    "LayerIdentification",
    "NoiseCeiling",
    "PairedResult",
    "PermutationResult",
    "SweepResult",
    "bootstrap",
    "bootstrap_all",
    "distinct_pairs",
    "fdr_bh",
    "human_rsa",
    "layer_correspondence",
    "layer_identification",
    "layerwise_rdm_alignment",
    "noise_ceiling",
    "normalise",
    "paired_bootstrap",
    "paired_sweep",
    "permutation_test",
    "permutation_test_all",
    "rdm_alignment",
    "spearman_brown",
    "split_half_reliability",
    "word_similarity",
    "word_similarity_from_vectors",
]
