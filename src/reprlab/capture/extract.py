"""``reprlab.extract``: run stimuli through a model and keep chosen layers, pooled, in memory or on disk."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError
from ..store.activations import Activations
from .hooks import LayerCapture, resolve_layers
from .pooling import check_fits, check_pool, pool_output

_OUT_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}


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


def _numpy(t: torch.Tensor, dtype: Any) -> np.ndarray:
    """A copy on the CPU (the model may later change its own output tensors in place)."""
    t = t.to("cpu")
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().astype(dtype, copy=True)


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
    layers: Any = "all",
    pool: str | Mapping[str, str] | None = None,
    batch_size: int = 32,
    out: str | Path | None = None,
    device: Any = None,
    dtype: str = "float32",
    *,
    preprocess: Any = None,
    ids: Sequence[Any] | None = None,
    model_id: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    stop_early: bool = True,
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
        poolings use the input's ``attention_mask`` when there is one.
    batch_size : int
        Stimuli per forward pass. Also the chunk size of the store along stimuli.
    out : path, optional
        Write a zarr activation store there, batch by batch. If the path holds an unfinished store
        of the same run (model, layers, pooling, stimuli, dtype, preprocessing), the run resumes
        after its last complete batch; a finished one is returned without recomputation; a store of
        another run raises (unless ``overwrite=True``).
    device : str or torch.device, optional
        Move the model there first (in place) and run on it. Default: where the model's parameters are.
    dtype : "float32" (default), "float16" or "float64"
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

    Returns
    -------
    Activations
        Layer name -> array ``(n_stimuli, n_features)`` (``pool="none"``: one row per token, see
        ``Activations.index``), rows in stimulus order.
    """
    module, preprocess, defaults, zoo_pool, zoo_id = _model_parts(model, preprocess)
    preprocess = _wrap_preprocess(preprocess)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ReprlabError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    if dtype not in _OUT_DTYPES:
        raise ReprlabError(f"`dtype` must be one of {list(_OUT_DTYPES)}; got {dtype!r}.")
    out_dtype = np.dtype(_OUT_DTYPES[dtype])
    names = resolve_layers(module, layers, defaults)
    if pool is None:
        pool = zoo_pool or "mean"
    if isinstance(pool, Mapping):
        unknown = [k for k in pool if k not in names]
        if unknown:
            raise ReprlabError(f"`pool` names layers that are not extracted: {unknown}. Layers: {names}.")
        pools = {n: check_pool(pool.get(n, zoo_pool or "mean")) for n in names}
    else:
        pools = {n: check_pool(pool) for n in names}
    source = _Source(stimuli, ids, preprocess)

    if device is not None:
        from .._validation import resolve_device

        module.to(resolve_device(device))
    first_param = next(module.parameters(), None)
    run_device = first_param.device if first_param is not None else torch.device("cpu")

    meta = {
        "model_id": _model_id(module, zoo_id, model_id),
        "model_fingerprint": _fingerprint(module),
        "layers_requested": names,
        "pooling": pools,
        "stimulus_ids": source.ids,
        "n_stimuli": source.n,
        "dtype": dtype,
        "preprocess": source.describe(),
        "stimulus_set": getattr(stimuli, "name", None),
    }
    writer = None
    start = 0
    spans = _spans(source.n, batch_size)
    if out is not None:
        from ..store.zarr_store import StoreWriter

        writer = StoreWriter(out, meta, chunk_rows=batch_size, overwrite=overwrite)
        spans = writer.batches(batch_size)
        if not spans:
            if progress:
                print(f"{out}: the store is complete and intact; nothing was written.", file=sys.stderr)
            return Activations.open(out)
        start = writer.n_done
        if progress and writer.damages:
            print(f"{out}: re-extracting the damaged rows ({len(writer.damages)} damaged part(s)).", file=sys.stderr)
        if progress and 0 < start < source.n:
            print(f"{out}: resuming at {start} of {source.n} stimuli.", file=sys.stderr)

    # per layer: list of pooled batches (in memory) or the current batch's values (store)
    collected: dict[str, list[Any]] = {n: [] for n in names}
    current: dict[str, Any] = {}
    state: dict[str, Any] = {"mask": None}

    def on_output(name: str, h: torch.Tensor) -> None:
        mask = state["mask"]
        use_mask = mask if h.dim() == 3 else None
        check_fits(tuple(h.shape), pools[name], name, use_mask)
        pooled = pool_output(h.detach(), pools[name], use_mask)
        if isinstance(pooled, tuple):
            rows, stim, pos = pooled
            current[name] = (_numpy(rows, out_dtype), _numpy(stim, np.int64), _numpy(pos, np.int64))
        else:
            current[name] = _numpy(pooled, out_dtype)

    was_training = module.training
    module.eval()
    bar = _Progress(source.n, start, progress, meta["model_id"])
    order: list[str] | None = list(writer.attrs["layers"]) if writer is not None and writer.attrs["layers"] else None
    try:
        with LayerCapture(module, names, on_output, stop_early=stop_early) as cap, torch.inference_mode():
            for b0, b1 in spans:
                inputs = _to_device(source.batch(b0, b1), run_device)
                state["mask"] = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
                current.clear()
                if isinstance(inputs, Mapping):
                    cap.run(lambda inputs=inputs: module(**inputs))
                else:
                    cap.run(lambda inputs=inputs: module(inputs))
                if order is None:
                    order = list(cap.order)
                    if writer is not None:
                        widths = {
                            n: current[n][0].shape[1] if isinstance(current[n], tuple) else current[n].shape[1]
                            for n in order
                        }
                        writer.ensure_layers(order, widths, out_dtype)
                if writer is not None:
                    writer.write_batch(b0, b1, current)
                else:
                    for n in names:
                        value = current[n]
                        if isinstance(value, tuple):
                            value = (value[0], value[1] + b0, value[2])
                        collected[n].append(value)
                bar.update(b1 - b0 if b0 >= start else 0)
    finally:
        bar.close()
        module.train(was_training)

    if writer is not None:
        return Activations.open(out)
    assert order is not None
    arrays: dict[str, np.ndarray] = {}
    index: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for n in order:
        parts = collected[n]
        if pools[n] == "none":
            arrays[n] = np.concatenate([p[0] for p in parts])
            index[n] = (np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
        else:
            arrays[n] = np.concatenate(parts) if len(parts) > 1 else parts[0]
    attrs = {**meta, "layers": order, "complete": True, "n_done": source.n}
    return Activations(arrays, source.ids, attrs, index)
