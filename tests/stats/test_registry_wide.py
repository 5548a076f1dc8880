"""Every compare measure in the registry can be bootstrapped and permutation-tested (generated from the registry)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.stats.resampling import REFUSED, Evaluator


def _inputs(info):
    g = np.random.default_rng(0)
    if info.input_ndim == 3:  # (conditions, repeats, features)
        X = g.normal(size=(12, 1, 4)) + 0.3 * g.normal(size=(12, 5, 4))
        return X, X + 0.3 * g.normal(size=X.shape)
    latent = g.normal(size=(30, 3))
    return latent @ g.normal(size=(3, 6)) + 0.2 * g.normal(size=(30, 6)), latent @ g.normal(size=(3, 5))


@pytest.mark.parametrize("info", rl.measures.available(kind="compare"), ids=lambda i: i.name)
def test_bootstrap_and_permutation_for_every_measure(info):
    X, Y = _inputs(info)
    ev = Evaluator.resolve(info.name, {})
    p = rl.stats.permutation_test(X, Y, info.name, n=3, seed=0)
    assert p.p in (0.25, 0.5, 0.75, 1.0) and p.larger_is_similar == info.larger_is_similar
    if info.name in REFUSED:  # no valid bootstrap rule: refused, pointing to the permutation test
        with pytest.raises(ReprlabError, match="permutation_test"):
            rl.stats.bootstrap(X, Y, info.name, n=3, seed=0)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", "`n` = 3 resamples are too few")  # 3 resamples: the mechanics only
        b = rl.stats.bootstrap(X, Y, info.name, n=3, seed=0)
    assert b.value == pytest.approx(rl.compare(X, Y, info.name), rel=1e-9, abs=1e-12)
    assert np.all(np.isfinite(b.samples)) and b.samples.shape == (3,)
    assert b.rule == ev.rule
