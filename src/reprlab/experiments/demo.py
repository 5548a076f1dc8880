"""``reprlab demo``: the flagship analysis, written to a results directory with its report.

Stages (each writes JSON/CSV of every number, figures as PNG and SVG, and a manifest section):

1. ``digits``: two MLPs trained on scikit-learn's digits from different seeds; their layer x layer
   CKA and RSA matrices (printed), a check that corresponding layers match.
2. ``extract``: MiniLM-L6 (7 states) and SmolLM2-135M (embeddings, 30 blocks, final norm) on the 50
   Lee documents and the 300 Lee background documents, mean-pooled over real tokens (MiniLM truncated
   at 256 tokens, SmolLM2 at 128 to keep the demo within minutes), cached as zarr stores in
   ``out/activations/`` (a second run reads them back).
3. ``compare``: layer x layer matrices over all 39 layers of both models on the 350 documents for
   linear CKA, RSA, the Procrustes shape metric and mutual kNN; within- and across-model heatmaps
   and a 2-D MDS map of every layer (distance: arccos of CKA).
4. ``human``: each layer's RSA with the human Lee similarity matrix (cosine RDMs, Spearman) with
   bootstrap intervals over documents (no noise ceiling: the human matrix is an average without
   per-rater data); and word-similarity alignment on SimLex-999 (cosine vs rating, Spearman) with
   bootstrap intervals over word pairs.
5. ``describe``: per-layer TwoNN intrinsic dimension, anisotropy and massive activations.

Later stages live in their own modules (``demo_intervals``, ``demo_intervene``, ``demo_dictionary``,
``demo_brain``, ``demo_lens``, ``demo_probe``: part of speech probed in every MiniLM layer with the
Hewitt & Liang control task, and a demo-sized feature-strength table after Lampinen et al.).

The report (``report.html``) is built from the manifest by :func:`reprlab.report.build_report`.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..results import ComparisonResult
from .demo_brain import stage_brain
from .demo_dictionary import stage_dictionary
from .demo_intervals import stage_intervals
from .demo_intervene import stage_intervene
from .demo_lens import stage_lens
from .demo_probe import stage_probe


class Demo:
    """Collects results, figures and report sections in one output directory."""

    def __init__(self, out: str | Path, seed: int) -> None:
        self.out = Path(out)
        (self.out / "figures").mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.sections: list[dict[str, Any]] = []
        self.run: dict[str, Any] = {
            "command": "reprlab demo",
            "reprlab version": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
            "seed": seed,
        }
        self.summary: list[str] = []

    def save_matrix(self, res: ComparisonResult, stem: str) -> str:
        res.save(self.out / f"{stem}.json")
        res.save(self.out / f"{stem}.csv")
        return f"{stem}.json"

    def save_records(self, records: list[dict[str, Any]], stem: str) -> str:
        (self.out / f"{stem}.json").write_text(json.dumps(records, indent=1))
        cols = list(records[0])
        lines = [",".join(cols)] + [
            ",".join(repr(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols) for r in records
        ]
        (self.out / f"{stem}.csv").write_text("\n".join(lines) + "\n")
        return f"{stem}.json"

    def figure(self, fig: Any, stem: str, alt: str, caption: str) -> dict[str, str]:
        from ..report import figures

        figures.save(fig, self.out / "figures", stem)
        return {"file": f"figures/{stem}.png", "alt": alt, "caption": caption}

    def finish(self) -> Path:
        from ..report import build_report

        manifest = {
            "title": "reprlab demo: representations of small and real networks",
            "run": self.run,
            "summary": " ".join(self.summary),
            "sections": self.sections,
        }
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return build_report(self.out)


def stage_digits(demo: Demo) -> None:
    """Two MLPs from different seeds: layer x layer CKA and RSA."""
    import reprlab as rl

    from ..report import figures
    from .digits import HIDDEN, digits_networks

    t0 = time.perf_counter()
    a, b = digits_networks(seeds=(demo.seed, demo.seed + 1))
    demo.run["digits MLPs"] = f"64-{'-'.join(map(str, HIDDEN))}-10, seeds {a.seed} and {b.seed}, 30 epochs"
    demo.run["digits stimuli"] = "500 held-out scikit-learn digits"
    figs, tables, lines = [], [], []
    for spec, title in (("cka", "linear CKA"), ("rsa", "RSA (correlation RDMs, Spearman)")):
        res = rl.compare_all(a.layers, b.layers, spec)
        res.rows = [f"A.{r}" for r in res.rows]
        res.cols = [f"B.{c}" for c in res.cols]
        stem = f"digits_{spec}"
        tables.append({"file": demo.save_matrix(res, stem), "caption": f"{title}: MLP A (rows) vs MLP B (columns)"})
        figs.append(
            demo.figure(
                figures.heatmap(res, title=f"{title}, MLP A vs MLP B").figure,
                stem,
                f"Heatmap of {title} between the {len(res.rows)} layers of two MLPs trained on digits from "
                "different seeds; brighter cells are more similar.",
                f"{title} between the layers of two digits MLPs (seeds {a.seed}, {b.seed}).",
            )
        )
        diag = np.argmax(res.values, axis=1) == np.arange(len(res.rows))
        lines.append(f"{title}: {int(diag.sum())}/{len(diag)} layers of A best match the same layer of B")
        print(f"\n{title}: MLP A (rows, seed {a.seed}) vs MLP B (columns, seed {b.seed})")
        print(res.to_pandas().to_string(float_format=lambda v: f"{v:.3f}"))
    print("\n" + "\n".join(lines))
    demo.sections.append(
        {
            "title": "Two MLPs trained from different seeds",
            "text": f"Test accuracy {a.accuracy:.3f} and {b.accuracy:.3f}. " + "; ".join(lines) + ". "
            f"({time.perf_counter() - t0:.1f} s)",
            "figures": figs,
            "tables": tables,
        }
    )
    demo.summary.append(lines[0] + ".")


MODELS = {"minilm-l6": ("MiniLM", 256), "smollm2-135m": ("SmolLM2", 128)}
MEASURES = [
    ("cka", "linear CKA"),
    ("rsa", "RSA (correlation RDMs, Spearman)"),
    ("shape(alpha=1.0)", "Procrustes shape distance (angular)"),
    ("mutual_knn", "mutual kNN alignment (k=10)"),
]


def short_layer(model: str, layer: str) -> str:
    """``MiniLM:emb``, ``MiniLM:L3``, ``SmolLM2:L30``, ``SmolLM2:norm`` (blocks numbered from 1)."""
    tail = layer.rsplit(".", 1)[-1]
    if "embed" in layer:
        return f"{model}:emb"
    if tail.isdigit():
        return f"{model}:L{int(tail) + 1}"
    return f"{model}:{tail}"


class LanguageModels:
    """The two zoo models' layer activations on lee50 and lee300 (extracted once, cached on disk)."""

    def __init__(self, demo: Demo, quick: bool) -> None:
        import reprlab as rl

        self.zoo: dict[str, Any] = {}
        self.acts: dict[str, dict[str, dict[str, np.ndarray]]] = {}  # model -> stimulus set -> layer -> array
        cache = demo.out / "activations"
        sets = {"lee50": rl.stimuli.load("lee50"), "lee300": rl.stimuli.load("lee300")}
        if quick:
            sets["lee300"] = sets["lee300"].subset(list(sets["lee300"].ids[:40]))
        self.stimuli = sets
        for name, (label, max_tokens) in MODELS.items():
            t0 = time.perf_counter()
            zm = rl.zoo.load(name)
            zm.preprocess.max_length = 64 if quick else max_tokens
            self.zoo[name] = zm
            self.acts[label] = {}
            for sname, stim in sets.items():
                store = cache / f"{name}-{sname}{'-quick' if quick else ''}.zarr"
                a = rl.extract(zm, stim, layers="all", pool="mean", batch_size=16, out=store, progress=False)
                self.acts[label][sname] = {short_layer(label, k): np.asarray(a[k], dtype=np.float64) for k in a.names}
            n_layers = len(self.acts[label]["lee50"])
            print(
                f"{label}: {n_layers} layers on {sum(len(s) for s in sets.values())} documents "
                f"({time.perf_counter() - t0:.0f} s, cached in {cache}/)"
            )
        demo.run["models"] = {
            label: f"{name}: {len(self.acts[label]['lee50'])} layers, mean-pooled, max {zm_len} tokens"
            for name, (label, _), zm_len in ((n, MODELS[n], self.zoo[n].preprocess.max_length) for n in MODELS)
        }
        demo.run["stimuli"] = (
            f"lee50 ({len(sets['lee50'])} documents, human similarity matrix) and lee300 "
            f"({len(sets['lee300'])} documents); SimLex-999 word pairs"
        )

    def documents(self, label: str) -> dict[str, np.ndarray]:
        """Every layer of one model on lee50 + lee300, rows in that order."""
        a = self.acts[label]
        return {k: np.concatenate([a["lee50"][k], a["lee300"][k]]) for k in a["lee50"]}


def stage_compare(demo: Demo, lms: LanguageModels) -> np.ndarray:
    """Layer x layer matrices over all layers of both models; returns the CKA matrix."""
    import reprlab as rl

    from ..report import figures

    layers = {**lms.documents("MiniLM"), **lms.documents("SmolLM2")}
    names = list(layers)
    mini = [k for k in names if k.startswith("MiniLM")]
    smol = [k for k in names if k.startswith("SmolLM2")]
    n_docs = next(iter(layers.values())).shape[0]
    figs, tables, lines, cka = [], [], [], None
    for spec, title in MEASURES:
        t0 = time.perf_counter()
        res = rl.compare_all(layers, None, spec)
        stem = "lm_" + "".join(c if c.isalnum() else "_" for c in spec).strip("_")
        tables.append({"file": demo.save_matrix(res, stem), "caption": f"{title}: all {len(names)} layers"})
        idx = {k: i for i, k in enumerate(names)}
        cross = rl.ComparisonResult(
            res.values[np.ix_([idx[k] for k in mini], [idx[k] for k in smol])], mini, smol, res.measure
        )
        figs.append(
            demo.figure(
                figures.heatmap(cross, title=f"{title}: MiniLM (rows) vs SmolLM2", annotate=False).figure,
                f"{stem}_cross",
                f"Heatmap of {title} between the {len(mini)} MiniLM layers (rows) and the {len(smol)} SmolLM2 "
                f"layers (columns) on {n_docs} documents; the full matrix is in {stem}.json.",
                f"{title} across models ({time.perf_counter() - t0:.1f} s for all {len(names)} x {len(names)}). "
                f"Colour: {figures.scale_label(spec)}.",
            )
        )
        larger = rl.measures.info(spec).larger_is_similar
        best = (np.argmax if larger else np.argmin)(cross.values, axis=1)
        lines.append(
            f"{title}: " + ", ".join(f"{m.split(':')[1]}->{smol[b].split(':')[1]}" for m, b in zip(mini, best))
        )
        if spec == "cka":
            cka = res
    for label, group in (("MiniLM", mini), ("SmolLM2", smol)):
        sub = rl.ComparisonResult(cka.values[np.ix_(*[[names.index(k) for k in group]] * 2)], group, group, "cka")
        figs.append(
            demo.figure(
                figures.heatmap(sub, title=f"linear CKA within {label}", annotate=len(group) <= 10).figure,
                f"lm_cka_within_{label}",
                f"Heatmap of linear CKA between the {len(group)} layers of {label}; neighbouring layers are "
                "most similar (bright band along the diagonal).",
                f"Linear CKA within {label}.",
            )
        )
    D = np.arccos(np.clip(cka.values, -1.0, 1.0))
    groups = ["MiniLM" if k in mini else "SmolLM2" for k in names]
    figs.append(
        demo.figure(
            figures.layer_map(D, names, groups, "All layers of both models (MDS of arccos CKA)"),
            "lm_layer_map",
            "Two-dimensional MDS map of all layers of MiniLM and SmolLM2 from arccos of linear CKA; each model's "
            "layers are joined in depth order, first and last labelled.",
            "A map of every layer: nearby points have similar representations (angular CKA).",
        )
    )
    print("\nBest-matching SmolLM2 layer for each MiniLM layer:")
    print("\n".join("  " + line for line in lines))
    demo.sections.append(
        {
            "title": "MiniLM-L6 and SmolLM2-135M, layer by layer",
            "text": f"{len(names)} layers compared on {n_docs} news documents (Lee corpus) with four measures. "
            "Best-matching SmolLM2 layer for each MiniLM layer: " + "; ".join(lines) + ".",
            "figures": figs,
            "tables": tables,
        }
    )
    return cka.values


def _curve(results: dict[str, Any]) -> dict[str, list[float]]:
    vals = list(results.values())
    return {
        "layers": list(results),
        "value": [r.value for r in vals],
        "low": [r.ci_low for r in vals],
        "high": [r.ci_high for r in vals],
    }


def _records(model: str, results: dict[str, Any], what: str) -> list[dict[str, Any]]:
    return [
        {"model": model, "layer": k, what: float(r.value), "ci_low": float(r.ci_low), "ci_high": float(r.ci_high)}
        for k, r in results.items()
    ]


def stage_human(demo: Demo, lms: LanguageModels, n_boot: int) -> dict[str, dict[str, Any]]:
    """Alignment of every layer with human judgments, with bootstrap intervals."""
    import reprlab as rl

    from ..report import figures

    target = lms.stimuli["lee50"].human_dissimilarity
    rsa, words, records_rsa, records_words = {}, {}, [], []
    for name, (label, _) in MODELS.items():
        rsa[label] = rl.stats.layerwise_rdm_alignment(
            lms.acts[label]["lee50"], target, rdm="cosine", compare="spearman", n=n_boot, seed=demo.seed
        )
        records_rsa += _records(label, rsa[label], "spearman")
        words[label] = rl.stats.word_similarity(
            lms.zoo[name], "simlex999", n=n_boot, seed=demo.seed, batch_size=64, progress=False
        )
        words[label] = {short_layer(label, k): v for k, v in words[label].items()}
        records_words += _records(label, words[label], "spearman")
    demo.run["bootstrap"] = f"{n_boot} resamples, percentile 95% intervals, seed {demo.seed}"
    f1 = demo.figure(
        figures.depth_curves(
            {m: _curve(r) for m, r in rsa.items()},
            "Spearman with human RDM",
            "Alignment with human document similarity (lee50)",
        ),
        "human_lee50",
        "Line plot of each layer's Spearman correlation between the model's cosine RDM and the human Lee "
        "dissimilarities, by relative depth, for MiniLM and SmolLM2, with 95% bootstrap bands.",
        "RSA with the 50 x 50 human similarity matrix; bands: 95% bootstrap intervals over documents. "
        "No noise ceiling: the human matrix is an average without per-rater data.",
    )
    f2 = demo.figure(
        figures.depth_curves(
            {m: _curve(r) for m, r in words.items()}, "Spearman(cosine, rating)", "Word similarity (SimLex-999)"
        ),
        "words_simlex",
        "Line plot of each layer's Spearman correlation between model cosine similarity and SimLex-999 human "
        "ratings, by relative depth, for both models, with 95% bootstrap bands.",
        "SimLex-999: each word fed alone, mean-pooled; bands: 95% bootstrap intervals over word pairs.",
    )
    best = {m: max(r.items(), key=lambda kv: kv[1].value) for m, r in rsa.items()}
    text = "Best layer for human document similarity: " + "; ".join(
        f"{k} ({v.value:.2f}, 95% CI {v.ci_low:.2f} to {v.ci_high:.2f})" for m, (k, v) in best.items()
    )
    demo.summary.append(text + ".")
    demo.sections.append(
        {
            "title": "Alignment with human judgments",
            "text": text + ". MiniLM's known values (mean-pooled, 256 tokens) rise from about 0.31 at the "
            "embeddings to about 0.51 at layer 6.",
            "figures": [f1, f2],
            "tables": [
                {"file": demo.save_records(records_rsa, "human_lee50"), "caption": "RSA with human Lee similarities"},
                {"file": demo.save_records(records_words, "words_simlex"), "caption": "SimLex-999 alignment"},
            ],
        }
    )
    return {"rsa": rsa, "words": words}


def stage_describe(demo: Demo, lms: LanguageModels) -> dict[str, Any]:
    """Per-layer intrinsic dimension, anisotropy and massive activations."""
    import reprlab as rl

    from ..report import figures

    specs = [
        ("twonn(duplicates=drop)", "TwoNN intrinsic dimension"),
        ("anisotropy", "anisotropy (mean cosine)"),
        ("massive_activations(nonzero=True)", "massive activations (max |x| / median |x|)"),
    ]
    cols = {
        "twonn(duplicates=drop)": "twonn(duplicates=drop)",
        "anisotropy": "anisotropy",
        "massive_activations(nonzero=True)": "massive_activations(nonzero=True).max_ratio",
    }
    out, records = {}, []
    for label in ("MiniLM", "SmolLM2"):
        res = rl.describe_all(lms.documents(label), [s for s, _ in specs])
        df = res.to_pandas()
        out[label] = df
        for layer in res.rows:
            rec = {"model": label, "layer": layer}
            rec.update({cols[s]: float(df.loc[layer, cols[s]]) for s, _ in specs})
            records.append(rec)
    figs = []
    for spec, title in specs:
        col = cols[spec]
        curves = {m: {"layers": list(df.index), "value": list(df[col])} for m, df in out.items()}
        figs.append(
            demo.figure(
                figures.depth_curves(curves, title, f"{title} by depth"),
                "describe_" + col.split("(")[0].split(".")[0],
                f"Line plot of {title} for every layer of MiniLM and SmolLM2 by relative depth.",
                f"{title} on the 350 documents.",
            )
        )
    demo.sections.append(
        {
            "title": "Geometry by depth",
            "text": "Intrinsic dimension (TwoNN), anisotropy (mean pairwise cosine) and the largest activation "
            "relative to the median magnitude, for every layer. The Lee background corpus holds 7 exact duplicate "
            "documents and a few more with the same opening, whose truncated representations coincide; TwoNN "
            "leaves such duplicate points out (duplicates='drop', as scikit-dimension does).",
            "figures": figs,
            "tables": [{"file": demo.save_records(records, "describe_layers"), "caption": "per-layer description"}],
        }
    )
    return out


def print_summary(human: dict[str, Any], described: dict[str, Any]) -> None:
    """A short per-layer table in the terminal."""
    print("\nPer layer: RSA with human lee50 similarities [95% CI], SimLex-999 Spearman [95% CI], TwoNN, anisotropy")
    for label in ("MiniLM", "SmolLM2"):
        df = described[label]
        print(f"  {label}")
        for k, r in human["rsa"][label].items():
            w = human["words"][label].get(k)
            ws = f"{w.value:5.2f} [{w.ci_low:5.2f},{w.ci_high:5.2f}]" if w is not None else " " * 19
            print(
                f"    {k.split(':')[1]:>5}  {r.value:5.2f} [{r.ci_low:5.2f},{r.ci_high:5.2f}]  {ws}  "
                f"{df.loc[k, 'twonn(duplicates=drop)']:6.1f}  {df.loc[k, 'anisotropy']:5.2f}"
            )


def run_demo(out: str | Path = "results", seed: int = 0, quick: bool = False) -> int:
    """Run every stage, write ``out/`` and ``out/report.html``; returns the exit status.

    ``quick`` (for tests) uses 40 of the 300 background documents, 64 tokens and 200 bootstrap resamples.
    """
    demo = Demo(out, seed)
    t0 = time.perf_counter()
    stage_digits(demo)
    lms = LanguageModels(demo, quick)
    stage_compare(demo, lms)
    stage_intervals(demo, lms)
    human = stage_human(demo, lms, n_boot=200 if quick else 1000)
    described = stage_describe(demo, lms)
    stage_intervene(demo, lms)
    stage_dictionary(demo, lms)
    stage_brain(demo, lms)
    print_summary(human, described)
    stage_lens(demo, lms)
    stage_probe(demo, lms)
    path = demo.finish()
    print(f"\nwrote {demo.out}/ (JSON, CSV, figures) and {path} in {time.perf_counter() - t0:.0f} s")
    return 0
