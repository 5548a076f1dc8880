"""W6: the cost of rl.extract against a plain forward pass, and of one early SmolLM2 layer.

Part 1 (W6): MiniLM-L6, 2,000 sentences of ~20 tokens (from the Lee background corpus), batch 64,
all 7 hidden states mean-pooled with the attention mask. Variants, each tokenising the same batches:

* ``plain``: ``model(**batch, output_hidden_states=True)``, then the masked mean of the 7 states;
* ``hooks``: forward hooks written by hand on the same 7 modules, pooled after the pass;
* ``reprlab``: ``rl.extract(model, sentences, batch_size=64)`` (in memory);
* ``reprlab_store``: the same, written to a zarr store (``out=``, a fresh directory each round).

Part 2: SmolLM2-135M, ``layers="model.layers.2"`` against the full forward pass of the model
(``model(**batch)``, the logits included), 96 sentences, batch 32.

The variants run interleaved in one process, in a rotated order each round; the machine is shared,
so the figures are the per-round ratios' medians. Usage::

    PYTHONPATH=src python benchmarks/w6_capture.py [--rounds 7] [--smol-rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import reprlab as rl


def sentences(n: int = 2000, words: int = 15) -> list[str]:
    """``n`` sentences of ``words`` words (about 20 MiniLM tokens) from the Lee background corpus."""
    out: list[str] = []
    for doc in rl.stimuli.load("lee300").items:
        for s in re.split(r"(?<=[.!?])\s+", doc):
            w = s.split()
            if len(w) >= words:
                out.append(" ".join(w[:words]))
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} sentences")
    return out[:n]


def _pool(h: torch.Tensor, m: torch.Tensor) -> np.ndarray:
    return ((h * m).sum(1) / m.sum(1).clamp(min=1e-9)).numpy()


def plain(zm, texts, bs):
    outs = []
    with torch.inference_mode():
        for b in range(0, len(texts), bs):
            enc = zm.preprocess(texts[b : b + bs])
            hs = zm.model(**enc, output_hidden_states=True).hidden_states
            m = enc["attention_mask"].unsqueeze(-1).to(hs[0].dtype)
            outs.append([_pool(h, m) for h in hs])
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]


def hooks(zm, texts, bs):
    mods = [zm.model.get_submodule(n) for n in zm.default_layers]
    caught: list[torch.Tensor] = []
    handles = [
        mod.register_forward_hook(lambda _m, _i, o: caught.append(o[0] if isinstance(o, tuple) else o)) for mod in mods
    ]
    outs = []
    try:
        with torch.inference_mode():
            for b in range(0, len(texts), bs):
                caught.clear()
                enc = zm.preprocess(texts[b : b + bs])
                zm.model(**enc)
                m = enc["attention_mask"].unsqueeze(-1).to(caught[0].dtype)
                outs.append([_pool(h, m) for h in caught])
    finally:
        for h in handles:
            h.remove()
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]


def reprlab(zm, texts, bs):
    acts = rl.extract(zm, texts, batch_size=bs, progress=False)
    return [acts[n] for n in acts.names]


def reprlab_store(zm, texts, bs):
    d = Path(tempfile.mkdtemp())
    try:
        acts = rl.extract(zm, texts, batch_size=bs, out=d / "w6.zarr", progress=False)
        return [acts[n] for n in acts.names]
    finally:
        shutil.rmtree(d)


def interleaved(variants: dict, rounds: int, *args) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            variants[k](*args)
            times[k].append(time.perf_counter() - t0)
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {times[k][-1]:.2f}s" for k in names), flush=True)
    return times


def ratios(times: dict[str, list[float]], base: str) -> dict[str, dict[str, float]]:
    out = {}
    for k, ts in times.items():
        per_round = [t / b for t, b in zip(ts, times[base])]
        out[k] = {
            "median_s": statistics.median(ts),
            "median_ratio": statistics.median(per_round),
            "min_ratio": min(per_round),
            "max_ratio": max(per_round),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--smol-rounds", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
    }

    zm = rl.zoo.load("minilm-l6")
    texts = sentences()
    n_tok = [len(zm.tokenizer(t)["input_ids"]) for t in texts]
    info["w6_tokens_per_sentence"] = float(np.mean(n_tok))
    ref = plain(zm, texts, 64)
    for f in (hooks, reprlab, reprlab_store):  # same numbers first
        got = f(zm, texts, 64)
        assert all(np.abs(a - b).max() <= 1e-6 for a, b in zip(got, ref)), f.__name__
    variants = {"plain": plain, "hooks": hooks, "reprlab": reprlab, "reprlab_store": reprlab_store}
    w6 = ratios(interleaved(variants, args.rounds, zm, texts, 64), "plain")
    info["w6"] = w6
    print("\nW6 (MiniLM, 2,000 sentences, batch 64, 7 states mean-pooled): time / plain forward")
    for k, v in w6.items():
        print(
            f"  {k:14s} {v['median_s']:7.2f} s   ratio {v['median_ratio']:.3f} "
            f"(rounds {v['min_ratio']:.3f}-{v['max_ratio']:.3f})"
        )

    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))

    smol = rl.zoo.load("smollm2-135m")
    stexts = texts[:96]

    def full(zm_, t, bs):
        with torch.inference_mode():
            for b in range(0, len(t), bs):
                zm_.model(**zm_.preprocess(t[b : b + bs]))

    def early(zm_, t, bs):
        rl.extract(zm_, t, layers="model.layers.2", batch_size=bs, progress=False)

    def all_layers(zm_, t, bs):
        rl.extract(zm_, t, layers="all", batch_size=bs, progress=False)

    sm = ratios(
        interleaved(
            {"full_forward": full, "layer_2": early, "all_32_layers": all_layers}, args.smol_rounds, smol, stexts, 32
        ),
        "full_forward",
    )
    info["smollm2_early_layer"] = sm
    print("\nSmolLM2-135M, 96 sentences, batch 32: time / full forward pass")
    for k, v in sm.items():
        print(
            f"  {k:14s} {v['median_s']:7.2f} s   ratio {v['median_ratio']:.3f} "
            f"(rounds {v['min_ratio']:.3f}-{v['max_ratio']:.3f})"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
