"""``rl.intervene``: install write hooks on a model for the length of a ``with`` block.

Every edit (see :mod:`reprlab.intervene.edits`) is installed as a forward hook on its module (or, for
edits on single heads, as a forward pre-hook on the attention module's output projection, whose
input is the concatenation of the heads' outputs). The hooks are removed when the block ends, also
after an exception or a ``KeyboardInterrupt``, and also when installing a later hook fails.

Positions. An edit needs the absolute token position of each row it sees, so that a cached
generation step (one new position, the earlier ones held in the KV cache) is edited exactly as the
same position is in a full forward pass: an edit at position ``p`` applies once, in the pass that
computes ``p``. A pre-hook on the model passed to :func:`intervene` reads the first position of the
call from its ``cache_position`` keyword, else from the length of its KV cache (``past_key_values``,
or ``cache`` as transformers 5 names it), else 0 (a plain forward pass).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from ..capture.hooks import first_tensor
from ..errors import ReprlabError, ReprlabTypeError, close_matches
from .edits import Edit

_OUT_PROJ = ("o_proj", "out_proj", "c_proj", "output.dense", "dense")
_N_HEADS = ("num_heads", "num_attention_heads", "n_head", "n_heads")


def _start_position(kwargs: Mapping[str, Any]) -> int:
    cp = kwargs.get("cache_position")
    if isinstance(cp, torch.Tensor) and cp.numel():
        return int(cp.reshape(-1)[0])
    pkv = kwargs.get("past_key_values", kwargs.get("cache"))
    if pkv is not None:
        if hasattr(pkv, "get_seq_length"):
            return int(pkv.get_seq_length())
        if isinstance(pkv, (tuple, list)) and pkv and isinstance(pkv[0], (tuple, list)) and pkv[0]:
            return int(pkv[0][0].shape[-2])  # legacy tuple cache: (batch, heads, positions, head_dim)
    return 0


def _replace_first_tensor(output: Any, new: torch.Tensor) -> Any:
    if isinstance(output, torch.Tensor):
        return new
    if isinstance(output, tuple):
        return (
            (new, *output[1:])
            if isinstance(output[0], torch.Tensor)
            else output.__class__((_replace_first_tensor(output[0], new), *output[1:]))
        )
    if isinstance(output, list):
        return [new, *output[1:]]
    if isinstance(output, Mapping):
        key = next(k for k, v in output.items() if isinstance(v, torch.Tensor))
        output[key] = new
        return output
    raise ReprlabError(f"Cannot write into a module output of type {type(output).__name__}.")


def _n_heads(module: torch.nn.Module, model: torch.nn.Module) -> int | None:
    for src in (module, getattr(module, "config", None), getattr(model, "config", None)):
        if src is None:
            continue
        for attr in _N_HEADS:
            n = getattr(src, attr, None)
            if isinstance(n, int) and n > 0:
                return n
    return None


def _head_target(model: torch.nn.Module, name: str, module: torch.nn.Module) -> tuple[torch.nn.Module, int]:
    """The output projection of attention module ``name`` and its number of heads."""
    for child in _OUT_PROJ:
        try:
            proj = module.get_submodule(child)
        except AttributeError:
            continue
        if isinstance(proj, torch.nn.Linear) or hasattr(proj, "weight"):
            n = _n_heads(module, model)
            if n is None:
                break
            return proj, n
    raise ReprlabError(
        f"An edit with `heads` needs an attention module whose heads are concatenated into an output "
        f"projection ({', '.join(_OUT_PROJ)}) and whose number of heads is known; {name!r} "
        f"({type(module).__name__}) is not one. Name the attention module, e.g. 'model.layers.3.self_attn'."
    )


class Intervention:
    """The installed hooks of one :func:`intervene` block (returned by ``with ... as iv``).

    ``iv.edits`` maps module names to their edits; ``iv.prompt_len`` is the length of the latest
    forward pass that started at position 0.
    """

    def __init__(self, model: torch.nn.Module, edits: dict[str, list[Edit]]) -> None:
        self.model = model
        self.edits = edits
        self.prompt_len: int | None = None
        self._start = 0
        self._handles: list[Any] = []

    def _install(self) -> None:
        modules = dict(self.model.named_modules())
        self._handles.append(self.model.register_forward_pre_hook(self._root_hook, with_kwargs=True))
        for name, edits in self.edits.items():
            module = modules[name]
            plain = [e for e in edits if e.heads is None]
            heads = [e for e in edits if e.heads is not None]
            if plain:
                self._handles.append(module.register_forward_hook(self._output_hook(name, plain)))
            if heads:
                proj, n = _head_target(self.model, name, module)
                for e in heads:
                    e._check_heads(n, name)
                self._handles.append(proj.register_forward_pre_hook(self._heads_hook(name, heads, n)))

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        while self._handles:
            self._handles.pop().remove()

    def _root_hook(self, module: torch.nn.Module, args: Any, kwargs: dict) -> None:
        self._start = _start_position(kwargs)
        self.prompt_len = None if self._start == 0 else self.prompt_len

    def _positions(self, h: torch.Tensor, layer: str) -> torch.Tensor:
        if h.ndim < 3:
            raise ReprlabError(
                f"{layer!r} outputs a tensor of shape {tuple(h.shape)}; edits need (batch, positions, width). "
                "Choose a module whose output has a positions axis."
            )
        n = h.shape[1]
        if self._start == 0 and self.prompt_len is None:
            self.prompt_len = n
        return torch.arange(self._start, self._start + n, device=h.device)

    def _output_hook(self, name: str, edits: Sequence[Edit]):
        def hook(module: torch.nn.Module, args: Any, output: Any) -> Any:
            h = first_tensor(output)
            if h is None:
                raise ReprlabError(f"{name!r} returned {type(output).__name__}, which holds no tensor to edit.")
            pos = self._positions(h, name)
            new = h
            for e in edits:
                new = e(new, pos, self.prompt_len, name)
            return output if new is h else _replace_first_tensor(output, new)

        return hook

    def _heads_hook(self, name: str, edits: Sequence[Edit], n_heads: int):
        def hook(module: torch.nn.Module, args: Any) -> Any:
            x = args[0]
            pos = self._positions(x, name)
            if x.shape[-1] % n_heads:
                raise ReprlabError(f"{name!r}: width {x.shape[-1]} is not divisible by its {n_heads} heads.")
            h = x.reshape(*x.shape[:-1], n_heads, x.shape[-1] // n_heads)
            new = h
            for e in edits:
                new = e(new, pos, self.prompt_len, name)
            if new is h:
                return None
            return (new.reshape(x.shape), *args[1:])

        return hook


def _normalise(model: torch.nn.Module, edits: Any) -> dict[str, list[Edit]]:
    if not isinstance(model, torch.nn.Module):
        raise ReprlabTypeError(
            f"`model` must be a torch.nn.Module (for a zoo model pass .model); got {type(model).__name__}."
        )
    if not isinstance(edits, Mapping) or not edits:
        raise ReprlabTypeError(
            '`edits` must be a non-empty dict {module name: edit}, e.g. {"model.layers.6": rl.add(v, alpha=4)}; '
            f"got {type(edits).__name__}."
        )
    names = [n for n, _ in model.named_modules() if n]
    known = set(names)
    out: dict[str, list[Edit]] = {}
    for layer, e in edits.items():
        if not isinstance(layer, str) or layer not in known:
            raise ReprlabError(
                f"`edits`: {type(model).__name__} has no module named {layer!r}.{close_matches(str(layer), names)} "
                "List the names with [n for n, _ in model.named_modules()]."
            )
        items = list(e) if isinstance(e, (list, tuple)) else [e]
        for item in items:
            if not isinstance(item, Edit):
                raise ReprlabTypeError(
                    f"`edits[{layer!r}]` must be an edit (rl.add, rl.ablate, rl.project_out, rl.patch, rl.replace "
                    f"or a fitted rl.erase) or a list of them; got {type(item).__name__}."
                )
        out[layer] = items
    return out


@contextmanager
def intervene(model: torch.nn.Module, edits: Mapping[str, Edit | Sequence[Edit]]) -> Iterator[Intervention]:
    """Write into a model's forward pass for the length of a ``with`` block.

    >>> with rl.intervene(lm, {"model.layers.6": rl.add(v, alpha=4.0)}):   # doctest: +SKIP
    ...     out = lm.generate(**inputs, max_new_tokens=20)

    ``edits`` maps module names (as in ``model.named_modules()``) to an edit or a list of edits applied
    in order. Works for forward passes and for ``generate`` with or without the KV cache (an edit at
    position ``p`` applies once, in the pass that computes ``p``). The hooks are always removed when
    the block ends, after an exception or a ``KeyboardInterrupt`` too.
    """
    iv = Intervention(model, _normalise(model, edits))
    try:
        iv._install()
        yield iv
    finally:
        iv.remove()
