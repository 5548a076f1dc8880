"""``reprlab.extract``: run stimuli through a model and keep chosen layers, pooled, in memory or on disk."""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError
from ..store.activations import Activations
from .hooks import LayerCapture, resolve_layers
from .pooling import check_fits, check_pool, pool_output, real_tokens
from .tokens import (
    LOGITS,
    accepts_position_ids,
    attention_modules,
    check_capture,
    check_logits_name,
    eager_attention,
    output_embedding,
    real_block_index,
    real_blocks,
    token_ids,
    tokenizer_of,
    vocabulary,
    with_position_ids,
)

_OUT_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}
_ATTENTION = "attention/"  # prefix of a block's attention values in a sink's destination keys


class _Progress:
    """tqdm when installed, else a one-line counter on stderr; silent when disabled."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str) -> None:
        self.enabled = enabled
        self.total, self.done = total, initial
        self.start, self.start_done = time.perf_counter(), initial
        self._bar = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit="stim", unit_scale=False, smoothing=0.1)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled:
            rate = (self.done - self.start_done) / max(time.perf_counter() - self.start, 1e-9)
            print(f"\r{self.done}/{self.total} stimuli, {rate:.1f} stimuli/s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            print(file=sys.stderr)


def _model_parts(model: Any, preprocess: Any) -> tuple[torch.nn.Module, Any, list[str] | None, str | None, str | None]:
    """(module, preprocess, default layers, default pooling, zoo id) for a zoo model or a module."""
    from .zoo import ZooModel

    if isinstance(model, ZooModel):
        return model.model, preprocess or model.preprocess, model.default_layers, model.default_pool, model.name
    if isinstance(model, torch.nn.Module):
        return model, preprocess, None, None, None
    raise ReprlabTypeError(
        f"`model` must be a torch.nn.Module or a reprlab zoo model (rl.zoo.load(...)); got {type(model).__name__}."
    )


def _wrap_preprocess(preprocess: Any) -> Any:
    """A Hugging Face tokenizer passed as ``preprocess`` becomes a padding, truncating text preprocessor."""
    if preprocess is not None and hasattr(preprocess, "model_input_names") and hasattr(preprocess, "pad_token"):
        from .zoo import TextPreprocess

        limit = getattr(preprocess, "model_max_length", None)
        return TextPreprocess(preprocess, max_length=limit if isinstance(limit, int) and limit < 10**6 else None)
    if preprocess is not None and not callable(preprocess):
        raise ReprlabTypeError(f"`preprocess` must be callable (a list of stimuli -> model input); got {preprocess!r}.")
    return preprocess


class _Source:
    """Stimuli as batches: items, ids, and how to turn a slice into model input."""

    def __init__(self, stimuli: Any, ids: Sequence[Any] | None, preprocess: Any) -> None:
        from .stimuli import Stimuli, check_items

        self.preprocess = preprocess
        self.kind = "list"
        default_ids: list[str] | None = None
        if isinstance(stimuli, Stimuli):
            self.items: Any = stimuli.items
            default_ids = list(stimuli.ids)
        elif isinstance(stimuli, Mapping):
            lens = {k: len(v) for k, v in stimuli.items()}
            if not lens or len(set(lens.values())) != 1:
                raise ReprlabError(
                    f"`stimuli` as a mapping must hold model inputs with the same first dimension (e.g. "
                    f"input_ids and attention_mask); got lengths {lens}."
                )
            self.items, self.kind = dict(stimuli), "mapping"
        elif isinstance(stimuli, (torch.Tensor, np.ndarray)):
            if stimuli.ndim < 1:
                raise ReprlabError("`stimuli` as an array must have a first (stimulus) axis.")
            self.items, self.kind = stimuli, "array"
        elif isinstance(stimuli, Sequence) and not isinstance(stimuli, (str, bytes)):
            self.items = list(stimuli)
            check_items(self.items)
        else:
            raise ReprlabTypeError(
                "`stimuli` must be an rl.stimuli set, a list of stimuli, an array/tensor with one row per stimulus, "
                f"or a mapping of model inputs; got {type(stimuli).__name__}."
            )
        self.n = len(next(iter(self.items.values()))) if self.kind == "mapping" else len(self.items)
        if self.n == 0:
            raise ReprlabError("`stimuli` is empty.")
        if ids is not None:
            ids = [str(i) for i in ids]
            if len(ids) != self.n:
                raise ReprlabError(f"`ids` has {len(ids)} entries but there are {self.n} stimuli.")
        self.ids = ids if ids is not None else (default_ids or [str(i) for i in range(self.n)])
        if len(set(self.ids)) != len(self.ids):
            raise ReprlabError("`ids` must be unique.")
        if self.kind == "list" and preprocess is None:
            bad = next((x for x in self.items if not isinstance(x, (torch.Tensor, np.ndarray))), None)
            if bad is not None:
                raise ReprlabError(
                    f"The stimuli are {type(bad).__name__} items, which a bare torch module cannot take. Pass "
                    "`preprocess=` (a tokenizer or a function: list of stimuli -> model input), or use a zoo model "
                    "(rl.zoo.load(...)), which brings its preprocessing."
                )

    def describe(self) -> str:
        if self.preprocess is None:
            return "none"
        d = getattr(self.preprocess, "describe", None)
        return d() if callable(d) else getattr(self.preprocess, "__qualname__", type(self.preprocess).__name__)

    def batch(self, start: int, stop: int) -> Any:
        if self.kind == "mapping":
            part: Any = {k: v[start:stop] for k, v in self.items.items()}
            return self.preprocess(part) if self.preprocess else {k: torch.as_tensor(v) for k, v in part.items()}
        part = self.items[start:stop]
        if self.preprocess is not None:
            return self.preprocess(part)
        if self.kind == "array":
            return torch.as_tensor(part)
        shapes = {tuple(np.shape(x)) for x in part}
        if len(shapes) != 1:
            raise ReprlabError(
                f"Stimuli {start}..{stop - 1} have different shapes {sorted(shapes)[:3]}, so they cannot be stacked "
                "into a batch; pass `preprocess=` to bring them to one shape."
            )
        return torch.stack([torch.as_tensor(x) for x in part])


def _spans(n: int, batch_size: int) -> list[tuple[int, int]]:
    return [(b0, min(b0 + batch_size, n)) for b0 in range(0, n, batch_size)]


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _numpy(t: torch.Tensor, dtype: Any, copy: bool = True) -> np.ndarray:
    """``t`` on the CPU as NumPy ``dtype``: a copy (the model may later change its own output tensors
    in place), unless ``copy=False`` for a tensor nothing else holds (e.g. a gather's result), which
    is then converted without a second copy where its dtype already is ``dtype``."""
    t = t.to("cpu")
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().astype(dtype, copy=copy)


def _owns_memory(pooled: torch.Tensor, h: torch.Tensor) -> bool:
    """Whether ``pooled`` (computed from the layer output ``h``) is a new tensor rather than a view of ``h``."""
    return pooled.untyped_storage().data_ptr() != h.untyped_storage().data_ptr()


def _fingerprint(module: torch.nn.Module) -> str:
    """Class, parameter count and a checksum of ~4,096 evenly spaced values of the first and last
    parameter: cheap (no pass over all weights), and it tells apart differently initialised or
    trained copies of one architecture."""
    params = list(module.parameters())
    n = sum(p.numel() for p in params)
    sums = []
    for p in [q for q in (params[:1] + params[-1:]) if q.numel()]:
        flat = p.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)]
        sums.append(f"{sample.double().abs().sum().item():.6e}")
    return f"{type(module).__module__}.{type(module).__qualname__}|{n} params|{','.join(sums)}"


def _model_id(module: torch.nn.Module, zoo_id: str | None, model_id: str | None) -> str:
    if model_id is not None:
        return str(model_id)
    if zoo_id is not None:
        return zoo_id
    cfg = getattr(module, "config", None)
    name = getattr(cfg, "name_or_path", "") or getattr(cfg, "_name_or_path", "")
    return f"{type(module).__qualname__}({Path(str(name)).name})" if name else type(module).__qualname__


def extract(
    model: Any,
    stimuli: Any,
    *,
    layers: Any = "all",
    pool: str | Mapping[str, str] | None = None,
    capture: str | Sequence[str] = ("resid",),
    attn_layers: Any = "all",
    batch_size: int = 32,
    out: str | Path | None = None,
    device: Any = None,
    store_dtype: str = "float32",
    preprocess: Any = None,
    ids: Sequence[Any] | None = None,
    model_id: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    stop_early: bool = True,
    dtype: str | None = None,
) -> Activations:
    """Run ``stimuli`` through ``model`` and keep the (pooled) outputs of ``layers``.

    Parameters
    ----------
    model : torch.nn.Module or reprlab zoo model
        Any module (a transformers model, a CNN, ...) or ``rl.zoo.load(...)`` (which brings its
        preprocessing, default layers and default pooling).
    stimuli : rl.stimuli set, list, array/tensor, or mapping of model inputs
        A list of raw stimuli needs ``preprocess`` unless the model is a zoo model; a tensor or
        array (one row per stimulus) or a mapping of tensors (e.g. ``input_ids`` and
        ``attention_mask``) is sliced into batches and fed as is.
    layers : "all", str or list of str
        Module names (``named_modules()``), globs (``"encoder.layer.*"``) or ``"all"`` (the zoo model's
        default layers, else embeddings + blocks (+ final norm) for transformers and the blocks of
        other models; see :func:`reprlab.capture.hooks.default_layers`). Results come in network
        order (the order the layers run).
    pool : str or mapping layer -> str, optional
        ``"mean"``, ``"last"``, ``"first"``, ``"max"``, ``"spatial_mean"``, ``"flatten"`` or ``"none"``
        (see :mod:`reprlab.capture.pooling`). Default: the zoo model's, else ``"mean"``. Token
        poolings use the input's ``attention_mask`` when there is one. ``"none"`` keeps every real
        token: one row each, indexed by :meth:`Activations.index` (stimulus, position, token id,
        token text); padding never enters the result.
    capture : "resid", "attn", "logits" or a sequence of them
        What to keep. ``"resid"`` (default): the outputs of ``layers``. ``"attn"``: each block's
        attention probabilities over the real tokens, ``(n_heads, n, n)`` per stimulus
        (:meth:`Activations.attention`; the model runs with eager attention for this). ``"logits"``:
        the output embedding's output, stored as the layer ``"logits"`` (pooled like the layers;
        a ``pool`` mapping may name ``"logits"``).
    attn_layers : "all", or block names / globs / indices
        The blocks whose attention ``"attn"`` keeps (they are large: ``n_heads * n**2`` values per
        stimulus and block).
    batch_size : int
        Stimuli per forward pass. Also the chunk size of the store along stimuli.
    out : path, optional
        Write a zarr activation store there, batch by batch. If the path holds an unfinished store
        of the same run (model, layers, pooling, capture, stimuli, dtype, preprocessing), the run
        resumes after its last complete batch; a finished one is returned without recomputation; a
        store of another run raises (unless ``overwrite=True``).
    device : str or torch.device, optional
        Move the model there first (in place) and run on it. Default: where the model's parameters are.
    store_dtype : "float32" (default), "float16" or "float64"
        Dtype of the stored activations (the model runs in its own dtype).
    preprocess : callable or tokenizer, optional
        A list of stimuli -> model input (a tensor, or a dict of tensors passed as keyword arguments).
        A Hugging Face tokenizer is wrapped to pad and truncate.
    ids : sequence, optional
        Stimulus ids (default: the set's ids, else "0", "1", ...).
    model_id : str, optional
        Name recorded in the store (default: zoo id, or class and checkpoint name).
    overwrite : bool
        Replace an existing store at ``out``.
    progress : bool
        Show a progress bar with stimuli per second (``False``: quiet).
    stop_early : bool
        Stop each forward pass after the last requested layer has run (default). Outputs do not
        change; only the time spent on later layers is saved.
    dtype : str, optional
        Deprecated alias of ``store_dtype`` (elsewhere in reprlab ``dtype`` is the compute dtype).

    Mapping inputs with an ``attention_mask`` get ``position_ids`` counted over the real tokens
    (when the model takes them), so left and right padding give the same states.

    Returns
    -------
    Activations
        Layer name -> array ``(n_stimuli, n_features)`` (``pool="none"``: one row per token, see
        ``Activations.index``), rows in stimulus order.
    """
    plan = _plan(
        model,
        stimuli,
        layers=layers,
        pool=pool,
        capture=capture,
        attn_layers=attn_layers,
        batch_size=batch_size,
        device=device,
        store_dtype=_store_dtype(store_dtype, dtype),
        preprocess=preprocess,
        ids=ids,
        model_id=model_id,
        stop_early=stop_early,
    )
    if out is None:
        sink: Any = _Memory(plan)
        _run(plan, sink, _spans(plan.source.n, plan.batch_size), 0, progress)
        return sink.activations()
    writer = _open_store(plan, out, overwrite)
    spans = writer.batches(plan.batch_size)
    if not spans:
        if progress:
            print(f"{out}: the store is complete and intact; nothing was written.", file=sys.stderr)
        return Activations.open(out)
    start, n = writer.n_done, plan.source.n
    if progress and writer.damages:
        print(f"{out}: re-extracting the damaged rows ({len(writer.damages)} damaged part(s)).", file=sys.stderr)
    if progress and 0 < start < n:
        print(f"{out}: resuming at {start} of {n} stimuli.", file=sys.stderr)
    _run(plan, writer, spans, start, progress)
    return Activations.open(out)


def _store_dtype(store_dtype: str, dtype: str | None) -> str:
    """``store_dtype``, or the deprecated ``dtype`` when that is given instead."""
    arg = "store_dtype"
    if dtype is not None:
        arg = "dtype"
        warnings.warn(
            "extract(dtype=...) is deprecated: it is the dtype of the stored activations, so it is now called "
            "store_dtype=...",
            DeprecationWarning,
            stacklevel=3,
        )
        if store_dtype != "float32" and store_dtype != dtype:
            raise ReprlabError(
                f"`dtype` ({dtype!r}) and `store_dtype` ({store_dtype!r}) disagree; give only store_dtype."
            )
        store_dtype = dtype
    if store_dtype not in _OUT_DTYPES:
        raise ReprlabError(f"`{arg}` must be one of {list(_OUT_DTYPES)}; got {store_dtype!r}.")
    return store_dtype


@dataclasses.dataclass
class _Plan:
    """One extraction, checked: the model, its inputs, what to hook and how to keep it."""

    module: torch.nn.Module
    source: _Source
    names: list[str]  # residual layers (module names)
    pools: dict[str, str]  # stored layer -> pooling (the logits under "logits")
    attn: dict[str, str]  # block -> its attention module
    head: str | None  # the output embedding, when logits are kept
    batch_size: int
    out_dtype: np.dtype
    stop_early: bool
    position_ids: bool
    tokenizer: Any
    meta: dict[str, Any]

    @property
    def hooked(self) -> list[str]:
        return self.names + list(self.attn.values()) + ([self.head] if self.head else [])

    def inputs(self, b0: int, b1: int) -> Any:
        x = self.source.batch(b0, b1)
        return _to_device(with_position_ids(x) if self.position_ids else x, _device_of(self.module))

    def forward(self, inputs: Any) -> Any:
        return self.module(**inputs) if isinstance(inputs, Mapping) else self.module(inputs)


def _device_of(module: torch.nn.Module) -> torch.device:
    first_param = next(module.parameters(), None)
    return first_param.device if first_param is not None else torch.device("cpu")


def _plan(
    model: Any,
    stimuli: Any,
    *,
    layers: Any,
    pool: Any,
    capture: Any,
    attn_layers: Any,
    batch_size: Any,
    device: Any,
    store_dtype: str,
    preprocess: Any,
    ids: Any,
    model_id: Any,
    stop_early: bool,
) -> _Plan:
    module, preprocess, defaults, zoo_pool, zoo_id = _model_parts(model, preprocess)
    preprocess = _wrap_preprocess(preprocess)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ReprlabError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    kept = check_capture(capture)
    names = resolve_layers(module, layers, defaults) if "resid" in kept else []
    head = output_embedding(module) if "logits" in kept else None
    if head is not None:
        check_logits_name(names)
        if head in names:
            raise ReprlabError(f"`layers` names {head!r}, whose output is the logits that capture='logits' keeps.")
    attn = attention_modules(module, attn_layers) if "attn" in kept else {}
    clash = sorted(set(attn.values()) & set(names))
    if clash:
        raise ReprlabError(
            f"`layers` names {clash}, the attention module(s) that capture='attn' reads; leave them out."
        )
    pools = _pools(pool, names + ([LOGITS] if head else []), zoo_pool)
    source = _Source(stimuli, ids, preprocess)
    if device is not None:
        from .._validation import resolve_device

        module.to(resolve_device(device))
    meta = {
        "model_id": _model_id(module, zoo_id, model_id),
        "model_fingerprint": _fingerprint(module),
        "layers_requested": names,
        "pooling": pools,
        "capture": list(kept),
        "attention_layers": list(attn),
        "stimulus_ids": source.ids,
        "n_stimuli": source.n,
        "dtype": store_dtype,
        "preprocess": source.describe(),
        "stimulus_set": getattr(stimuli, "name", None),
    }
    return _Plan(
        module,
        source,
        names,
        pools,
        attn,
        head,
        batch_size,
        np.dtype(_OUT_DTYPES[store_dtype]),
        stop_early,
        accepts_position_ids(module),
        tokenizer_of(preprocess, model),
        meta,
    )


def _pools(pool: Any, stored: list[str], zoo_pool: str | None) -> dict[str, str]:
    default = zoo_pool or "mean"
    if pool is None:
        pool = default
    if isinstance(pool, Mapping):
        unknown = [k for k in pool if k not in stored]
        if unknown:
            raise ReprlabError(f"`pool` names layers that are not extracted: {unknown}. Layers: {stored}.")
        return {n: check_pool(pool.get(n, default)) for n in stored}
    return {n: check_pool(pool) for n in stored}


def _open_store(plan: _Plan, out: str | Path, overwrite: bool) -> Any:
    """The store at ``out``: new, or the same run's (finished, or to resume from ``n_done``)."""
    from ..store.zarr_store import StoreWriter

    return StoreWriter(out, plan.meta, chunk_rows=plan.batch_size, overwrite=overwrite)


@dataclasses.dataclass
class _Batch:
    """What one forward pass gave: per stored layer a ``(B, F)`` array or, for ``pool="none"``, the
    rows with their (batch-relative) stimulus, position and token id; per block the flattened
    attention blocks of the real tokens, and each stimulus's number of real tokens."""

    layers: dict[str, Any]
    attention: dict[str, np.ndarray]
    lengths: np.ndarray | None


@dataclasses.dataclass
class _RealTokens:
    """The real tokens of one batch, found once and shared by every ``pool="none"`` layer: flat
    indices ``stimulus * T + token`` into a ``(B * T, D)`` view of a layer output, and the rows'
    batch-relative stimulus, position among the real tokens (as :func:`pool_output`) and token id."""

    flat: torch.Tensor
    stimulus: np.ndarray
    position: np.ndarray
    token: np.ndarray


class _BatchCapture:
    """The hooks' callback: pools each layer output of the current batch as it arrives.

    For ``pool="none"`` with an attention mask, each token-sequence output ``(B, T, D)`` is copied
    once: one gather of the real tokens' rows (indices found once per batch), written straight into
    the sink's output array when the sink offers one (:meth:`_Memory.destination`); each block's
    attention blocks likewise in one gather per block and batch.
    """

    def __init__(self, plan: _Plan, sink: Any = None) -> None:
        self.plan = plan
        self.block_of = {m: b for b, m in plan.attn.items()}
        self.destination = getattr(sink, "destination", None)
        self.begin(None)

    def begin(self, inputs: Any, start: int = 0) -> None:
        self.mask = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
        self.ids = token_ids(inputs)
        self.batch = _Batch({}, {}, None)
        self.start = start
        # found once per batch (and device: a model split over devices gives outputs on several)
        self._tokens: dict[torch.device, _RealTokens] = {}
        self._blocks: dict[tuple[int, torch.device], torch.Tensor] = {}  # attention gather indices

    def _real(self, device: torch.device) -> torch.Tensor:
        return self.mask.to(device=device).bool()

    def _real_tokens(self, device: torch.device) -> _RealTokens:
        if device not in self._tokens:
            real = self._real(device)
            stim, tok, pos = real_tokens(real)
            ids = np.full(len(stim), -1, dtype=np.int64)
            if self.ids is not None and tuple(self.ids.shape) == tuple(real.shape):
                ids = _numpy(self.ids[self.mask.bool()], np.int64)
            flat = stim * real.shape[1] + tok
            self._tokens[device] = _RealTokens(flat, _numpy(stim, np.int64), _numpy(pos, np.int64), ids)
        return self._tokens[device]

    def _gather(self, source: torch.Tensor, index: torch.Tensor, key: str) -> np.ndarray:
        """``source[index]`` (rows of a 2-D or values of a 1-D tensor) as NumPy ``out_dtype``: into the
        sink's array for ``key`` when it offers one, else into a new array; one copy either way when
        the dtypes agree."""
        dtype = self.plan.out_dtype
        shape = (int(index.numel()), *source.shape[1:])
        dest = self.destination(key, self.start, shape, dtype) if self.destination is not None else None
        if dest is not None and source.device.type == "cpu" and torch.from_numpy(dest[:0]).dtype == source.dtype:
            torch.index_select(source, 0, index, out=torch.from_numpy(dest))
            return dest
        values = _numpy(source.index_select(0, index), dtype, copy=False)
        if dest is None:
            return values
        dest[...] = values
        return dest

    def on_output(self, name: str, h: torch.Tensor) -> None:
        dtype = self.plan.out_dtype
        h = h.detach()
        if name in self.block_of:
            block = self.block_of[name]
            if self.mask is None:
                values, lengths = real_blocks(h, None)
                self.batch.attention[block] = _numpy(values, dtype)
            else:
                key = (h.shape[1], h.device)
                if key not in self._blocks:
                    self._blocks[key] = real_block_index(self._real(h.device), h.shape[1])
                self.batch.attention[block] = self._gather(h.reshape(-1), self._blocks[key], _ATTENTION + block)
                lengths = self._real(h.device).sum(dim=1).cpu().numpy().astype(np.int64)
            self.batch.lengths = lengths
            return
        layer = LOGITS if name == self.plan.head else name
        mask = self.mask if h.dim() == 3 else None
        pool = self.plan.pools[layer]
        check_fits(tuple(h.shape), pool, name, mask)
        if pool == "none" and mask is not None:  # (B, T, D) of which the real tokens are kept
            real = self._real_tokens(h.device)
            rows = self._gather(h.reshape(-1, h.shape[-1]), real.flat, layer)
            self.batch.layers[layer] = (rows, real.stimulus, real.position, real.token)
            return
        pooled = pool_output(h, pool, mask)
        if not isinstance(pooled, tuple):
            self.batch.layers[layer] = _numpy(pooled, dtype, copy=not _owns_memory(pooled, h))
            return
        rows, stim, pos = pooled
        tok = np.full(len(stim), -1, dtype=np.int64)
        if self.ids is not None and h.dim() == 3 and tuple(h.shape[:2]) == tuple(self.ids.shape):
            tok = _numpy(self.ids.reshape(-1), np.int64)
        self.batch.layers[layer] = (
            _numpy(rows, dtype, copy=not _owns_memory(rows, h)),
            _numpy(stim, np.int64),
            _numpy(pos, np.int64),
            tok,
        )

    def order(self, fired: list[str]) -> list[str]:
        """The stored layers in the order they ran."""
        return [LOGITS if n == self.plan.head else n for n in fired if n not in self.block_of]


def _run(plan: _Plan, sink: Any, spans: list[tuple[int, int]], start: int, progress: bool) -> None:
    """Forward the stimuli of ``spans`` batch by batch and hand each batch to ``sink``; batches before
    ``start`` (already written: a damaged chunk's stimuli) do not count as progress.

    A sink that can size its outputs in advance (``presize``: the in-memory one) gets every batch's
    attention mask first, when the first batch's input has one: the inputs of all batches are
    prepared before the first forward pass (token ids and masks, small beside the token-level
    outputs they give), so each layer's real-token rows can be written straight into one array.
    """
    module, n = plan.module, plan.source.n
    was_training = module.training
    module.eval()
    bar = _Progress(n, start, progress, plan.meta["model_id"])
    state = _BatchCapture(plan, sink)
    element = {m: 1 for m in plan.attn.values()}
    try:
        with (
            eager_attention(module, bool(plan.attn)),
            LayerCapture(module, plan.hooked, state.on_output, stop_early=plan.stop_early, element=element) as cap,
            torch.inference_mode(),
        ):
            prepared = _prepare(plan, sink, spans)
            for k, (b0, b1) in enumerate(spans):
                inputs = prepared[k] if prepared[k] is not None else plan.inputs(b0, b1)
                prepared[k] = None
                state.begin(inputs, b0)
                cap.run(lambda inputs=inputs: plan.forward(inputs))
                if not sink.initialised:
                    sink.ensure_layers(
                        state.order(cap.order),
                        _widths(state.batch),
                        plan.out_dtype,
                        **_token_setup(plan, state.batch, getattr(sink, "keeps_vocab", True)),
                    )
                sink.write_batch(b0, b1, state.batch.layers, state.batch.attention, state.batch.lengths)
                bar.update(b1 - b0 if b0 >= start else 0)
    finally:
        bar.close()
        module.train(was_training)


def _prepare(plan: _Plan, sink: Any, spans: list[tuple[int, int]]) -> list[Any]:
    """Per batch, its input prepared in advance, or ``None`` (prepared when its turn comes).

    All are prepared, and ``sink.presize`` gets their attention masks, when ``sink`` sizes its
    outputs in advance (token-level capture in memory) and the first batch's input has a mask.
    """
    presize = getattr(sink, "presize", None)
    token_level = "none" in plan.pools.values() or bool(plan.attn)
    if presize is None or not token_level or not spans:
        return [None] * len(spans)
    first = plan.inputs(*spans[0])
    if _mask_of(first) is None:
        return [first] + [None] * (len(spans) - 1)
    prepared = [first] + [plan.inputs(b0, b1) for b0, b1 in spans[1:]]
    masks = [_mask_of(x) for x in prepared]
    if all(m is not None for m in masks):
        presize([b0 for b0, _ in spans], masks)
    return prepared


def _mask_of(inputs: Any) -> torch.Tensor | None:
    """The ``(B, T)`` attention mask of mapping inputs, else ``None``."""
    mask = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
    return mask if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None


def _widths(batch: _Batch) -> dict[str, int]:
    return {n: (v[0] if isinstance(v, tuple) else v).shape[1] for n, v in batch.layers.items()}


def _token_setup(plan: _Plan, batch: _Batch, keeps_vocab: bool = True) -> dict[str, Any]:
    """The store's attention heads per block and, when rows carry token ids and the sink keeps it,
    the vocabulary's texts (the in-memory sink decodes only the token ids it holds)."""
    heads = {}
    if batch.lengths is not None:
        squares = int((batch.lengths**2).sum())
        heads = {b: int(v.size // squares) for b, v in batch.attention.items()}
    has_tokens = any(isinstance(v, tuple) and (v[3] >= 0).any() for v in batch.layers.values())
    vocab = vocabulary(plan.tokenizer) if keeps_vocab and has_tokens and plan.tokenizer is not None else None
    return {"attention_heads": heads, "vocab": vocab}


class _Memory:
    """Collects the batches in memory, with the interface of the store's writer.

    With the attention masks of all batches known in advance (:meth:`presize`), each token-level
    layer (and each block's attention) gets one array of its final size, and the batches' rows are
    gathered straight into it (:meth:`destination`): no per-batch copies to join at the end.
    """

    keeps_vocab = False  # the token texts are decoded for the token ids present only

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.attrs: dict[str, Any] = {"layers": [], "attention_heads": {}}
        self.parts: dict[str, list[Any]] = {}
        self.attention: dict[str, list[np.ndarray]] = {}
        self.lengths: list[np.ndarray] = []
        self.initialised = False
        self.sizes: dict[int, tuple[int, int, int, int]] = {}  # batch start -> row offset, rows, square offset, squares
        self.total_rows = self.total_squares = 0
        self.full: dict[str, np.ndarray] = {}  # destination key -> its whole array

    def presize(self, starts: list[int], masks: list[torch.Tensor]) -> None:
        """Record, per batch (by its first stimulus), where its real tokens' rows go: its offset and
        count of real tokens, and of the squares ``n_b**2`` that size its attention blocks."""
        for b0, mask in zip(starts, masks):
            n = mask.bool().sum(dim=1).cpu().numpy().astype(np.int64)
            rows, squares = int(n.sum()), int((n**2).sum())
            self.sizes[b0] = (self.total_rows, rows, self.total_squares, squares)
            self.total_rows += rows
            self.total_squares += squares

    def destination(self, key: str, start: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
        """Where the batch starting at ``start`` writes ``shape`` values of ``key`` (a layer's real-token
        rows, or ``attention/<block>``): a slice of that key's whole array, or ``None`` (not presized)."""
        if start not in self.sizes:
            return None
        row0, rows, square0, squares = self.sizes[start]
        if key.startswith(_ATTENTION):
            if len(shape) != 1 or squares == 0 or shape[0] % squares:
                return None
            heads = shape[0] // squares
            whole, offset, count = (heads * self.total_squares,), heads * square0, shape[0]
        else:
            if shape[0] != rows:
                return None
            whole, offset, count = (self.total_rows, *shape[1:]), row0, rows
        full = self.full.get(key)
        if full is None:
            full = self.full[key] = np.empty(whole, dtype)
        elif full.shape != whole or full.dtype != dtype:
            return None
        return full[offset : offset + count]

    def _joined(self, key: str, parts: list[np.ndarray]) -> np.ndarray:
        """The parts one after another: the whole array they were written into, when they fill it in
        order, else their concatenation."""
        full = self.full.get(key)
        if full is not None:
            at = full.__array_interface__["data"][0]
            for p in parts:
                if p.base is not full or p.__array_interface__["data"][0] != at:
                    break
                at += p.nbytes
            else:
                if at == full.__array_interface__["data"][0] + full.nbytes:
                    return full
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def ensure_layers(
        self,
        order: list[str],
        widths: dict[str, int],
        dtype: np.dtype,
        *,
        attention_heads: dict[str, int],
        vocab: list[str] | None,
    ) -> None:
        self.attrs.update({"layers": order, "attention_heads": attention_heads})
        self.initialised = True
        self.parts = {n: [] for n in order}
        self.attention = {b: [] for b in attention_heads}

    def write_batch(
        self,
        start: int,
        stop: int,
        layers: dict[str, Any],
        attention: dict[str, np.ndarray],
        lengths: np.ndarray | None,
    ) -> None:
        for n, value in layers.items():
            self.parts[n].append(
                (value[0], value[1] + start, value[2], value[3]) if isinstance(value, tuple) else value
            )
        for b, values in attention.items():
            self.attention[b].append(values)
        if lengths is not None:
            self.lengths.append(lengths)

    def activations(self) -> Activations:
        arrays: dict[str, np.ndarray] = {}
        index: dict[str, tuple[np.ndarray, ...]] = {}
        for n, parts in self.parts.items():
            if isinstance(parts[0], tuple):
                arrays[n] = self._joined(n, [p[0] for p in parts])
                index[n] = tuple(np.concatenate([p[k] for p in parts]) for k in (1, 2, 3))
            else:
                arrays[n] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        attention = {
            b: (self._joined(_ATTENTION + b, v), np.concatenate(self.lengths), self.attrs["attention_heads"][b])
            for b, v in self.attention.items()
        }
        tokens = np.unique(np.concatenate([i[2] for i in index.values()])) if index else np.empty(0, np.int64)
        tokens = tokens[tokens >= 0]
        vocab = None
        if self.plan.tokenizer is not None and tokens.size:
            vocab = dict(zip(tokens.tolist(), self.plan.tokenizer.batch_decode([[t] for t in tokens.tolist()])))
        attrs = {**self.plan.meta, **self.attrs, "complete": True, "n_done": self.plan.source.n}
        return Activations(arrays, self.plan.source.ids, attrs, index, attention=attention, vocab=vocab)
