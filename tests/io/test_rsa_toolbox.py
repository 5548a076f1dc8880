"""rsatoolbox round trips: descriptors kept, RDMs from a converted Dataset equal rsatoolbox's own."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError

rsatoolbox = pytest.importorskip("rsatoolbox")


@pytest.fixture
def dataset():
    rng = np.random.default_rng(7)
    conds = np.tile(np.array(["a", "b", "c", "d", "e"]), 4)
    runs = np.repeat(np.arange(4), 5)
    X = rng.normal(size=(20, 12)) + rng.normal(size=(5, 12))[np.tile(np.arange(5), 4)]
    return rsatoolbox.data.Dataset(
        X,
        descriptors={"subject": "s01", "session": 2},
        obs_descriptors={"conds": conds, "runs": runs},
        channel_descriptors={"names": [f"v{i}" for i in range(12)], "roi": np.repeat(["V1", "V2"], 6)},
    )


def test_dataset_round_trip_keeps_everything(dataset):
    data = rl.io.from_rsatoolbox(dataset)
    assert data.data.shape == (20, 12)
    np.testing.assert_array_equal(data.conditions, dataset.obs_descriptors["conds"])
    np.testing.assert_array_equal(data.runs, dataset.obs_descriptors["runs"])
    assert data.channel_names == [f"v{i}" for i in range(12)]
    assert data.descriptors == {"subject": "s01", "session": 2}
    back = rl.io.to_rsatoolbox(data)
    np.testing.assert_array_equal(back.measurements, dataset.measurements)
    assert back.descriptors == dataset.descriptors
    for key in ("obs_descriptors", "channel_descriptors"):
        a, b = getattr(back, key), getattr(dataset, key)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize(
    ("peer_method", "ours"),
    [
        ("crossnobis", {"method": "crossnobis"}),
        ("correlation", {"method": "correlation"}),
        ("euclidean", {"method": "sqeuclidean", "normalize": True}),  # rsatoolbox's 'euclidean'
    ],
)
def test_rdms_from_a_converted_dataset_equal_rsatoolbox(dataset, peer_method, ours):
    kw = {"cv_descriptor": "runs"} if peer_method == "crossnobis" else {}
    peer = rsatoolbox.rdm.calc_rdm(dataset, method=peer_method, descriptor="conds", **kw)
    mine = rl.io.from_rsatoolbox(dataset).rdm(**ours)
    np.testing.assert_allclose(mine.condensed, peer.dissimilarities[0], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(mine.labels, peer.pattern_descriptors["conds"])


def test_rdms_round_trip(dataset):
    peer = rsatoolbox.rdm.calc_rdm([dataset, dataset], method="correlation", descriptor="conds")
    peer.rdm_descriptors["subject"] = ["s01", "s02"]
    got = rl.io.from_rsatoolbox(peer)
    assert len(got) == 2 and got.method == "correlation"
    np.testing.assert_array_equal(got[0].labels, peer.pattern_descriptors["conds"])
    back = rl.io.to_rsatoolbox(got)
    np.testing.assert_array_equal(back.dissimilarities, peer.dissimilarities)
    assert back.dissimilarity_measure == peer.dissimilarity_measure
    assert back.rdm_descriptors == peer.rdm_descriptors
    assert back.pattern_descriptors.keys() == peer.pattern_descriptors.keys()
    # a reprlab RDM goes out with its labels as the pattern descriptor 'conds'
    D = rl.rdm(dataset.measurements, "euclidean", conditions=dataset.obs_descriptors["conds"])
    out = rl.io.to_rsatoolbox(D)
    np.testing.assert_array_equal(out.dissimilarities[0], D.condensed)
    assert list(out.pattern_descriptors["conds"]) == list(D.labels)


def test_brain_rsa_with_a_noise_ceiling_through_the_round_trip(dataset):
    rng = np.random.default_rng(1)
    subjects = []
    for _ in range(4):
        ds = rsatoolbox.data.Dataset(
            dataset.measurements + 0.5 * rng.normal(size=dataset.measurements.shape),
            obs_descriptors=dataset.obs_descriptors,
        )
        subjects.append(rl.io.from_rsatoolbox(ds).rdm("crossnobis"))
    lower, upper = rl.stats.noise_ceiling([r.condensed for r in subjects], method="pearson")
    assert 0 < lower <= upper <= 1


def test_what_cannot_be_represented():
    rng = np.random.default_rng(0)
    temporal = rsatoolbox.data.TemporalDataset(rng.normal(size=(4, 3, 5)))
    with pytest.raises(ReprlabError, match="TemporalDataset"):
        rl.io.from_rsatoolbox(temporal)
    D = rng.random((1, 6))
    D[0, 2] = np.nan
    with pytest.raises(ReprlabError, match="missing"):
        rl.io.from_rsatoolbox(rsatoolbox.rdm.RDMs(D))
    with pytest.raises(ReprlabTypeError, match="rsatoolbox Dataset or RDMs"):
        rl.io.from_rsatoolbox(np.zeros((3, 3)))
    with pytest.raises(ReprlabError, match="one entry per observation"):
        rl.io.to_rsatoolbox(rng.normal(size=(5, 2)), conditions=[0, 1])
    with pytest.raises(ReprlabError, match="n_observations, n_channels"):
        rl.io.to_rsatoolbox(rng.normal(size=(5, 2, 2)))
