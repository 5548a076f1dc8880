"""``reprlab demo``: the flagship analysis, written to a results directory with its report.

Stages (each writes JSON/CSV of every number, figures as PNG and SVG, and a manifest section):

1. ``digits``: two MLPs trained on scikit-learn's digits from different seeds; their layer x layer
   CKA and RSA matrices (printed), a check that corresponding layers match.

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
from ..engine.results import ComparisonResult


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


def run_demo(out: str | Path = "results", seed: int = 0) -> int:
    """Run every stage, write ``out/`` and ``out/report.html``; returns the exit status."""
    demo = Demo(out, seed)
    t0 = time.perf_counter()
    stage_digits(demo)
    path = demo.finish()
    print(f"\nwrote {demo.out}/ (JSON, CSV, figures) and {path} in {time.perf_counter() - t0:.0f} s")
    return 0
