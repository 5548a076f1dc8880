"""Steering with a dose-response: ``rl.steer_sweep(lm, v, layer=..., alphas=..., prompts=...)``.

For each scale ``alpha`` the model runs with ``rl.add(v, alpha)`` at ``layer`` (every position) and
three quantities are measured:

* the effect: a metric of each prompt's next-token distribution; by default the log-odds of a set of
  positive against a set of negative answer tokens,
  ``log sum_{a in A+} p(a) - log sum_{a in A-} p(a)`` (Turner et al. 2023, arXiv:2308.10248, measure
  steering by such contrasts), with a percentile bootstrap interval over prompts (the prompts are
  resampled, the same resample for every alpha);
* the side effect on neutral text: the mean over all real token positions of
  ``KL(p_unsteered || p_steered)`` of the next-token distributions, with a bootstrap interval over
  texts;
* the perplexity of the neutral texts under the steered model, ``exp`` of the mean next-token
  negative log-likelihood.

A dose-response curve shows whether the effect grows with the scale and what it costs; the Spearman
correlation between the scales and the mean effect is reported as ``monotonicity``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from ..errors import ReprlabError, ReprlabTypeError
from ..stats.bootstrap import interval
from .edits import add, as_vector_tensor
from .hooks import intervene
from .patching import _logits, _model_and_tokenizer, answer_id


@dataclass
class SteerSweep:
    """Dose-response of a steering vector (see :func:`steer_sweep`); arrays are indexed by alpha."""

    alphas: np.ndarray
    effect: np.ndarray
    effect_ci: np.ndarray  # (2, n_alphas): lower, upper
    effect_per_prompt: np.ndarray  # (n_alphas, n_prompts)
    side_effect_kl: np.ndarray
    side_effect_kl_ci: np.ndarray
    perplexity: np.ndarray
    layer: str
    metric: str
    ci: float
    meta: dict = field(default_factory=dict)

    @property
    def monotonicity(self) -> float:
        """Spearman correlation between the scales and the mean effect."""
        return float(spearmanr(self.alphas, self.effect).statistic)

    def plot(self, title: str | None = None) -> Any:
        """Two panels: the effect with its interval, and the side-effect KL and perplexity; returns the Figure."""
        from ..report.figures import OKABE_ITO, _plt

        plt = _plt()
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained")
        a1.fill_between(self.alphas, self.effect_ci[0], self.effect_ci[1], color=OKABE_ITO[0], alpha=0.25)
        a1.plot(self.alphas, self.effect, "o-", color=OKABE_ITO[0])
        a1.axhline(0, color="0.6", lw=0.8)
        a1.set_xlabel("steering scale alpha")
        a1.set_ylabel(self.metric)
        a1.set_title(f"Effect ({int(self.ci * 100)}% CI over prompts)", fontsize=10)
        a2.fill_between(
            self.alphas, self.side_effect_kl_ci[0], self.side_effect_kl_ci[1], color=OKABE_ITO[3], alpha=0.25
        )
        a2.plot(self.alphas, self.side_effect_kl, "o-", color=OKABE_ITO[3], label="KL on neutral text")
        a2.set_xlabel("steering scale alpha")
        a2.set_ylabel("KL (nats / token)")
        a3 = a2.twinx()
        a3.plot(self.alphas, self.perplexity, "s--", color=OKABE_ITO[2], label="perplexity")
        a3.set_ylabel("perplexity")
        a2.set_title("Side effect on neutral text", fontsize=10)
        fig.suptitle(title or f"Steering at {self.layer}", fontsize=11)
        return fig

    def to_dict(self) -> dict:
        return {
            "alphas": self.alphas.tolist(),
            "effect": self.effect.tolist(),
            "effect_ci": self.effect_ci.tolist(),
            "side_effect_kl": self.side_effect_kl.tolist(),
            "side_effect_kl_ci": self.side_effect_kl_ci.tolist(),
            "perplexity": self.perplexity.tolist(),
            "monotonicity": self.monotonicity,
            "layer": self.layer,
            "metric": self.metric,
        }


def _encode(tok: Any, texts: Sequence[str], name: str) -> dict[str, torch.Tensor]:
    if tok is None:
        raise ReprlabError(f"`{name}` are texts; pass `tokenizer=` (or a zoo model) to tokenize them.")
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
        raise ReprlabTypeError(f"`{name}` must be a non-empty list of texts.")
    side = getattr(tok, "padding_side", "right")
    tok.padding_side = "right"  # real tokens first: position p is the p-th token of every text
    try:
        return dict(tok(list(texts), return_tensors="pt", padding=True))
    finally:
        tok.padding_side = side


def _answer_ids(answers: Any, tok: Any) -> tuple[list[int], list[int]]:
    if answers is None or len(answers) != 2:
        raise ReprlabError(
            "`answers` must be (positive answers, negative answers), e.g. ([' good', ' great'], [' bad', ' awful'])."
        )
    out = []
    for side in answers:
        items = [side] if isinstance(side, (str, int, np.integer)) else list(side)
        out.append([answer_id(a, tok) for a in items])
    return out[0], out[1]


def _batches(enc: dict[str, torch.Tensor], size: int):
    n = enc["input_ids"].shape[0]
    for i in range(0, n, size):
        yield {k: v[i : i + size] for k, v in enc.items()}


def steer_sweep(
    model: Any,
    v: Any,
    *,
    layer: str,
    alphas: Sequence[float],
    prompts: Sequence[str],
    metric: str | Callable[[torch.Tensor], torch.Tensor] = "log_odds",
    answers: Any = None,
    neutral: Sequence[str] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    batch_size: int = 16,
    tokenizer: Any = None,
) -> SteerSweep:
    """Dose-response of steering with ``v`` at ``layer`` over the scales ``alphas``.

    Parameters
    ----------
    model : zoo model or causal LM (torch.nn.Module)
    v : vector (width,) or an ``rl.direction`` result
    prompts : texts whose next-token distribution carries the effect
    metric : ``"log_odds"`` (with ``answers=(positive tokens, negative tokens)``) or a callable
        mapping last-position logits (n_prompts, vocab) to one value per prompt
    neutral : texts for the side effect (default: 10 Lee-corpus passages)
    n_boot, ci, seed : the bootstrap over prompts (and over neutral texts for the KL)
    """
    lm, tok = _model_and_tokenizer(model, tokenizer)
    vec = as_vector_tensor(v, "v")
    alphas_arr = np.asarray([float(a) for a in alphas])
    if alphas_arr.size < 2 or not np.all(np.isfinite(alphas_arr)):
        raise ReprlabError(f"`alphas` must be at least two finite scales; got {list(alphas)!r}.")
    if metric == "log_odds":
        pos_ids, neg_ids = _answer_ids(answers, tok)

        def metric_fn(z: torch.Tensor) -> torch.Tensor:
            lp = torch.log_softmax(z.double(), -1)
            return torch.logsumexp(lp[:, pos_ids], -1) - torch.logsumexp(lp[:, neg_ids], -1)

        metric_name = "log-odds positive vs negative"
    elif callable(metric):
        metric_fn, metric_name = metric, getattr(metric, "__name__", "metric")
    else:
        raise ReprlabError(f'`metric` must be "log_odds" or a callable; got {metric!r}.')
    if neutral is None:
        from .datasets import neutral_texts

        neutral = neutral_texts(10)
    enc = _encode(tok, prompts, "prompts")
    enc_n = _encode(tok, neutral, "neutral")
    mask_n = enc_n["attention_mask"][:, 1:].bool()  # positions whose next token is real
    target_n = enc_n["input_ids"][:, 1:]

    def neutral_logprobs():
        for b in _batches(enc_n, batch_size):
            yield torch.log_softmax(_logits(lm(**b))[:, :-1].float(), -1)

    with torch.no_grad():
        base = list(neutral_logprobs())

    def run(alpha: float) -> tuple[np.ndarray, np.ndarray, float]:
        effects, kl_text = [], []
        nll_sum, nll_count = 0.0, 0
        with torch.no_grad(), intervene(lm, {layer: add(vec, alpha)}):
            for b in _batches(enc, batch_size):
                z = _logits(lm(**b))
                idx = b["attention_mask"].sum(1) - 1
                effects.append(torch.as_tensor(metric_fn(z[torch.arange(z.shape[0]), idx])).double())
            for i, lp in enumerate(neutral_logprobs()):
                sl = slice(i * batch_size, i * batch_size + lp.shape[0])
                m, t = mask_n[sl], target_n[sl]
                kl = (base[i].exp() * (base[i] - lp)).sum(-1).double()  # (texts, positions)
                kl_text.append(((kl * m).sum(1) / m.sum(1)).numpy())
                nll = -lp.gather(-1, t[..., None])[..., 0].double()
                nll_sum += float(nll[m].sum())
                nll_count += int(m.sum())
        return torch.cat(effects).numpy(), np.concatenate(kl_text), float(np.exp(nll_sum / nll_count))

    per_prompt, kl_per_text, ppl = [], [], []
    for a in alphas_arr:
        eff, kl, p = run(float(a))
        per_prompt.append(eff)
        kl_per_text.append(kl)
        ppl.append(p)
    E = np.stack(per_prompt)  # (alphas, prompts)
    K = np.stack(kl_per_text)  # (alphas, texts)
    rng = np.random.default_rng(seed)
    boot_e = E[:, rng.integers(0, E.shape[1], size=(n_boot, E.shape[1]))].mean(-1).T  # (n_boot, alphas)
    boot_k = K[:, rng.integers(0, K.shape[1], size=(n_boot, K.shape[1]))].mean(-1).T
    e_lo, e_hi = interval(boot_e, E.mean(1), ci, "percentile")
    k_lo, k_hi = interval(boot_k, K.mean(1), ci, "percentile")
    return SteerSweep(
        alphas_arr,
        E.mean(1),
        np.stack([e_lo, e_hi]),
        E,
        K.mean(1),
        np.stack([k_lo, k_hi]),
        np.asarray(ppl),
        layer,
        metric_name,
        ci,
        {"n_prompts": E.shape[1], "n_neutral": K.shape[1], "n_boot": n_boot, "kl_per_text": K},
    )


def sentiment_direction(model: Any, layer: str, *, n: int = 64, method: str = "mean_diff", seed: int = 0) -> Any:
    """A sentiment direction at ``layer`` of a zoo language model: ``rl.direction`` of the last-token
    states of ``n`` positive against ``n`` negative VADER contrast pairs (see
    :func:`reprlab.intervene.datasets.sentiment_pairs`)."""
    from ..capture.extract import extract
    from .datasets import sentiment_pairs
    from .directions import direction

    pos, neg = sentiment_pairs(n, seed=seed)
    acts = extract(model, pos + neg, layers=[layer], pool="last", progress=False)
    X = np.asarray(acts[layer])
    return direction(X[:n], X[n:], method=method, layer=layer)


def steer_generate(
    model: Any,
    v: Any,
    *,
    layer: str,
    prompt: str,
    alphas: Sequence[float],
    max_new_tokens: int = 20,
    tokenizer: Any = None,
) -> dict[float, str]:
    """Greedy continuations of ``prompt`` with ``rl.add(v, alpha)`` at ``layer`` for each alpha
    (alpha 0: the unsteered model). Uses the KV cache; the edit applies at every position."""
    lm, tok = _model_and_tokenizer(model, tokenizer)
    enc = _encode(tok, [prompt], "prompt")
    vec = as_vector_tensor(v, "v")
    pad = getattr(tok, "pad_token_id", None)
    out: dict[float, str] = {}
    for a in alphas:
        with torch.no_grad(), intervene(lm, {layer: add(vec, float(a))}):
            ids = lm.generate(**enc, max_new_tokens=int(max_new_tokens), do_sample=False, pad_token_id=pad)
        out[float(a)] = tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return out
