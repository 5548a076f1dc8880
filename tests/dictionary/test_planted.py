"""A planted dictionary is recovered: 512 unit atoms in d=64, 5 active per row, 50,000 rows."""

from __future__ import annotations

import pytest

import reprlab as rl

from .conftest import planted


@pytest.mark.slow
def test_topk_recovers_the_planted_atoms():
    X, D, _ = planted(50_000, 512, 64, 5, seed=0)
    sae = rl.dictionary.train(X, kind="topk", k=5, n_latents=512, steps=4000, batch_size=256, lr=3e-3, progress=False)
    m = rl.dictionary.match(D, sae)  # for each planted atom its best learnt atom
    assert m.recovered(0.9) >= 0.90, (m, m.recovered(0.9))
