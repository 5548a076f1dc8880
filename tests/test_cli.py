"""The command line calls the public API and reports errors without a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reprlab as rl
from reprlab.cli import COMMANDS, main


@pytest.fixture
def files(tmp_path):
    g = np.random.default_rng(0)
    a, b = g.normal(size=(30, 5)), g.normal(size=(30, 4))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    np.savez(tmp_path / "layers.npz", l1=a, l2=b, l3=a + g.normal(size=a.shape))
    return tmp_path, a, b


def test_measures_table(capsys):
    assert main(["measures"]) == 0
    out = capsys.readouterr().out
    assert "cka" in out and "invariances" in out


def test_compare_two_files(files, capsys):
    d, a, b = files
    assert main(["compare", str(d / "a.npy"), str(d / "b.npy"), "-m", "cka", "-m", "cka(estimator=unbiased)"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert float(lines[0].split("\t")[-1]) == pytest.approx(rl.compare(a, b, "cka"), rel=1e-9)
    assert float(lines[1].split("\t")[-1]) == pytest.approx(rl.compare(a, b, "cka", estimator="unbiased"), rel=1e-9)


def test_compare_npz_matrix_written(files, capsys):
    d, a, b = files
    assert main(["compare", str(d / "layers.npz"), "--out", str(d / "res")]) == 0
    res = rl.ComparisonResult.load(d / "res" / "compare_cka.json")
    assert res.rows == ["l1", "l2", "l3"]
    assert res.values[0, 1] == pytest.approx(rl.compare(a, b, "cka"), rel=1e-12)
    assert (d / "res" / "compare_cka.csv").read_text().startswith(",l1,l2,l3")
    assert json.loads((d / "res" / "compare_cka.json").read_text())["measure"] == "cka"


def test_compare_errors_are_reported(files, capsys):
    d, _, _ = files
    assert main(["compare", str(d / "a.npy"), str(d / "b.npy"), "-m", "ckk"]) == 2
    assert "Did you mean 'cka'" in capsys.readouterr().err
    assert main(["compare", str(d / "missing.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "Example" in capsys.readouterr().out


def test_docs_measure_table_equals_the_registry(capsys):
    """docs/measures.md carries `reprlab measures --markdown`; regenerate it when a measure changes."""
    from pathlib import Path

    assert main(["measures", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    doc = (Path(__file__).resolve().parents[1] / "docs" / "measures.md").read_text()
    section = doc.split("<!-- registry-table:start -->")[1].split("<!-- registry-table:end -->")[0].strip()
    assert section == table, "docs/measures.md is out of date: paste `reprlab measures --markdown` between the markers"


def test_measures_table_fits_120_columns_and_one_measure_in_full(capsys):
    assert main(["measures"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 120
    assert "reprlab measures NAME" in out
    assert main(["measures", "cka"]) == 0
    out = capsys.readouterr().out
    assert "estimator='biased'" in out and "with angular=True: smaller = more similar" in out and "Kornblith" in out
    assert main(["measures", "ckaa"]) == 2
    assert "Did you mean 'cka'" in capsys.readouterr().err
