"""The logit lens: every residual state read through the model's own final norm and unembedding.

For a residual state ``h_l`` (layer ``l``, one token) the lens distribution is
``q_l = softmax(W_U norm(h_l))`` with the model's own final normalisation and unembedding
(nostalgebraist 2020, "interpreting GPT: the logit lens"). The statistics, in nats, per layer and token:

* ``kl_to_final``: ``KL(p || q_l) = sum_v p_v (log p_v - log q_l,v)``, ``p`` the model's output
  distribution at that token (forward KL, as in Belrose et al. 2023, "Eliciting latent predictions
  from transformers with the tuned lens");
* ``entropy``: ``H(q_l) = -sum_v q_l,v log q_l,v``;
* ``cross_entropy``: ``-log q_l[next token]`` (the next input token; NaN at each prompt's last
  token, which has no next token);
* ranks and probabilities of target tokens (rank 1 = the lens's top token).

The same result comes from a live model (one forward pass per batch of prompts, hooks on the blocks)
or from a token-level store (``rl.extract(..., pool="none")``) plus the model's weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError
from ..store.activations import Activations, TokenIndex
from ._model import LanguageModel, ResidualRun, check_layers, language_model

_ROWS = 256  # token rows decoded at once (a (256, vocab) float32 block)

Decoder = Callable[[int, torch.Tensor], torch.Tensor]  # (layer number, states) -> logits


@dataclass
class LensResult:
    """Per layer and token: the lens's agreement with the model's output, and its predictions.

    Attributes
    ----------
    kind : "logit" or "tuned"
    layers : list[str]
        The residual states read, in network order.
    index : TokenIndex
        One entry per row (every real token of every prompt): stimulus (prompt number), position,
        token id, token text.
    prompts : list[str]
        The prompts' ids.
    kl_to_final, entropy, cross_entropy : numpy.ndarray, shape (n_layers, n_rows)
        In nats; see the module docstring (``cross_entropy`` is NaN at each prompt's last token).
    targets : list[int] or None
        The target token of each prompt, when ``targets=`` was given.
    target_rank, target_prob : numpy.ndarray (n_layers, n_prompts) or None
        Rank (1 = top) and probability of each prompt's target at its last token.
    """

    kind: str
    layers: list[str]
    index: TokenIndex
    prompts: list[str]
    kl_to_final: np.ndarray
    entropy: np.ndarray
    cross_entropy: np.ndarray
    targets: list[int] | None = None
    target_rank: np.ndarray | None = None
    target_prob: np.ndarray | None = None
    _lm: LanguageModel | None = field(default=None, repr=False)
    _states: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    _decode: Decoder | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"LensResult({self.kind} lens, {len(self.layers)} layers x {self.kl_to_final.shape[1]} tokens of "
            f"{len(self.prompts)} prompt(s))"
        )

    # --- summaries ------------------------------------------------------------------------------

    def per_prompt(self, stat: str = "kl_to_final") -> np.ndarray:
        """``(n_prompts, n_layers)``: the mean of ``stat`` over each prompt's tokens (the unit a
        bootstrap over prompts resamples)."""
        values = self._stat(stat)
        stim = self.index.stimulus
        out = np.empty((len(self.prompts), len(self.layers)))
        for p in range(len(self.prompts)):
            rows = values[:, stim == p]
            ok = ~np.isnan(rows)
            if not ok.any():
                raise ReprlabError(f"prompt {self.prompts[p]!r} has no token with a defined {stat} (one token only).")
            out[p] = np.where(ok, rows, 0.0).sum(axis=1) / ok.sum(axis=1)
        return out

    def by_layer(self, stat: str = "kl_to_final") -> np.ndarray:
        """``(n_layers,)``: the mean of ``stat`` over prompts (each prompt weighs the same)."""
        return self.per_prompt(stat).mean(axis=0)

    def bootstrap(
        self, stat: str = "kl_to_final", *, n: int = 1000, ci: float = 0.95, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean of ``stat`` per layer with a percentile bootstrap interval over prompts (prompts are
        resampled with replacement; each prompt's mean over its tokens is the unit). Returns
        ``(mean, low, high)``, each ``(n_layers,)``."""
        from ..stats.bootstrap import _check_units, interval, run_bootstrap
        from ..stats.resampling import check_count, check_level, check_seed

        per = self.per_prompt(stat)
        _check_units(per.shape[0], "The lens result's prompts")
        value, samples, _ = run_bootstrap(
            lambda ix: per[ix].mean(axis=0), per.shape[0], n=check_count(n), rng=check_seed(seed), jackknife=False
        )
        lo, hi = interval(samples, value, check_level(ci), "percentile")
        return value, lo, hi

    def _stat(self, stat: str) -> np.ndarray:
        if stat not in ("kl_to_final", "entropy", "cross_entropy"):
            raise ReprlabError(f"`stat` must be 'kl_to_final', 'entropy' or 'cross_entropy'; got {stat!r}.")
        return getattr(self, stat)

    # --- predictions, recomputed from the kept states ---------------------------------------------

    def _logprobs(self, layer: str, rows: np.ndarray) -> torch.Tensor:
        if self._states is None or self._decode is None:
            raise ReprlabError("This lens result kept no states (keep_states=False); recompute it to read tokens.")
        if layer not in self.layers:
            raise ReprlabError(f"`layer`: {layer!r} is not in this result. Layers: {self.layers}.")
        h = _take(self._states[layer], rows)
        with torch.inference_mode():
            return torch.log_softmax(self._decode(self.layers.index(layer), h).float(), dim=-1)

    def logits(self, layer: str, prompt: int | str = 0) -> np.ndarray:
        """``(n_tokens, vocab)``: the lens's logits at ``layer`` for every token of one prompt."""
        rows = np.flatnonzero(self.index.stimulus == self._prompt(prompt))
        if self._states is None or self._decode is None:
            raise ReprlabError("This lens result kept no states (keep_states=False); recompute it to read logits.")
        if layer not in self.layers:
            raise ReprlabError(f"`layer`: {layer!r} is not in this result. Layers: {self.layers}.")
        with torch.inference_mode():
            return self._decode(self.layers.index(layer), _take(self._states[layer], rows)).float().cpu().numpy()

    def _prompt(self, prompt: int | str) -> int:
        p = self.prompts.index(prompt) if isinstance(prompt, str) and prompt in self.prompts else prompt
        if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or not 0 <= p < len(self.prompts):
            raise ReprlabError(f"`prompt` must be a prompt number (0..{len(self.prompts) - 1}) or id; got {prompt!r}.")
        return int(p)

    def rank(self, target: str | int) -> np.ndarray:
        """``(n_layers, n_rows)``: the rank of ``target`` (one token) in the lens distribution of every
        layer and token (1 = top)."""
        assert self._lm is not None
        t = self._lm.token_id(target)
        rows = np.arange(self.kl_to_final.shape[1])
        out = np.empty((len(self.layers), rows.size), dtype=np.int64)
        for li, layer in enumerate(self.layers):
            for r0 in range(0, rows.size, _ROWS):
                lp = self._logprobs(layer, rows[r0 : r0 + _ROWS])
                out[li, r0 : r0 + _ROWS] = (lp > lp[:, t : t + 1]).sum(dim=1).cpu().numpy() + 1
        return out

    def top_tokens(self, layer: str, position: int, k: int = 5, prompt: int | str = 0) -> list[tuple[str, float]]:
        """The ``k`` most probable tokens of the lens at ``layer`` and ``position`` of one prompt
        (its number or id; ``position`` may be negative), with their probabilities."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ReprlabError(f"`k` must be a positive integer; got {k!r}.")
        p = self._prompt(prompt)
        rows = np.flatnonzero(self.index.stimulus == p)
        if not -rows.size <= position < rows.size:
            raise ReprlabError(f"`position` {position} is outside prompt {p}'s {rows.size} tokens.")
        lp = self._logprobs(layer, rows[[position]])[0]
        top = torch.topk(lp, k)
        assert self._lm is not None
        return list(zip(self._lm.texts(top.indices.tolist()), top.values.exp().tolist()))


def logit_lens(
    lm: Any,
    prompts: Any,
    targets: Any = None,
    *,
    layers: Any = "all",
    batch_size: int = 8,
    keep_states: bool = True,
) -> LensResult:
    """Read every residual state of ``lm`` through its own final norm and unembedding.

    Parameters
    ----------
    lm : zoo language model or transformers causal LM
        ``rl.zoo.load("smollm2-135m")`` or any ``AutoModelForCausalLM`` (Llama, GPT-2, GPT-NeoX,
        Qwen2, ...). A model without an unembedding (an encoder) is refused.
    prompts : str, list of str, or Activations
        Texts (tokenised with the zoo model's tokenizer, without padding effects), or a token-level
        store of this model (``rl.extract(lm, texts, pool="none", layers=...)``): its residual layers
        are read from the store, and the reference distribution is its ``"logits"`` layer when kept,
        else the last block through the final norm and unembedding (the same numbers).
    targets : str, int, or one per prompt, optional
        Target tokens (each exactly one token) whose rank and probability at each prompt's last
        token are reported (``target_rank``, ``target_prob``).
    layers : "all" or list of str
        Residual states: the input embedding's name (state 0: the input of the first block) and
        block names. Anything else (the final norm's output, a sub-module) is an error.
    batch_size : int
        Prompts per forward pass.
    keep_states : bool
        Keep the residual states (``d`` floats per token and layer) so ``rank`` and ``top_tokens``
        can recompute any distribution.
    """
    m = language_model(lm)
    return _lens(m, prompts, targets, layers, batch_size, keep_states, "logit", lambda i, h: m.decode(h))


def _lens(
    m: LanguageModel,
    prompts: Any,
    targets: Any,
    layers: Any,
    batch_size: int,
    keep_states: bool,
    kind: str,
    decode: Decoder,
) -> LensResult:
    if isinstance(prompts, Activations):
        states, final, index, ids = _from_store(m, prompts, layers)
    else:
        states, final, index, ids = _from_model(m, prompts, layers, batch_size)
    names = list(states)
    n_rows = index.stimulus.size
    kl = np.empty((len(names), n_rows))
    ent = np.empty_like(kl)
    ce = np.full_like(kl, np.nan)
    nxt = np.flatnonzero(np.append(index.stimulus[1:] == index.stimulus[:-1], False))  # rows with a next token
    next_tok = torch.as_tensor(index.token_id[nxt + 1])
    last = _last_rows(index.stimulus, len(ids))
    tgt = _targets(m, targets, len(ids))
    rank = np.empty((len(names), len(ids)), dtype=np.int64) if tgt is not None else None
    prob = np.empty((len(names), len(ids))) if tgt is not None else None
    with torch.inference_mode():
        for r0 in range(0, n_rows, _ROWS):
            r1 = min(r0 + _ROWS, n_rows)
            log_p = torch.log_softmax(final(r0, r1).double(), dim=-1)
            for li, name in enumerate(names):
                log_q = torch.log_softmax(decode(li, _take(states[name], slice(r0, r1))).double(), dim=-1)
                kl[li, r0:r1] = (log_p.exp() * (log_p - log_q)).sum(dim=-1).cpu().numpy()
                ent[li, r0:r1] = -(log_q.exp() * log_q).sum(dim=-1).cpu().numpy()
                here = (nxt >= r0) & (nxt < r1)
                if here.any():
                    rows = torch.as_tensor(nxt[here] - r0)
                    ce[li, nxt[here]] = -log_q[rows, next_tok[torch.as_tensor(here)]].cpu().numpy()
                if tgt is not None:
                    for p in np.flatnonzero((last >= r0) & (last < r1)):
                        row = log_q[last[p] - r0]
                        rank[li, p] = int((row > row[tgt[p]]).sum()) + 1
                        prob[li, p] = float(row[tgt[p]].exp())
    return LensResult(
        kind, names, index, ids, kl, ent, ce, tgt, rank, prob,
        _lm=m, _states=states if keep_states else None, _decode=decode if keep_states else None,
    )  # fmt: skip


def _take(x: Any, rows: Any) -> torch.Tensor:
    """Rows of a tensor, an array or a zarr array (``rows``: a slice or integer indices) as float32."""
    if isinstance(x, torch.Tensor):
        return x[rows if isinstance(rows, slice) else torch.as_tensor(rows)]
    if not isinstance(rows, slice) and hasattr(x, "oindex"):
        return torch.as_tensor(np.asarray(x.oindex[np.asarray(rows)]), dtype=torch.float32)
    return torch.as_tensor(np.asarray(x[rows]), dtype=torch.float32)


def _last_rows(stimulus: np.ndarray, n: int) -> np.ndarray:
    last = np.empty(n, dtype=np.int64)
    last[stimulus] = np.arange(stimulus.size)  # the last write per prompt wins: its last row
    return last


def _targets(m: LanguageModel, targets: Any, n: int) -> list[int] | None:
    if targets is None:
        return None
    items = [targets] * n if isinstance(targets, (str, int, np.integer)) else list(targets)
    if len(items) != n:
        raise ReprlabError(f"`targets`: give one target for all prompts or one per prompt ({n}); got {len(items)}.")
    return [m.token_id(t, "targets") for t in items]


def _prompt_list(prompts: Any) -> tuple[list[str], list[str]]:
    from ..capture.stimuli import Stimuli

    if isinstance(prompts, Stimuli):
        return list(prompts.items), list(prompts.ids)
    items = [prompts] if isinstance(prompts, str) else prompts
    if not isinstance(items, Sequence) or not items or not all(isinstance(p, str) for p in items):
        raise ReprlabTypeError(
            "`prompts` must be a text, a list of texts, an rl.stimuli text set, or a token-level store "
            f"(rl.extract(..., pool='none')); got {type(prompts).__name__}."
        )
    return list(items), [str(i) for i in range(len(items))]


def _from_model(m: LanguageModel, prompts: Any, layers: Any, batch_size: int):
    texts, ids = _prompt_list(prompts)
    if m.tokenizer is None:
        raise ReprlabError("`lm`: texts need the model's tokenizer; pass a zoo model (rl.zoo.load(...)).")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ReprlabError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    names = check_layers(m, layers)
    last_block = m.blocks[-1]
    run = ResidualRun(m, sorted(set(names) | {last_block}, key=m.layers.index))
    parts: dict[str, list[torch.Tensor]] = {n: [] for n in run.layers}
    tok: list[torch.Tensor] = []
    stim: list[np.ndarray] = []
    was_training = m.module.training
    m.module.eval()
    try:
        for b0 in range(0, len(texts), batch_size):
            batch = texts[b0 : b0 + batch_size]
            m.tokenizer.padding_side = "right"
            enc = m.tokenizer(batch, padding=True, return_tensors="pt")
            states, real = run.run(dict(enc))
            for n in run.layers:
                parts[n].append(states[n].cpu())
            tok.append(real.cpu())
            lengths = enc["attention_mask"].sum(dim=1).numpy()
            stim.append(np.repeat(np.arange(b0, b0 + len(batch)), lengths))
    finally:
        m.module.train(was_training)
    all_states = {n: torch.cat(v) for n, v in parts.items()}
    stimulus = np.concatenate(stim)
    token_id = torch.cat(tok).numpy().astype(np.int64)
    index = TokenIndex(stimulus, _positions(stimulus), token_id, np.array(m.texts(token_id), dtype=object))
    final_states = all_states[last_block]
    return {n: all_states[n] for n in names}, lambda r0, r1: m.decode(final_states[r0:r1]), index, ids


def _positions(stimulus: np.ndarray) -> np.ndarray:
    starts = np.flatnonzero(np.r_[True, stimulus[1:] != stimulus[:-1]])
    return np.arange(stimulus.size) - np.repeat(starts, np.diff(np.r_[starts, stimulus.size]))


def _from_store(m: LanguageModel, acts: Activations, layers: Any):
    token_layers = [n for n in acts.names if acts.attrs.get("pooling", {}).get(n) == "none"]
    resid = [n for n in token_layers if n in m.layers]
    if not resid:
        raise ReprlabError(
            f"`prompts`: the activations hold no token-level residual stream of this model (pool='none' layers "
            f"among {m.layers[0]!r}, {m.blocks[0]!r} ... {m.blocks[-1]!r}); they hold {acts.names}. Extract with "
            "rl.extract(lm, texts, pool='none', layers='all')."
        )
    if m.embedding in resid and not _embedding_is_residual(m):
        if not (isinstance(layers, str) and layers == "all"):
            check_layers(m, layers, resid)
            if m.embedding in ([layers] if isinstance(layers, str) else list(layers)):
                raise ReprlabError(
                    f"`layers`: in this model the output of {m.embedding!r} is not the residual stream (something, "
                    "e.g. position embeddings, is added before the first block), so its stored rows cannot be "
                    "lensed. Leave it out of `layers`, or run the lens on the texts (live model), which reads the "
                    "first block's input."
                )
        resid = [n for n in resid if n != m.embedding]  # "all": the residual layers the store holds
    names = check_layers(m, layers, resid)
    index = acts.index(names[0])
    for n in names[1:]:
        if not np.array_equal(acts.index(n).stimulus, index.stimulus):
            raise ReprlabError(f"`prompts`: the layers' token rows differ ({names[0]!r} vs {n!r}).")
    if (index.token_id < 0).any():
        raise ReprlabError("`prompts`: the store's rows carry no token ids; extract text inputs with a tokenizer.")
    states = {n: acts._arrays[n] for n in names}  # read row block by row block, never whole
    if "logits" in acts.names:
        logits = acts._arrays["logits"]
        final = lambda r0, r1: _take(logits, slice(r0, r1))  # noqa: E731
    elif m.blocks[-1] in acts.names:
        last = acts._arrays[m.blocks[-1]]
        final = lambda r0, r1: m.decode(_take(last, slice(r0, r1)))  # noqa: E731
    else:
        raise ReprlabError(
            f"`prompts`: the store has neither 'logits' nor the last block {m.blocks[-1]!r}, so the model's "
            "output distribution is unknown. Extract with capture=('resid', 'logits') or include the last block."
        )
    texts = index.token if index.token is not None else np.array(m.texts(index.token_id), dtype=object)
    return states, final, TokenIndex(index.stimulus, index.position, index.token_id, texts), list(acts.ids)


def _embedding_is_residual(m: LanguageModel) -> bool:
    """Whether the input embedding's output is residual state 0: true unless something is added to it
    before the first block (GPT-2 adds position embeddings). Checked on a two-token input."""
    probe = {"input_ids": torch.tensor([[0, 1]], device=m.device)}
    states, _ = ResidualRun(m, [m.embedding]).run(probe)
    with torch.inference_mode():
        emb = m.module.get_input_embeddings()(probe["input_ids"])[0].float()
    return bool(torch.allclose(states[m.embedding], emb, rtol=1e-5, atol=1e-6))
