"""Progress bars for bootstrap, permutation tests and compare_all over many pairs (on stderr, only when
asked or on a terminal)."""

from __future__ import annotations

import numpy as np

import reprlab as rl

rng = np.random.default_rng(0)
X = rng.normal(size=(30, 4))
Y = X + rng.normal(size=(30, 4))


def test_bars_when_enabled(monkeypatch, capsys):
    monkeypatch.setenv("REPRLAB_PROGRESS", "1")
    rl.stats.bootstrap(X, Y, "cka", n=50)
    rl.stats.permutation_test(X, Y, "cka", n=50)
    layers = {f"l{i}": X + i * rng.normal(size=X.shape) for i in range(12)}
    rl.compare_all(layers, None, "procrustes")
    err = capsys.readouterr().err
    assert "bootstrap" in err and "permutation test" in err and "procrustes: pairs" in err


def test_quiet_when_disabled_or_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("REPRLAB_PROGRESS", "0")
    rl.stats.bootstrap(X, Y, "cka", n=50)
    monkeypatch.delenv("REPRLAB_PROGRESS")
    rl.stats.permutation_test(X, Y, "cka", n=50)  # pytest's stderr is not a terminal
    assert capsys.readouterr().err == ""
