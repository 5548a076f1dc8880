"""Tuned-lens training time and held-out KL on SmolLM2 from a store of Lee-corpus tokens.

Extracts (or reuses) a token-level store of SmolLM2 on the Lee documents (embeddings and the 30
blocks, ``pool="none"``), trains ``rl.lens.train_tuned_lens`` on 80 % of the documents and reports
the training loop's wall-clock and CPU seconds, and the held-out KL per layer of the tuned and the
logit lens (20 % of the documents, whole documents, full vocabulary), with the acceptance check: at
least 30 % lower from the 4th block to the 5th-from-last, and never higher. Usage::

    PYTHONPATH=src python benchmarks/lens_tuned.py [--set lee50] [--steps 40] [--train-vocab 2048]
        [--lr 3e-3] [--rows 256] [--store /tmp/lee50-tok.zarr] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import reprlab as rl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="lee50")
    ap.add_argument("--store", default=None)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--train-vocab", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    lm = rl.zoo.load("smollm2-135m")
    store = args.store or f"/tmp/{args.set}-smollm2-tok.zarr"
    t0 = time.perf_counter()
    acts = rl.extract(lm, rl.stimuli.load(args.set), layers="all", pool="none", batch_size=8, out=store, progress=False)
    print(f"store {store}: {acts.shape('model.layers.0')[0]} tokens ({time.perf_counter() - t0:.0f} s)")
    T = rl.lens.train_tuned_lens(
        lm, acts, steps=args.steps, lr=args.lr, rows_per_step=args.rows, train_vocab=args.train_vocab, seed=0,
        device=args.device,
    )  # fmt: skip
    c = T.config
    print(
        f"trained {c['steps']} steps x {c['rows_per_step']} tokens, train_vocab={c['train_vocab']}: "
        f"{c['train_seconds']:.0f} s wall, {c['train_cpu_seconds']:.0f} s CPU; "
        f"{c['n_train_tokens']} training / {c['n_held_out_tokens']} held-out tokens"
    )
    print(
        f"validation: {c['n_validation_tokens']} tokens of {len(c['validation_stimuli'])} training documents; "
        f"translators reset to the identity there: {T.identity_layers or 'none'}"
    )
    ratio = T.held_out_kl / np.maximum(T.held_out_logit_kl, 1e-12)
    for name, a, b, r in zip(T.layers, T.held_out_logit_kl, T.held_out_kl, ratio):
        print(f"  {name:18s} logit {a:7.3f}  tuned {b:7.3f}  tuned/logit {r:.3f}")
    n = len(T.layers)  # state 0 is the embeddings, state k the k-th block's output
    span = slice(4, n - 4)  # the 4th block to the 5th-from-last
    print(
        f"blocks 4th..5th-from-last: max tuned/logit {ratio[span].max():.3f} (target <= 0.70); "
        f"any layer higher: {bool(np.any(T.held_out_kl > T.held_out_logit_kl + 1e-9))}"
    )


if __name__ == "__main__":
    main()
