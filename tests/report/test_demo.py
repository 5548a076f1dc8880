"""The demo end to end (quick mode: fewer documents, tokens and resamples): it writes results and a
report whose every number equals the JSON it was built from, and the report displays in Chromium."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from reprlab.cli import main
from tests.report.test_report import assert_not_blank, render_in_browser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.source, self.cells = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-source" in a:
            self.source = a["data-source"]
            self.cells.setdefault(self.source, [])
        elif tag == "td" and "data-value" in a:
            self.cells[self.source].append(float(a["data-value"]))


def _numbers(doc):
    if isinstance(doc, dict) and "values" in doc:
        return [v for row in doc["values"] for v in row]
    return [v for rec in doc for v in rec.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Per layer: RSA with human lee50 similarities" in printed and "SmolLM2" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s["title"] for s in manifest["sections"]} >= {
        "Two MLPs trained from different seeds",
        "MiniLM-L6 and SmolLM2-135M, layer by layer",
        "Alignment with human judgments",
        "Geometry by depth",
    }
    # every figure exists as PNG and SVG; every table's numbers equal its JSON
    for sec in manifest["sections"]:
        for fig in sec["figures"]:
            assert (out / fig["file"]).exists() and (out / fig["file"]).with_suffix(".svg").exists()
    parser = _Tables()
    parser.feed((out / "report.html").read_text())
    assert set(parser.cells) == {t["file"] for sec in manifest["sections"] for t in sec.get("tables", [])}
    for source, values in parser.cells.items():
        assert values == _numbers(json.loads((out / source).read_text())), source
    # the layer x layer matrix with intervals and p-values: every cell shows them, each interval holds its value
    iv = json.loads((out / "lm_cka_intervals.json").read_text())
    flat = [[v for row in iv[k] for v in row] for k in ("ci_low", "values", "ci_high", "p")]
    assert all(lo <= v <= hi and 0 < p <= 1 for lo, v, hi, p in zip(*flat))
    assert (out / "report.html").read_text().count("data-ci-low=") == len(flat[1])
    errors, images = render_in_browser(out / "report.html", tmp_path / "shot.png")
    assert errors == []
    n_figures = sum(len(s["figures"]) for s in manifest["sections"])
    assert len(images) == n_figures and all(i["ok"] and i["w"] > 50 and i["alt"] for i in images)
    assert_not_blank(tmp_path / "shot.png")
