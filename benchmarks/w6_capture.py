"""W6: the cost of rl.extract against a plain forward pass, and of one early SmolLM2 layer.

Part 1 (W6): MiniLM-L6, 2,000 sentences of ~20 tokens (from the Lee background corpus), batch 64,
all 7 hidden states mean-pooled with the attention mask. Variants, each tokenising the same batches:

* ``plain``: ``model(**batch, output_hidden_states=True)``, then the masked mean of the 7 states;
* ``hooks``: forward hooks written by hand on the same 7 modules, pooled after the pass;
* ``reprlab``: ``rl.extract(model, sentences, batch_size=64)`` (in memory);
* ``reprlab_store`` (with ``--store``): the same, written to a zarr store (``out=``, a fresh directory
  each round).

The variants are first checked to give the same numbers (to 1e-6) on 128 sentences.

Part 2: SmolLM2-135M, ``layers="model.layers.2"`` against the full forward pass of the model
(``model(**batch)``, the logits included), 96 sentences, batch 32.

The variants run interleaved in one process: on each chunk of sentences (W6: 128, two batches), every
variant runs once, in an order rotated from chunk to chunk; the machine is shared, so the figures are
the ratio of the total times and the median of the per-chunk ratios. (The fixed per-call cost of
``rl.extract``, resolving layers and fingerprinting the model, is paid once per chunk here, i.e. 16
times per pass instead of once: a pessimistic measurement for reprlab.) Usage::

    PYTHONPATH=src python benchmarks/w6_capture.py [--passes 3] [--chunk 128] [--smol-passes 2] [--store]
        [--threads N] [--json out.json]
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


def interleaved(variants: dict, passes: int, model, texts: list[str], bs: int, chunk: int) -> dict[str, list[float]]:
    """Time the variants on consecutive chunks of ``chunk`` sentences, rotating their order each chunk.

    Every variant sees every chunk once per pass; the per-chunk times are returned. Fine-grained
    interleaving keeps the comparison fair when the machine's load changes during the run.
    """
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    step = 0
    for p in range(passes):
        for c in range(0, len(texts), chunk):
            part = texts[c : c + chunk]
            order = names[step % len(names) :] + names[: step % len(names)]
            step += 1
            for k in order:
                t0 = time.perf_counter()
                variants[k](model, part, bs)
                times[k].append(time.perf_counter() - t0)
        base = sum(times[names[0]])
        print(f"pass {p + 1}/{passes}: " + ", ".join(f"{k} {sum(times[k]) / base:.3f}x" for k in names), flush=True)
    return times


def ratios(times: dict[str, list[float]], base: str) -> dict[str, dict[str, float]]:
    """Total time per pass, the ratio of totals, and the median / quartiles of the per-chunk ratios."""
    out = {}
    for k, ts in times.items():
        per_chunk = [t / b for t, b in zip(ts, times[base])]
        q = statistics.quantiles(per_chunk, n=4) if len(per_chunk) > 1 else [per_chunk[0]] * 3
        out[k] = {
            "total_s": sum(ts),
            "n_chunks": len(ts),
            "ratio_of_totals": sum(ts) / sum(times[base]),
            "median_ratio": statistics.median(per_chunk),
            "q1_ratio": q[0],
            "q3_ratio": q[2],
        }
    return out


def _report(title: str, res: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    for k, v in res.items():
        print(
            f"  {k:14s} total {v['total_s']:8.2f} s  ratio of totals {v['ratio_of_totals']:.3f}  "
            f"median chunk ratio {v['median_ratio']:.3f} (IQR {v['q1_ratio']:.3f}-{v['q3_ratio']:.3f}, "
            f"{v['n_chunks']} chunks)"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passes", type=int, default=3, help="passes over the 2,000 sentences (W6; 0: skip)")
    ap.add_argument("--chunk", type=int, default=128, help="sentences per interleaved timing chunk (W6)")
    ap.add_argument("--smol-passes", type=int, default=2, help="passes over 96 sentences (0: skip SmolLM2)")
    ap.add_argument("--store", action="store_true", help="also time rl.extract writing a zarr store")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
    }

    texts = sentences()
    if args.passes > 0:
        zm = rl.zoo.load("minilm-l6")
        info["w6_tokens_per_sentence"] = float(np.mean([len(zm.tokenizer(t)["input_ids"]) for t in texts]))
        variants = {"plain": plain, "hooks": hooks, "reprlab": reprlab}
        if args.store:
            variants["reprlab_store"] = reprlab_store
        check = texts[:128]
        for k, f in variants.items():  # every variant computes the same numbers
            assert all(np.abs(a - b).max() <= 1e-6 for a, b in zip(f(zm, check, 64), plain(zm, check, 64))), k
        info["w6"] = ratios(interleaved(variants, args.passes, zm, texts, 64, args.chunk), "plain")
        _report("W6 (MiniLM, 2,000 sentences, batch 64, 7 states mean-pooled): time / plain forward", info["w6"])
        if args.json:
            Path(args.json).write_text(json.dumps(info, indent=2))
    if args.smol_passes == 0:
        return

    smol = rl.zoo.load("smollm2-135m")

    def full(zm_, t, bs):
        with torch.inference_mode():
            for b in range(0, len(t), bs):
                zm_.model(**zm_.preprocess(t[b : b + bs]))

    def early(zm_, t, bs):
        rl.extract(zm_, t, layers="model.layers.2", batch_size=bs, progress=False)

    def all_layers(zm_, t, bs):
        rl.extract(zm_, t, layers="all", batch_size=bs, progress=False)

    sm_variants = {"full_forward": full, "layer_2": early, "all_32_layers": all_layers}
    info["smollm2_early_layer"] = ratios(
        interleaved(sm_variants, args.smol_passes, smol, texts[:96], 32, 32), "full_forward"
    )
    _report(
        "SmolLM2-135M, 96 sentences, batch 32: time / full forward pass (logits included)", info["smollm2_early_layer"]
    )
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
