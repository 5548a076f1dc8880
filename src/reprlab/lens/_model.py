"""A causal language model as the lenses see it: its residual stream, final norm and unembedding.

The residual stream has ``n_blocks + 1`` states per token: the input of the first block (the
embeddings; for GPT-2 token plus position embeddings), then the raw output of every block, read with
forward hooks on the blocks. The model's own decoder is ``logits = unembed(final_norm(h))``: the
final normalisation module after the blocks (Llama ``model.norm``, GPT-2 ``transformer.ln_f``,
GPT-NeoX ``gpt_neox.final_layer_norm``) and the output embedding (``get_output_embeddings()``,
which is the input embedding when they are tied). Both are the model's modules, used as they are,
so the lens at the last block is the model's own output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..capture.hooks import LayerCapture, default_layers
from ..capture.pooling import pool_output
from ..capture.tokens import blocks as block_names
from ..capture.tokens import token_ids, with_position_ids
from ..errors import ReprlabError, ReprlabTypeError, close_matches


@dataclass
class LanguageModel:
    """The parts of a causal LM a lens needs (see the module docstring)."""

    module: torch.nn.Module
    tokenizer: Any
    blocks: list[str]
    embedding: str  # name of the input embedding: the name of residual state 0
    norm: torch.nn.Module
    unembed: torch.nn.Module
    softcap: float | None

    @property
    def layers(self) -> list[str]:
        """The names of the residual states: the input embedding's, then every block's."""
        return [self.embedding, *self.blocks]

    @property
    def device(self) -> torch.device:
        p = next(self.module.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def d_model(self) -> int:
        return int(self.unembed.weight.shape[1])

    def decode(self, h: torch.Tensor, vocab: torch.Tensor | None = None) -> torch.Tensor:
        """Residual states ``(..., d)`` -> logits ``(..., vocab)`` through the final norm and unembedding
        (``vocab``: only the logits of these token ids, computed alone)."""
        w = self.unembed.weight
        z = self.norm(h.to(device=w.device, dtype=w.dtype))
        if vocab is None:
            logits = self.unembed(z)
        else:
            bias = getattr(self.unembed, "bias", None)
            logits = torch.nn.functional.linear(z, w[vocab], None if bias is None else bias[vocab])
        if self.softcap is not None:  # Gemma-2 style final soft-capping, as the model applies it
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def token_id(self, target: str | int, what: str = "target") -> int:
        """One token's id: an int is taken as is; a string must encode to exactly one token."""
        vocab = int(self.unembed.weight.shape[0])
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= int(target) < vocab:
                raise ReprlabError(f"`{what}`: token id {target} is outside the vocabulary (0..{vocab - 1}).")
            return int(target)
        if not isinstance(target, str):
            raise ReprlabTypeError(f"`{what}` must be a token string or a token id; got {type(target).__name__}.")
        if self.tokenizer is None:
            raise ReprlabError(f"`{what}`: a token string needs the model's tokenizer; pass a zoo model or token ids.")
        ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            pieces = [self.tokenizer.decode([i]) for i in ids]
            raise ReprlabError(
                f"`{what}` {target!r} is {len(ids)} tokens ({pieces}), but the lens scores one token. Use one of "
                f"them (usually the first, e.g. {pieces[0]!r} if ids else ''), or a token id."
            )
        return int(ids[0])

    def texts(self, ids: Sequence[int]) -> list[str]:
        if self.tokenizer is None:
            return [str(int(i)) for i in ids]
        return [self.tokenizer.decode([int(i)]) for i in ids]


def language_model(lm: Any) -> LanguageModel:
    """Check that ``lm`` (a zoo model or a transformers causal LM) has what a lens needs."""
    from ..capture.zoo import ZooModel

    tokenizer = None
    module = lm
    if isinstance(lm, ZooModel):
        module, tokenizer = lm.model, lm.tokenizer
    if not isinstance(module, torch.nn.Module):
        raise ReprlabTypeError(
            f"`lm` must be a zoo language model (rl.zoo.load('smollm2-135m')) or a transformers causal LM; "
            f"got {type(lm).__name__}."
        )
    get = getattr(module, "get_output_embeddings", None)
    unembed = get() if callable(get) else None
    if unembed is None or not isinstance(getattr(unembed, "weight", None), torch.Tensor):
        raise ReprlabError(
            f"`lm`: {type(module).__name__} has no unembedding (output embedding), so its states cannot be read "
            "as next-token distributions: an encoder such as BERT or MiniLM has no language-model head. Use a "
            "causal language model (e.g. rl.zoo.load('smollm2-135m') or AutoModelForCausalLM)."
        )
    blocks = block_names(module)
    defaults = default_layers(module)
    norm_name = defaults[-1] if defaults and defaults[-1] not in blocks else None
    if not blocks or norm_name is None:
        raise ReprlabError(
            f"`lm`: could not find the blocks and the final norm after them in {type(module).__name__}; the "
            "lens needs a transformers decoder (Llama, GPT-2, GPT-NeoX, Qwen2, ... families)."
        )
    inp = module.get_input_embeddings()
    embedding = next(n for n, m in module.named_modules() if m is inp)
    cfg = getattr(module, "config", None)
    softcap = getattr(cfg, "final_logit_softcapping", None)
    return LanguageModel(
        module, tokenizer, blocks, embedding, module.get_submodule(norm_name), unembed, softcap and float(softcap)
    )


def check_layers(lm: LanguageModel, layers: Any, available: Sequence[str] | None = None) -> list[str]:
    """``"all"`` or residual-state names -> names in network order; anything else is a clear error."""
    have = list(available) if available is not None else lm.layers
    if isinstance(layers, str) and layers == "all":
        return have
    items = [layers] if isinstance(layers, str) else layers
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(x, str) for x in items):
        raise ReprlabTypeError(f'`layers` must be "all" or residual-stream layer names; got {layers!r}.')
    for name in items:
        if name not in lm.layers:
            raise ReprlabError(
                f"`layers`: {name!r} is not a residual stream of this model, so the final norm and unembedding "
                f"do not apply to it.{close_matches(name, lm.layers)} The residual streams are the input "
                f"embedding {lm.embedding!r} and the block outputs {lm.blocks[0]!r} ... {lm.blocks[-1]!r}."
            )
        if name not in have:
            raise ReprlabError(f"`layers`: {name!r} is not in the activations. Available: {list(have)}.")
    return [n for n in have if n in items]


class ResidualRun:
    """One forward pass per batch that keeps the residual states of the real tokens.

    State 0 is the input of the first block (a forward pre-hook), the others are block outputs
    (``LayerCapture``); the pass stops after the last block unless ``logits`` are wanted.
    """

    def __init__(self, lm: LanguageModel, layers: Sequence[str]) -> None:
        self.lm = lm
        self.layers = list(layers)
        self.states: dict[str, torch.Tensor] = {}
        self.mask: torch.Tensor | None = None

    def _keep(self, name: str, h: torch.Tensor) -> None:
        rows, _, _ = pool_output(h.detach(), "none", self.mask)
        self.states[name] = rows.float()

    def run(self, inputs: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Residual states (layer -> (n_real_tokens, d)) and the real tokens' ids, row-major."""
        lm = self.lm
        inputs = {k: v.to(lm.device) for k, v in with_position_ids(dict(inputs)).items()}
        self.mask = inputs.get("attention_mask")
        self.states = {}
        ids = token_ids(inputs)
        first = lm.module.get_submodule(lm.blocks[0])

        def pre(module: torch.nn.Module, args: Any, kwargs: Any) -> None:
            h = args[0] if args else kwargs.get("hidden_states")
            if lm.embedding in self.layers:
                self._keep(lm.embedding, h)

        handle = first.register_forward_pre_hook(pre, with_kwargs=True)
        hooked = [n for n in self.layers if n != lm.embedding]
        last = lm.blocks[max(lm.blocks.index(n) for n in hooked)] if hooked else lm.blocks[0]
        try:
            with LayerCapture(lm.module, hooked or [last], self._keep_if(hooked)) as cap, torch.inference_mode():
                cap.run(lambda: lm.module(**inputs))
        finally:
            handle.remove()
        real = ids[self.mask.bool()] if self.mask is not None else ids.reshape(-1)
        return {n: self.states[n] for n in self.layers}, real

    def _keep_if(self, hooked: list[str]) -> Any:
        def on_output(name: str, h: torch.Tensor) -> None:
            if name in hooked:
                self._keep(name, h)

        return on_output
