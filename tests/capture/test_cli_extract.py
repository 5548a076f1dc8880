"""`reprlab extract` on a folder of images with EfficientNet-Lite0 (the fastest zoo model to load)."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.cli import main


@pytest.mark.slow
def test_cli_extract_writes_and_resumes(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    args = [
        "extract",
        "--model",
        "efficientnet-lite0",
        "--stimuli",
        str(tmp_path / "imgs"),
        "--layers",
        "_blocks.1",
        "--layers",
        "_blocks.2",
        "--out",
        str(tmp_path / "s.zarr"),
        "--batch-size",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    assert "wrote 2 layer(s) x 3 stimuli" in capsys.readouterr().out
    acts = rl.Activations.open(tmp_path / "s.zarr")
    assert acts.names == ["_blocks.1", "_blocks.2"] and acts.ids == ["0.png", "1.png", "2.png"]
    assert acts.attrs["model_id"] == "efficientnet-lite0" and acts.attrs["pooling"]["_blocks.1"] == "spatial_mean"
    assert main(args) == 0  # finished store: returned as is
    assert main([*args, "--pool", "max"]) == 2
    assert "different run" in capsys.readouterr().err


def test_cli_extract_errors(capsys):
    assert main(["extract", "--model", "minilm", "--stimuli", "lee50", "--out", "x.zarr"]) == 2
    assert "Did you mean 'minilm-l6'" in capsys.readouterr().err
    assert main(["extract", "--model", "minilm-l6", "--stimuli", "nope", "--out", "x.zarr"]) == 2
    assert "Unknown stimuli 'nope'" in capsys.readouterr().err
