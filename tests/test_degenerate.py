"""Degenerate input is an error (or a warning where the value is defined), and messages say what to do."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.cli import main
from reprlab.errors import ReprlabError

rng = np.random.default_rng(7)
X = rng.normal(size=(60, 6))
Y = X @ rng.normal(size=(6, 5)) + 0.5 * rng.normal(size=(60, 5))


@pytest.mark.parametrize("measure", ["cka", "shape", "procrustes", "cca"])
def test_two_stimuli_are_refused(measure):
    with pytest.raises(ReprlabError, match=r"`X` has 2 stimuli.*at least 3.*one line"):
        rl.compare(X[:2], Y[:2], measure)
    with pytest.raises(ReprlabError, match=r"has 2 stimuli.*at least 3"):
        rl.compare_all({"a": X[:2]}, {"b": Y[:2]}, measure)


@pytest.mark.parametrize(("measure", "why"), [("mutual_knn", "k must be at most 1"), ("rsa", "RDM .* is constant")])
def test_two_stimuli_get_the_measure_s_own_reason(measure, why):
    with pytest.raises(ReprlabError, match=why):
        rl.compare(X[:2], Y[:2], measure)


@pytest.mark.parametrize("which", ["X", "both"])
def test_constant_representation_is_refused_by_a_similarity(which):
    C = np.ones_like(X)
    with pytest.raises(ReprlabError, match=r"zero variance across stimuli.*mutual_knn.*undefined"):
        rl.compare(C, Y if which == "X" else C[:, :5], "mutual_knn")


def test_constant_input_of_a_distance_warns_that_it_is_uninformative():
    with pytest.warns(UserWarning, match=r"`X` is constant.*shape is defined but says nothing"):
        value = rl.compare(np.ones_like(X), Y, "shape", score="euclidean")
    assert np.isfinite(value)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
@pytest.mark.parametrize("measure", ["cka", "cka(estimator=unbiased)", "cca", "procrustes", "rsa", "mutual_knn"])
def test_extreme_scales_give_the_unscaled_value_for_scale_invariant_measures(scale, measure):
    want = rl.compare(X, Y, measure)
    assert rl.compare(X * scale, Y, measure) == pytest.approx(want, rel=1e-9, abs=1e-12)
    got = rl.compare_all({"a": X * scale}, {"b": Y}, measure).values[0, 0]
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_float32_compute_of_huge_inputs_does_not_overflow():
    assert rl.compare(X * 1e200, Y, "cka", dtype="float32") == pytest.approx(rl.compare(X, Y, "cka"), rel=1e-4)


def test_bootstrap_with_too_few_resamples_warns():
    with pytest.warns(UserWarning, match=r"`n` = 1 resamples are too few for a 95% interval.*n >= 40"):
        rl.stats.bootstrap(X, Y, "cka", n=1)


def test_device_name_is_checked():
    with pytest.raises(ReprlabError, match=r"`device` 'gpu' is not a device name.*'cpu', 'cuda'"):
        rl.compare(X, Y, "cka", device="gpu")


def test_missing_stimulus_in_a_list_is_named():
    from reprlab.capture.stimuli import check_items

    with pytest.raises(ReprlabError, match=r"`stimuli`: item 1 is None, not a stimulus"):
        check_items(["a", None])
    with pytest.raises(ReprlabError, match=r"item 1 is a int but item 0 is a text"):
        check_items(["a", 3])
    import torch

    with pytest.raises(ReprlabError, match=r"item 1 is None"):
        rl.extract(
            torch.nn.Linear(2, 2), ["a", None], preprocess=lambda items: torch.zeros(len(items), 2), progress=False
        )


def _cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_cli_errors_speak_cli(tmp_path, capsys):
    np.savez(tmp_path / "l.npz", a=X, b=Y)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "bad.npy", np.array([{"a": 1}], dtype=object))
    code, err = _cli(capsys, "describe", str(tmp_path / "l.npz"), "-m", "neural_collapse")
    assert code == 2 and "--labels" in err and "labels=" not in err
    code, err = _cli(capsys, "compare", str(tmp_path / "l.npz"), "-m", "twonn")
    assert code == 2 and "`reprlab describe`" in err and "describe_all" not in err
    code, err = _cli(capsys, "compare", str(tmp_path / "l.npz"), "--device", "gpu")
    assert code == 2 and "--device 'gpu' is not a device name" in err
    code, err = _cli(capsys, "compare", str(tmp_path / "x.npy"))
    assert code == 2 and "holds one array" in err and "second input" in err
    code, err = _cli(capsys, "compare", str(tmp_path / "bad.npy"))
    assert code == 2 and "pickled object array" in err and "numeric array" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = _cli(capsys, "compare", str(tmp_path / "l.npz"), "--out", str(blocker / "results"))
    assert code == 2 and "--out" in err and "cannot write there" in err


def test_refused_resume_names_the_one_differing_field(tmp_path):
    import torch

    from tests.store.test_store import Net

    S = torch.randn(12, 6, generator=torch.Generator().manual_seed(0))
    ids = [f"s{i}" for i in range(12)]
    rl.extract(Net(), S, layers="a", ids=ids, out=tmp_path / "s", progress=False)
    other = [*ids[:5], "new", *ids[6:]]
    with pytest.raises(ReprlabError) as err:
        rl.extract(Net(), S, layers="a", ids=other, out=tmp_path / "s", progress=False)
    msg = str(err.value)
    assert "stimuli (stimulus_ids) (entry 5: store 's5'; this run 'new')" in msg and len(msg) < 400
    assert "model_fingerprint" not in msg
