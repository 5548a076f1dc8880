"""The demo's lens stage: SmolLM2's logit and tuned lens KL curves, and its attention-head scores.

Demo-sized settings keep the stage under a minute on 2 CPU cores: the lenses are read on 10 short
prompts (the first 12 tokens of 10 Lee documents), the tuned lens is trained for a few steps on the
first 40 tokens of 20 background documents with a restricted training vocabulary, and the head
scores use 8 repeated random sequences. The section text says how to run the full analysis.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .demo import Demo, LanguageModels

N_PROMPTS, PROMPT_TOKENS = 10, 12
TRAIN_DOCS, TRAIN_TOKENS, TRAIN_STEPS = 20, 40, 12


def _truncate(tokenizer: Any, texts: list[str], n: int) -> list[str]:
    return [tokenizer.decode(tokenizer(t)["input_ids"][:n]) for t in texts]


def stage_lens(demo: Demo, lms: LanguageModels) -> dict[str, Any]:
    """Logit vs tuned lens KL by layer (bootstrap bands over prompts) and head-score maps."""
    import reprlab as rl

    from ..lens.figures import head_maps, kl_by_layer

    t0 = time.perf_counter()
    lm = lms.zoo["smollm2-135m"]
    tok = lm.tokenizer
    prompts = _truncate(tok, list(lms.stimuli["lee50"].items[:N_PROMPTS]), PROMPT_TOKENS)
    train = _truncate(tok, list(lms.stimuli["lee300"].items[:TRAIN_DOCS]), TRAIN_TOKENS)
    store = rl.extract(
        lm, train, layers="all", pool="none", batch_size=8, out=demo.out / "activations" / "smollm2-lens-train.zarr",
        progress=False,
    )  # fmt: skip
    lens = rl.lens.train_tuned_lens(
        lm, store, steps=TRAIN_STEPS, lr=3e-3, rows_per_step=128, train_vocab=1024, held_out=0.05, window=1024
    )
    lens.save(demo.out / "smollm2.tuned-lens.pt")
    logit = rl.lens.logit_lens(lm, prompts, keep_states=False)
    tuned = rl.lens.tuned_lens(lm, prompts, lens, keep_states=False)
    records = []
    for res in (logit, tuned):
        mean, lo, hi = res.bootstrap("kl_to_final", n=1000, seed=demo.seed)
        records += [
            {"lens": res.kind, "layer": layer, "kl_mean": float(m), "ci_low": float(a), "ci_high": float(b)}
            for layer, m, a, b in zip(res.layers, mean, lo, hi)
        ]
    kl_table = demo.save_records(records, "lens_kl_by_layer")
    fig_kl = demo.figure(
        kl_by_layer({"logit lens": logit, f"tuned lens ({TRAIN_STEPS} steps)": tuned}, seed=demo.seed),
        "lens_kl_by_layer",
        "Line plot of the mean KL divergence (nats) between SmolLM2's output distribution and the lens "
        "distribution at each residual state, for the logit lens and the tuned lens, with shaded 95% "
        "bootstrap bands over prompts.",
        f"KL(model || lens) by layer on {N_PROMPTS} held-out prompts, 95% bootstrap bands over prompts.",
    )

    heads = [rl.heads.score(lm, kind=k, n_sequences=8, length=20, seed=demo.seed) for k in rl.heads.KINDS]
    head_records = [
        {"kind": h.kind, "head": name, "score": float(v)} for h in heads for name, v in h.top(5)
    ]  # fmt: skip
    head_table = demo.save_records(head_records, "heads_top")
    np.save(demo.out / "heads_scores.npy", np.stack([h.values for h in heads]))
    fig_heads = demo.figure(
        head_maps(heads),
        "heads_scores",
        "Four heat maps (layers by heads) of SmolLM2's attention-head scores: previous-token, induction, "
        "duplicate-token and first-token attention; brighter cells are higher scores.",
        "Attention-head scores of SmolLM2 (30 blocks x 9 heads) on 8 repeated random sequences of 2 x 20 tokens.",
    )
    mid = slice(3, len(logit.layers) - 5)
    lo_mid = float(logit.by_layer()[mid].mean())
    tu_mid = float(tuned.by_layer()[mid].mean())
    top_ind = heads[1].top(3)
    text = (
        f"The logit lens reads each residual state through SmolLM2's own final norm and unembedding; its KL to "
        f"the model's output averages {lo_mid:.1f} nats over blocks 3 to {len(logit.layers) - 6} and falls only "
        f"in the last blocks. A tuned lens (an affine translator per layer, identity at the start) trained here "
        f"for only {TRAIN_STEPS} steps on {lens.config['n_train_tokens']} tokens brings that to {tu_mid:.1f} "
        f"nats. The top induction heads are "
        + ", ".join(f"{n} ({v:.2f})" for n, v in top_ind)
        + ". Full analysis: train on a store of the Lee corpus, e.g. "
        "acts = rl.extract(lm, rl.stimuli.load('lee300'), pool='none', out='lee300-tok.zarr'); "
        "T = rl.lens.train_tuned_lens(lm, acts, steps=300) (see docs/lens.md and docs/benchmarks.md). "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    demo.sections.append(
        {
            "title": "Inside the forward pass: logit and tuned lens, attention heads (SmolLM2)",
            "text": text,
            "figures": [fig_kl, fig_heads],
            "tables": [
                {"file": kl_table, "caption": "KL to the model's output by layer, both lenses, with 95% intervals"},
                {"file": head_table, "caption": "Top 5 heads of each score kind"},
            ],
        }
    )
    demo.summary.append(
        f"SmolLM2's logit lens is {lo_mid:.0f} nats from the output in the middle blocks; a briefly trained "
        f"tuned lens {tu_mid:.0f}."
    )
    print(f"\nlens: logit {lo_mid:.2f} vs tuned {tu_mid:.2f} nats (middle blocks); induction heads {top_ind}")
    return {"logit": logit, "tuned": tuned, "heads": heads}
