"""Demo stage ``brain``: MiniLM word features -> naplib's simulated speech iEEG, and brain RSA with a ceiling.

1. **Encoding, layer by layer.** The 10 naplib trials (audiobook speech, 10 simulated channels at
   100 Hz) come with transcripts but no word timing, so word onsets are *estimated*: each trial's
   voiced frames (spectrogram energy above its 30th percentile) are shared among its words in
   proportion to their letters. Every MiniLM layer's word vectors (its sub-word tokens averaged),
   reduced to 16 principal components, are placed as impulses at the onsets; ``rl.encoding`` fits them
   with lags of 0 to 0.5 s (every 0.05 s), folds and bootstrap units by trial. A 16-band spectrogram model
   (the acoustics the channels were simulated from) and the same without lags are the references;
   the lagged vs unlagged comparison is a paired bootstrap.
2. **Brain RSA with a noise ceiling.** Responses to the words that occur in every trial (0-400 ms
   after their estimated onsets, 10 channels x 8 bins of 50 ms) go into an rsatoolbox ``Dataset``
   (``rl.io.to_rsatoolbox``, conditions = word, runs = trial) and back (``rl.io.from_rsatoolbox``),
   whose crossnobis RDM (cross-validated across trials) is computed on five disjoint pairs of
   trials; their agreement gives the noise ceiling (``rl.stats.noise_ceiling``), which bounds the
   Spearman correlation of each MiniLM layer's RDM of the words (each word alone, mean-pooled).

The full analysis is the same code with every trial's exact word timing (a forced aligner), all
components (``n_components=None``) and 1,000 resamples.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

N_COMPONENTS = 16
LAGS = range(0, 51, 5)  # 0 to 0.5 s at 100 Hz
EPOCH_BINS, BIN = 8, 5  # 8 bins of 0.05 s after each word onset


def word_onsets(spectrogram: np.ndarray, words: list[str]) -> np.ndarray:
    """Estimated onset sample of every word: voiced frames shared in proportion to the words' letters."""
    energy = spectrogram.sum(1)
    voiced = np.flatnonzero(energy > np.quantile(energy, 0.3))
    letters = np.array([len(w) for w in words], dtype=float)
    starts = np.concatenate([[0.0], np.cumsum(letters)[:-1]]) / letters.sum()
    return voiced[np.floor(starts * len(voiced)).astype(int)]


def word_vectors(zoo_model: Any, text: str) -> dict[int, np.ndarray]:
    """Per layer, the (n_words, d) MiniLM vectors of the words of ``text`` (sub-word tokens averaged)."""
    import torch

    tok, model = zoo_model.tokenizer, zoo_model.model
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    enc = tok(text.lower(), return_offsets_mapping=True, return_tensors="pt", truncation=True, max_length=512)
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        states = model(**enc, output_hidden_states=True).hidden_states
    owner = np.full(len(offsets), -1)
    for t, (a, b) in enumerate(offsets):
        if b > a:
            owner[t] = next(i for i, (s, e) in enumerate(spans) if s <= a < e)
    out = {}
    for layer, h in enumerate(states):
        H = h[0].double().numpy()
        out[layer] = np.stack([H[owner == w].mean(0) for w in range(len(spans))])
    return out


def _pca(V: np.ndarray, k: int) -> np.ndarray:
    Vc = V - V.mean(0)
    _, _, Wt = np.linalg.svd(Vc, full_matrices=False)
    return Vc @ Wt[:k].T


def stage_brain(demo: Any, lms: Any) -> dict[str, Any]:
    """Encoding models layer by layer and brain RSA with a noise ceiling (module docstring)."""
    import torch

    import reprlab as rl

    from ..report import figures

    t0 = time.perf_counter()
    d = rl.datasets.load("naplib-speech")
    minilm = lms.zoo["minilm-l6"]
    n_boot = 200
    words = [t.split() for t in d.transcripts]
    onsets = [word_onsets(s, w) for s, w in zip(d.stimuli["spectrogram"], words)]
    vecs = [word_vectors(minilm, t) for t in d.transcripts]
    lengths = [len(r) for r in d.responses]
    Y = np.concatenate(d.responses)
    groups = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    where = np.concatenate([o + on for o, on in zip(offsets, onsets)])
    kw = {"groups": groups, "cv": 5, "block": 500, "n_boot": n_boot, "seed": demo.seed, "channels": d.channels}

    results, records = {}, []
    for layer in vecs[0]:
        V = _pca(np.concatenate([v[layer] for v in vecs]), N_COMPONENTS)
        F = np.zeros((len(Y), N_COMPONENTS))
        F[where] = V
        results[f"MiniLM:{'emb' if layer == 0 else f'L{layer}'}"] = rl.encoding(F, Y, lags=LAGS, **kw)
    spec = np.concatenate([s.reshape(len(s), 16, 8).mean(2) for s in d.stimuli["spectrogram"]])
    acoustic = rl.encoding(spec, Y, lags=LAGS, **kw)
    flat = rl.encoding(spec, Y, lags=[0], **kw)
    paired = acoustic.paired(flat)
    for name, e in [*results.items(), ("spectrogram", acoustic), ("spectrogram, no lags", flat)]:
        records.append(
            {
                "model": name,
                "mean_r": float(e.r.mean()),
                "ci_low": float(e.ci_low.mean()),
                "ci_high": float(e.ci_high.mean()),
                **{f"r_{c}": float(v) for c, v in zip(e.channels, e.r)},
            }
        )
    curve = {
        "MiniLM words": {
            "layers": list(results),
            "value": [float(e.r.mean()) for e in results.values()],
            "low": [float(e.ci_low.mean()) for e in results.values()],
            "high": [float(e.ci_high.mean()) for e in results.values()],
        }
    }
    fig1 = demo.figure(
        figures.depth_curves(curve, "held-out r (mean over 10 channels)", "Encoding naplib's simulated iEEG"),
        "brain_encoding",
        "Line plot of the mean held-out correlation of encoding models from each MiniLM layer's word vectors "
        "(estimated word onsets, lags 0-500 ms) to 10 simulated intracranial channels, by depth, with bands "
        "from the mean of the channels' 95% bootstrap interval bounds.",
        f"Encoding models by layer (trial-wise folds; bands: mean of per-channel 95% intervals). The spectrogram "
        f"model reaches r = {acoustic.r.mean():.2f}.",
    )

    # brain RSA through the rsatoolbox round trip
    common = sorted(set.intersection(*(set(w) for w in words)))
    epochs, conds, runs = [], [], []
    for i, (w, on) in enumerate(zip(words, onsets)):
        R = d.responses[i]
        for word, o in zip(w, on):
            if word in common and o + EPOCH_BINS * BIN <= len(R):
                epochs.append(R[o : o + EPOCH_BINS * BIN].reshape(EPOCH_BINS, BIN, -1).mean(1).ravel())
                conds.append(word)
                runs.append(i)
    E, conds, runs = np.asarray(epochs), np.asarray(conds), np.asarray(runs)
    common = [w for w in common if all(((conds == w) & (runs == i)).any() for i in range(len(words)))]
    keep = np.isin(conds, common)
    E, conds, runs = E[keep], conds[keep], runs[keep]
    rdms = []
    for a in range(0, 10, 2):
        m = (runs == a) | (runs == a + 1)
        ds = rl.io.to_rsatoolbox(E[m], conditions=conds[m], runs=runs[m], descriptors={"trials": f"{a},{a + 1}"})
        rdms.append(rl.io.from_rsatoolbox(ds).rdm("crossnobis"))
    ceiling = rl.stats.noise_ceiling([r.condensed for r in rdms], method="spearman")
    brain = np.mean([r.condensed for r in rdms], 0)
    static = {}
    enc_words = minilm.preprocess([w.lower() for w in common])
    with torch.no_grad():
        states = minilm.model(**enc_words, output_hidden_states=True).hidden_states
    mask = enc_words["attention_mask"][..., None].double()
    rsa_records = []
    for layer, h in enumerate(states):
        pooled = ((h.double() * mask).sum(1) / mask.sum(1)).numpy()
        name = f"MiniLM:{'emb' if layer == 0 else f'L{layer}'}"
        static[name] = rl.compare_rdms(rl.rdm(pooled, "cosine"), brain, method="spearman")
        rsa_records.append({"layer": name, "spearman": float(static[name])})
    rsa_records.append({"layer": "noise ceiling lower", "spearman": float(ceiling.lower)})
    rsa_records.append({"layer": "noise ceiling upper", "spearman": float(ceiling.upper)})
    fig2 = demo.figure(
        figures.depth_curves(
            {"MiniLM words": {"layers": list(static), "value": [float(v) for v in static.values()]}},
            "Spearman with the brain RDM",
            "Brain RSA over frequent words",
            ceiling=(ceiling.lower, ceiling.upper),
        ),
        "brain_rsa",
        f"Line plot of each MiniLM layer's Spearman correlation with the crossnobis RDM of the responses to "
        f"{len(common)} words, by depth, with the noise ceiling as a grey band.",
        "Brain RSA: word RDMs of MiniLM layers vs the trial-cross-validated crossnobis RDM of word-evoked responses; "
        "grey: noise ceiling from five disjoint pairs of trials.",
    )
    best = max(results.items(), key=lambda kv: kv[1].r.mean())
    text = (
        f"Encoding models on naplib's 10 simulated channels (10 trials, {len(Y):,} samples at 100 Hz, estimated word "
        f"onsets since the transcripts carry no timing): the best MiniLM layer is {best[0]} (mean r = "
        f"{best[1].r.mean():.3f}, mean 95% interval {best[1].ci_low.mean():.3f} to {best[1].ci_high.mean():.3f}); "
        f"the spectrogram the channels were simulated from reaches {acoustic.r.mean():.3f}, and its lags add "
        f"{paired.mean_difference:.3f} over no lags (paired bootstrap p = {paired.mean_p:.3g}). Word features with "
        "estimated timing can only track the acoustics indirectly, so low values are expected. Brain RSA over "
        f"{len(common)} words heard in every trial: noise ceiling {ceiling.lower:.2f} to {ceiling.upper:.2f}; "
        "best layer " + max(static, key=static.get) + f" ({max(static.values()):.2f}). Demo settings: "
        f"{N_COMPONENTS} components, {n_boot} resamples; the full analysis uses exact word timing, all components "
        f"and 1,000 resamples. ({time.perf_counter() - t0:.0f} s)"
    )
    print("\n" + text)
    demo.summary.append(
        f"Encoding naplib's simulated iEEG: best MiniLM layer {best[0]} (r = {best[1].r.mean():.3f}); spectrogram "
        f"{acoustic.r.mean():.3f}."
    )
    demo.sections.append(
        {
            "title": "Brain data: encoding models and brain RSA",
            "text": text,
            "figures": [fig1, fig2],
            "tables": [
                {"file": demo.save_records(records, "brain_encoding"), "caption": "encoding models, held-out r"},
                {"file": demo.save_records(rsa_records, "brain_rsa"), "caption": "brain RSA and noise ceiling"},
            ],
        }
    )
    return {"encoding": results, "acoustic": acoustic, "paired": paired, "rsa": static, "ceiling": ceiling}
