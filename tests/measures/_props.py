"""Check a measure's declared properties (invariances, symmetry, metric axioms) on Gaussian data.

Used by the issue-3 measure tests until (and beside) the registry-wide property test: every
declared invariance of every variant is applied to one side and must leave the value unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ortho_group

import reprlab as rl


def transforms(g: np.random.Generator, d: int) -> dict[str, callable]:
    Q = ortho_group.rvs(d, random_state=int(g.integers(1 << 31)))
    A = g.normal(size=(d, d)) + 3 * np.eye(d)
    perm = g.permutation(d)
    shift = g.normal(size=d) * 3
    return {
        "permutation": lambda Y: Y[..., perm],
        "orthogonal": lambda Y: Y @ Q,
        "isotropic_scaling": lambda Y: 2.7 * Y,
        "translation": lambda Y: Y + shift,
        "invertible_linear": lambda Y: Y @ A,
        "affine": lambda Y: Y @ A + shift,
    }


def check_declared_properties(name: str, X, Y, Z, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    """Assert every declared invariance and (for metric variants) symmetry, identity and triangle."""
    info = rl.measures.info(name)
    g = np.random.default_rng(7)
    tf = transforms(g, Y.shape[-1])
    for case in info.property_cases():
        f = getattr(rl.measures, name)
        p = dict(case.params)
        base = f(X, Y, **p)
        for inv in case.invariances:
            got = f(X, tf[inv](Y), **p)
            np.testing.assert_allclose(got, base, rtol=rtol, atol=atol, err_msg=f"{name}{p}: {inv}")
        lo, hi = case.range
        assert lo - 1e-12 <= base <= hi + 1e-12, f"{name}{p}: {base} outside {case.range}"
        if info.symmetric:
            np.testing.assert_allclose(f(Y, X, **p), base, rtol=rtol, atol=atol, err_msg=f"{name}{p}: symmetry")
        if case.is_metric:
            assert abs(f(X, X, **p)) <= 1e-6, f"{name}{p}: d(X, X) != 0"
            xy, yz, xz = base, f(Y, Z, **p), f(X, Z, **p)
            assert xz <= xy + yz + 1e-9, f"{name}{p}: triangle inequality"
