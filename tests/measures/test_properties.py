"""Property tests generated from the registry: every declared invariance, symmetry, range and metric
axiom of every measure, at its defaults and at each declared variant.

A measure's MeasureInfo says what holds; these tests check it on random data (hypothesis draws the
seeds). Adding a measure adds its tests: nothing here names a measure.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprlab as rl
from reprlab import _registry

N, DX, DY = 40, 8, 6
SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cases(kind: str):
    out = []
    for info in rl.measures.available(kind=kind):
        for k, case in enumerate(info.property_cases()):
            out.append(pytest.param(info, case, id=f"{info.name}-{k}:{dict(case.params)}"))
    return out


def _orthogonal(d: int, g: np.random.Generator) -> np.ndarray:
    Q, R = np.linalg.qr(g.normal(size=(d, d)))
    return Q * np.sign(np.diag(R))


def transform(Y: np.ndarray, kind: str, g: np.random.Generator) -> np.ndarray:
    """Apply a random member of the group ``kind`` to the feature (last) axis of ``Y``."""
    d = Y.shape[-1]
    if kind == "permutation":
        return Y[..., g.permutation(d)]
    if kind == "orthogonal":
        return Y @ _orthogonal(d, g)
    if kind == "isotropic_scaling":
        return Y * g.uniform(0.2, 5.0)
    if kind == "translation":
        return Y + g.normal(scale=3.0, size=d)
    A = _orthogonal(d, g) @ np.diag(g.uniform(0.5, 2.0, size=d)) @ _orthogonal(d, g)
    if kind == "invertible_linear":
        return Y @ A
    if kind == "affine":
        return Y @ A + g.normal(scale=3.0, size=d)
    raise AssertionError(kind)


def make_inputs(info, g: np.random.Generator, n_inputs: int = 2):
    """Related random representations of the shape the measure takes."""
    if info.input_ndim == 3:  # (conditions, repeats, features)
        base = g.normal(size=(12, 1, DY)) + 0.3 * g.normal(size=(12, 6, DY))
        reps = [base + 0.3 * g.normal(size=base.shape) for _ in range(n_inputs)]
        return [r @ _orthogonal(DY, g) for r in reps]
    latent = g.normal(size=(N, 4))
    out = []
    for i in range(n_inputs):
        d = DX if i % 2 == 0 else DY
        W = g.normal(size=(4, d))
        out.append(np.tanh(latent @ W) + 0.3 * g.normal(size=(N, d)) + g.normal(size=d))
    return out


def value(info, params, *inputs):
    fn = getattr(rl.measures, info.name) if info.kind == "compare" else getattr(rl.describe, info.name)
    return fn(*inputs, **params)


def assert_same(a, b, what: str, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k], f"{what}[{k!r}]", rtol, atol)
        return
    if isinstance(a, (str, type(None))):
        assert a == b, what
        return
    np.testing.assert_allclose(
        np.asarray(b, dtype=float), np.asarray(a, dtype=float), rtol=rtol, atol=atol, err_msg=what
    )


def _scalar(v) -> float | None:
    if isinstance(v, (float, int)) and not isinstance(v, bool):
        return float(v)
    return None


@pytest.mark.parametrize("info, case", _cases("compare"))
@SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_declared_invariances_compare(info, case, seed):
    g = np.random.default_rng(seed)
    X, Y = make_inputs(info, g)
    base = value(info, case.params, X, Y)
    for kind in sorted(case.invariances):
        assert_same(base, value(info, case.params, X, transform(Y, kind, g)), f"{info.name} {case.params}: {kind} of Y")
        if info.symmetric_for(case.params):
            assert_same(base, value(info, case.params, transform(X, kind, g), Y), f"{info.name}: {kind} of X")


@pytest.mark.parametrize("info, case", _cases("compare"))
@SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_declared_symmetry_and_range(info, case, seed):
    g = np.random.default_rng(seed)
    X, Y = make_inputs(info, g)
    v = value(info, case.params, X, Y)
    if info.symmetric_for(case.params):
        assert_same(v, value(info, case.params, Y, X), f"{info.name} {case.params}: symmetry")
    s = _scalar(v)
    if s is not None:
        lo, hi = case.range
        assert lo - 1e-9 <= s <= hi + 1e-9, f"{info.name} {case.params}: {s} outside declared range {case.range}"


def _metric_cases():
    return [
        pytest.param(info, case, id=f"{info.name}:{dict(case.params)}")
        for info in rl.measures.available(kind="compare")
        for case in info.property_cases()
        if case.is_metric
    ]


@pytest.mark.parametrize("info, case", _metric_cases())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_metric_axioms(info, case, seed):
    g = np.random.default_rng(seed)
    X, Y, Z = make_inputs(info, g, 3)
    d = lambda a, b: value(info, case.params, a, b)  # noqa: E731
    dxy, dyz, dxz = d(X, Y), d(Y, Z), d(X, Z)
    assert dxy >= -1e-9 and dyz >= -1e-9 and dxz >= -1e-9, "non-negativity"
    assert d(Y, X) == pytest.approx(dxy, rel=1e-8, abs=1e-9), "symmetry"
    assert d(X, X) == pytest.approx(0.0, abs=1e-6), "identity"
    assert dxz <= dxy + dyz + 1e-9, f"triangle inequality: {dxz} > {dxy} + {dyz}"
    # identity up to the declared equivalence: a transformed copy is at distance 0
    for kind in sorted(case.invariances):
        assert d(X, transform(X, kind, g)) == pytest.approx(0.0, abs=1e-6), f"d(X, {kind}(X)) != 0"


@pytest.mark.parametrize("info, case", _cases("describe"))
@SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_declared_invariances_describe(info, case, seed):
    """Describe measures get 150 rows (k=100 estimators need more than 100) and, where they take
    per-row labels, four balanced classes."""
    g = np.random.default_rng(seed)
    latent = g.normal(size=(150, 4))
    X = np.tanh(latent @ g.normal(size=(4, DX))) + 0.3 * g.normal(size=(150, DX)) + g.normal(size=DX)
    params = dict(case.params)
    if "labels" in info.params and "labels" not in params:
        params["labels"] = np.arange(150) % 4
    base = value(info, params, X)
    for kind in sorted(case.invariances):
        assert_same(base, value(info, params, transform(X, kind, g)), f"{info.name} {case.params}: {kind}")


def test_registry_is_complete_and_consistent():
    """Every measure declares its properties fully; nothing escapes the tests above."""
    infos = rl.measures.available()
    assert infos, "no measures registered"
    for info in infos:
        assert info.kind in ("compare", "describe")
        assert info.references, f"{info.name}: no references"
        assert info.summary, f"{info.name}: no summary"
        assert info.range[0] < info.range[1], f"{info.name}: empty range"
        assert info.invariances <= _registry.INVARIANCES
        for name, p in info.params.items():
            assert p.doc, f"{info.name}: parameter {name!r} has no doc"
        for v in info.variants:
            assert set(v.params) <= set(info.params), f"{info.name}: variant with unknown params {v.params}"
            info_params = {**info.defaults(), **v.params}
            _registry.get(info.name).check_params(info_params)  # every variant is a valid setting
        assert set(info.asymmetric_when) <= set(info.params), f"{info.name}: asymmetric_when names unknown params"
        for case in info.property_cases():
            if case.is_metric:
                assert info.symmetric_for(case.params), f"{info.name} {case.params}: a metric must be symmetric"
                assert not case.larger_is_similar, f"{info.name} {case.params}: a metric is a distance"


def test_compare_declarations_are_required_and_describe_ones_implied():
    """A compare measure must say whether larger is more similar, whether it is a metric and whether it
    is symmetric; a describe measure compares nothing, so register fills all three with False."""
    fields = {"family": "_test", "params": {}, "invariances": set(), "range": (0.0, 1.0), "references": ("t",)}
    with pytest.raises(ValueError, match="'_undeclared' must declare larger_is_similar, is_metric and symmetric"):
        _registry.register("_undeclared", larger_is_similar=True, **fields)(lambda X, Y: 0.0)
    assert "_undeclared" not in {i.name for i in rl.measures.available()}
    for info in rl.measures.available():
        if info.kind == "describe":
            assert (info.larger_is_similar, info.is_metric, info.symmetric) == (False, False, False), info.name
