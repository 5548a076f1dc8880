"""``rl.dictionary.top_examples``: the rows (tokens) where chosen latents fire most, with their text.

The store is read block by block; for each latent a running top ``k`` over all rows is kept (the
block's codes and the current top ``k`` concatenated, then ``topk``), so the result equals a full
argsort of the latent's activations over every row (rows where the latent is 0 are not listed).
For a token-level store (``pool="none"``) each row carries its stimulus and position
(``acts.index(layer)``) and, where the store knows its tokenizer, the token text; the record then
shows the token and a window of context around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._validation import check_int
from ..errors import ReprlabError
from .data import Rows
from .sae import as_sae


def _tokens_of(stim: Any, tokenizer: Any, i: int) -> list[str]:
    text = stim.items[i] if hasattr(stim, "items") and not isinstance(stim, dict) else stim[i]
    ids = tokenizer(str(text))["input_ids"]
    return [tokenizer.decode([t]) for t in ids]


@torch.no_grad()
def top_examples(
    sae: Any,
    acts: Any,
    stim: Any = None,
    latents: Sequence[int] | None = None,
    k: int = 10,
    *,
    layer: str | None = None,
    tokenizer: Any = None,
    context: int = 8,
    batch_size: int = 8192,
) -> list[dict[str, Any]]:
    """The ``k`` rows of ``acts`` with the largest activation of each latent in ``latents``.

    Parameters
    ----------
    sae : SparseAutoencoder or its directory
    acts : rl.Activations (a ``pool="none"`` layer for tokens) or an array (rows)
    stim : rl.stimuli set or list of texts, optional
        The stimuli of the store, in its order: with ``tokenizer``, the token text of a store that
        does not carry it (stores written with a known tokenizer carry their token texts).
    latents : list of int, optional
        Default: every latent.
    k : int
        Examples per latent.
    tokenizer : Hugging Face tokenizer or zoo model, optional
        The tokenizer the store was extracted with (a zoo model brings its own).
    context : int
        Tokens of context on each side of the example token.

    Returns
    -------
    list of dict
        One record per example, by latent then rank: ``latent``, ``rank``, ``activation``, ``row``,
        and for token stores ``stimulus`` (id), ``position``, and with a tokenizer ``token`` and
        ``context`` (the window, the example token between ``[[`` and ``]]``).
    """
    from ..store.activations import Activations

    sae = as_sae(sae, "sae")
    is_store = isinstance(acts, Activations)
    rows = Rows(acts, layer if layer is not None else (sae.layer if is_store else None), name="acts")
    if rows.d != sae.d:
        raise ReprlabError(
            f"`acts` has {rows.d} features but the SAE expects {sae.d}; use the layer it was trained on."
        )
    k = check_int(k, "k")
    lat = np.arange(sae.m) if latents is None else np.asarray(list(latents), dtype=np.int64)
    if lat.ndim != 1 or len(lat) == 0 or lat.min() < 0 or lat.max() >= sae.m:
        raise ReprlabError(f"`latents` must be indices in 0..{sae.m - 1}; got {list(latents or [])[:5]}...")
    dev, dtype = sae.W_dec.device, sae.W_dec.dtype
    s = sae.scale_.to(dev, dtype)
    lat_t = torch.as_tensor(lat, device=dev)
    best_v = torch.full((0, len(lat)), -torch.inf, device=dev)
    best_i = torch.zeros((0, len(lat)), dtype=torch.long, device=dev)
    for start, block in rows.blocks(batch_size):
        z = sae.codes_scaled(block.to(dev, dtype) * s)[:, lat_t]
        idx = torch.arange(start, start + block.shape[0], device=dev)[:, None].expand_as(z)
        v, i = torch.cat([best_v, z]), torch.cat([best_i, idx])
        top = v.topk(min(k, v.shape[0]), dim=0)
        best_v, best_i = top.values, i.gather(0, top.indices)
    best_v, best_i = best_v.cpu().numpy(), best_i.cpu().numpy()

    index = acts.index(rows.layer) if is_store and rows.layer in getattr(acts, "_index", {}) else None
    texts = index.token if index is not None else None
    if texts is None and tokenizer is not None:
        if stim is None or index is None:
            raise ReprlabError(
                "Token text needs a token-level store (pool='none') and, with `tokenizer`, its stimuli `stim`."
            )
        tokenizer = getattr(tokenizer, "tokenizer", None) or tokenizer  # a zoo model brings its tokenizer
    cache: dict[int, list[str]] = {}

    def window(row: int, si: int, pos: int) -> tuple[str, str] | None:
        if texts is not None:  # the store's own token texts: neighbouring rows of the same stimulus
            lo = max(0, row - context)
            same = [r for r in range(lo, min(len(texts), row + context + 1)) if index.stimulus[r] == si]
            toks = {int(index.position[r]): str(texts[r]) for r in same}
        elif tokenizer is not None:
            if si not in cache:
                cache[si] = _tokens_of(stim, tokenizer, si)
            seq = cache[si]
            toks = {p: t for p, t in enumerate(seq) if abs(p - pos) <= context}
        else:
            return None
        if pos not in toks:
            return None
        left = "".join(toks[p] for p in sorted(toks) if p < pos)
        right = "".join(toks[p] for p in sorted(toks) if p > pos)
        return toks[pos], f"{left}[[{toks[pos]}]]{right}"

    out = []
    for c, latent in enumerate(lat):
        for rank in range(best_v.shape[0]):
            value = float(best_v[rank, c])
            if not value > 0:
                break
            row = int(best_i[rank, c])
            rec: dict[str, Any] = {"latent": int(latent), "rank": rank, "activation": value, "row": row}
            if index is not None:
                si, pos = int(index.stimulus[row]), int(index.position[row])
                rec["stimulus"], rec["position"] = acts.ids[si], pos
                got = window(row, si, pos)
                if got is not None:
                    rec["token"], rec["context"] = got
            out.append(rec)
    return out
