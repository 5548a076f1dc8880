"""`reprlab probe STORE --labels ...` on a small store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.cli import main

pytest.importorskip("zarr")


def test_cli_probe_writes_table(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    X = rng.normal(size=(60, 5))
    X[:, 0] += 2 * y
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    rl.extract(net, torch.tensor(X, dtype=torch.float32), layers=["0", "2"], out=tmp_path / "s.zarr", progress=False)
    np.savetxt(tmp_path / "labels.txt", y, fmt="%d")
    code = main(["probe", str(tmp_path / "s.zarr"), "--labels", str(tmp_path / "labels.txt"), "--control", "shuffle",
                 "--permutations", "19", "--out", str(tmp_path / "res")])
    assert code == 0
    rows = json.loads((tmp_path / "res" / "probe.json").read_text())
    assert [r["layer"] for r in rows] == ["0", "2"]
    assert rows[0]["score"] > 0.75 and rows[0]["selectivity"] > 0.1
    assert "selectivity" in capsys.readouterr().out


def test_cli_probe_bad_labels(tmp_path, capsys):
    net = torch.nn.Sequential(torch.nn.Linear(5, 4))
    rl.extract(net, torch.zeros(10, 5), layers=["0"], out=tmp_path / "s.zarr", progress=False)
    (tmp_path / "y.txt").write_text("\n".join(["1"] * 9) + "\n")
    assert main(["probe", str(tmp_path / "s.zarr"), "--labels", str(tmp_path / "missing.txt")]) == 2
    assert main(["probe", str(tmp_path / "s.zarr"), "--labels", str(tmp_path / "y.txt")]) == 2
    assert "9 entries but X has 10 rows" in capsys.readouterr().err
