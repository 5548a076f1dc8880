"""NWB: write -> read gives identical arrays and stimulus tables; spikes binned per trial; a file without a
stimulus table is refused. The tests write their own small NWB files."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError

pynwb = pytest.importorskip("pynwb")


@pytest.fixture
def content():
    rng = np.random.default_rng(0)
    trials = {
        "start_time": np.arange(6) * 2.0,
        "stop_time": np.arange(6) * 2.0 + 1.5,
        "stimulus": np.array(["cat", "dog", "cat", "fish", "dog", "owl"]),
        "code": np.arange(6),
        "loudness": rng.normal(size=6),
    }
    return {
        "trials": trials,
        "responses": rng.normal(size=(1200, 3)),
        "rate": 100.0,
        "channels": ["F7", "Fz", "T4"],
        "trial_responses": rng.normal(size=(6, 3)),
        "spike_times": [np.sort(rng.uniform(0, 12, 80)), np.sort(rng.uniform(0, 12, 30))],
        "units": ["u1", "u2"],
    }


def test_write_read_round_trip_is_exact(tmp_path, content):
    path = rl.io.write_nwb(tmp_path / "s.nwb", **content)
    f = rl.io.read_nwb(path)
    assert list(f.trials) == list(content["trials"])
    for k, v in content["trials"].items():
        np.testing.assert_array_equal(f.trials[k], v)
        assert f.trials[k].dtype.kind == ("O" if v.dtype.kind == "U" else v.dtype.kind)
    np.testing.assert_array_equal(f.responses, content["responses"])
    np.testing.assert_array_equal(f.trial_responses, content["trial_responses"])
    for a, b in zip(f.spike_times, content["spike_times"]):
        np.testing.assert_array_equal(a, b)
    assert f.rate == 100.0 and f.channels == content["channels"] and f.units == content["units"]
    assert f.stimulus_table().shape == (6, 5)


def test_spikes_binned_per_trial(tmp_path, content):
    f = rl.io.read_nwb(rl.io.write_nwb(tmp_path / "s.nwb", **content))
    counts = f.spike_counts()
    for i, (a, b) in enumerate(zip(content["trials"]["start_time"], content["trials"]["stop_time"])):
        for u, st in enumerate(content["spike_times"]):
            assert counts[i, u] == np.sum((st >= a) & (st < b))
    binned = f.spike_counts(bin_size=0.5)
    assert binned.shape == (6, 3, 2)
    np.testing.assert_array_equal(binned.sum(1), counts)
    means = f.trial_means()
    t = np.arange(1200) / 100.0
    np.testing.assert_allclose(means[2], content["responses"][(t >= 4.0) & (t < 5.5)].mean(0))


def test_missing_stimulus_table_and_other_bad_input(tmp_path, content):
    from datetime import datetime, timezone

    bare = pynwb.NWBFile(session_description="no trials", identifier="x", session_start_time=datetime.now(timezone.utc))
    bare.add_acquisition(pynwb.TimeSeries(name="responses", data=np.zeros((10, 2)), unit="a.u.", rate=10.0))
    with pynwb.NWBHDF5IO(str(tmp_path / "bare.nwb"), "w") as io:
        io.write(bare)
    with pytest.raises(ReprlabError, match="no stimulus table"):
        rl.io.read_nwb(tmp_path / "bare.nwb")
    with pytest.raises(ReprlabError, match="start_time and stop_time"):
        rl.io.write_nwb(tmp_path / "a.nwb", trials={"stimulus": ["a"]}, responses=np.zeros((5, 1)), rate=1.0)
    with pytest.raises(ReprlabError, match="sampling `rate`"):
        rl.io.write_nwb(tmp_path / "a.nwb", trials=content["trials"], responses=np.zeros((5, 1)))
    with pytest.raises(ReprlabError, match="one row per trial"):
        rl.io.write_nwb(tmp_path / "a.nwb", trials=content["trials"], trial_responses=np.zeros((5, 1)))
    with pytest.raises(ReprlabError, match="Nothing to write"):
        rl.io.write_nwb(tmp_path / "a.nwb", trials=content["trials"])
    rl.io.write_nwb(tmp_path / "b.nwb", **content)
    with pytest.raises(ReprlabError, match="overwrite=True"):
        rl.io.write_nwb(tmp_path / "b.nwb", **content)
    with pytest.raises(ReprlabError, match="no acquisition series 'lfp'"):
        rl.io.read_nwb(tmp_path / "b.nwb", series="lfp")
    with pytest.raises(ReprlabError, match="No NWB file"):
        rl.io.read_nwb(tmp_path / "none.nwb")
