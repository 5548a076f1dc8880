"""The zarr activation store: layout, attributes, lazy reading, resume after a crash, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError
from reprlab.store.zarr_store import StoreWriter

SRC = Path(__file__).resolve().parents[2] / "src"


class Net(torch.nn.Module):
    """(B, 6) -> tokens (B, 3, 8) -> mean -> (B, 4); counts forward calls."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.a = torch.nn.Linear(6, 24)
        self.b = torch.nn.Linear(8, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        t = torch.tanh(self.a(x)).reshape(x.shape[0], 3, 8)
        return self.b(t).mean(1)


X = torch.randn(30, 6, generator=torch.Generator().manual_seed(1))
POOL = {"a": "mean", "b": "none"}


def _same(a: rl.Activations, b: rl.Activations) -> None:
    assert a.names == b.names and a.ids == b.ids
    for n in a.names:
        np.testing.assert_array_equal(a[n], b[n])
        if a.attrs["pooling"][n] == "none":
            for u, v in zip(a.index(n), b.index(n)):
                np.testing.assert_array_equal(u, v)


def test_store_round_trip_and_attributes(tmp_path):
    mem = rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, progress=False)
    disk = rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, out=tmp_path / "s.zarr", progress=False)
    _same(mem, disk)
    opened = rl.Activations.open(tmp_path / "s.zarr")
    _same(mem, opened)
    at = opened.attrs
    assert at["model_id"] == "Net" and at["layers"] == ["a", "b"] and at["pooling"] == POOL
    assert at["stimulus_ids"] == [str(i) for i in range(30)] and at["complete"] and at["n_done"] == 30
    assert at["library_version"] == rl.__version__ and at["created"].endswith("+00:00")
    import zarr

    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert g["layers"]["a"].chunks == (7, 24) and g["layers"]["a"].shape == (30, 24)
    assert opened.shape("b") == (90, 4) and mem["b"].shape == (90, 4)
    stim, pos, _, _ = opened.index("b")
    assert stim.tolist()[:6] == [0, 0, 0, 1, 1, 1] and pos.tolist()[:6] == [0, 1, 2, 0, 1, 2]
    assert "Activations(2 layers, 30 stimuli, path=" in repr(opened)


def test_activations_is_a_mapping_for_compare_all(tmp_path):
    acts = rl.extract(Net(), X, layers="a", batch_size=8, out=tmp_path / "s", progress=False)
    acts = rl.Activations.open(tmp_path / "s")
    other = {"rand": np.random.default_rng(0).normal(size=(30, 5))}
    res = rl.compare_all(acts, other, "cka")
    assert res.rows == ["a"] and res.values.shape == (1, 1)
    assert res.values[0, 0] == pytest.approx(rl.compare(acts["a"], other["rand"], "cka"))
    assert dict(acts).keys() == {"a"} and len(acts) == 1 and list(acts) == ["a"]
    with pytest.raises(KeyError, match="no layer 'aa'"):
        acts["aa"]


def test_subset_and_dask(tmp_path):
    mem = rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, progress=False)
    rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, out=tmp_path / "s", progress=False)
    disk = rl.Activations.open(tmp_path / "s")
    ids = ["17", "3", "29", "3"]
    for acts in (mem, disk):
        sub = acts.subset(ids)
        assert sub.ids == ids
        np.testing.assert_array_equal(sub["a"], mem["a"][[17, 3, 29, 3]])
        stim = sub.index("b").stimulus
        assert stim.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3][: len(stim)]
        np.testing.assert_array_equal(sub["b"][:3], mem["b"][51:54])
    with pytest.raises(ReprlabError, match="not in these activations"):
        disk.subset(["nope"])
    with pytest.raises(ReprlabError, match="only pool='none' layers have a row index"):
        disk.index("a")
    dd = disk.to_dask()
    assert dd["a"].chunks[0][0] == 7
    np.testing.assert_array_equal(dd["a"].compute(), mem["a"])
    np.testing.assert_array_equal(mem.to_dask()["b"].compute(), mem["b"])


def test_finished_store_is_reused_and_other_runs_are_refused(tmp_path):
    out = tmp_path / "s"
    net = Net()
    rl.extract(net, X, layers="a", batch_size=10, out=out, progress=False)
    assert net.calls == 3
    rl.extract(net, X, layers="a", batch_size=10, out=out, progress=False)
    assert net.calls == 3  # nothing recomputed
    with pytest.raises(ReprlabError, match=r"different run.*model_fingerprint"):
        rl.extract(Net(seed=5), X, layers="a", batch_size=10, out=out, progress=False)
    with pytest.raises(ReprlabError, match=r"different run.*layers_requested"):
        rl.extract(net, X, layers="b", batch_size=10, out=out, progress=False)
    with pytest.raises(ReprlabError, match=r"different run.*stimuli"):
        rl.extract(net, X[:20], layers="a", batch_size=10, out=out, progress=False)
    with pytest.raises(ReprlabError, match=r"different run.*model_id"):
        rl.extract(net, X, layers="a", batch_size=10, out=out, model_id="other", progress=False)
    acts = rl.extract(net, X, layers="b", pool="max", out=out, overwrite=True, progress=False)
    assert acts.names == ["b"] and rl.Activations.open(out).attrs["pooling"] == {"b": "max"}


def test_paths_that_are_not_stores(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("x")
    for overwrite in (False, True):
        with pytest.raises(ReprlabError, match="is not an activation store"):
            rl.extract(Net(), X, layers="a", out=tmp_path / "d", overwrite=overwrite, progress=False)
    assert (tmp_path / "d" / "keep.txt").exists()
    with pytest.raises(ReprlabError, match=r"no zarr\.json"):
        rl.Activations.open(tmp_path / "d")
    (tmp_path / "empty").mkdir()
    rl.extract(Net(), X, layers="a", out=tmp_path / "empty", progress=False)  # an empty folder is fine


def test_resume_after_a_crash_between_writing_and_committing(tmp_path, monkeypatch):
    """Rows written after the last commit (pool='none' arrays grow) are dropped, then rewritten."""
    ref = rl.extract(Net(), X, layers="all", pool=POOL, batch_size=4, progress=False)
    out = tmp_path / "s"
    real_commit = StoreWriter._commit
    calls = {"n": 0}

    def crashing_commit(self, rows, n_done):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        real_commit(self, rows, n_done)

    monkeypatch.setattr(StoreWriter, "_commit", crashing_commit)
    with pytest.raises(KeyboardInterrupt):
        rl.extract(Net(), X, layers="all", pool=POOL, batch_size=4, out=out, progress=False)
    monkeypatch.setattr(StoreWriter, "_commit", real_commit)
    with pytest.raises(ReprlabError, match=r"incomplete \(12 of 30 stimuli\)"):
        rl.Activations.open(out)
    import zarr

    assert zarr.open_group(str(out))["layers"]["b"].shape[0] == 48  # 16 stimuli x 3 tokens written, 12 committed
    net = Net()
    resumed = rl.extract(net, X, layers="all", pool=POOL, batch_size=4, out=out, progress=False)
    assert net.calls == 5  # batches 12..29 only
    _same(ref, resumed)


MODEL = """
import time, torch
import reprlab as rl

class Slow(torch.nn.Module):
    def __init__(self, delay):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(6, 24)
        self.b = torch.nn.Linear(8, 4)
        self.delay = delay

    def forward(self, x):
        time.sleep(self.delay)
        t = torch.tanh(self.a(x)).reshape(x.shape[0], 3, 8)
        return self.b(t).mean(1)

X = torch.randn(60, 6, generator=torch.Generator().manual_seed(1))

def run(out, delay):
    rl.extract(Slow(delay), X, layers="all", pool={"a": "mean", "b": "none"}, batch_size=4, out=out, progress=False)
"""


def _n_done(out: Path) -> int:
    try:
        return json.loads((out / "zarr.json").read_text())["attributes"]["n_done"]
    except (FileNotFoundError, KeyError, ValueError):
        return 0


def test_killed_extraction_resumes_to_the_rows_of_an_uninterrupted_run(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(MODEL + "\nimport sys\nrun(sys.argv[1], float(sys.argv[2]))\n")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    killed, full = tmp_path / "killed", tmp_path / "full"
    proc = subprocess.Popen([sys.executable, str(script), str(killed), "0.1"], env=env)
    deadline = time.monotonic() + 120
    while _n_done(killed) < 12 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _n_done(killed)
    assert 12 <= done < 60, f"the kill should land mid-run (n_done={done})"
    with pytest.raises(ReprlabError, match="incomplete"):
        rl.Activations.open(killed)
    subprocess.run([sys.executable, str(script), str(killed), "0"], env=env, check=True)  # resume
    ns: dict = {}
    exec(MODEL, ns)
    ns["run"](full, 0.0)  # uninterrupted, in this process
    a, b = rl.Activations.open(killed), rl.Activations.open(full)
    _same(a, b)
    assert a.shape("a") == (60, 24) and a.shape("b") == (180, 4)
