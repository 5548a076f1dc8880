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
    ap.add_argument(
        "--step-ratio",
        type=int,
        metavar="N",
        help="only time N training steps of the sparse TopK loss against the dense formula, side by side",
    )
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
    if args.step_ratio:
        step_ratio(train, layer, args)
        return

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


def _dense_topk_loss(sae, x, dead, alpha):
    """The TopK + AuxK loss written densely: (n, m) codes, ``z W_dec``, autograd through all of it."""
    pre = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    vals, idx = pre.topk(sae.k, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, idx, vals.clamp_min(0))
    e = x - (z @ sae.W_dec + sae.b_dec)
    loss = e.pow(2).sum(-1).mean()
    if bool(dead.any()):
        aux_pre = torch.where(dead, pre, torch.full_like(pre, -torch.inf))
        av, ai = aux_pre.topk(min(sae.d // 2, int(dead.sum())), dim=-1)
        z_aux = torch.zeros_like(pre).scatter(-1, ai, av.clamp_min(0))
        ed = e.detach()
        loss = loss + alpha * (z_aux @ sae.W_dec - ed).pow(2).sum() / (ed - ed.mean(0)).pow(2).sum()
    return loss


def step_ratio(train, layer, args) -> None:
    """Seconds per training step (loss, backward, the decoder-gradient projection, Adam) of the library's
    sparse TopK loss and of the dense formula, alternating on the same batches in one process, with 2 %
    of the latents dead (AuxK on)."""
    import reprlab as rl
    from reprlab.dictionary.train import _adam, _loss

    sae = rl.dictionary.train(train, layer, kind="topk", k=32, expansion=8, batch_size=args.batch_size, steps=1,
                              lr=args.lr, seed=0, progress=False).train()  # fmt: skip
    opt = _adam(list(sae.parameters()), args.lr)
    X = torch.from_numpy(np.asarray(train[layer][: 4 * args.batch_size], dtype=np.float32)) * sae.scale
    dead = torch.zeros(sae.m, dtype=torch.bool)
    dead[torch.randperm(sae.m, generator=torch.Generator().manual_seed(0))[: sae.m // 50]] = True

    def step(which: str, x: torch.Tensor) -> None:
        if which == "sparse":
            loss = _loss(sae, x, 0, 1, dead, 0.0, 0.0, 0.0, args.auxk_alpha)[0]
        else:
            loss = _dense_topk_loss(sae, x, dead, args.auxk_alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            g = sae.W_dec.grad
            g -= (g * sae.W_dec).sum(1, keepdim=True) * sae.W_dec
        opt.step()

    times = {"sparse": [], "dense": []}
    for i in range(2 * args.step_ratio + 2):
        which = ("sparse", "dense")[i % 2]
        x = X[(i // 2 % 4) * args.batch_size :][: args.batch_size]
        t0 = time.perf_counter()
        step(which, x)
        if i >= 2:  # the first pair warms up
            times[which].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(json.dumps({"threads": args.threads, "batch_size": args.batch_size, "steps_each": args.step_ratio,
                      "median_seconds_per_step": med, "dense_over_sparse": med["dense"] / med["sparse"],
                      "load_average_1min": os.getloadavg()[0]}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
