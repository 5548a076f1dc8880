"""`reprlab encode`: the same numbers as rl.encoding, files written, bad input reported."""

from __future__ import annotations

import json

import numpy as np

import reprlab as rl
from reprlab.cli import main


def test_encode_command_matches_the_function(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 3))
    Y = np.roll(X, 2, 0) @ rng.normal(size=(3, 4)) + rng.normal(size=(800, 4))
    g = np.repeat(np.arange(8), 100)
    np.savez(tmp_path / "d.npz", x=X, y=Y, g=g)
    d = str(tmp_path / "d.npz")
    assert (
        main(
            [
                "encode",
                f"{d}:x",
                f"{d}:y",
                "--groups",
                f"{d}:g",
                "--lags",
                "0:4",
                "--cv",
                "4",
                "--n-boot",
                "100",
                "--out",
                str(tmp_path / "res"),
            ]
        )
        == 0
    )
    e = rl.encoding(X, Y, lags=range(4), groups=g, cv=4, n_boot=100)
    rec = json.loads((tmp_path / "res" / "encoding.json").read_text())
    got = np.array([rec["channels"][str(c)]["r"] for c in range(4)])
    np.testing.assert_allclose(got, e.r, rtol=1e-12)
    assert (tmp_path / "res" / "encoding.csv").read_text().startswith("channel,r,ci_low,ci_high")
    assert main(["encode", f"{d}:x", f"{d}:y", "--lags", "zero"]) == 2
    assert "START:STOP" in capsys.readouterr().err
    assert main(["encode", f"{d}:x", f"{d}:nope"]) == 2
    assert "has no array 'nope'" in capsys.readouterr().err
    assert main(["encode", f"{d}:x", f"{d}:y", "--lags", "0:400"]) == 2
    assert "longest lag" in capsys.readouterr().err
