"""The demo's lens stage on SmolLM2 (demo-sized settings): its section, figures and tables."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import reprlab as rl
from reprlab.experiments.demo import Demo
from reprlab.experiments.demo_lens import stage_lens


@pytest.mark.slow
def test_stage_lens_writes_its_section(smollm2, tmp_path):
    demo = Demo(tmp_path, seed=0)
    lms = SimpleNamespace(
        zoo={"smollm2-135m": smollm2}, stimuli={"lee50": rl.stimuli.load("lee50"), "lee300": rl.stimuli.load("lee300")}
    )
    out = stage_lens(demo, lms)
    (sec,) = demo.sections
    assert sec["title"].startswith("Inside the forward pass")
    for fig in sec["figures"]:
        assert (tmp_path / fig["file"]).exists() and (tmp_path / fig["file"]).with_suffix(".svg").exists()
    records = json.loads((tmp_path / "lens_kl_by_layer.json").read_text())
    assert {r["lens"] for r in records} == {"logit", "tuned"} and len(records) == 62  # 31 states, 2 lenses
    assert all(r["ci_low"] <= r["kl_mean"] <= r["ci_high"] for r in records)
    # the tuned lens, even briefly trained, reads the middle blocks better than the logit lens
    mid = slice(3, 26)
    assert out["tuned"].by_layer()[mid].mean() < out["logit"].by_layer()[mid].mean()
    assert np.load(tmp_path / "heads_scores.npy").shape == (4, 30, 9)
    assert rl.lens.TunedLens.load(tmp_path / "smollm2.tuned-lens.pt").config["steps"] == 12
