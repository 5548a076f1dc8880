"""`reprlab sae train` and `reprlab sae report` call the public functions and report errors cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reprlab as rl
from reprlab.capture.zoo import TextPreprocess
from reprlab.cli import main
from tests.tiny_lms import TEXTS, tiny_lm, tiny_tokenizer


def test_train_then_report(tmp_path, capsys):
    store = tmp_path / "acts.zarr"
    rl.extract(tiny_lm("llama"), TEXTS * 30, preprocess=TextPreprocess(tiny_tokenizer()), layers="model.layers.1",
               pool="none", out=store, progress=False)  # fmt: skip
    code = main(["sae", "train", str(store), "--k", "4", "--expansion", "2", "--steps", "30", "--batch-size", "64",
                 "--lr", "0.003", "--dead-after", "128", "--auxk-alpha", "0.5",
                 "--out", str(tmp_path / "sae"), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "running FVU" in capsys.readouterr().out
    sae = rl.dictionary.load(tmp_path / "sae")
    assert (sae.kind, sae.k, sae.m, sae.layer) == ("topk", 4, 64, "model.layers.1")
    assert (sae.info["lr"], sae.info["dead_after"], sae.info["auxk_alpha"]) == (0.003, 128, 0.5)
    assert (
        main(["sae", "report", str(tmp_path / "sae"), str(store), "--latents", "3", "--out", str(tmp_path / "r.json")])
        == 0
    )
    out = capsys.readouterr().out
    assert "fvu" in out and "[[" in out
    report = json.loads((tmp_path / "r.json").read_text())
    ev = rl.dictionary.evaluate(sae, rl.Activations.open(store), "model.layers.1")
    assert report["metrics"]["fvu"] == pytest.approx(ev.fvu, rel=1e-12)
    assert {e["latent"] for e in report["examples"]} == set(np.argsort(-ev.density, kind="stable")[:3].tolist())
    assert main(["sae", "train", str(store), "--layer", "model.layers.9", "--out", str(tmp_path / "x")]) == 2
    assert "no layer 'model.layers.9'" in capsys.readouterr().err


def test_sae_subcommand_help_has_examples(capsys):
    for cmd in (["sae", "train", "--help"], ["sae", "report", "--help"]):
        with pytest.raises(SystemExit):
            main(cmd)
        assert "Example" in capsys.readouterr().out
