"""The HTML report: built from a results directory, numbers equal to the JSON, and it displays in a
real browser (Debian's Chromium driven by Playwright) with no console errors and no blank page."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest

import reprlab as rl
from reprlab.cli import main
from reprlab.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Cells(HTMLParser):
    """Collects (table source, data-value) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.source, self.cells, self.imgs = None, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.source = a.get("data-source")
        elif tag == "td" and "data-value" in a:
            self.cells.append((self.source, float(a["data-value"])))
        elif tag == "img":
            self.imgs.append(a)


@pytest.fixture
def results_dir(tmp_path):
    g = np.random.default_rng(0)
    latent = g.normal(size=(60, 3))
    layers = {f"layer{i}": np.tanh(latent @ g.normal(size=(3, 8))) + 0.2 * i * g.normal(size=(60, 8)) for i in range(4)}
    np.savez(tmp_path / "layers.npz", **layers)
    out = tmp_path / "results"
    assert main(["compare", str(tmp_path / "layers.npz"), "-m", "cka", "-m", "cka(kernel=rbf)", "--out", str(out)]) == 0
    return out


def test_report_numbers_equal_json(results_dir):
    path = build_report(results_dir)
    parser = _Cells()
    parser.feed(path.read_text())
    assert len(parser.imgs) == 2 and all(i["alt"] for i in parser.imgs)
    by_source = {}
    for src, v in parser.cells:
        by_source.setdefault(src, []).append(v)
    assert set(by_source) == {"compare_cka.json", "compare_cka_kernel_rbf.json"}
    for src, vals in by_source.items():
        doc = json.loads((results_dir / src).read_text())
        assert vals == [v for row in doc["values"] for v in row]  # exact, from the JSON


def test_report_cli_and_empty_dir(results_dir, tmp_path, capsys):
    assert main(["report", str(results_dir), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "No results found" in capsys.readouterr().err


def render_in_browser(html_path, screenshot_path):
    """Open a page in headless Chromium; return console errors, image states and the screenshot."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium is not installed; `make test` installs it (apt-get install chromium)"
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html_path.as_uri(), wait_until="load")
        images = page.evaluate(
            "[...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.clientWidth,"
            " h: i.clientHeight, alt: i.alt}))"
        )
        page.screenshot(path=str(screenshot_path), full_page=True)
        browser.close()
    return errors, images


def test_report_displays_in_chromium(results_dir, tmp_path):
    path = build_report(results_dir)
    errors, images = render_in_browser(path, tmp_path / "shot.png")
    assert errors == []
    assert len(images) == 2
    assert all(i["ok"] and i["w"] > 50 and i["h"] > 50 and i["alt"] for i in images)
    assert_not_blank(tmp_path / "shot.png")


def assert_not_blank(png_path):
    import matplotlib.image as mpimg

    img = mpimg.imread(png_path)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert float(img[..., :3].std()) > 0.05, "screenshot is blank"


def test_result_plot_and_csv(results_dir):
    res = rl.ComparisonResult.load(results_dir / "compare_cka.json")
    ax = res.plot()
    assert ax.get_title() == "cka"
    assert re.match(r"^,layer0,layer1", (results_dir / "compare_cka.csv").read_text())


def test_distance_colour_scale_reads_like_a_similarity_and_says_lower_is_more_similar(tmp_path):
    g = np.random.default_rng(1)
    latent = g.normal(size=(50, 3))
    layers = {f"layer{i}": np.tanh(latent @ g.normal(size=(3, 8))) + 0.3 * i * g.normal(size=(50, 8)) for i in range(3)}
    np.savez(tmp_path / "layers.npz", **layers)
    np.save(tmp_path / "a.npy", layers["layer0"])
    np.save(tmp_path / "b.npy", layers["layer1"])
    out = tmp_path / "results"
    assert main(["compare", str(tmp_path / "layers.npz"), "-m", "cka", "-m", "shape", "--out", str(out)]) == 0
    assert (
        main(["compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-m", "procrustes", "--out", str(out)]) == 0
    )

    sim, dist = (rl.ComparisonResult.load(out / f) for f in ("compare_cka.json", "compare_shape.json"))
    im_sim, im_dist = sim.plot().images[0], dist.plot().images[0]
    # the most similar cell has the same colour in both: the top of the similarity scale, the bottom of the distance one
    np.testing.assert_allclose(im_dist.cmap(0.0), im_sim.cmap(1.0))
    assert "lower = more similar" in im_dist.colorbar.ax.get_ylabel()
    assert "higher = more similar" in im_sim.colorbar.ax.get_ylabel()

    path = build_report(out)
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium is not installed; `make test` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(path.as_uri(), wait_until="load")
        figs = page.evaluate(
            "[...document.querySelectorAll('figure')].map(f => ({scale: f.dataset.scale || '',"
            " caption: f.querySelector('figcaption').innerText, ok: f.querySelector('img').naturalWidth > 0}))"
        )
        text = page.evaluate("document.body.innerText")
        browser.close()
    by_caption = {f["caption"].split(" ")[0]: f for f in figs}
    assert (
        by_caption["shape"]["scale"] == "lower = more similar"
        and "lower = more similar" in by_caption["shape"]["caption"]
    )
    assert by_caption["cka"]["scale"] == "higher = more similar"
    assert all(f["ok"] for f in figs)
    single = by_caption["procrustes"]["caption"]
    assert "every pair" not in single and "between a and b" in single
    assert "From compare_cka.json: measure cka" in text and "50 stimuli" in text


def test_large_heatmaps_label_every_kth_layer():
    names = [f"model.layers.{i}" for i in range(39)]
    res = rl.ComparisonResult(np.eye(39), names, names, "cka")
    ax = res.plot()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert 10 <= len(labels) <= 24 and labels[0] == names[0]


@pytest.fixture
def interval_dir(tmp_path):
    """A results directory with one matrix carrying bootstrap intervals and permutation p-values."""
    g = np.random.default_rng(1)
    latent = g.normal(size=(40, 3))
    layers = {f"L{i}": latent @ g.normal(size=(3, 6)) + 0.5 * i * g.normal(size=(40, 6)) for i in range(3)}
    res = rl.stats.bootstrap_all(layers, None, "cka", n=200, seed=0)
    res.p = rl.stats.permutation_test_all(layers, None, "cka", n=99, seed=0).p
    res.meta["p_values"] = {"test": "permutation", "alternative": "similar", "n": 99, "seed": 0}
    out = tmp_path / "results"
    res.save(out / "cka_intervals.json")
    return out, res


def test_report_shows_matrix_intervals_in_chromium(interval_dir, tmp_path):
    """Every cell shows its interval and p-value, visibly, equal to the JSON; the note says what they are."""
    from playwright.sync_api import sync_playwright

    out, res = interval_dir
    path = build_report(out)
    assert CHROMIUM, "Debian's chromium is not installed; `make test` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(path.as_uri(), wait_until="load")
        cells = page.evaluate(
            "[...document.querySelectorAll('td[data-ci-low]')].map(td => ({lo: +td.dataset.ciLow, "
            "hi: +td.dataset.ciHigh, p: +td.dataset.p, ci: td.querySelector('small.ci').innerText, "
            "ptext: td.querySelector('small.p').innerText, h: td.querySelector('small.ci').getBoundingClientRect()"
            ".height}))"
        )
        note = page.evaluate("[...document.querySelectorAll('p.meta')].map(p => p.innerText).join(' ')")
        browser.close()
    assert len(cells) == res.values.size
    assert [c["lo"] for c in cells] == res.ci_low.ravel().tolist()
    assert [c["hi"] for c in cells] == res.ci_high.ravel().tolist()
    assert [c["p"] for c in cells] == res.p.ravel().tolist()
    for c in cells:
        assert c["h"] > 5  # rendered, not hidden
        assert c["ci"] == f"[{c['lo']:.4f}, {c['hi']:.4f}]"
        assert c["ptext"] == f"p = {c['p']:.3g}"
    assert "95% percentile bootstrap interval over stimuli (jackknife rule, 200 resamples)" in note
    assert "permutation p-value (similar, 99 permutations" in note


def test_heatmap_annotates_intervals(interval_dir):
    _, res = interval_dir
    ax = res.plot()
    texts = [t.get_text() for t in ax.texts]
    assert texts[1] == f"{res.values[0, 1]:.2f}*\n[{res.ci_low[0, 1]:.2f}, {res.ci_high[0, 1]:.2f}]"
    assert "bootstrap interval (jackknife, 200 resamples)" in ax.get_xlabel()
