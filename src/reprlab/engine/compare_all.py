"""``compare_all``: one measure over every pair of two sets of representations.

Three ways to the matrix, chosen per measure (see docs/engine.md):

1. ``Hooks.all_pairs(A, B, params, options)``: a measure's own batched all-pairs routine on
   the checked in-memory tensors (e.g. linear CKA in sample space, batched RDM comparisons). It may
   return None to decline (e.g. for parameter values it does not cover).
2. ``Hooks.stream(params) -> StreamSpec | None``: the measure is a function of centred
   cross-moments, accumulated chunk by chunk over the stimuli with one GEMM per layer and chunk
   (:mod:`reprlab.stream.moments`). This is the path for stores larger than memory, and the
   feature-space path of linear CKA (in memory only where ``StreamSpec.in_memory``; CCA and linear
   regression keep in-memory arrays on path 3, whose SVDs resolve what covariances cannot).
3. Otherwise each representation is checked and prepared once (``Measure.prepare``: centring, Gram
   matrices, ranks, whitening, ...), then the core runs on every pair; for a symmetric measure within
   one set each unordered pair is computed once and mirrored.

With ``client=`` (a ``dask.distributed.Client``) path 2 spreads chunks of rows over the workers
(stores are read as dask arrays, partial sums are added in a tree) and path 3 spreads the pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _pairs, _registry
from .._progress import progress
from .._validation import as_float, check_comparable, resolve_device, resolve_dtype
from .._version import __version__
from ..errors import ReprlabError
from ..results import ComparisonResult
from ..stream import moments
from ..stream.sources import Source, check_rows, is_lazy, make_source, named_sets


def _accumulate_dtype(accumulate: Any, dt: torch.dtype) -> torch.dtype:
    if accumulate is None:
        return dt
    acc = resolve_dtype(accumulate)
    if torch.finfo(acc).bits < torch.finfo(dt).bits:
        raise ReprlabError(
            f"`accumulate` ({acc}) must be at least as wide as the compute dtype ({dt}); use accumulate='float64'."
        )
    return acc


def compare_all(
    A: Any,
    B: Any = None,
    measure: str = "cka",
    /,
    *,
    dtype: Any = None,
    device: Any = None,
    accumulate: Any = None,
    chunk_rows: int | None = None,
    stream: bool | None = None,
    client: Any = None,
    intersect: bool = False,
    **params: Any,
) -> ComparisonResult:
    """Compare every representation of ``A`` with every one of ``B`` (or of ``A`` when ``B`` is None).

    Parameters
    ----------
    A, B : Mapping[str, array] or reprlab.Activations or list of arrays
        Representations of shape (n_stimuli, n_features_i), all with the same stimuli. Two stores
        (``rl.Activations``) are matched by stimulus id before any measure runs. Values may be
        in-memory arrays (NumPy, torch) or store arrays read lazily in chunks of rows (zarr arrays,
        ``np.memmap``, the layers of an ``rl.Activations`` store).
    measure : str
        Name or spec string of a compare measure with a scalar value.
    dtype, device
        Compute dtype (float64 by default; ``"float32"`` for speed) and torch device (``"cuda"``).
    accumulate : dtype, optional
        Accumulate sums over stimuli in this dtype (e.g. ``"float64"`` with ``dtype="float32"``: float32
        GEMMs on chunks of rows, float64 sums across chunks). Default: the compute dtype.
    chunk_rows : int, optional
        Rows (stimuli) per chunk for the chunked paths; default about 128 MB of centred data, a
        multiple of a store's row chunking.
    stream : bool, optional
        Stream over the rows (memory bounded by the chunk, not by n). Default: stream when a value is a
        store array and the measure can be streamed; ``True`` raises for a measure that cannot.
    client : dask.distributed.Client, optional
        Spread the work over a Dask cluster (chunks of rows for streamable measures, pairs otherwise).
    intersect : bool
        When ``A`` and ``B`` carry different stimulus ids: use the ones they share (reported in a
        warning and in ``meta["n_stimuli"]``) instead of raising.
    **params
        The measure's parameters, as for :func:`reprlab.compare`.

    Returns
    -------
    ComparisonResult
        ``values[i, j] = compare(A[rows[i]], B[cols[j]], measure)``.
    """
    m, p = _registry.resolve(measure, params)
    if m.info.kind != "compare":
        raise ReprlabError(f"{m.info.name!r} is a describe measure; use reprlab.describe_all.")
    if B is not None:
        from .._stimulus_ids import match_rows

        A, B = match_rows([("A", A), ("B", B)], intersect)
    rows, cols, values_in, labels = named_sets(A, B)
    within = B is None
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ReprlabError(f"`chunk_rows` must be a positive integer or None; got {chunk_rows!r}.")
    dt, dev = resolve_dtype(dtype), resolve_device(device)
    opts = moments.Options(dt, dev, _accumulate_dtype(accumulate, dt), chunk_rows)
    spec_factory = m.hooks.stream
    spec = spec_factory(p) if spec_factory is not None else None
    lazy = any(is_lazy(x) for x in values_in)
    if stream and spec is None:
        raise ReprlabError(
            f"{_registry.format_spec(m.info.name, p)!r} cannot be computed in a stream over chunks of stimuli. "
            "Streamable: linear CKA and measures built on covariances (see docs/engine.md). Use stream=False "
            "to load every representation into memory."
        )
    use_stream = spec is not None and (stream if stream is not None else lazy)
    opts.labels = labels
    meta: dict[str, Any] = {"library_version": __version__, "dtype": str(dt).replace("torch.", ""), "device": str(dev)}
    if accumulate is not None:
        meta["accumulate"] = str(opts.acc).replace("torch.", "")
    for side, reps in (("A", A), ("B", B)):  # provenance of stores, for reports
        attrs = getattr(reps, "attrs", None)
        if isinstance(attrs, dict) and attrs.get("model_id"):
            meta[f"{side}_model"] = attrs["model_id"]
            if attrs.get("stimulus_set"):
                meta[f"{side}_stimuli"] = attrs["stimulus_set"]

    if spec is None and m.info.input_ndim != 2:
        tensors = [
            m.check_input(np.asarray(x[:]) if is_lazy(x) else x, lab, dt, dev) for x, lab in zip(values_in, opts.labels)
        ]
        sources = [Source(lab, t, t.shape[0], t.shape[-1], False) for t, lab in zip(tensors, opts.labels)]
    else:
        rescale = m.info.scale_invariant_for(p)
        sources = [make_source(x, lab, dt, dev, not use_stream, rescale) for x, lab in zip(values_in, opts.labels)]
    n = check_rows(sources)
    meta["n_stimuli"] = n
    la = len(rows)

    if client is not None:
        from .distributed import dask_pairs, dask_stream

        if spec is not None and (use_stream or spec.in_memory):
            meta["path"] = "dask-stream"
            values = dask_stream(client, spec, sources, la, within, m.info.symmetric_for(p), opts)
        else:
            meta["path"] = "dask-pairs"
            values = dask_pairs(client, m, p, sources, la, within)
    elif use_stream:
        meta["path"] = "stream"
        values = _stream_local(spec, sources, la, within, m.info.symmetric_for(p), opts, meta)
    else:
        values = None
        hook = m.hooks.all_pairs
        if hook is not None:
            A_t = [s.data for s in sources[:la]]
            out = hook(A_t, None if within else [s.data for s in sources[la:]], p, opts)
            if out is not None:
                meta["path"] = "all_pairs"
                values = out.detach().to("cpu", torch.float64).numpy()
        if values is None and spec is not None and spec.in_memory:
            meta["path"] = "moments"
            values = _stream_local(spec, sources, la, within, m.info.symmetric_for(p), opts, meta)
        if values is None:
            meta["path"] = "pairs"
            values = _pairs_local(m, p, sources, la, within)
    for k, s in enumerate(sources):
        if not s.lazy:
            check_comparable(s.data, s.label, m.info.name, m.info.defined_on_constant(p, k < la))
    return ComparisonResult(values, rows, cols, _registry.format_spec(m.info.name, p), p, meta)


def _stream_local(
    spec: moments.StreamSpec,
    sources: list[Source],
    la: int,
    within: bool,
    symmetric: bool,
    opts: moments.Options,
    meta: dict[str, Any],
) -> np.ndarray:
    n = sources[0].n
    chunk = moments.chunk_rows(sources, opts)
    meta["chunk_rows"] = chunk
    shifts = moments.shifts_for(sources, opts, chunk)

    def partial(plan: moments.Plan, tasks: list[moments.Task], first: bool) -> moments.Accumulators:
        return moments.accumulate(sources, shifts, plan, tasks, first, spec.row_norms, opts, (0, n), chunk)

    return moments.run_plan(spec, sources, la, within, symmetric, opts, partial)


def _pairs_local(m: _registry.Measure, p: dict[str, Any], sources: list[Source], la: int, within: bool) -> np.ndarray:
    states = [m.prepare_one(s.data, p) for s in sources]
    sa = states[:la]
    sb = sa if within else states[la:]
    mirror = within and m.info.symmetric_for(p)
    pairs = _pairs.needed(len(sa), len(sb), mirror)
    values = (as_float(m.core(sa[i], sb[j], **p), repr(m.info.name), "compare_all") for i, j in pairs)
    many = len(sa) * len(sb) >= 100
    shown = progress(values, len(pairs), f"{m.info.name}: pairs", "pair", min_total=1 if many else 10**9)
    return _pairs.fill(len(sa), len(sb), pairs, shown, mirror)
