"""Noise ceilings (rsatoolbox parity), split-half reliability with Spearman-Brown, normalisation, errors."""

from __future__ import annotations

import numpy as np
import pytest
import rsatoolbox
from scipy.spatial.distance import squareform

import reprlab as rl
from reprlab.errors import ReprlabError
from tests.conftest import assert_oracle, oracle_inputs, oracle_records

METHODS = {"spearman": "spearman", "rho_a": "rho_a", "pearson": "pearson", "cosine": "cosine"}


@pytest.mark.parametrize("method", METHODS)
def test_noise_ceiling_matches_rsatoolbox_oracle(method):
    for rec in oracle_records(f"rsa.noise_ceiling.leave_one_out.compare={method}"):
        (subjects,) = oracle_inputs(rec)
        assert_oracle(list(rl.stats.noise_ceiling(subjects, method=method)), rec)


@pytest.mark.parametrize("method, peer", [("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine")])
def test_noise_ceiling_matches_rsatoolbox_on_fresh_data(method, peer):
    rng = np.random.default_rng(1)
    truth = rng.random(66)
    subjects = np.abs(truth + 0.4 * rng.normal(size=(5, 66)))
    want = rsatoolbox.inference.boot_noise_ceiling(rsatoolbox.rdm.RDMs(subjects), method=peer)
    got = rl.stats.noise_ceiling(subjects, method=method)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_input_forms_agree():
    (subjects,) = oracle_inputs(oracle_records("rsa.noise_ceiling.leave_one_out.compare=spearman")[0])
    a = rl.stats.noise_ceiling(subjects)
    b = rl.stats.noise_ceiling(np.stack([squareform(v) for v in subjects]))
    c = rl.stats.noise_ceiling([squareform(v) for v in subjects])
    lower, upper = a
    assert lower < upper and a == b == c
    assert a.lower == lower and a.upper == upper


def test_subjects_with_different_stimulus_sets():
    rng = np.random.default_rng(0)
    with pytest.raises(ReprlabError, match=r"different stimulus sets: rdms_per_subject\[0\] covers 20 stimuli"):
        rl.stats.noise_ceiling([rng.random(190), rng.random(190), rng.random(171)])


@pytest.mark.parametrize(
    "rdms, kwargs, match",
    [
        (np.ones((1, 10)), {}, "at least 2 subjects"),
        (np.ones((3, 11)), {}, "not n\\(n-1\\)/2"),
        (np.ones((3, 10)), {"method": "euclid"}, "`method` must be one of"),
        (np.ones((2, 2, 3, 3)), {}, "shape \\(2, 2, 3, 3\\)"),
        ([np.arange(9.0).reshape(3, 3)] * 2, {}, "not symmetric"),
        ([np.full(10, np.nan)] * 2, {}, "NaN or Inf"),
    ],
)
def test_noise_ceiling_errors(rdms, kwargs, match):
    with pytest.raises(ReprlabError, match=match):
        rl.stats.noise_ceiling(rdms, **kwargs)


def test_spearman_brown():
    assert rl.stats.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert rl.stats.spearman_brown(0.5, factor=3) == pytest.approx(0.75)
    np.testing.assert_allclose(rl.stats.spearman_brown([0.0, 1.0]), [0.0, 1.0])
    with pytest.raises(ReprlabError, match="`factor` must be positive"):
        rl.stats.spearman_brown(0.5, factor=0)


def test_split_half_reliability_recovers_the_known_value():
    """Signal variance 1, noise variance 4 per repeat, 8 repeats: reliability of the 8-repeat mean is
    1 / (1 + 4/8) = 2/3 for every unit."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(400, 3))
    data = signal[None] + 2.0 * rng.normal(size=(8, 400, 3))
    rel = rl.stats.split_half_reliability(data, n_splits=20)
    assert rel.shape == (3,)
    np.testing.assert_allclose(rel, 2 / 3, atol=0.05)
    raw = rl.stats.split_half_reliability(data[:, :, 0], n_splits=20, corrected=False)
    assert isinstance(raw, float) and raw == pytest.approx(0.5, abs=0.06)  # 4-repeat halves: 1 / (1 + 1)


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        (np.ones((1, 5, 2)), {}, "at least 2 repeats"),
        (np.ones((4, 2, 2)), {}, "at least 3"),
        (np.ones((4, 5)), {}, "no variance"),
        (np.ones(5), {}, "must have shape"),
        (np.random.default_rng(0).normal(size=(4, 5)), {"n_splits": 0}, "`n_splits`"),
        (np.full((4, 5), np.nan), {}, "NaN"),
    ],
)
def test_split_half_errors(data, kwargs, match):
    with pytest.raises(ReprlabError, match=match):
        rl.stats.split_half_reliability(data, **kwargs)


def test_normalise_raw_and_ceiling_normalised():
    nc = rl.stats.NoiseCeiling(0.4, 0.5)
    a = rl.stats.normalise(0.2, nc)
    assert (a.raw, a.ceiling, a.normalised) == (0.2, 0.4, pytest.approx(0.5))
    assert rl.stats.normalise(0.2, nc, bound="upper").normalised == pytest.approx(0.4)
    per_unit = rl.stats.normalise(np.array([0.2, 0.3]), np.array([0.4, 0.6]))
    np.testing.assert_allclose(per_unit.normalised, [0.5, 0.5])
    with pytest.raises(ReprlabError, match="must be positive and finite"):
        rl.stats.normalise(0.2, 0.0)
    with pytest.raises(ReprlabError, match="`bound` must be"):
        rl.stats.normalise(0.2, nc, bound="middle")


def test_normalise_a_bootstrap_result():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    r = rl.stats.bootstrap(X, X + rng.normal(size=X.shape), "cka", n=50)
    a = rl.stats.normalise(r, rl.stats.NoiseCeiling(0.5, 0.8))
    assert a.raw == r.value and a.normalised == pytest.approx(r.value / 0.5)
    assert a.normalised_interval == (pytest.approx(r.ci_low / 0.5), pytest.approx(r.ci_high / 0.5))
    assert rl.stats.normalise(0.3, 0.6).normalised_interval is None
    with pytest.raises(ReprlabError, match="one ceiling, not an array"):
        rl.stats.normalise(r, np.array([0.5, 0.6]))
