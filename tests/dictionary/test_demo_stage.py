"""The demo's dictionary stage writes its section, latent table and density histogram."""

from __future__ import annotations

import json
from types import SimpleNamespace

import reprlab as rl
from reprlab.capture.zoo import TextPreprocess, ZooModel
from reprlab.experiments.demo import Demo
from reprlab.experiments.demo_dictionary import stage_dictionary
from tests.tiny_lms import tiny_lm, tiny_tokenizer


def test_stage_dictionary_on_a_tiny_model(tmp_path):
    model = tiny_lm("llama", n_layers=7)  # has a model.layers.6
    zm = ZooModel(
        "smollm2-135m", model, TextPreprocess(tiny_tokenizer(), max_length=32), ["model.layers.6"], "text", "mean"
    )
    lms = SimpleNamespace(zoo={"smollm2-135m": zm}, stimuli={"lee50": rl.stimuli.load("lee50")})
    demo = Demo(tmp_path, seed=0)
    stage_dictionary(demo, lms)
    sec = demo.sections[-1]
    assert sec["title"].startswith("Sparse autoencoder") and "held-out documents: FVU" in sec["text"]
    assert (tmp_path / sec["figures"][0]["file"]).exists()
    table = json.loads((tmp_path / "sae_latents.json").read_text())
    assert len(table) == 12 and all(r["density"] > 0 for r in table)
    assert json.loads((tmp_path / "sae_metrics.json").read_text())["n_rows"] > 0
