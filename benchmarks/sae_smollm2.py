"""SAE: TopK (8x, k=32) on SmolLM2-135M ``model.layers.6`` over the lee300 token store, split by document.

1. ``rl.extract`` of ``model.layers.6`` with ``pool="none"`` (one row per real token; the zoo's
   512-token truncation) over the 300 Lee background documents, into a zarr store (cached).
2. The documents split at random (seed 0): 270 for training, 30 held out; the token rows follow
   their documents, so no held-out document is seen in training.
3. ``rl.dictionary.train(kind="topk", k=32, expansion=8, batch_size=B, steps=STEPS, lr=LR,
   dead_after=DEAD, auxk_alpha=ALPHA)``, timed (wall clock and process CPU, with the load average).
   The defaults (300 steps of 1,024 tokens, lr 2e-3, AuxK on latents silent for one batch with
   coefficient 1) fit a few-minute run on 65k tokens; see docs/benchmarks.md for the sweep.
4. ``rl.dictionary.evaluate`` on the held-out tokens (FVU, L0, dead fraction) and
   ``rl.dictionary.loss_recovered`` on the held-out documents (the SAE spliced in).

Usage::

    PYTHONPATH=src python benchmarks/sae_smollm2.py [--steps 300] [--batch-size 1024] [--lr 2e-3]
        [--dead-after 1024] [--auxk-alpha 1.0] [--threads 2] [--cache DIR] [--json out.json] [--no-loss-recovered]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=2e-3, help="the recipe's 2e-4 / sqrt(m / 2^14) is for long runs")
    ap.add_argument("--dead-after", type=int, default=1024, help="tokens without firing: dead for AuxK")
    ap.add_argument("--auxk-alpha", type=float, default=1.0)
    ap.add_argument("--no-loss-recovered", action="store_true", help="skip the spliced evaluation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/reprlab-bench-sae")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import reprlab as rl

    layer = "model.layers.6"
    zm = rl.zoo.load("smollm2-135m")
    stim = rl.stimuli.load("lee300")
    t0 = time.perf_counter()
    acts = rl.extract(zm, stim, layers=layer, pool="none", batch_size=8, out=Path(args.cache) / "lee300-l6.zarr")
    t_extract = time.perf_counter() - t0
    ids = np.array(acts.ids)
    perm = np.random.default_rng(0).permutation(len(ids))
    test_ids, train_ids = ids[perm[:30]], ids[perm[30:]]
    train, test = acts.subset(list(train_ids)), acts.subset(list(test_ids))
    n_train, n_test = train.shape(layer)[0], test.shape(layer)[0]

    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    sae = rl.dictionary.train(
        train, layer, kind="topk", k=32, expansion=8, batch_size=args.batch_size, steps=args.steps, lr=args.lr,
        dead_after=args.dead_after, auxk_alpha=args.auxk_alpha, seed=0,
    )  # fmt: skip
    t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
    load_after = os.getloadavg()[0]
    ev = rl.dictionary.evaluate(sae, test, layer)
    held = stim.subset(list(test_ids))
    t0 = time.perf_counter()
    lr = None if args.no_loss_recovered else rl.dictionary.loss_recovered(sae, zm, layer, held, batch_size=4)
    t_lr = time.perf_counter() - t0
    out = {
        "tokens": {"train": n_train, "held_out": n_test, "documents": [len(train_ids), len(test_ids)]},
        "threads": args.threads,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": sae.info["lr"],
        "dead_after": sae.info["dead_after"],
        "auxk_alpha": sae.info["auxk_alpha"],
        "seconds": {"extract (cached after the first run)": round(t_extract, 1), "train": round(t_train, 1),
                    "train_process_cpu": round(c_train, 1), "loss_recovered": round(t_lr, 1)},
        "load_average_1min": {"before_training": load_before, "after_training": load_after},
        "held_out": {"fvu": ev.fvu, "l0": ev.l0, "dead_fraction": ev.dead_fraction,
                     "dead_latents": int((ev.density == 0).sum()), "cosine": ev.cosine},
        "loss_recovered": None if lr is None else lr.to_dict(),
        "running_fvu_at_end": sae.info["running_fvu"],
    }  # fmt: skip
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
