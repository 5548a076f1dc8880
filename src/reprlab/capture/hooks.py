"""Forward hooks: choose layers, read their outputs, stop the forward pass early, always clean up.

:func:`resolve_layers` turns ``layers=`` (exact names, globs over ``named_modules()``, or ``"all"``)
into module names. :class:`LayerCapture` is a context manager that registers one forward hook per
layer, hands each output (reduced to its tensor by :func:`first_tensor`) to a callback, and raises a
private exception once every requested layer has run, so no work is spent on the layers after the
deepest one. The hooks are removed when the ``with`` block ends, also on an exception.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from ..errors import ReprlabError, ReprlabTypeError, close_matches


class _StopForward(Exception):
    """Raised by the hook of the last requested layer; caught by :meth:`LayerCapture.run`."""


def first_tensor(output: Any) -> torch.Tensor | None:
    """The tensor a module returned: itself, element 0 of a tuple/list, the first tensor value of a
    mapping (e.g. a transformers ``ModelOutput``: ``last_hidden_state``), or the first tensor field
    of a dataclass. ``None`` when there is no tensor."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        candidates: Iterable[Any] = output.values()
    elif dataclasses.is_dataclass(output) and not isinstance(output, type):
        candidates = (getattr(output, f.name) for f in dataclasses.fields(output))
    elif isinstance(output, (tuple, list)):
        candidates = output
    else:
        return None
    for c in candidates:
        t = first_tensor(c)
        if t is not None:
            return t
    return None


def _homogeneous_lists(model: torch.nn.Module) -> list[tuple[str, torch.nn.ModuleList]]:
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.ModuleList, torch.nn.Sequential)) and len(mod) >= 2:
            kinds = {type(c) for c in mod}
            if len(kinds) == 1:
                out.append((name, mod))
    return out


def default_layers(model: torch.nn.Module) -> list[str]:
    """The layers ``layers="all"`` means for a model, in network order.

    * Transformers (a ``transformers.PreTrainedModel``): the embedding module whose output is
      ``hidden_states[0]`` (``embeddings`` for BERT-like encoders, else the input embedding), every
      block of the longest list of identical blocks, and a final normalisation module directly after
      the blocks where the model has one (e.g. Llama's ``model.norm``).
    * Other models: every block of the longest list of identical blocks (``ModuleList`` or
      ``Sequential``; e.g. the MBConv blocks of an EfficientNet); without such a list, the model's
      direct children.
    """
    names = {id(m): n for n, m in model.named_modules()}
    lists = _homogeneous_lists(model)
    blocks: list[str] = []
    block_parent = None
    if lists:
        lname, lst = max(lists, key=lambda x: len(x[1]))
        block_parent = lname
        blocks = [f"{lname}.{i}" if lname else str(i) for i in range(len(lst))]
    base = getattr(model, "base_model", None)
    if isinstance(base, torch.nn.Module) and hasattr(model, "get_input_embeddings"):
        base_name = names.get(id(base), "")
        prefix = f"{base_name}." if base_name else ""
        emb = getattr(base, "embeddings", None)
        if isinstance(emb, torch.nn.Module):
            first = [f"{prefix}embeddings"]
        else:
            inp = model.get_input_embeddings()
            first = [names[id(inp)]] if inp is not None and id(inp) in names else []
        last: list[str] = []
        if block_parent is not None:
            parent_name = block_parent.rsplit(".", 1)[0] if "." in block_parent else ""
            parent = model.get_submodule(parent_name) if parent_name else model
            children = list(parent.named_children())
            keys = [k for k, _ in children]
            tail = block_parent.rsplit(".", 1)[-1]
            if tail in keys:
                after = children[keys.index(tail) + 1 :]
                for k, mod in after:
                    if "norm" in type(mod).__name__.lower() or "norm" in k.lower() or k == "ln_f":
                        last = [f"{parent_name}.{k}" if parent_name else k]
                        break
        return first + blocks + last
    if blocks:
        return blocks
    return [n for n, _ in model.named_children()]


def resolve_layers(model: torch.nn.Module, layers: Any, defaults: Sequence[str] | None = None) -> list[str]:
    """Module names for ``layers``: ``"all"``, one name or glob, or a list of names and globs.

    Returns the names in ``named_modules()`` order (definition order; the capture reorders them by
    when they run). Unknown names raise :class:`ReprlabError` with the closest module names.
    """
    all_names = [n for n, _ in model.named_modules() if n]
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, (list, tuple)) or not layers or not all(isinstance(x, str) for x in layers):
        raise ReprlabTypeError(
            f'`layers` must be "all", a module name, a glob such as "encoder.layer.*", or a list of them; '
            f"got {layers!r}."
        )
    chosen: set[str] = set()
    known = set(all_names)
    for spec in layers:
        if spec == "all":
            chosen.update(defaults if defaults is not None else default_layers(model))
        elif spec in known:
            chosen.add(spec)
        elif any(ch in spec for ch in "*?["):
            hits = fnmatch.filter(all_names, spec)
            if not hits:
                raise ReprlabError(
                    f"`layers`: the pattern {spec!r} matches no module of {type(model).__name__}. "
                    f"Module names look like {all_names[:4]}; list them with [n for n, _ in model.named_modules()]."
                )
            chosen.update(hits)
        else:
            raise ReprlabError(
                f"`layers`: {type(model).__name__} has no module named {spec!r}.{close_matches(spec, all_names)} "
                "List the names with [n for n, _ in model.named_modules()], or use a glob or 'all'."
            )
    return [n for n in all_names if n in chosen]


class LayerCapture:
    """Hooks on ``layers`` of ``model``; each output goes to ``on_output(name, tensor)``.

    Use as a context manager; call :meth:`run` for each batch. The forward pass is cut short once
    every layer has produced its output (set ``stop_early=False`` to let it finish). Only the first
    call of a module per forward pass is captured; a module called again before the pass stops
    (a shared module, e.g. one activation function reused by several blocks) raises an error.
    ``element`` picks, for the named layers, another element than the first tensor of a tuple output
    (e.g. ``{"model.layers.0.self_attn": 1}``: the attention probabilities a transformers attention
    module returns beside its output).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        layers: Sequence[str],
        on_output: Callable[[str, torch.Tensor], None],
        stop_early: bool = True,
        element: Mapping[str, int] | None = None,
    ) -> None:
        self.model = model
        self.layers = list(layers)
        self.on_output = on_output
        self.stop_early = stop_early
        self.element = dict(element or {})
        self.order: list[str] = []  # firing order in the latest pass
        self._fired: set[str] = set()
        self._handles: list[Any] = []
        self._stopped = False

    def __enter__(self) -> LayerCapture:
        modules = dict(self.model.named_modules())
        try:
            for name in self.layers:
                self._handles.append(modules[name].register_forward_hook(self._hook(name)))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            if self._stopped:
                return
            if name in self._fired:
                raise ReprlabError(
                    f"Module {name!r} ran more than once in one forward pass (a shared module), so its output "
                    "is ambiguous. Choose a module that runs once (e.g. the block that contains it)."
                )
            if name in self.element:
                picked = output[self.element[name]] if isinstance(output, (tuple, list)) else None
                t = picked if isinstance(picked, torch.Tensor) else None
            else:
                t = first_tensor(output)
            if t is None:
                raise ReprlabError(
                    f"Module {name!r} returned {type(output).__name__}, which holds no tensor; choose another layer."
                )
            self._fired.add(name)
            self.order.append(name)
            self.on_output(name, t)
            if self.stop_early and len(self._fired) == len(self.layers):
                self._stopped = True
                raise _StopForward

        return hook

    def run(self, call: Callable[[], Any]) -> None:
        """Run ``call()`` (the model's forward pass) once, capturing every requested layer."""
        self._fired = set()
        self.order = []
        self._stopped = False
        try:
            call()
        except _StopForward:
            pass
        missing = [n for n in self.layers if n not in self._fired]
        if missing:
            raise ReprlabError(
                f"Layer(s) {missing} did not run during the forward pass, so they have no output for these "
                "inputs (e.g. a pooler or head the forward pass does not call). Leave them out of `layers`."
            )
