"""Representational similarity analysis (RSA): RDMs, RDM transforms and RDM comparators.

The family is one package: :mod:`.rdms` (:func:`rdm`, :class:`RDM`), :mod:`.transforms`
(:func:`rdm_transform`), :mod:`.comparators` (:func:`compare_rdms`) and :mod:`.core` (the ``rsa``
measure, its batched all-pairs path and its resampling hooks); this ``__init__`` registers ``rsa``.

RSA compares two representations through their representational dissimilarity matrices (RDMs): for
each pair of conditions (stimuli) i < j a dissimilarity ``d_ij``; an RDM is kept as its *condensed*
vector (upper triangle, i < j, row-major: the order of ``scipy.spatial.distance.squareform``).
``rsa(X, Y) = compare(transform(rdm(X)), transform(rdm(Y)))``.

**RDMs** (:func:`rdm`). With ``u_i`` the pattern of condition i (rows of one condition averaged;
conditions in sorted label order, as rsatoolbox), ``d = |u_i - u_j|`` (``euclidean``), ``|u_i - u_j|^2``
(``sqeuclidean``), ``1 - r(u_i, u_j)`` (``correlation``, Pearson r across features), ``1 - cos``
(``cosine``), ``(u_i - u_j) P (u_i - u_j)^T`` (``mahalanobis``, P a noise *precision*), the
leave-one-run-out cross-validated ``crossnobis`` ``mean_f (u_i - u_j)_{not f} P (u_i - u_j)_f^T`` (Walther
et al. 2016; unbiased, can be negative), and the symmetrised Poisson KL divergence ``poisson``
``sum_k (r_ik - r_jk)(log r_ik - log r_jk)`` with rates ``r = (mean count + lambda w) / (1 + w)``
(``poisson_cv``: its cross-validated form). ``normalize=True`` divides the squared forms by the number of
channels: rsatoolbox's ``'euclidean'`` is ``sqeuclidean`` with ``normalize=True``, and its
``mahalanobis``, ``crossnobis`` and ``poisson`` are always normalised.

**Comparators** (:func:`compare_rdms`): ``cosine`` (no centring), ``pearson``, ``spearman`` (Pearson of
average ranks), ``rho_a`` (``12 r1c . r2c / (m^3 - m)``, centred average ranks, no tie correction: the
expected Spearman under random tie breaking, Nili et al. 2014), ``kendall_tau_a`` ((C - D) / (m(m-1)/2),
ties count as neither), ``kendall_tau_b`` (``scipy.stats.kendalltau``), ``whitened_cosine`` /
``whitened_pearson`` (cosine / Pearson after whitening with the RDM covariance of iid pattern noise,
Diedrichsen et al. 2021: the Frobenius cosine of the double-centred matrices ``H D H``), ``bures``
(fidelity ``tr (G1^1/2 G2 G1^1/2)^1/2 / sqrt(tr G1 tr G2)`` of ``G = -H D H / 2``, computed as the
nuclear norm of ``G1+^1/2 G2+^1/2`` with negative eigenvalues clipped in both; rsatoolbox clips only
those of G1, which differs only for non-Euclidean RDMs, where G is indefinite), ``bures_metric``
(the Bures distance ``sqrt(tr G1 + tr G2 - 2 tr (G1^1/2 G2 G1^1/2)^1/2)``) and ``riemannian`` (the
affine-invariant distance between second moments in the (n-1)-dim contrast space, minimised over a
scaling of ``G1`` and an added iid-noise term, as rsatoolbox). Peer conventions are reproduced by
``bures_metric_squared`` (rsatoolbox's ``bures_metric`` returns the squared distance) and
``neg_riemannian`` (rsatoolbox's ``neg_riem_dist`` returns minus the distance). Values match rsatoolbox
0.3.2 ``rdm.compare`` (the tests check every recorded value).

**Transforms** (:func:`rdm_transform`): ``rank``, ``sqrt`` (negatives to 0), ``minmax``, and the
topological RSA transforms of Lin & Kriegeskorte (2023): ``geotopological`` (below the ``lower``
quantile 0, above the ``upper`` quantile 1, linear between) and ``geodesic`` (shortest paths over the
graph of all but the maximal dissimilarities).

Speed: everything that depends on one RDM alone (ranks, standardised vectors, sort orders, tie counts,
double-centred matrices, matrix square roots) is computed once per RDM by the measure's ``prepare``;
Pearson / Spearman / rho-a / cosine / whitened comparisons of whole stacks are then one matrix product,
and Kendall's tau is one O(m log m) discordant-pair count per pair (:mod:`reprlab.measures._ranks`).

References: Kriegeskorte, Mur & Bandettini (2008) Front. Syst. Neurosci.; Nili et al. (2014) PLoS
Comput. Biol. (rsatoolbox, rho-a, tau-a); Walther et al. (2016) NeuroImage (crossnobis); Diedrichsen
et al. (2021) arXiv:2007.02789 (whitened comparators); Lin & Kriegeskorte (2023) arXiv:2309.11028
(topological RSA); Schütt et al. (2023) eLife (rsatoolbox 0.3).
"""

from ..._registry import Hooks, Variant, register
from . import core
from .comparators import COMPARATORS, CompareState, compare_rdms, compare_states, prepare_rdms
from .rdms import RDM, RDM_METHODS, rdm
from .transforms import TRANSFORMS, rdm_transform

__all__ = [
    "COMPARATORS",
    "RDM",
    "RDM_METHODS",
    "TRANSFORMS",
    "CompareState",
    "compare_rdms",
    "compare_states",
    "prepare_rdms",
    "rdm",
    "rdm_transform",
    "rsa",
]

#: Invariances of RSA on Euclidean-type RDMs (distances do not change under rotations or shifts).
_EUCLIDEAN_RDM = frozenset({"permutation", "orthogonal", "isotropic_scaling", "translation"})


rsa = register(
    "rsa",
    family="rsa",
    params=core.PARAMS,
    larger_is_similar=True,
    is_metric=False,
    symmetric=True,
    asymmetric_when={"compare": ("riemannian", "neg_riemannian")},
    invariances={"permutation", "isotropic_scaling"},
    range=(-1.0, 1.0),
    references=(
        "Kriegeskorte, Mur & Bandettini (2008) Representational similarity analysis, Front. Syst. Neurosci.",
        "Nili et al. (2014) A toolbox for representational similarity analysis, PLoS Comput. Biol.",
        (
            "Diedrichsen et al. (2021) Comparing representational geometries using whitened unbiased-distance-matrix "
            "similarity, arXiv:2007.02789"
        ),
        "Lin & Kriegeskorte (2023) The topology and geometry of neural representations, arXiv:2309.11028",
        (
            "matches: rsatoolbox 0.3.2 calc_rdm + rdm.compare (bures_metric_squared, neg_riemannian for its "
            "conventions); ReSi representational_similarity_analysis"
        ),
    ),
    summary="Representational similarity analysis: a comparator between the RDMs of X and Y",
    variants=(
        Variant(
            {"rdm": "euclidean"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
            "Euclidean RDMs do not change under rotations or shifts of the features",
        ),
        Variant(
            {"rdm": "sqeuclidean", "compare": "kendall_tau_a"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
        ),
        Variant(
            {"rdm": "sqeuclidean", "compare": "whitened_pearson"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
        ),
        Variant(
            {"rdm": "sqeuclidean", "compare": "bures"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (0.0, 1.0),
            "Bures fidelity of the centred Gram matrices (equals the Procrustes similarity)",
        ),
        Variant(
            {"rdm": "euclidean", "compare": "pearson", "transform": "geodesic"},
            True,
            False,
            _EUCLIDEAN_RDM,
            (-1.0, 1.0),
        ),
    ),
    prepare=core.prepare,
    hooks=Hooks(all_pairs=core.all_pairs, pair_matrix=core.pair_matrix, compare_pairs=core.compare_pairs),
)(core.rsa)
