"""Token-level capture: which module holds each block's attention, its probabilities over the real
tokens, position ids that make left and right padding agree, and the token texts of a vocabulary.

These serve ``reprlab.extract(..., pool="none", capture=("resid", "attn", "logits"))``:

* ``"attn"``: a transformers model declares the module class whose output holds the attention
  probabilities (``_can_record_outputs["attentions"]``, the hook transformers itself uses for
  ``output_attentions=True``). Those modules return ``(output, probabilities)`` only under the eager
  attention implementation, so the capture switches the model to it for the run and back after.
  Each stimulus keeps the ``(n_heads, n, n)`` block of its ``n`` real tokens (queries x keys):
  padding never enters the store.
* ``"logits"``: the output of the model's output embedding (``get_output_embeddings()``, e.g.
  ``lm_head``), stored as the layer ``"logits"``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError, close_matches
from .hooks import _homogeneous_lists

CAPTURES = ("resid", "attn", "logits")
LOGITS = "logits"


def check_capture(capture: Any) -> tuple[str, ...]:
    """Validate ``capture=`` (a name or a sequence of names from :data:`CAPTURES`)."""
    items = (capture,) if isinstance(capture, str) else capture
    if not isinstance(items, (tuple, list)) or not items or not all(isinstance(c, str) for c in items):
        raise ReprlabTypeError(f"`capture` must be one or more of {list(CAPTURES)}; got {capture!r}.")
    bad = [c for c in items if c not in CAPTURES]
    if bad:
        raise ReprlabError(
            f"`capture`: unknown {bad[0]!r}.{close_matches(bad[0], CAPTURES)} Choose from {list(CAPTURES)}."
        )
    return tuple(c for c in CAPTURES if c in items)


def blocks(module: torch.nn.Module) -> list[str]:
    """The names of the model's blocks (the longest list of identical modules), in order."""
    lists = _homogeneous_lists(module)
    if not lists:
        return []
    lname, lst = max(lists, key=lambda x: len(x[1]))
    return [f"{lname}.{i}" if lname else str(i) for i in range(len(lst))]


def attention_modules(module: torch.nn.Module, attn_layers: Any) -> dict[str, str]:
    """Block name -> name of the module whose output element 1 is that block's attention probabilities.

    ``attn_layers`` is ``"all"``, or block names / globs / indices of the blocks to keep.
    """
    spec = _attention_spec(module)
    if spec is None:
        raise ReprlabError(
            f"capture='attn' needs a transformers model that can return its attention probabilities "
            f"(output_attentions); {type(module).__name__} declares none. Leave 'attn' out of `capture`."
        )
    cls, suffix = spec
    block_names = blocks(module)
    found: dict[str, str] = {}
    for name, sub in module.named_modules():
        if isinstance(sub, cls) and (suffix is None or name.endswith(suffix)):
            owner = next((b for b in block_names if name.startswith(b + ".")), None)
            if owner is not None and owner not in found:
                found[owner] = name
    if not found:
        raise ReprlabError(
            f"capture='attn': found no {cls.__name__} module inside the blocks of {type(module).__name__}."
        )
    return {b: found[b] for b in _choose_blocks(list(found), attn_layers)}


def _attention_spec(module: torch.nn.Module) -> tuple[type, str | None] | None:
    for owner in (module, getattr(module, "base_model", None)):
        record = getattr(owner, "_can_record_outputs", None) or {}
        target = record.get("attentions")
        if target is None:
            continue
        if isinstance(target, type):
            return target, None
        cls = getattr(target, "target_class", None)
        if isinstance(cls, type):
            return cls, getattr(target, "layer_name", None)
    return None


def _choose_blocks(available: list[str], attn_layers: Any) -> list[str]:
    if isinstance(attn_layers, str) and attn_layers == "all":
        return available
    items = [attn_layers] if isinstance(attn_layers, (str, int)) else attn_layers
    if not isinstance(items, (list, tuple)) or not items:
        raise ReprlabTypeError(
            f'`attn_layers` must be "all", block names (globs allowed) or block indices; got {attn_layers!r}.'
        )
    chosen: set[str] = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            if not -len(available) <= item < len(available):
                raise ReprlabError(
                    f"`attn_layers`: block index {item} is out of range (the model has {len(available)})."
                )
            chosen.add(available[item])
        elif isinstance(item, str) and (hits := fnmatch.filter(available, item)):
            chosen.update(hits)
        else:
            raise ReprlabError(
                f"`attn_layers`: {item!r} is not a block.{close_matches(str(item), available)} Blocks: "
                f"{available[:3]} ... {available[-1]}."
            )
    return [b for b in available if b in chosen]


def output_embedding(module: torch.nn.Module) -> str:
    """The name of the module whose output is the logits (``get_output_embeddings()``)."""
    get = getattr(module, "get_output_embeddings", None)
    head = get() if callable(get) else None
    name = next((n for n, m in module.named_modules() if head is not None and m is head), None)
    if name is None:
        raise ReprlabError(
            f"capture='logits' needs a model with an output embedding (a language-model head, e.g. "
            f"AutoModelForCausalLM); {type(module).__name__} has none. Leave 'logits' out of `capture`."
        )
    return name


@contextlib.contextmanager
def eager_attention(module: torch.nn.Module, needed: bool) -> Iterator[None]:
    """Run under the eager attention implementation (the one that returns probabilities), then
    restore the model's own."""
    config = getattr(module, "config", None)
    before = getattr(config, "_attn_implementation", None)
    switch = needed and before not in (None, "eager")
    if switch:
        module.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            module.set_attn_implementation(before)


def accepts_position_ids(module: torch.nn.Module) -> bool:
    """Whether ``module.forward`` takes ``position_ids`` (transformers models do)."""
    try:
        return "position_ids" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def with_position_ids(inputs: Any) -> Any:
    """Add ``position_ids = cumsum(mask) - 1`` (0 at padding) to mapping inputs with an attention mask.

    Without them a model counts positions from the first column, so left padding would shift the
    real tokens' positions (absolute position embeddings, e.g. GPT-2, change their states). With
    them, every real token's position is its index among the real tokens: left and right padding
    give the same states.
    """
    if not isinstance(inputs, Mapping) or "position_ids" in inputs or "attention_mask" not in inputs:
        return inputs
    mask = inputs["attention_mask"]
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        return inputs
    pos = (mask.long().cumsum(dim=1) - 1).clamp(min=0)
    return {**inputs, "position_ids": pos}


def token_ids(inputs: Any) -> torch.Tensor | None:
    """The ``input_ids`` of mapping inputs, else ``None``."""
    ids = inputs.get("input_ids") if isinstance(inputs, Mapping) else None
    return ids if isinstance(ids, torch.Tensor) and ids.dim() == 2 else None


def real_blocks(weights: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, np.ndarray]:
    """Attention ``(B, H, T, T)`` -> the ``(H, n_b, n_b)`` blocks of real tokens, flattened one after
    another, and each stimulus's ``n_b``."""
    b, h, t, _ = weights.shape
    if mask is None:
        return weights.reshape(-1), np.full(b, t, dtype=np.int64)
    real = mask.to(weights.device).bool()
    values = weights.reshape(-1).index_select(0, real_block_index(real, h))
    return values, real.sum(dim=1).cpu().numpy().astype(np.int64)


def real_block_index(real: torch.Tensor, heads: int) -> torch.Tensor:
    """Flat indices into a contiguous ``(B, H, T, T)`` attention tensor of every stimulus's
    ``(H, n_b, n_b)`` block of real tokens (``real``: ``(B, T)`` booleans), in the order
    :func:`real_blocks` stores them: stimulus, head, query, key. Element ``(i, h, q, k)`` sits at
    ``((i * H + h) * T + q) * T + k``; one gather with these indices copies all the blocks of a batch."""
    b, t = real.shape
    head = torch.arange(heads, device=real.device)
    parts = []
    for i in range(b):
        q = real[i].nonzero(as_tuple=True)[0]
        parts.append((((i * heads + head)[:, None, None] * t + q[None, :, None]) * t + q[None, None, :]).reshape(-1))
    return torch.cat(parts)


def tokenizer_of(preprocess: Any, model: Any) -> Any:
    """The tokenizer behind a zoo model or a text preprocessor, else ``None``."""
    for owner in (model, preprocess):
        tok = getattr(owner, "tokenizer", None)
        if tok is not None and callable(getattr(tok, "batch_decode", None)):
            return tok
    return None


def vocabulary(tokenizer: Any) -> list[str]:
    """The text of every token id (``tokenizer.decode([id])``, e.g. ``" Paris"``), index = id."""
    ids = np.arange(len(tokenizer), dtype=np.int64)[:, None]  # one id per row: decoded one by one
    return list(tokenizer.batch_decode(ids))


def check_logits_name(names: Sequence[str]) -> None:
    if LOGITS in names:
        raise ReprlabError(
            f"capture='logits' stores the logits as the layer {LOGITS!r}, but the model has a module of that "
            "name in `layers`. Leave it out of `layers`."
        )
