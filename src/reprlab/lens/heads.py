"""Attention heads scored by where they look (``rl.heads``).

Every score is the mean attention probability ``A[i, j]`` (query ``i``, key ``j``) a head puts on one
kind of key, over the query positions where that key exists, then over prompts (each prompt weighs
the same):

=====================  ========================================================================
``"previous_token"``   ``A[i, i-1]``, ``i >= 1``
``"first_token"``      ``A[i, 0]``, ``i >= 1`` (the "attention sink", Xiao et al. 2024)
``"duplicate_token"``  ``sum_{j < i, x_j = x_i} A[i, j]``, over the ``i`` whose token occurred before
``"induction"``        on a random token sequence repeated twice (length ``T`` each),
                       ``A[i, i-T+1]`` for ``i`` in the second copy: the token after the earlier
                       occurrence of the current one (Olsson et al. 2022, "In-context learning
                       and induction heads")
=====================  ========================================================================

The induction score always uses repeated random sequences (``n_sequences`` of ``length`` tokens
drawn uniformly from the non-special vocabulary, ``seed``); the other kinds use ``prompts`` when
given, else the same sequences. Attention comes from ``rl.extract(..., capture="attn")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError, close_matches

KINDS = ("previous_token", "induction", "duplicate_token", "first_token")


@dataclass
class HeadScores:
    """Scores of every head: ``values[layer, head]`` for the blocks ``layers``.

    ``names[l][h]`` is ``"<block>.head<h>"``; ``np.asarray(scores)`` gives ``values``.
    """

    kind: str
    values: np.ndarray
    layers: list[str]
    n_prompts: int

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.values.shape)  # type: ignore[return-value]

    @property
    def names(self) -> list[list[str]]:
        return [[f"{b}.head{h}" for h in range(self.values.shape[1])] for b in self.layers]

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring heads as ``(name, score)``."""
        flat = np.argsort(-self.values, axis=None, kind="stable")[:k]
        ls, hs = np.unravel_index(flat, self.values.shape)
        return [(self.names[l][h], float(self.values[l, h])) for l, h in zip(ls, hs)]

    def figure(self, ax: Any = None) -> Any:
        """A heat map (layers x heads) of the scores; returns the matplotlib figure."""
        from ..errors import require

        plt = require("matplotlib.pyplot", "report", "matplotlib")
        if ax is None:
            fig, ax = plt.subplots(figsize=(0.35 * self.values.shape[1] + 2.5, 0.18 * len(self.layers) + 1.5))
        else:
            fig = ax.figure
        im = ax.imshow(self.values, aspect="auto", cmap="viridis", vmin=0, vmax=max(1e-9, float(self.values.max())))
        ax.set_xlabel("head")
        ax.set_ylabel("layer (block)")
        ax.set_title(f"{self.kind.replace('_', '-')} score")
        fig.colorbar(im, ax=ax, fraction=0.05)
        return fig


@dataclass
class AttentionPatterns:
    """One prompt's attention: ``values[layer]`` is ``(n_heads, n, n)`` (queries x keys) over its tokens."""

    tokens: list[str]
    layers: list[str]
    values: list[np.ndarray]


def _module_and_tokenizer(lm: Any) -> tuple[torch.nn.Module, Any]:
    from ..capture.zoo import ZooModel

    if isinstance(lm, ZooModel):
        return lm.model, lm.tokenizer
    if isinstance(lm, torch.nn.Module):
        return lm, None
    raise ReprlabTypeError(f"`lm` must be a zoo language model or a torch module; got {type(lm).__name__}.")


def _attention(lm: Any, inputs: Any, layers: Any) -> Any:
    """Attention of the chosen blocks, and the input embedding's token rows (for their token ids)."""
    from ..capture.extract import extract

    module, _ = _module_and_tokenizer(lm)
    get = getattr(module, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    names = [n for n, m in module.named_modules() if emb is not None and m is emb]
    if not names:
        raise ReprlabError("`lm`: head scores need a model with an input embedding (get_input_embeddings()).")
    source = module if isinstance(inputs, dict) else lm  # token ids go to the bare model, texts to its tokenizer
    return extract(
        source, inputs, layers=names[0], capture=("resid", "attn"), attn_layers=layers, pool="none", batch_size=8,
        progress=False,
    )  # fmt: skip


def random_repeats(lm: Any, n_sequences: int = 20, length: int = 25, seed: int = 0) -> torch.Tensor:
    """``(n_sequences, 2 * length)`` token ids: random tokens (non-special), repeated once."""
    for name, v in (("n_sequences", n_sequences), ("length", length)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 2:
            raise ReprlabError(f"`{name}` must be an integer >= 2; got {v!r}.")
    module, tok = _module_and_tokenizer(lm)
    emb = module.get_input_embeddings() if hasattr(module, "get_input_embeddings") else None
    if emb is None or not hasattr(emb, "num_embeddings"):
        raise ReprlabError("`lm`: random token sequences need the model's input embedding (get_input_embeddings()).")
    special = set(getattr(tok, "all_special_ids", []) or []) if tok is not None else set()
    allowed = torch.tensor([i for i in range(emb.num_embeddings) if i not in special])
    gen = torch.Generator().manual_seed(seed)
    half = allowed[torch.randint(0, allowed.numel(), (n_sequences, length), generator=gen)]
    return torch.cat([half, half], dim=1)


def score(
    lm: Any,
    prompts: Any = None,
    kind: str = "previous_token",
    *,
    layers: Any = "all",
    n_sequences: int = 20,
    length: int = 25,
    seed: int = 0,
) -> HeadScores:
    """Score every head of ``lm`` (see the module docstring for the kinds and formulas).

    Parameters
    ----------
    lm : zoo language model or transformers model (any model ``rl.extract(capture="attn")`` reads)
    prompts : list of str, optional
        Texts for the previous-token, duplicate-token and first-token scores (default: the random
        repeated sequences). Ignored for ``"induction"``.
    kind : "previous_token", "induction", "duplicate_token" or "first_token"
    layers : "all" or block names / indices
    n_sequences, length, seed
        The random repeated sequences.

    Returns
    -------
    HeadScores
        ``values`` of shape ``(n_layers, n_heads)`` with the heads' names.
    """
    if kind not in KINDS:
        raise ReprlabError(f"`kind` must be one of {list(KINDS)}; got {kind!r}.{close_matches(str(kind), KINDS)}")
    if kind == "induction" or prompts is None:
        ids = random_repeats(lm, n_sequences, length, seed)
        inputs: Any = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    else:
        if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
            raise ReprlabTypeError(f"`prompts` must be a non-empty list of texts; got {type(prompts).__name__}.")
        inputs = list(prompts)
    acts = _attention(lm, inputs, layers)
    idx = acts.index(acts.names[0])
    n = len(acts.ids)
    token_ids = [idx.token_id[idx.stimulus == p] for p in range(n)]
    values = np.stack(
        [
            np.mean([_score_one(acts.attention(block, p), token_ids[p], kind, length) for p in range(n)], axis=0)
            for block in acts.attention_layers
        ]
    )
    return HeadScores(kind, values, list(acts.attention_layers), n)


def _score_one(a: np.ndarray, tokens: np.ndarray, kind: str, length: int) -> np.ndarray:
    """One prompt's ``(n_heads,)`` scores from its attention ``a`` ``(n_heads, n, n)``."""
    n = a.shape[-1]
    if n < 2:
        raise ReprlabError("A prompt of one token has no earlier position to attend to; use longer prompts.")
    if kind == "previous_token":
        i = np.arange(1, n)
        return a[:, i, i - 1].mean(axis=1)
    if kind == "first_token":
        return a[:, 1:, 0].mean(axis=1)
    if kind == "induction":
        i = np.arange(length, 2 * length)
        return a[:, i, i - length + 1].mean(axis=1)
    same = (tokens[:, None] == tokens[None, :]) & np.tril(np.ones((n, n), dtype=bool), -1)
    rows = same.any(axis=1)
    if not rows.any():
        raise ReprlabError("duplicate_token: a prompt has no repeated token; use prompts with repeats.")
    return (a * same[None]).sum(axis=2)[:, rows].mean(axis=1)


def attention(lm: Any, prompt: str, *, layers: Any = "all") -> AttentionPatterns:
    """The attention patterns of every head for one prompt (``layers``: "all" or block names / indices)."""
    if not isinstance(prompt, str) or not prompt:
        raise ReprlabTypeError(f"`prompt` must be a non-empty text; got {prompt!r}.")
    acts = _attention(lm, [prompt], layers)
    idx = acts.index(acts.names[0])
    tokens = list(idx.token) if idx.token is not None else [str(t) for t in idx.token_id]
    return AttentionPatterns(tokens, list(acts.attention_layers), [acts.attention(b, 0) for b in acts.attention_layers])
