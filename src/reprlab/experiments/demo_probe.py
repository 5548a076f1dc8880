"""Demo stage ``probe``: token-level part of speech read out of every MiniLM layer, with its control task;
and a demo-sized run of the feature-strength reproduction (Lampinen et al. 2024).

Part of speech: the first ``N_SENTENCES`` sentences of the ``lee-pos`` stimulus set (Lee corpus
sentences with silver UPOS tags from the packaged ``denckring-en-pos`` tagger), one row per token
(``pool="none"``), the tokens of the five most frequent open and closed classes (``TAGS``). A
multinomial logistic probe at a fixed, strong penalty (``C = 0.01``: Hewitt & Liang 2019 compare
probes at one capacity, and found that regularisation raises selectivity; it also keeps the fits
within the demo's time) is fitted per layer by :func:`reprlab.probe_layers` with folds grouped by
sentence, so no sentence has tokens on both sides of a split. Its control task gives every token type (the lower-cased
token) one random tag drawn from the tags' distribution; ``selectivity = accuracy - control
accuracy`` (Hewitt & Liang 2019). Scores are balanced accuracies with 95 % bootstrap intervals over
sentences and permutation p-values (labels permuted within test folds against the fixed out-of-fold
predictions), Benjamini-Hochberg adjusted across layers.

Feature strength: :func:`reprlab.experiments.feature_bias.run_feature_bias` with one seed and a
smaller training set (1,000 inputs, 300 steps, which still learns both features to 100 % held-out
accuracy); the full reproduction (several seeds, 4,000 inputs, 800 steps) is ``python -m
reprlab.experiments.feature_bias``.

Demo-sized for a budget of 45 s on 2 CPU cores (measured in docs/benchmarks.md); the section text says how to run
the full analyses.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .demo import Demo, LanguageModels

N_SENTENCES = 120
TAGS = ("ADJ", "ADP", "DET", "NOUN", "VERB")
C = 0.01
N_PERMUTATIONS = 199
FB_TRAIN, FB_STEPS = 1000, 300


def _short(layer: str) -> str:
    """``emb`` for the embeddings, ``L1`` .. ``L6`` for the blocks (numbered from 1, as the demo's other stages)."""
    tail = layer.rsplit(".", 1)[-1]
    return f"L{int(tail) + 1}" if tail.isdigit() else ("emb" if "embed" in layer else tail)


def _probe_figure(results: dict[str, Any], title: str) -> Any:
    """Left: accuracy (with its 95 % interval) and control-task accuracy by layer; right: selectivity."""
    from ..report.figures import OKABE_ITO, _plt

    plt = _plt()
    names = list(results)
    x = np.arange(len(names))
    r = list(results.values())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.4), layout="constrained")
    ax1.plot(x, [v.score for v in r], marker="o", ms=3, color=OKABE_ITO[0], label="part of speech")
    ax1.fill_between(x, [v.ci_low for v in r], [v.ci_high for v in r], color=OKABE_ITO[0], alpha=0.2, linewidth=0)
    ax1.plot(x, [v.control_score for v in r], marker="s", ms=3, color=OKABE_ITO[1], label="control task")
    ax1.axhline(1.0 / len(r[0].classes), color="0.5", lw=0.8, ls=":", label="chance")
    ax1.set_ylabel("balanced accuracy (out of fold)")
    ax1.set_ylim(0, 1)
    ax1.legend(frameon=False, fontsize=8, loc="lower center", ncol=3)
    ax2.bar(x, [v.selectivity for v in r], color=OKABE_ITO[2])
    ax2.set_ylabel("selectivity (accuracy - control)")
    for ax in (ax1, ax2):
        ax.set_xticks(x, [_short(n) for n in names])
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def stage_probe(demo: Demo, lms: LanguageModels) -> dict[str, Any]:
    """Part-of-speech probes with their control task on every MiniLM layer; a demo-sized feature-bias table."""
    import reprlab as rl

    from ..probe.datasets import token_labels
    from .feature_bias import run_feature_bias

    t0 = time.perf_counter()
    zm = lms.zoo["minilm-l6"]
    max_len = zm.preprocess.max_length
    stim = rl.stimuli.load("lee-pos")
    stim = stim.subset(list(stim.ids[:N_SENTENCES]))
    store = demo.out / "activations" / f"minilm-l6-leepos{N_SENTENCES}-tokens-{max_len}.zarr"
    acts = rl.extract(zm, stim, layers="all", pool="none", batch_size=16, out=store, progress=False)
    index = acts.index(acts.names[0])
    tags = token_labels(stim, index, zm.preprocess.tokenizer, max_len)
    keep = np.isin(tags, TAGS)
    types = np.array([str(t).lower() for t in index.token])[keep]
    y, groups = tags[keep].astype(str), index.stimulus[keep]
    layers = {name: acts[name][keep] for name in acts.names}
    res = rl.probe_layers(layers, y, groups=groups, C=C, control="task", types=types, n_permutations=N_PERMUTATIONS,
                          permutation="predictions", n_boot=1000, seed=demo.seed)
    t_probe = time.perf_counter() - t0
    records = [
        {
            "layer": name,
            "accuracy": float(r.score),
            "ci_low": float(r.ci_low),
            "ci_high": float(r.ci_high),
            "control accuracy": float(r.control_score),
            "selectivity": float(r.selectivity),
            "p": float(r.p_value),
            "p (BH)": float(r.p_adjusted),
        }
        for name, r in res.items()
    ]
    counts = {t: int((y == t).sum()) for t in TAGS}
    fig = demo.figure(
        _probe_figure(res, f"Part of speech from MiniLM tokens ({len(y):,} tokens, {N_SENTENCES} sentences)"),
        "probe_pos_minilm",
        "Two panels. Left: line plot of the out-of-fold balanced accuracy of a part-of-speech probe at each MiniLM "
        "layer with its 95% bootstrap band, and of the same probe on the control task (a random tag per token "
        "type), with chance as a dotted line. Right: bars of selectivity (accuracy minus control accuracy) per "
        "layer.",
        f"Logistic probe (C = {C}) of {len(TAGS)} silver UPOS tags from each MiniLM layer, 5 folds grouped by "
        "sentence; control task of Hewitt & Liang (2019); bands: 95% bootstrap over sentences.",
    )
    best = max(res.items(), key=lambda kv: kv[1].selectivity)
    worst_p = max(float(r.p_adjusted) for r in res.values())

    t1 = time.perf_counter()
    fb = run_feature_bias(seeds=(demo.seed,), n_train=FB_TRAIN, steps=FB_STEPS)
    row = fb.table[0]
    fb_records = [
        {
            "feature": f"{feat} ({'bit 0' if feat == 'easy' else 'parity of bits 1-3'})",
            "task accuracy": row[f"task accuracy {feat}"],
            "probe decodability": row[f"decodability {feat}"],
            "variance share": row[f"variance {feat}"],
            "unique share": row[f"unique {feat}"],
            "PC1 share": row[f"PC1 share {feat}"],
            "paper variance share": fb.paper[f"{feat} variance share"],
        }
        for feat in ("easy", "hard")
    ]
    t_fb = time.perf_counter() - t1
    rsa = "; ".join(f"{k} {v:.2f}" for k, v in fb.rsa.items())
    text = (
        f"Token-level part of speech ({', '.join(f'{t} {n}' for t, n in counts.items())} tokens) from the first "
        f"{N_SENTENCES} Lee corpus sentences with silver tags (denckring-en-pos, UD English-EWT), read out of each "
        f"MiniLM layer by rl.probe_layers: a logistic probe at C = {C}, 5 folds grouped by sentence (no sentence on "
        f"both sides of a split), the Hewitt & Liang control task (one random tag per token type) as the control. "
        f"Selectivity is highest at {_short(best[0])} ({best[0]}; accuracy {best[1].score:.3f} vs control "
        f"{best[1].control_score:.3f}, "
        f"selectivity {best[1].selectivity:.3f}); every layer's permutation p (within test folds, "
        f"{N_PERMUTATIONS} permutations, BH-adjusted across layers) is at most {worst_p:.3f} ({t_probe:.0f} s). "
        f"Feature strength (Lampinen et al. 2024), demo-sized: one MLP (seed {demo.seed}, {FB_TRAIN} training "
        f"inputs, {FB_STEPS} steps) computing an easy feature (one input bit) and a hard one (parity of three "
        "bits) equally well; the easy feature takes "
        f"{row['variance easy']:.0%} of its penultimate layer's variance, the hard one {row['variance hard']:.0%} "
        f"(paper: about {fb.paper['easy variance share']:.0%} and {fb.paper['hard variance share']:.0%}). RSA "
        f"between penultimate layers: {rsa}; the paper's pattern is that RSA can judge two models computing the same "
        "complex task less similar than either is to a model of a simpler task, and a model trained on both "
        f"features most similar to an easy-only one ({t_fb:.0f} s). Full reproduction (3 seeds, 4,000 inputs, "
        "800 steps, the RSA between two hard-only models): python -m reprlab.experiments.feature_bias (see "
        "docs/probe.md); the same probes on SmolLM2 or on the whole corpus: rl.probe_layers on a token store "
        "of rl.stimuli.load('lee-pos') with reprlab.probe.datasets.token_labels."
    )
    print(
        "\nprobe: part of speech on MiniLM, selectivity by layer "
        + ", ".join(f"{_short(n)} {r.selectivity:.2f}" for n, r in res.items())
        + f"; feature bias: easy {row['variance easy']:.0%} vs hard {row['variance hard']:.0%} of the variance"
    )
    demo.sections.append(
        {
            "title": "Probes: part of speech by layer, and feature strength",
            "text": text,
            "figures": [fig],
            "tables": [
                {
                    "file": demo.save_records(records, "probe_pos_minilm"),
                    "caption": "part-of-speech probe per MiniLM layer: balanced accuracy, 95% interval, control "
                    "task, selectivity, permutation p",
                },
                {
                    "file": demo.save_records(fb_records, "feature_bias"),
                    "caption": "feature strength (one seed, demo-sized) beside the paper's variance shares",
                },
            ],
        }
    )
    demo.summary.append(
        f"Part of speech is read out of every MiniLM layer well above its control task (best selectivity "
        f"{best[1].selectivity:.2f} at {_short(best[0])})."
    )
    return {"pos": res, "feature_bias": fb}
