"""Rows for training and evaluation: an in-memory array or one layer of a store, read chunk by chunk.

:class:`Rows` never holds more than one shuffle buffer. The training stream (:meth:`Rows.plan`) is a
pure function of the seed and the step: each pass over the data draws a permutation of the chunks,
groups consecutive chunks of it into buffers of at least ``buffer_rows`` rows, and shuffles the
rows of each buffer; batches are consecutive slices of a shuffled buffer (the remainder of a
buffer smaller than a batch is left out of that pass). So rows from different chunks meet in one
batch, and a resumed run can jump straight to the batch of any step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError, close_matches

_VIRTUAL_CHUNK = 4096  # rows per chunk of an in-memory array


class Rows:
    """The rows of one representation: ``(n, d)``, read in chunks."""

    def __init__(self, data: Any, layer: str | None, name: str = "acts") -> None:
        from ..store.activations import Activations

        self.layer = layer
        if isinstance(data, Activations):
            if layer is None:
                if len(data.names) != 1:
                    raise ReprlabError(f"`layer` is needed: the store has {len(data.names)} layers {data.names}.")
                layer = self.layer = data.names[0]
            if layer not in data.names:
                raise ReprlabError(
                    f"`layer`: the store has no layer {layer!r}.{close_matches(layer, data.names)} "
                    f"Its layers: {data.names}."
                )
            arr = data._arrays[layer]  # the zarr (or NumPy) array itself: read by row ranges, never whole
            chunks = getattr(arr, "chunks", None)
            self.chunk_rows = int(chunks[0]) if chunks else _VIRTUAL_CHUNK
            self.source = f"layer {layer!r} of {data!r}"
        elif isinstance(data, (np.ndarray, torch.Tensor)):
            arr = data.detach().cpu() if isinstance(data, torch.Tensor) else data
            self.chunk_rows = _VIRTUAL_CHUNK
            self.source = f"array of shape {tuple(arr.shape)}"
        elif hasattr(data, "__array__") or isinstance(data, list):
            arr = np.asarray(data)
            self.chunk_rows = _VIRTUAL_CHUNK
            self.source = f"array of shape {tuple(arr.shape)}"
        else:
            raise ReprlabTypeError(
                f"`{name}` must be an array (n_rows, n_features), a torch tensor or an rl.Activations store "
                f"(with `layer`); got {type(data).__name__}."
            )
        if len(arr.shape) != 2:
            raise ReprlabError(f"`{name}` must be 2-D (rows, features); {self.source} is {len(arr.shape)}-D.")
        if not (np.issubdtype(np.dtype(str(arr.dtype).replace("torch.", "")), np.number)):
            raise ReprlabTypeError(f"`{name}` must hold numbers; got dtype {arr.dtype}.")
        self.arr = arr
        self.n, self.d = int(arr.shape[0]), int(arr.shape[1])
        if self.n == 0 or self.d == 0:
            raise ReprlabError(f"`{name}` is empty ({self.source}).")
        self.name = name
        self.n_chunks = -(-self.n // self.chunk_rows)

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` as float32, checked for NaN / Inf."""
        block = self.arr[start:stop]
        t = (
            block.to(torch.float32)
            if isinstance(block, torch.Tensor)
            else torch.from_numpy(np.asarray(block, dtype=np.float32))
        )
        if not bool(torch.isfinite(t.sum())):
            bad = (~torch.isfinite(t)).any(dim=1).nonzero().flatten()
            if len(bad):
                rows = (bad[:5] + start).tolist()
                raise ReprlabError(
                    f"`{self.name}` ({self.source}) has NaN or Inf values in {len(bad)} row(s) of rows "
                    f"{start}..{stop - 1}, e.g. rows {rows}. Drop or repair those rows before training."
                )
        return t

    def blocks(self, rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Consecutive blocks of about ``rows`` rows (whole chunks), in order: (start, block)."""
        step = max(1, rows // self.chunk_rows) * self.chunk_rows
        for a in range(0, self.n, step):
            yield a, self.read(a, min(a + step, self.n))

    def sample(self, rows: int, seed: int) -> torch.Tensor:
        """About ``rows`` rows from chunks drawn at random (for the input scale and mean)."""
        rng = np.random.default_rng([seed, 1])
        want = max(1, -(-rows // self.chunk_rows))
        chunks = np.sort(rng.permutation(self.n_chunks)[:want])
        return torch.cat([self._chunk(int(c)) for c in chunks])

    def _chunk(self, c: int) -> torch.Tensor:
        return self.read(c * self.chunk_rows, min((c + 1) * self.chunk_rows, self.n))

    # --- the shuffled training stream ---------------------------------------------------------

    def _groups(self, epoch: int, seed: int, buffer_rows: int) -> list[list[int]]:
        order = np.random.default_rng([seed, 2, epoch]).permutation(self.n_chunks)
        per = max(1, -(-buffer_rows // self.chunk_rows))
        return [sorted(order[i : i + per].tolist()) for i in range(0, self.n_chunks, per)]

    def _group_rows(self, group: list[int]) -> int:
        return sum(min((c + 1) * self.chunk_rows, self.n) - c * self.chunk_rows for c in group)

    def stream(self, batch_size: int, seed: int, buffer_rows: int, start_step: int = 0) -> Iterator[torch.Tensor]:
        """Endless shuffled batches; the first one is the batch of step ``start_step``."""
        if batch_size > self.n:
            raise ReprlabError(f"`batch_size` ({batch_size}) is larger than the number of rows ({self.n}).")
        buffer_rows = max(buffer_rows, batch_size)
        step, epoch = 0, 0
        while True:
            for g, group in enumerate(self._groups(epoch, seed, buffer_rows)):
                nb = self._group_rows(group) // batch_size
                if step + nb <= start_step:  # skip whole buffers without reading them
                    step += nb
                    continue
                buf = torch.cat([self._chunk(c) for c in group])
                perm = torch.from_numpy(np.random.default_rng([seed, 3, epoch, g]).permutation(len(buf)))
                buf = buf[perm]
                for b in range(nb):
                    if step >= start_step:
                        yield buf[b * batch_size : (b + 1) * batch_size]
                    step += 1
            epoch += 1
