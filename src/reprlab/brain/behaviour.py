"""Surprisal from a causal language model, per token and per word, for linking to behaviour.

The surprisal of token ``w_t`` is ``-log2 p(w_t | w_<t)`` in bits (Hale 2001; Levy 2008), read from
the model's next-token distribution. Every text is scored from its beginning: the tokenizer's BOS
token (else its EOS token, the GPT-2 convention of ``<|endoftext|>`` as a document separator) is
prepended as the context of the first real token, and is itself not scored. So the surprisals of a
text sum to the model's total cross-entropy on it in bits (``loss x n_tokens / ln 2`` with the
same BOS-prefixed input).

**Words.** A word is a maximal run of non-whitespace characters. A token belongs to the word that
holds its first non-whitespace character (from the tokenizer's character offsets); a token of
whitespace alone belongs to the next word (it is the boundary that word begins with), or, at the end
of a text, to the last word. A word's surprisal is the sum of its tokens' (the chain rule: the
log-probability of the word's sub-word tokens in turn; Wilcox et al. 2020; Oh & Schuler 2023), so the
word surprisals of a text also sum to its total.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError

_WORD = re.compile(r"\S+")


@dataclass
class TextSurprisal:
    """Surprisal (bits) of one text: per token and per word."""

    text: str
    tokens: list[str]
    token_surprisal: np.ndarray
    token_word: np.ndarray  # the word of each token
    words: list[str]
    word_surprisal: np.ndarray
    word_spans: list[tuple[int, int]] = field(repr=False)  # character spans of the words

    @property
    def total(self) -> float:
        """The text's total surprisal in bits (its cross-entropy under the model)."""
        return float(self.token_surprisal.sum())


@dataclass
class Surprisal:
    """Surprisal of several texts; ``results[i]`` is text i's :class:`TextSurprisal`."""

    results: list[TextSurprisal]
    model: str

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> TextSurprisal:
        return self.results[i]

    @property
    def words(self) -> list[np.ndarray]:
        """Per text, the word surprisals (bits)."""
        return [r.word_surprisal for r in self.results]

    @property
    def tokens(self) -> list[np.ndarray]:
        """Per text, the token surprisals (bits)."""
        return [r.token_surprisal for r in self.results]

    def to_pandas(self, level: str = "word") -> Any:
        """A long table: one row per word (``level="word"``) or per token (``"token"``)."""
        import pandas as pd

        if level not in ("word", "token"):
            raise ReprlabError(f"`level` must be 'word' or 'token'; got {level!r}.")
        rows = []
        for t, r in enumerate(self.results):
            if level == "word":
                rows += [
                    {"text": t, "word_index": i, "word": w, "surprisal_bits": float(s)}
                    for i, (w, s) in enumerate(zip(r.words, r.word_surprisal))
                ]
            else:
                rows += [
                    {"text": t, "token_index": i, "token": tok, "word_index": int(wi), "surprisal_bits": float(s)}
                    for i, (tok, wi, s) in enumerate(zip(r.tokens, r.token_word, r.token_surprisal))
                ]
        return pd.DataFrame(rows)


def _unpack(lm: Any, tokenizer: Any) -> tuple[torch.nn.Module, Any, str]:
    model = getattr(lm, "model", None) if not isinstance(lm, torch.nn.Module) else lm
    if not isinstance(model, torch.nn.Module):
        raise ReprlabTypeError(
            f"`lm` must be a causal language model (a transformers model or rl.zoo.load('smollm2-135m')); got "
            f"{type(lm).__name__}."
        )
    tok = tokenizer if tokenizer is not None else getattr(lm, "tokenizer", None)
    if tok is None:
        raise ReprlabError("`lm` carries no tokenizer: pass `tokenizer=` (the model's transformers tokenizer).")
    if not getattr(tok, "is_fast", False):
        raise ReprlabError(
            "Word alignment needs a fast tokenizer (character offsets); load it with "
            "AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
    return model, tok, str(getattr(lm, "name", type(model).__name__))


def _start_token(tok: Any) -> int:
    for attr in ("bos_token_id", "eos_token_id"):
        value = getattr(tok, attr, None)
        if value is not None:
            return int(value)
    raise ReprlabError(
        "The tokenizer has neither a BOS nor an EOS token, so the first token of a text has no context to be "
        "predicted from; set tokenizer.bos_token (e.g. to the model's document separator)."
    )


def _words_of(text: str, offsets: list[tuple[int, int]]) -> tuple[list[str], list[tuple[int, int]], np.ndarray]:
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not spans:
        raise ReprlabError("A text holds no word (only whitespace); drop it.")
    owner = np.empty(len(offsets), dtype=np.int64)
    w = 0
    for i, (a, b) in enumerate(offsets):
        first = next((c for c in range(a, b) if not text[c].isspace()), None)
        if first is None:  # whitespace-only token: belongs to the next word
            while w < len(spans) and spans[w][1] <= a:
                w += 1
            owner[i] = min(w, len(spans) - 1)
            continue
        while spans[w][1] <= first:
            w += 1
        owner[i] = w
    return [text[a:b] for a, b in spans], spans, owner


def surprisal(
    lm: Any,
    texts: str | Sequence[str],
    *,
    tokenizer: Any = None,
    batch_size: int = 4,
    device: Any = None,
) -> Surprisal:
    """Per-token and per-word surprisal (bits) of each text under a causal language model.

    Parameters
    ----------
    lm : a transformers causal LM (``AutoModelForCausalLM``) or a zoo model (``rl.zoo.load("smollm2-135m")``)
    texts : str or sequence of str
    tokenizer : the model's fast tokenizer (taken from a zoo model when not given)
    batch_size : int
        Texts per forward pass (right padding; padding never enters a real token's context).
    device : where to run the model (default: where its parameters are)

    Returns
    -------
    Surprisal
        ``result[i].token_surprisal``, ``.word_surprisal``, ``.words``, ``.total``; ``to_pandas()``.
    """
    model, tok, name = _unpack(lm, tokenizer)
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ReprlabTypeError("`texts` must be a string or a non-empty sequence of strings.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ReprlabError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    start = _start_token(tok)
    limit = getattr(model.config, "max_position_embeddings", None) if hasattr(model, "config") else None
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else start
    encoded = []
    for i, text in enumerate(texts):
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        if not ids:
            raise ReprlabError(f"Text {i} is empty; every text needs at least one token.")
        if limit is not None and len(ids) + 1 > limit:
            raise ReprlabError(
                f"Text {i} has {len(ids)} tokens, more than the model's context ({limit - 1} after the start token); "
                "split it into shorter passages."
            )
        encoded.append((ids, [tuple(o) for o in enc["offset_mapping"]]))
    out: list[TextSurprisal] = []
    with torch.no_grad():
        for b0 in range(0, len(texts), batch_size):
            batch = encoded[b0 : b0 + batch_size]
            width = 1 + max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (ids, _) in enumerate(batch):
                input_ids[r, : len(ids) + 1] = torch.tensor([start, *ids])
                mask[r, : len(ids) + 1] = 1
            logits = model(input_ids=input_ids.to(dev), attention_mask=mask.to(dev)).logits
            logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
            target = input_ids[:, 1:].to(dev)
            nats = -logp.gather(-1, target[..., None])[..., 0].cpu().numpy()
            for r, (ids, offsets) in enumerate(batch):
                text = texts[b0 + r]
                bits = nats[r, : len(ids)] / math.log(2)
                words, spans, owner = _words_of(text, offsets)
                word_bits = np.bincount(owner, weights=bits, minlength=len(words))
                out.append(
                    TextSurprisal(
                        text=text,
                        tokens=tok.convert_ids_to_tokens(ids),
                        token_surprisal=bits,
                        token_word=owner,
                        words=words,
                        word_surprisal=word_bits,
                        word_spans=spans,
                    )
                )
    return Surprisal(out, name)
