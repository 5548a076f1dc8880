"""compare_all mirrors a within-set matrix only where the measure is symmetric at those parameters."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl


@pytest.mark.parametrize("spec", ["cca(summary=pwcca)", "rsa(rdm=euclidean, compare=riemannian)"])
def test_asymmetric_settings_are_not_mirrored(spec):
    g = np.random.default_rng(0)
    if "riemannian" in spec:  # needs positive-definite second moments: more features than conditions
        reps = [g.normal(size=(12, 30)) for _ in range(3)]
    else:
        reps = [g.normal(size=(40, 5)) for _ in range(3)]
    info = rl.measures.info(spec)
    assert info.symmetric and not info.symmetric_for(rl._registry.parse_spec(spec)[1])
    res = rl.compare_all(reps, None, spec)
    for i in range(3):
        for j in range(3):
            assert res.values[i, j] == pytest.approx(rl.compare(reps[i], reps[j], spec), rel=1e-12, abs=1e-12)
    assert not np.allclose(res.values, res.values.T)
