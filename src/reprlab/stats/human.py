"""Alignment with human reference data: RDM targets (lee50) and word-similarity ratings.

**RDM targets.** :func:`rdm_alignment` compares a model's RDM with a fixed target RDM (e.g. the human
document dissimilarities of the Lee et al. 2005 corpus, ``rl.stimuli.load("lee50").human_dissimilarity``,
``1 - similarity``) and
bootstraps the stimuli with the distinct-pairs rule (:mod:`reprlab.stats.resampling`: pairs of a
stimulus with its own copy are dropped). :func:`human_rsa` does it for every layer of a zoo model.
Known result (``shared/OFFLINE-MODELS.md``): MiniLM-L6, mean-pooled, cosine RDMs, Spearman over the
upper triangle: about 0.31 at the embeddings rising to about 0.51 at layer 6.

**Word similarity** (:func:`word_similarity`). The standard protocol for SimLex-999 (Hill et al. 2015)
and WordSim-353 (Finkelstein et al. 2002): embed each word, take the cosine similarity of the two
words of every rated pair, and report Spearman's rank correlation (average ranks for ties) between
the cosines and the human ratings over all pairs. The interval bootstraps the *pairs* (the rated
pairs are the sampled units of these data sets).

RDM comparisons on resampled pairs use the definitions of rsatoolbox 0.3 (``spearman``: Pearson
correlation of average ranks; ``rho_a``; ``pearson``; ``cosine``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from .._stimulus_ids import match_rows
from ..errors import ReprlabError
from ..measures.rsa import RDM_METHODS, compare_states, prepare_rdms
from ..measures.rsa import rdm as rsa_rdm
from ._rdm import n_from_condensed, rdm_vector
from .bootstrap import BootstrapResult, _check_method, _check_units, _seed_of, interval, run_bootstrap
from .resampling import check_count, check_level, check_seed

PAIR_COMPARATORS = ("spearman", "rho_a", "pearson", "cosine")


def model_rdm(X: Any, method: str = "cosine", name: str = "X") -> np.ndarray:
    """The square RDM of a representation ``X`` (n_stimuli, n_features) as a NumPy array: the RSA family's
    :func:`reprlab.rdm` with ``method`` (``cosine``, ``correlation``, ``euclidean``, ``sqeuclidean``, ...;
    the same definitions as ``scipy.spatial.distance.pdist``), each row its own condition."""
    if method not in RDM_METHODS:
        raise ReprlabError(f"`rdm` must be one of {RDM_METHODS}; got {method!r}.")
    A = np.asarray(X.detach().cpu() if hasattr(X, "detach") else X, dtype=float)
    if A.ndim != 2:
        raise ReprlabError(f"`{name}` must be a 2-D array (n_stimuli, n_features); got shape {A.shape}.")
    return rsa_rdm(A, method).square


def _compare(a: np.ndarray, b: np.ndarray, method: str) -> float:
    """The RSA family's comparator ``method`` on two vectors of the same pairs' dissimilarities."""
    va, vb = torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))
    return float(compare_states(prepare_rdms(va[None], 0, method), prepare_rdms(vb[None], 0, method))[0, 0])


def _square(rdm: Any, name: str) -> np.ndarray:
    v = rdm_vector(rdm, name)
    n = n_from_condensed(v.shape[0], name)
    S = np.zeros((n, n))
    iu = np.triu_indices(n, 1)
    S[iu] = v
    return S + S.T


def _is_rdm(X: Any) -> bool:
    """An RDM object, a condensed vector, or a square symmetric array with a zero diagonal (a representation
    with as many features as stimuli is not mistaken for an RDM)."""
    if hasattr(X, "condensed"):
        return True
    A = np.asarray(X.detach().cpu() if hasattr(X, "detach") else X)
    if A.ndim == 1:
        return True
    return (
        A.ndim == 2
        and A.shape[0] == A.shape[1]
        and np.issubdtype(A.dtype, np.number)
        and bool(np.allclose(A, A.T))
        and not np.any(np.diagonal(A))
    )


def _pairs(ix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(ix.shape[0], 1)
    keep = ix[a] != ix[b]
    i, j = ix[a[keep]], ix[b[keep]]
    return np.minimum(i, j), np.maximum(i, j)


def rdm_alignment(
    X: Any,
    target: Any,
    *,
    rdm: str = "cosine",
    compare: str = "spearman",
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
) -> BootstrapResult:
    """Compare a representation (or its RDM) with a fixed target RDM, with a bootstrap interval.

    Parameters
    ----------
    X : array (n_stimuli, n_features), or an RDM (``reprlab.RDM``, square or condensed)
        The model: a representation, whose RDM is computed with ``rdm``, or an RDM (a square array is
        read as an RDM when it is symmetric with a zero diagonal).
    target : RDM (``reprlab.RDM``, square (n, n) or condensed)
        The target dissimilarities, e.g. human judgements, over the same stimuli in the same order.
    rdm : str
        How the model RDM is computed from a representation: a method of :func:`reprlab.rdm`
        (``"cosine"``, ``"correlation"``, ``"euclidean"``, ``"sqeuclidean"``, ...; see :func:`model_rdm`).
    compare : {"spearman", "rho_a", "pearson", "cosine"}
        RDM comparator over the upper triangle.
    n, seed, ci, method
        Bootstrap over stimuli, as :func:`reprlab.stats.bootstrap` (distinct-pairs rule).
    """
    X, target = match_rows([("X", X), ("target", target)], None)
    if compare not in PAIR_COMPARATORS:
        raise ReprlabError(f"`compare` must be one of {PAIR_COMPARATORS}; got {compare!r}.")
    n = check_count(n)
    ci = check_level(ci)
    method = _check_method(method)
    rng = check_seed(seed)
    T = _square(target, "target")
    if _is_rdm(X):
        M = _square(X, "X")
    else:
        M = model_rdm(X, rdm)
    if M.shape != T.shape:
        raise ReprlabError(
            f"The target RDM covers {T.shape[0]} stimuli but the model has {M.shape[0]}; they must be over the same "
            "stimuli in the same order (check that the target belongs to this stimulus set)."
        )
    units = T.shape[0]
    _check_units(units, "The RDMs")

    def value_on(ix: np.ndarray) -> float:
        i, j = _pairs(ix)
        return _compare(M[i, j], T[i, j], compare)

    value, samples, jack = run_bootstrap(value_on, units, n=n, rng=rng, jackknife=method == "bca")
    lo, hi = interval(samples, value, ci, method, jack)
    spec = f"rsa(rdm={rdm}, compare={compare}) vs target"
    return BootstrapResult(
        float(value), float(lo), float(hi), samples, method, n, _seed_of(seed), ci, spec, "distinct_pairs"
    )


def layerwise_rdm_alignment(layers: Mapping[str, Any], target: Any, **kwargs: Any) -> dict[str, BootstrapResult]:
    """:func:`rdm_alignment` for every layer of ``layers`` (name -> representation); the same seed gives
    every layer the same resamples of stimuli."""
    if not isinstance(layers, Mapping) and not hasattr(layers, "names"):
        raise ReprlabError("`layers` must be a mapping of layer name -> array (or an rl.Activations).")
    layers, target = match_rows([("layers", layers), ("target", target)], None)
    names = list(layers.names) if hasattr(layers, "names") else list(layers)
    return {str(k): rdm_alignment(layers[k], target, **kwargs) for k in names}


def human_rsa(
    model: Any,
    stimuli: Any = "lee50",
    *,
    layers: Any = "all",
    pool: str | None = "mean",
    rdm: str = "cosine",
    compare: str = "spearman",
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
    **extract_kwargs: Any,
) -> dict[str, BootstrapResult]:
    """Layer-wise RSA of a model against a stimulus set's human RDM (``lee50`` by default).

    ``model`` is a zoo name (``"minilm-l6"``), a loaded zoo model or any model :func:`reprlab.extract`
    accepts; ``stimuli`` a set name or an ``rl.stimuli`` set with human dissimilarities. Every layer
    (``layers``, pooled by ``pool``; other keywords such as ``batch_size`` go to :func:`reprlab.extract`)
    gets its ``rdm`` RDM compared with the human one by ``compare``, with a bootstrap interval over
    stimuli (distinct-pairs rule). Returns layer name -> :class:`BootstrapResult`, in network order.
    """
    import reprlab as rl

    stim = rl.stimuli.load(stimuli) if isinstance(stimuli, str) else stimuli
    if getattr(stim, "human_similarity", None) is None and getattr(stim, "human_dissimilarity", None) is None:
        raise ReprlabError(f"The stimulus set {getattr(stim, 'name', stimuli)!r} has no human RDM; lee50 has one.")
    target = stim.human_dissimilarity
    if isinstance(model, str):
        model = rl.zoo.load(model)
    acts = rl.extract(model, stim, layers=layers, pool=pool, **extract_kwargs)
    return layerwise_rdm_alignment(acts, target, rdm=rdm, compare=compare, n=n, seed=seed, ci=ci, method=method)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt((ra @ ra) * (rb @ rb))
    if den == 0:
        raise ReprlabError("Spearman's correlation is undefined: the cosines or the ratings are all tied.")
    return float(ra @ rb / den)


def word_similarity_from_vectors(
    vectors: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    ratings: Any,
    *,
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
) -> BootstrapResult:
    """Spearman correlation between the cosine of word vectors and human ratings, with a bootstrap over pairs.

    Parameters
    ----------
    vectors : Mapping[str, 1-D array]
        An embedding per word (every word of ``pairs`` must be present).
    pairs : sequence of (word, word)
    ratings : 1-D array, one human similarity rating per pair
    n, seed, ci, method
        Bootstrap over the rated pairs (percentile or BCa interval).
    """
    n = check_count(n)
    ci = check_level(ci)
    method = _check_method(method)
    rng = check_seed(seed)
    r = np.asarray(ratings, dtype=float)
    if r.ndim != 1 or r.shape[0] != len(pairs):
        raise ReprlabError(
            f"`ratings` must be 1-D with one rating per pair; got shape {r.shape} for {len(pairs)} pairs."
        )
    missing = sorted({w for p in pairs for w in p if w not in vectors})
    if missing:
        raise ReprlabError(f"No vector for {len(missing)} word(s) of `pairs`, e.g. {missing[:5]}; embed every word.")
    cos = np.empty(len(pairs))
    for k, (w1, w2) in enumerate(pairs):
        a = np.asarray(vectors[w1], dtype=float).ravel()
        b = np.asarray(vectors[w2], dtype=float).ravel()
        den = np.linalg.norm(a) * np.linalg.norm(b)
        if den == 0:
            raise ReprlabError(f"The vector of {w1!r} or {w2!r} is zero, so their cosine is undefined.")
        cos[k] = a @ b / den
    _check_units(len(pairs), "The word pairs")
    value, samples, jack = run_bootstrap(
        lambda ix: _spearman(cos[ix], r[ix]), len(pairs), n=n, rng=rng, jackknife=method == "bca"
    )
    lo, hi = interval(samples, value, ci, method, jack)
    return BootstrapResult(
        float(value), float(lo), float(hi), samples, method, n, _seed_of(seed), ci, "spearman(cosine, rating)", "pairs"
    )


def word_similarity(
    model: Any,
    dataset: Any = "simlex999",
    *,
    layers: Any = "all",
    pool: str | None = "mean",
    n: int = 1000,
    seed: Any = 0,
    ci: float = 0.95,
    method: str = "percentile",
    **extract_kwargs: Any,
) -> dict[str, BootstrapResult]:
    """Word-similarity alignment of every layer of a model on ``simlex999`` or ``wordsim353``.

    The stimulus set's items are its distinct words; each is fed to the model on its own and pooled
    (``pool``) into one vector per layer (other keywords go to :func:`reprlab.extract`). See the module
    docstring for the protocol. Returns layer name -> :class:`BootstrapResult`, in network order.
    """
    import reprlab as rl

    stim = rl.stimuli.load(dataset) if isinstance(dataset, str) else dataset
    pairs = getattr(stim, "pairs", None)
    ratings = getattr(stim, "ratings", None)
    if pairs is None or ratings is None:
        raise ReprlabError(
            f"The stimulus set {getattr(stim, 'name', dataset)!r} has no rated word pairs; use simlex999 or wordsim353."
        )
    pairs = [tuple(p) for p in pairs]
    if isinstance(model, str):
        model = rl.zoo.load(model)
    acts = rl.extract(model, stim, layers=layers, pool=pool, **extract_kwargs)
    out = {}
    for name in acts.names:
        vectors = dict(zip(stim.items, np.asarray(acts[name])))
        out[str(name)] = word_similarity_from_vectors(vectors, pairs, ratings, n=n, seed=seed, ci=ci, method=method)
    return out
