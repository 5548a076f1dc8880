"""rl.describe / rl.describe.<name> / rl.describe_all / `reprlab describe`, and the declared invariances."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reprlab as rl
from reprlab.cli import main
from reprlab.engine import DescribeResult
from reprlab.errors import ReprlabError

LABELLED = {"neural_collapse", "nc1", "vci", "alignment", "rate_reduction"}


def _values(v):
    """Numbers of a result (float, tensor, or dict) for comparison."""
    if isinstance(v, dict):
        return [x for k in sorted(v) for x in _values(v[k]) if k not in ("median_abs", "threshold")]
    if isinstance(v, np.ndarray):
        return v.astype(float).ravel().tolist()
    if isinstance(v, (list, tuple)):
        return [x for e in v for x in _values(e)]
    return [np.nan if v is None else float(v)]


@pytest.mark.parametrize("info", rl.measures.available(kind="describe"), ids=lambda i: i.name)
def test_declared_invariances_hold(info):
    """Every declared invariance (defaults and variants) on Gaussian data, n=40, widths 6..10."""
    g = np.random.default_rng(0)
    X = g.normal(size=(40, 8)) + 0.3
    y = np.repeat(np.arange(4), 10)
    for case in info.property_cases():
        params = dict(case.params)
        if info.name in LABELLED:
            params["labels"] = y
        if info.name in ("mom", "mle", "local_dimension", "mada"):
            params.setdefault("k", 10)
        base = _values(rl.describe(X, info.name, **params))
        Q, _ = np.linalg.qr(g.normal(size=(8, 8)))
        transforms = {
            "orthogonal": X @ Q,
            "isotropic_scaling": 3.7 * X,
            "translation": X + g.normal(size=8),
            "permutation": X[:, g.permutation(8)],
            "invertible_linear": X @ g.normal(size=(8, 8)),
        }
        transforms["affine"] = transforms["invertible_linear"] + 1.0
        for inv in case.invariances:
            got = _values(rl.describe(transforms[inv], info.name, **params))
            np.testing.assert_allclose(got, base, rtol=1e-6, atol=1e-9, err_msg=f"{info.name} {case.params} {inv}")


def test_every_describe_measure_is_a_function_of_the_package():
    names = {i.name for i in rl.measures.available(kind="describe")}
    assert {"twonn", "mle", "lpca", "participation_ratio", "effective_rank", "rankme", "alpha_req"} <= names
    assert {"neural_collapse", "vci", "sparsity", "dead_units", "massive_activations", "anisotropy"} <= names
    assert {"uniformity", "alignment", "coding_rate", "rate_reduction", "local_dimension", "spectrum"} <= names
    X = np.random.default_rng(1).normal(size=(120, 5))  # mom's default k=100 needs 101 rows
    for name in names - LABELLED:
        assert _values(getattr(rl.describe, name)(X)) == _values(rl.describe(X, name)), name
    assert rl.describe(X, "mle(k=5, comb=mean)") == rl.describe.mle(X, k=5, comb="mean")


def test_describe_all_table_details_and_save(tmp_path):
    g = np.random.default_rng(2)
    acts = {"layer1": g.normal(size=(60, 6)), "layer2": g.normal(size=(60, 3))}
    y = np.arange(60) % 3
    res = rl.describe_all(acts, ["twonn", "mle(k=8)", "neural_collapse", "local_dimension", "dead_units"], labels=y)
    assert isinstance(res, DescribeResult) and res.rows == ["layer1", "layer2"]
    df = res.to_pandas()
    assert df.loc["layer2", "twonn"] == pytest.approx(rl.describe(acts["layer2"], "twonn"))
    assert df.loc["layer1", "mle(k=8)"] == pytest.approx(rl.describe(acts["layer1"], "mle", k=8))
    nc = rl.describe(acts["layer1"], "neural_collapse", labels=y)
    assert df.loc["layer1", "neural_collapse.nc1"] == pytest.approx(nc["nc1"])
    assert np.isnan(df.loc["layer1", "neural_collapse.nc3"])  # no classifier weights given
    pw = res.details["layer1"]["local_dimension"]
    np.testing.assert_allclose(pw, rl.describe(acts["layer1"], "local_dimension"))
    assert res.details["layer1"]["dead_units.indices"] == []
    back = DescribeResult.load(res.save(tmp_path / "d.json"))
    np.testing.assert_array_equal(back.values, res.values)
    assert back.cols == res.cols and back.details == res.details
    csv = res.save(tmp_path / "d.csv").read_text().splitlines()
    assert csv[0].startswith(",twonn,mle(k=8),neural_collapse.nc1")


def test_describe_all_errors():
    X = np.zeros((10, 3)) + np.arange(3)
    with pytest.raises(ReprlabError, match="'labelz' is not a parameter of any of the measures twonn"):
        rl.describe_all({"a": X}, "twonn", labelz=[0])
    with pytest.raises(ReprlabError, match=r"compares two representations; use reprlab\.compare_all"):
        rl.describe_all({"a": X}, ["cka"])
    with pytest.raises(ReprlabError, match="at least one describe measure"):
        rl.describe_all({"a": X}, [])


def test_cli_describe(tmp_path, capsys):
    g = np.random.default_rng(3)
    path = tmp_path / "layers.npz"
    np.savez(path, a=g.normal(size=(40, 5)), b=g.normal(size=(40, 7)), y=np.arange(40) % 4)
    assert main(["describe", str(path), "-m", "twonn", "-m", "nc1", "--labels", "y", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "twonn" in out and "nc1" in out
    saved = json.loads((tmp_path / "r" / "describe.json").read_text())
    assert saved["rows"] == ["a", "b"] and saved["cols"] == ["twonn", "nc1"]
    assert saved["values"][0][0] == pytest.approx(rl.describe(np.load(path)["a"], "twonn"))
    assert main(["describe", str(path), "--labels", "nothere"]) == 2
    assert "neither an array" in capsys.readouterr().err
