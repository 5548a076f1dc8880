"""Demo stage: a layer x layer matrix with bootstrap intervals and permutation p-values in every cell.

MiniLM-L6's 7 states against every fourth SmolLM2 state on the 50 Lee documents, linear CKA, with
:func:`reprlab.stats.bootstrap_all` (jackknife rule, one ``compare_all`` per left-out document) and
:func:`reprlab.stats.permutation_test_all` (one ``compare_all`` per permutation). Demo-sized: 1000
resamples and 200 permutations on 50 documents; the section text says how to run the full analysis.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

N_BOOT, N_PERM, EVERY = 1000, 200, 4


def _matrices(seed: int, lms: Any) -> tuple[Any, Any]:
    import reprlab as rl

    mini = lms.acts["MiniLM"]["lee50"]
    smol_all = lms.acts["SmolLM2"]["lee50"]
    smol = {k: v for i, (k, v) in enumerate(smol_all.items()) if i % EVERY == 0 or i == len(smol_all) - 1}
    res = rl.stats.bootstrap_all(mini, smol, "cka", n=N_BOOT, seed=seed)
    return res, rl.stats.permutation_test_all(mini, smol, "cka", n=N_PERM, seed=seed)


def stage_intervals(demo: Any, lms: Any) -> None:
    """Write ``lm_cka_intervals.json`` (values, ``ci_low``, ``ci_high``, ``p``), its heatmap and a section."""
    from ..report import figures

    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of small matrices: intra-op threads cost more than they save
    try:
        res, perm = _matrices(demo.seed, lms)
    finally:
        torch.set_num_threads(threads)
    mini = lms.acts["MiniLM"]["lee50"]
    res.p, res.meta["p_values"] = perm.p, perm.meta["p_values"]
    n_docs = next(iter(mini.values())).shape[0]
    stem = "lm_cka_intervals"
    table = {"file": demo.save_matrix(res, stem), "caption": "linear CKA with 95% intervals and p-values"}
    fig = demo.figure(
        figures.heatmap(res, title="linear CKA, MiniLM vs SmolLM2 (lee50)").figure,
        stem,
        f"Heatmap of linear CKA between the {len(res.rows)} MiniLM states (rows) and {len(res.cols)} SmolLM2 "
        "states (columns) on 50 documents; each cell shows the value, its 95% bootstrap interval below it and "
        "a star where the permutation p-value is below 0.05. The table below lists every number.",
        "Linear CKA between MiniLM and SmolLM2 states on the 50 Lee documents, with bootstrap intervals.",
    )
    widths = res.ci_high - res.ci_low
    inside = bool(np.all((res.ci_low <= res.values) & (res.values <= res.ci_high)))
    elapsed = time.perf_counter() - t0
    demo.sections.append(
        {
            "title": "How sure are the layer-by-layer numbers? Intervals and p-values",
            "text": (
                f"Linear CKA between every MiniLM state and every {EVERY}th SmolLM2 state on the {n_docs} Lee "
                f"documents. Intervals: {N_BOOT} bootstrap resamples of the documents under the jackknife rule "
                "(no resample puts two copies of a document into the measure, which inflated the plain bootstrap "
                "so much that its intervals missed the estimate; docs/stats.md). p-values: "
                f"{N_PERM} permutations of the documents, per cell, not corrected for the "
                f"{res.values.size} cells (use rl.stats.fdr_bh). Interval widths {widths.min():.2f}-"
                f"{widths.max():.2f}; every interval contains its value: {inside}. Computed in {elapsed:.0f} s. "
                "Full analysis: rl.stats.bootstrap_all(layers_a, layers_b, 'cka', n=10000) and "
                "rl.stats.permutation_test_all(..., n=10000) over all layers and the 350 documents."
            ),
            "figures": [fig],
            "tables": [table],
        }
    )
    print(f"\nlinear CKA with intervals (MiniLM x SmolLM2, {n_docs} documents): {elapsed:.0f} s")
