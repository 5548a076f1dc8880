"""Dask back end of :func:`reprlab.compare_all` (``client=`` a ``dask.distributed.Client``).

* Streamable measures: the stimuli are split into row blocks; each representation becomes a dask
  array (``da.from_zarr`` for a zarr store, so workers read their rows straight from the store;
  ``da.from_array`` otherwise); one task per row block accumulates the cross-moments of its rows
  (:func:`reprlab.stream.moments.accumulate`) with the shifts fixed up front, the partial sums are
  added in a binary tree on the cluster, and the client finishes the measure. Each task holds one
  row block of every representation plus the accumulators.
* Other measures: every representation is prepared once on the client, the prepared states are
  scattered to the workers, and one task per pair runs the measure's core.

Workers need reprlab importable and, for stores, the same path or URL readable (a shared file
system or an object store); see docs/engine.md for a multi-machine cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _pairs, _registry
from .._validation import as_float
from ..stream import moments
from ..stream.sources import Source, make_source


def _dask_array(s: Source, rows: int) -> Any:
    import dask.array as da

    if not s.lazy:
        return da.from_array(s.data.detach().cpu().numpy(), chunks=(rows, s.d))
    if type(s.data).__module__.startswith("zarr"):
        return da.from_zarr(s.data, chunks=(rows, s.d))
    return da.from_array(s.data, chunks=(rows, s.d))


def _block_task(
    start: int,
    labels: list[str],
    shifts: list[torch.Tensor],
    plan: moments.Plan,
    tasks: list[moments.Task],
    first: bool,
    row_norms: bool,
    opts: moments.Options,
    chunk: int,
    *blocks: np.ndarray,
) -> moments.Accumulators:
    """Accumulate one row block (runs on a worker); rows are checked here, as in the local path."""
    srcs = [
        make_source(b, f"{lab} rows {start}:{start + b.shape[0]}", opts.dtype, opts.device, load=True)
        for b, lab in zip(blocks, labels)
    ]
    return moments.accumulate(srcs, shifts, plan, tasks, first, row_norms, opts, (0, srcs[0].n), chunk)


def _add(a: moments.Accumulators, b: moments.Accumulators) -> moments.Accumulators:
    return a + b


def dask_stream(
    client: Any,
    spec: moments.StreamSpec,
    sources: list[Source],
    la: int,
    within: bool,
    symmetric: bool,
    opts: moments.Options,
) -> np.ndarray:
    """Cross-moments accumulated over row blocks on the cluster; the measure finished locally."""
    import dask

    n = sources[0].n
    chunk = moments.chunk_rows(sources, opts)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    per_task = max(chunk, -(-n // (2 * workers)))
    per_task = -(-per_task // chunk) * chunk  # whole chunks per task
    shifts = moments.shifts_for(sources, opts, chunk)
    arrays = [_dask_array(s, per_task) for s in sources]
    labels = [s.label for s in sources]
    starts = list(range(0, n, per_task))

    def partial(plan: moments.Plan, tasks: list[moments.Task], first: bool) -> moments.Accumulators:
        parts = [
            dask.delayed(_block_task)(
                a, labels, shifts, plan, tasks, first, spec.row_norms, opts, chunk, *[x.blocks[k] for x in arrays]
            )
            for k, a in enumerate(starts)
        ]
        while len(parts) > 1:
            parts = [
                dask.delayed(_add)(*parts[i : i + 2]) if i + 1 < len(parts) else parts[i]
                for i in range(0, len(parts), 2)
            ]
        return client.compute(parts[0]).result()

    return moments.run_plan(spec, sources, la, within, symmetric, opts, partial)


def _pair_task(name: str, x: Any, y: Any, params: dict[str, Any]) -> float:
    m = _registry.get(name)
    return as_float(m.core(x, y, **params), repr(name), "compare_all")


def dask_pairs(
    client: Any, m: _registry.Measure, p: dict[str, Any], sources: list[Source], la: int, within: bool
) -> np.ndarray:
    """Prepare each representation once, scatter the states, one task per (needed) pair."""
    states = client.scatter([m.prepare_one(s.data, p) for s in sources])
    sa = states[:la]
    sb = sa if within else states[la:]
    mirror = within and m.info.symmetric_for(p)
    pairs = _pairs.needed(len(sa), len(sb), mirror)
    futures = [client.submit(_pair_task, m.info.name, sa[i], sb[j], p, pure=False) for i, j in pairs]
    return _pairs.fill(len(sa), len(sb), pairs, client.gather(futures), mirror)
