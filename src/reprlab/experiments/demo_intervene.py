"""Demo stage: writing into SmolLM2 -- a patching grid for factual recall and a steering dose-response.

Demo-sized settings (the stage is meant to take under a minute on two cores): the patching grid
covers every block's residual stream at every position of one prompt pair; the steering sweep uses
a sentiment direction from 32 VADER contrast pairs, 5 scales, 20 prompts and 4 neutral passages.
The full analysis is the same calls with more pairs, prompts and scales (docs/intervene.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

LAYER = "model.layers.8"
ALPHAS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def stage_intervene(demo: Any, lms: Any) -> dict[str, Any]:
    """Patching (France -> Italy capital prompts) and sentiment steering on SmolLM2."""
    import reprlab as rl

    from ..intervene import datasets as ds
    from ..intervene.steering import sentiment_direction

    t0 = time.perf_counter()
    lm = lms.zoo["smollm2-135m"]
    grid = rl.patching(
        lm,
        "The capital of France is",
        "The capital of Italy is",
        metric="logit_diff",
        answers=(" Paris", " Rome"),
    )
    (demo.out / "patching_capital.json").write_text(json.dumps(grid.to_dict(), indent=1))
    f1 = demo.figure(
        grid.plot(),
        "patching_capital",
        "Heatmap of the fraction of the Paris-vs-Rome logit difference restored, blocks by token position",
        "Activation patching on SmolLM2: the residual stream of the clean prompt 'The capital of France is' "
        "patched, one block and one position at a time, into the run of 'The capital of Italy is'. "
        "1 = the clean logit difference (Paris vs Rome) fully restored, 0 = the corrupted one.",
    )
    v = sentiment_direction(lm, LAYER, n=32)
    sweep = rl.steer_sweep(
        lm,
        v,
        layer=LAYER,
        alphas=ALPHAS,
        prompts=ds.steering_prompts(20),
        answers=(ds.POSITIVE_ANSWERS, ds.NEGATIVE_ANSWERS),
        neutral=ds.neutral_texts(4, max_chars=150),
        n_boot=1000,
        seed=demo.seed,
    )
    (demo.out / "steering_sentiment.json").write_text(json.dumps(sweep.to_dict(), indent=1))
    f2 = demo.figure(
        sweep.plot(title=f"Sentiment steering at {LAYER} (SmolLM2)"),
        "steering_sentiment",
        "Dose-response of sentiment steering: positive-vs-negative log-odds and KL on neutral text by scale",
        "Left: mean log-odds of positive vs negative next words over 20 evaluation prompts, with a 95% "
        "bootstrap interval over prompts. Right: the side effect, KL from the unsteered next-token "
        "distribution on neutral Lee-corpus text, and its perplexity.",
    )
    last = grid.values[:, -1]
    text = (
        f"Patching the clean residual stream restores the Paris-vs-Rome logit difference "
        f"(clean {grid.clean:.2f}, corrupted {grid.corrupt:.2f}) at the changed token in early blocks and at "
        f"the last position from block {int(np.argmax(last > 0.5))} on (last block, last position: "
        f"{grid.values[-1, -1]:.2f}). A sentiment direction (mean difference of 32 VADER contrast pairs at "
        f"{LAYER}) moves the log-odds from {sweep.effect[0]:.2f} (alpha {ALPHAS[0]:g}) to {sweep.effect[-1]:.2f} "
        f"(alpha {ALPHAS[-1]:g}); Spearman between scale and effect {sweep.monotonicity:.2f}; the KL on neutral "
        f"text rises from 0 to {sweep.side_effect_kl.max():.3f} nats per token. Demo-sized: for the full "
        "analysis call rl.steer_sweep with more pairs, prompts (ds.steering_prompts(50)) and scales, and "
        "rl.patching with component='attn', 'mlp' or 'heads'."
    )
    demo.summary.append(
        f"Steering SmolLM2 with a sentiment direction: Spearman {sweep.monotonicity:.2f} between scale and effect."
    )
    demo.sections.append(
        {
            "title": "Interventions: activation patching and steering",
            "text": text,
            "figures": [f1, f2],
        }
    )
    print(f"interventions: patching grid and steering sweep ({time.perf_counter() - t0:.0f} s)")
    return {"patching": grid, "steering": sweep}
