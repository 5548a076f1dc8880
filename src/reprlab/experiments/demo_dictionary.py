"""Demo stage ``dictionary``: a small TopK SAE on SmolLM2's layer 6, its latents and their density.

Demo-sized so that it runs in under a minute on 2 cores: the 50 lee50 documents at the demo's token
limit (one row per token), 4x expansion, k=16, 100 steps of 1,024 tokens at lr 2e-3. The full
analysis (8x, k=32, the lee300 token store split by document, with the loss recovered) is
``benchmarks/sae_smollm2.py`` or ``reprlab sae train``; see docs/dictionary.md.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

LAYER = "model.layers.6"


def _density_figure(density: np.ndarray, title: str) -> Any:
    from ..report.figures import OKABE_ITO, _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    live = density[density > 0]
    ax.hist(np.log10(live), bins=np.arange(-5.0, 0.01, 0.125), color=OKABE_ITO[0])
    ax.set_xlabel("log10 firing density (fraction of tokens)")
    ax.set_ylabel("latents")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def stage_dictionary(demo: Any, lms: Any) -> None:
    """Train a small SAE on SmolLM2 layer 6 tokens of lee50; write its metrics, latent table and histogram."""
    import reprlab as rl

    t0 = time.perf_counter()
    zm = lms.zoo["smollm2-135m"]
    stim = lms.stimuli["lee50"]
    store = demo.out / "activations" / f"smollm2-135m-lee50-tokens-{zm.preprocess.max_length}.zarr"
    acts = rl.extract(zm, stim, layers=LAYER, pool="none", batch_size=16, out=store, progress=False)
    ids = list(acts.ids)
    test_ids, train_ids = ids[:5], ids[5:]  # held out by document
    train, test = acts.subset(train_ids), acts.subset(test_ids)
    sae = rl.dictionary.train(
        train,
        LAYER,
        kind="topk",
        k=16,
        expansion=4,
        steps=100,
        batch_size=1024,
        lr=2e-3,
        seed=demo.seed,
        progress=False,
    )
    ev = rl.dictionary.evaluate(sae, test, LAYER)
    full = rl.dictionary.evaluate(sae, acts, LAYER)
    latents = np.argsort(-full.density, kind="stable")[:12].tolist()
    examples = rl.dictionary.top_examples(sae, acts, latents=latents, k=5, layer=LAYER)
    records = []
    for latent in latents:
        ex = [e for e in examples if e["latent"] == latent]
        records.append(
            {
                "latent": latent,
                "density": round(float(full.density[latent]), 5),
                "top tokens": " | ".join(repr(e.get("token", "")) for e in ex),
                "top context": ex[0].get("context", "") if ex else "",
            }
        )
    metrics = ev.to_dict()
    (demo.out / "sae_metrics.json").write_text(json.dumps(metrics, indent=1))
    fig = demo.figure(
        _density_figure(full.density, f"SAE latents on SmolLM2 {LAYER} (lee50 tokens)"),
        "sae_density",
        f"Histogram of the log10 firing density of the {sae.m} SAE latents over all {full.n_rows} lee50 tokens; "
        f"{full.dead_fraction:.1%} never fire.",
        "Firing density of each latent (fraction of tokens where it is non-zero).",
    )
    seconds = time.perf_counter() - t0
    text = (
        f"A TopK sparse autoencoder ({sae.m} latents = 4 x {sae.d}, k=16, 100 steps of 1,024 tokens at lr 2e-3) on the "
        f"{train.shape(LAYER)[0]} tokens of 45 lee50 documents at SmolLM2 {LAYER}. On the {ev.n_rows} tokens of 5 "
        f"held-out documents: FVU {ev.fvu:.3f}, L0 {ev.l0:.1f}, cosine {ev.cosine:.3f}, dead latents "
        f"{ev.dead_fraction:.1%}. The table lists the densest latents with their top tokens ({seconds:.0f} s). "
        "Demo-sized: the full analysis (8x, k=32 on the lee300 token store split by document, with the loss "
        "recovered by splicing the SAE into the model) is benchmarks/sae_smollm2.py or `reprlab sae train`."
    )
    print(f"\nSAE on SmolLM2 {LAYER}: held-out FVU {ev.fvu:.3f}, L0 {ev.l0:.1f}, dead {ev.dead_fraction:.1%}")
    demo.sections.append(
        {
            "title": "Sparse autoencoder latents (SmolLM2 layer 6)",
            "text": text,
            "figures": [fig],
            "tables": [
                {
                    "file": demo.save_records(records, "sae_latents"),
                    "caption": "densest SAE latents and their top tokens",
                }
            ],
        }
    )
