"""Every bad input at the public boundary gets a clear error, with its message checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab._registry import parse_spec
from reprlab.errors import ReprlabError, ReprlabTypeError


@pytest.fixture
def XY():
    g = np.random.default_rng(0)
    return g.normal(size=(20, 5)), g.normal(size=(20, 4))


def test_rows_differ(XY):
    X, Y = XY
    with pytest.raises(ReprlabError, match=r"same rows .* got 20 rows in `X` \(shape \(20, 5\)\) and 19 in `Y`"):
        rl.compare(X, Y[:19], "cka")


@pytest.mark.parametrize("bad, what", [(np.nan, "1 NaN, 0 Inf"), (np.inf, "0 NaN, 1 Inf")])
def test_nonfinite(XY, bad, what):
    X, Y = XY
    Y = Y.copy()
    Y[3, 2] = bad
    with pytest.raises(ReprlabError, match=rf"`Y` contains 1 non-finite values \({what}\)"):
        rl.compare(X, Y, "cka")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_among_huge_values(bad):
    """The one-pass check (a non-finite sum) must neither miss a bad value next to values whose sum
    overflows nor reject finite values whose sum overflows."""
    from reprlab._validation import as_tensor

    X = np.full((8, 3), 3e38, dtype=np.float32)
    t = as_tensor(X, "X", dtype=torch.float32)  # finite, though its float32 sum overflows
    assert t.dtype == torch.float32 and torch.isinf(t.sum())
    X[5, 1] = bad
    with pytest.raises(ReprlabError, match=r"`X` contains 1 non-finite values"):
        as_tensor(X, "X", dtype=torch.float32)


def test_one_dimensional(XY):
    X, _ = XY
    with pytest.raises(ReprlabError, match=r"`Y` must be a 2-D array .* got shape \(20\)\. Reshape it"):
        rl.compare(X, X[:, 0], "cka")


def test_three_dimensional(XY):
    X, _ = XY
    with pytest.raises(ReprlabError, match=r"`X` must be a 2-D array .* got shape \(20, 5, 2\)\. Flatten"):
        rl.compare(np.stack([X, X], -1), X, "cka")


def test_not_an_array(XY):
    X, _ = XY
    with pytest.raises(ReprlabTypeError, match="`Y` must be a NumPy array or torch tensor"):
        rl.compare(X, "abc", "cka")
    with pytest.raises(ReprlabTypeError, match="must hold numbers"):
        rl.compare(X, np.array([["a"] * 5] * 20), "cka")


def test_no_features():
    with pytest.raises(ReprlabError, match="has no features"):
        rl.compare(np.zeros((5, 0)), np.ones((5, 2)), "cka")


def test_unknown_measure_suggests(XY):
    X, Y = XY
    with pytest.raises(ReprlabError, match=r"Unknown measure 'ckaa'\. Did you mean 'cka'"):
        rl.compare(X, Y, "ckaa")


def test_unknown_parameter_lists_allowed(XY):
    X, Y = XY
    with pytest.raises(
        ReprlabError, match=r"Unknown parameter 'kernl' for measure 'cka'\. Its parameters are: kernel,"
    ):
        rl.compare(X, Y, "cka", kernl="rbf")


def test_conflicting_parameter(XY):
    X, Y = XY
    with pytest.raises(ReprlabError, match="given twice with different values"):
        rl.compare(X, Y, "cka(kernel=rbf)", kernel="linear")


@pytest.mark.parametrize("spec", ["cka(kernel=rbf", "cka(rbf)", "c k a", ""])
def test_bad_spec(spec):
    with pytest.raises(ReprlabError, match="measure spec"):
        parse_spec(spec)


def test_spec_values():
    assert parse_spec("ridge(alphas=[0.1, 1, 10], cv=5, score=r2)") == (
        "ridge",
        {"alphas": [0.1, 1, 10], "cv": 5, "score": "r2"},
    )
    assert parse_spec(" cka( angular = true ,sigma=None) ") == ("cka", {"angular": True, "sigma": None})


def test_dtype_and_device(XY):
    X, Y = XY
    with pytest.raises(ReprlabError, match="`dtype` must be one of"):
        rl.compare(X, Y, "cka", dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ReprlabError, match="CUDA is not available"):
            rl.compare(X, Y, "cka", device="cuda")


def test_torch_and_numpy_inputs_agree(XY):
    X, Y = XY
    a = rl.compare(X, Y, "cka")
    b = rl.compare(torch.tensor(X), torch.tensor(Y), "cka")
    c = rl.compare(X.tolist(), Y.tolist(), "cka")
    assert a == b == c


def test_info_and_available():
    info = rl.measures.info("cka(kernel=rbf)")
    assert info.name == "cka" and info.kind == "compare" and info.params["kernel"].default == "linear"
    assert "cka" in [i.name for i in rl.measures.available(kind="compare")]
    with pytest.raises(ReprlabError, match="`kind` must be one of"):
        rl.measures.available(kind="comparison")
