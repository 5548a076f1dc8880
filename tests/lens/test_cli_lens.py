"""`reprlab lens` and `reprlab heads` call the public functions (a tiny model stands in for the zoo's)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reprlab as rl
from reprlab.capture.hooks import default_layers
from reprlab.capture.zoo import TextPreprocess, ZooModel
from reprlab.cli import main
from tests.tiny_lms import TEXTS, tiny_lm, tiny_tokenizer


@pytest.fixture
def tiny_zoo(monkeypatch):
    model, tok = tiny_lm("llama"), tiny_tokenizer()
    lm = ZooModel("tiny", model, TextPreprocess(tok), default_layers(model), "text", "none", tokenizer=tok)
    monkeypatch.setattr(rl.zoo, "load", lambda name: lm)
    return lm


def test_cli_lens_table_json_and_figure(tiny_zoo, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(TEXTS[:4]) + "\n")
    args = ["lens", "--model", "tiny", "--prompts", str(prompts), "--prompt", TEXTS[6], "--target", "Paris"]
    assert main([*args, "--json", str(tmp_path / "t.json"), "--figure", str(tmp_path / "kl.png")]) == 0
    out = capsys.readouterr().out
    assert "logit lens, 5 prompt(s)" in out and "model.layers.2" in out and "target rank" in out and "CE next" in out
    table = json.loads((tmp_path / "t.json").read_text())
    want = rl.lens.logit_lens(tiny_zoo, [*TEXTS[:4], TEXTS[6]])
    np.testing.assert_allclose(table["kl_to_final"], want.by_layer("kl_to_final"), rtol=1e-12)
    assert (tmp_path / "kl.png").stat().st_size > 1000
    lens = rl.lens.TunedLens(want.layers, 32, "tiny")
    lens.save(tmp_path / "l.pt")
    assert main(["lens", "--model", "tiny", "--prompt", "blue", "--tuned", str(tmp_path / "l.pt")]) == 0
    out = capsys.readouterr().out
    assert "tuned lens, 1 prompt(s)" in out and "CE next" not in out  # one token: no next token


def test_cli_lens_errors(tiny_zoo, capsys):
    assert main(["lens", "--model", "tiny"]) == 2
    assert "give prompts" in capsys.readouterr().err
    assert main(["lens", "--model", "tiny", "--prompt", "the cat", "--target", "the cat"]) == 2
    assert "is 2 tokens" in capsys.readouterr().err


def test_cli_heads(tiny_zoo, tmp_path, capsys):
    args = ["heads", "--model", "tiny", "--kind", "previous_token", "--kind", "induction", "--top", "3"]
    assert main([*args, "--sequences", "4", "--length", "6", "--figure", str(tmp_path / "h.png")]) == 0
    out = capsys.readouterr().out
    want = rl.heads.score(tiny_zoo, kind="induction", n_sequences=4, length=6)
    assert "induction: top 3 of 12 heads" in out and want.top(1)[0][0] in out
    assert (tmp_path / "h.png").stat().st_size > 1000
