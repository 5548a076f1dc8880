"""``rl.dictionary.loss_recovered``: the SAE spliced into the model in place of its layer's output.

Three forward passes over the same held-out texts, the layer's output replaced through
``rl.intervene(model, {layer: rl.replace(fn)})``:

* clean (no edit), cross-entropy ``CE_clean``;
* the SAE's reconstruction ``fn(h) = decode(encode(h))``, ``CE_sae``;
* zero ablation ``fn(h) = 0``, ``CE_zero``;

``CE`` is the mean next-token cross-entropy (nats) over every predicted token of every text (the
token at ``t + 1`` from position ``t``, both real tokens: padding never counts), pooled over all
texts, not averaged per batch. Then

    recovered = (CE_zero - CE_sae) / (CE_zero - CE_clean)

(1: the SAE costs nothing; 0: as bad as deleting the layer's output), and ``kl_sae``, the mean over
the same tokens of ``KL(p_clean || p_sae)`` of the next-token distributions (also ``kl_zero``).
The same definition as dictionary_learning's ``frac_recovered`` and SAELens's ``ce_loss_score``
(both per batch there; pooled over tokens here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ReprlabError
from .sae import as_sae


@dataclass
class LossRecovered:
    """Result of :func:`loss_recovered` (definitions in the module docstring)."""

    recovered: float
    ce_clean: float
    ce_sae: float
    ce_zero: float
    kl_sae: float
    kl_zero: float
    n_tokens: int

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def _token_stats(logits: torch.Tensor, clean_logp: torch.Tensor | None, ids: torch.Tensor, mask: torch.Tensor):
    """(sum of CE, sum of KL(clean || this), log-probs) over predicted real tokens of one batch."""
    logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    target = ids[:, 1:]
    valid = (mask[:, :-1] * mask[:, 1:]).bool()
    ce = -logp.gather(-1, target[..., None])[..., 0]
    kl = torch.zeros_like(ce)
    if clean_logp is not None:
        kl = (clean_logp.exp() * (clean_logp - logp)).sum(-1)
    return float(ce[valid].sum()), float(kl[valid].sum()), int(valid.sum()), logp


@torch.no_grad()
def loss_recovered(
    sae: Any, lm: Any, layer: str, stimuli: Any, batch_size: int = 8, *, preprocess: Any = None
) -> LossRecovered:
    """Splice ``sae`` into ``lm`` at ``layer`` and measure the language-modelling loss it costs.

    Parameters
    ----------
    sae : SparseAutoencoder or its directory
    lm : a zoo language model (``rl.zoo.load("smollm2-135m")``) or a causal LM module (with ``preprocess``)
    layer : str
        The module whose output the SAE replaces (the layer it was trained on).
    stimuli : rl.stimuli set or list of texts
        Held-out texts.
    preprocess : callable or tokenizer, optional
        For a bare module: texts -> model inputs (``input_ids``, ``attention_mask``).
    """
    from ..capture.extract import _model_parts, _to_device, _wrap_preprocess
    from ..intervene import intervene, replace

    sae = as_sae(sae, "sae")
    module, prep, _, _, _ = _model_parts(lm, preprocess)
    prep = _wrap_preprocess(prep)
    if prep is None:
        raise ReprlabError("`lm` is a bare module: pass `preprocess=` (its tokenizer) to turn the texts into inputs.")
    items = list(getattr(stimuli, "items", stimuli))
    if not items or not all(isinstance(t, str) for t in items):
        raise ReprlabError("`stimuli` must be a non-empty list of texts (or a text stimulus set).")
    dev = next(module.parameters()).device
    s = sae.scale_.to(sae.W_dec.device, sae.W_dec.dtype)

    def reconstruct(h: torch.Tensor) -> torch.Tensor:
        if h.shape[-1] != sae.d:
            raise ReprlabError(
                f"The SAE has input width {sae.d} but {layer!r} outputs width {h.shape[-1]}: it was trained on "
                f"another layer{f' ({sae.layer!r})' if sae.layer else ''}. Splice it where it was trained."
            )
        x = h.reshape(-1, sae.d).to(sae.W_dec.device, sae.W_dec.dtype)
        x_hat = sae.decode_scaled(sae.codes_scaled(x * s)) / s
        return x_hat.reshape(h.shape).to(h.device, h.dtype)

    totals = {"clean": [0.0, 0.0], "sae": [0.0, 0.0], "zero": [0.0, 0.0]}
    n = 0
    was_training = module.training
    module.eval()
    try:
        for b in range(0, len(items), batch_size):
            inputs = _to_device(prep(items[b : b + batch_size]), dev)
            ids, mask = inputs["input_ids"], inputs.get("attention_mask", torch.ones_like(inputs["input_ids"]))
            ce, _, count, clean_logp = _token_stats(module(**inputs).logits, None, ids, mask)
            totals["clean"][0] += ce
            n += count
            for name, fn in (("sae", reconstruct), ("zero", torch.zeros_like)):
                with intervene(module, {layer: replace(fn)}):
                    logits = module(**inputs).logits
                ce, kl, _, _ = _token_stats(logits, clean_logp, ids, mask)
                totals[name][0] += ce
                totals[name][1] += kl
    finally:
        module.train(was_training)
    if n == 0:
        raise ReprlabError("`stimuli`: no text has two tokens or more, so there is no next token to predict.")
    ce_clean, ce_sae, ce_zero = (totals[k][0] / n for k in ("clean", "sae", "zero"))
    if not ce_zero > ce_clean:
        raise ReprlabError(
            f"Zero-ablating {layer!r} does not raise the loss (CE {ce_zero:.4f} vs clean {ce_clean:.4f}), so the "
            "fraction of loss recovered is undefined here."
        )
    return LossRecovered(
        recovered=(ce_zero - ce_sae) / (ce_zero - ce_clean),
        ce_clean=ce_clean,
        ce_sae=ce_sae,
        ce_zero=ce_zero,
        kl_sae=totals["sae"][1] / n,
        kl_zero=totals["zero"][1] / n,
        n_tokens=n,
    )
