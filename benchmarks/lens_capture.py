"""Token-level capture against a plain forward pass with ``output_attentions=True`` (SmolLM2-135M).

Sentences of ~24 tokens from the Lee background corpus, batch 16. Variants, each on the same batches:

* ``plain``: ``model(**batch, output_attentions=True, output_hidden_states=True)`` under eager
  attention (the only implementation that returns probabilities): every state, every attention
  map and the logits, left in the padded tensors transformers returns;
* ``reprlab``: ``rl.extract(lm, texts, pool="none", capture=("resid", "attn", "logits"))`` in
  memory: the same 32 states, 30 attention maps and the logits, copied out for the real tokens only;
* ``reprlab_store`` (``--store``): the same, written to a zarr store (a fresh directory each chunk).

The variants run interleaved in one process, on each chunk of sentences in an order rotated from
chunk to chunk; the machine is shared, so the figures are the ratio of the total times and the
median of the per-chunk ratios, in wall-clock time and in the process's CPU time (which other
processes on a loaded machine disturb less; with one torch thread it is the work done). Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/lens_capture.py [--sentences 96] [--chunk 32] [--store]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

import reprlab as rl


def sentences(n: int, words: int = 18) -> list[str]:
    out: list[str] = []
    for doc in rl.stimuli.load("lee300").items:
        for s in re.split(r"(?<=[.!?])\s+", doc):
            w = s.split()
            if len(w) >= words:
                out.append(" ".join(w[:words]))
    return out[:n]


def plain(lm, texts, bs):
    lm.model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            for b in range(0, len(texts), bs):
                enc = lm.preprocess(texts[b : b + bs])
                out = lm.model(**enc, output_attentions=True, output_hidden_states=True)
                assert len(out.attentions) == 30 and out.logits.shape[-1] > 0
    finally:
        lm.model.set_attn_implementation("sdpa")


def capture(lm, texts, bs, out=None):
    rl.extract(lm, texts, pool="none", capture=("resid", "attn", "logits"), batch_size=bs, out=out, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=96)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--store", action="store_true")
    args = ap.parse_args()
    lm = rl.zoo.load("smollm2-135m")
    texts = sentences(args.sentences)
    tmp = Path(tempfile.mkdtemp())
    variants = {"plain": lambda t: plain(lm, t, args.batch), "reprlab": lambda t: capture(lm, t, args.batch)}
    if args.store:
        variants["reprlab_store"] = lambda t: capture(lm, t, args.batch, out=tmp / f"s{time.perf_counter_ns()}")
    capture(lm, texts[: args.batch], args.batch)  # warm up both paths
    plain(lm, texts[: args.batch], args.batch)
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    totals = {(k, c): 0.0 for k in variants for c in clocks}
    ratios: dict[tuple[str, str], list[float]] = {(k, c): [] for k in variants if k != "plain" for c in clocks}
    names = list(variants)
    for c, c0 in enumerate(range(0, len(texts), args.chunk)):
        chunk = texts[c0 : c0 + args.chunk]
        took = {}
        for k in names[c % len(names) :] + names[: c % len(names)]:
            t0 = {clock: f() for clock, f in clocks.items()}
            variants[k](chunk)
            for clock, f in clocks.items():
                took[k, clock] = f() - t0[clock]
                totals[k, clock] += took[k, clock]
        for k, clock in ratios:
            ratios[k, clock].append(took[k, clock] / took["plain", clock])
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(texts)} sentences, batch {args.batch}, {torch.get_num_threads()} threads")
    for clock in clocks:
        for k in variants:
            v = totals[k, clock]
            extra = ""
            if k != "plain":
                r = ratios[k, clock]
                extra = f"  ratio {v / totals['plain', clock]:.3f} (median per chunk {statistics.median(r):.3f}; "
                extra += f"per chunk {' '.join(f'{x:.2f}' for x in r)})"
            print(f"  {clock:4s} {k:14s} {v:7.2f} s{extra}")


if __name__ == "__main__":
    main()
