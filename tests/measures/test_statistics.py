"""magnitude_difference, concentricity_difference, uniformity_difference: ReSi parity, properties, errors."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_inputs, oracle_records
from tests.measures._props import check_declared_properties


@pytest.mark.parametrize(
    "measure_id, name",
    [
        ("magnitude_difference", "magnitude_difference"),
        ("concentricity_difference", "concentricity_difference"),
        ("uniformity_difference.t=2", "uniformity_difference"),
    ],
)
def test_matches_resi(measure_id, name):
    for rec in oracle_records(measure_id):
        X, Y = oracle_inputs(rec)
        assert_oracle(getattr(rl.measures, name)(X, Y), rec)


def test_formulas_on_fresh_data(rng):
    X, Y = rng.normal(size=(30, 5)) + 1.0, 0.3 * rng.normal(size=(30, 7)) - 0.5
    mag = abs(np.linalg.norm(X.mean(0)) - np.linalg.norm(Y.mean(0)))
    assert rl.compare(X, Y, "magnitude_difference") == pytest.approx(mag, rel=1e-12)

    def conc(A):
        m = A.mean(0)
        return np.mean(A @ m / (np.linalg.norm(A, axis=1) * np.linalg.norm(m)))

    assert rl.compare(X, Y, "concentricity_difference") == pytest.approx(abs(conc(X) - conc(Y)), rel=1e-12)

    def unif(A, t):
        D2 = ((A[:, None] - A[None]) ** 2).sum(-1)
        return np.log(np.mean(np.exp(-t * D2)))

    for t in (0.5, 2.0):
        want = abs(unif(X, t) - unif(Y, t))
        assert rl.compare(X, Y, "uniformity_difference", t=t) == pytest.approx(want, rel=1e-10)


def test_uniformity_underflow_is_the_true_value(rng):
    """Far-apart rows: every off-diagonal exp(-2 d^2) is below 1e-300, so U = -log n for both, exactly."""
    X, Y = 30 * rng.normal(size=(20, 4)), 50 * rng.normal(size=(20, 6))
    assert rl.compare(X, Y, "uniformity_difference") == 0.0
    # Unit-norm rows give an informative (nonzero) value, computed without underflow.
    Xn, Yn = X / np.linalg.norm(X, axis=1, keepdims=True), Y / np.linalg.norm(Y, axis=1, keepdims=True)
    assert rl.compare(Xn, Yn, "uniformity_difference") > 1e-3


@pytest.mark.parametrize("name", ["magnitude_difference", "concentricity_difference", "uniformity_difference"])
def test_declared_properties(name):
    g = np.random.default_rng(11)
    X, Y, Z = (g.normal(size=(40, w)) + 0.5 for w in (6, 8, 10))
    check_declared_properties(name, X, Y, Z)


def test_errors(rng):
    X = rng.normal(size=(10, 3))
    with pytest.raises(ReprlabError, match="zero mean row"):
        rl.compare(X - X.mean(0), X, "concentricity_difference")
    Xz = X + 1.0
    Xz[2] = 0.0
    with pytest.raises(ReprlabError, match="1 rows of a representation are all zero"):
        rl.compare(Xz, X, "concentricity_difference")
    with pytest.raises(ReprlabError, match="'t' parameter of 'uniformity_difference' must be a positive number"):
        rl.compare(X, X, "uniformity_difference", t=0)
