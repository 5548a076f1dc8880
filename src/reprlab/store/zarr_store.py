"""Writing the activation store: a zarr directory filled batch by batch, resumable after a crash.

Layout of ``<out>/`` (zarr format 3)::

    zarr.json                  group attributes (below)
    reprlab.json               a copy of the group attributes (restores a damaged zarr.json)
    layers/<layer name>        float array (n_rows, n_features), chunked along rows (stimuli)
    index/<layer name>/stimulus, index/<layer name>/position, index/<layer name>/token
                               int64 arrays, only for pool="none": the stimulus index, the token
                               (or map position) and the token id (-1: none) of every row
    attention/<block name>     float array: each stimulus's (n_heads, n, n) attention over its n real
                               tokens, flattened one stimulus after another (capture="attn")
    tokens/length              int64 (n_stimuli,): real tokens per stimulus (with attention)
    tokens/vocab               the text of every token id of the tokenizer (when rows have token ids)

Attributes: ``reprlab_store`` (format version), ``model_id``, ``model_fingerprint``, ``layers`` (in
network order), ``pooling`` (layer -> pooling), ``stimulus_ids``, ``n_stimuli``, ``dtype``,
``preprocess``, ``capture``, ``attention_layers``, ``attention_heads`` (block -> heads),
``library_version``, ``created`` (UTC, ISO 8601), the progress: ``n_done`` (stimuli whose rows are
written in every layer), ``rows`` (committed rows per layer, and values per ``attention/<block>``),
``complete``, and the integrity record: ``chunk_rows`` (rows per chunk, per layer) and ``chunks``
(per layer, per chunk: its rows and a checksum; see :mod:`reprlab.store.integrity`).

Crash safety: each batch is written to every array first and committed afterwards by one update of
the group attributes (zarr's local store writes every file atomically: a temporary file, then a
rename). A run killed at any point leaves the last committed state readable; a new run with the same
configuration truncates the arrays to the committed rows and continues from ``n_done``, so the store
ends with exactly the rows of an uninterrupted run. A new run also checks every committed chunk and
first re-extracts the stimuli of any chunk that is missing or damaged (:meth:`StoreWriter.batches`).
"""

from __future__ import annotations

import datetime as _dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ReprlabError, require
from .integrity import (
    ATTENTION,
    LENGTHS,
    attention_keys,
    check_layer,
    checked_keys,
    digest,
    is_layer,
    restore_group_metadata,
    value_offsets,
    write_backup,
)

FORMAT_VERSION = 1
# attributes that must agree for a run to resume into an existing store
_IDENTITY = (
    "model_id",
    "model_fingerprint",
    "layers_requested",
    "pooling",
    "capture",
    "attention_layers",
    "stimulus_ids",
    "dtype",
    "preprocess",
)
_CHUNK_BYTES = 1 << 22
_ATTN_CHUNK = 1 << 20
_INDEX = ("stimulus", "position", "token")


def _zarr():
    return require("zarr", "data")


def _is_store(path: Path) -> bool:
    return (path / "zarr.json").exists()


class StoreWriter:
    """Creates or resumes a store and writes batches into it (used by :func:`reprlab.extract`)."""

    def __init__(self, path: str | Path, meta: dict[str, Any], *, chunk_rows: int, overwrite: bool = False) -> None:
        zarr = _zarr()
        self.path = Path(path)
        self.chunk_rows = int(chunk_rows)
        self._open: dict[str, Any] = {}
        if self.path.exists() and overwrite:
            if not _is_store(self.path) and any(self.path.iterdir()):
                raise ReprlabError(
                    f"`out`: {str(self.path)!r} exists and is not an activation store; refusing to delete it. "
                    "Choose another path."
                )
            shutil.rmtree(self.path)
        if self.path.exists() and not _is_store(self.path):
            if self.path.is_dir() and not any(self.path.iterdir()):
                self.path.rmdir()
            else:
                raise ReprlabError(
                    f"`out`: {str(self.path)!r} exists and is not an activation store. Choose another path."
                )
        self.damages: list[Any] = []
        self._groups: list[tuple[int, int, dict[str, list[int]]]] = []
        self._repair_spans: set[tuple[int, int]] = set()
        if _is_store(self.path):
            restore_group_metadata(self.path)
            self.group = zarr.open_group(str(self.path), mode="r+")
            attrs = dict(self.group.attrs)
            self._check_same_run(attrs, meta)
            self.attrs = attrs
            self.damages = [d for name in checked_keys(attrs) for d in check_layer(self.path, self.group, attrs, name)]
            self._truncate_to_committed()
        else:
            self.group = zarr.open_group(str(self.path), mode="w")
            self.attrs = {
                "reprlab_store": FORMAT_VERSION,
                **meta,
                "layers": [],
                "library_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "n_done": 0,
                "rows": {},
                "complete": False,
                "chunk_rows": {},
                "chunks": {},
            }
            self.group.attrs.update(self.attrs)

    @property
    def n_done(self) -> int:
        return int(self.attrs["n_done"])

    @property
    def complete(self) -> bool:
        return bool(self.attrs["complete"])

    @property
    def initialised(self) -> bool:
        """Whether the arrays exist (they are created from the first batch)."""
        return bool(self.attrs["rows"])

    def _check_same_run(self, attrs: dict[str, Any], meta: dict[str, Any]) -> None:
        if attrs.get("reprlab_store") != FORMAT_VERSION:
            raise ReprlabError(f"`out`: {str(self.path)!r} is a zarr store but not a reprlab activation store.")
        diffs = [
            _difference(key, attrs.get(key), meta.get(key)) for key in _IDENTITY if attrs.get(key) != meta.get(key)
        ]
        if diffs:
            raise ReprlabError(
                f"`out`: the store {str(self.path)!r} was written by a different run, so this run cannot resume "
                f"into it. Differences: {'; '.join(diffs)}. Use another `out` path, or overwrite=True "
                "(CLI: --overwrite) to replace it."
            )

    def _truncate_to_committed(self) -> None:
        """Drop rows written after the last commit (a run killed mid-batch), so appends are exact."""
        rows = self.attrs.get("rows", {})
        broken = {d.layer for d in self.damages if d.chunk is None}
        grown = [
            (name, self._arrays(name))
            for name in self.attrs.get("layers", [])
            if self.attrs["pooling"][name] == "none" and name not in broken
        ]
        grown += [
            (ATTENTION + b, [self._array(ATTENTION + b)])
            for b in self.attrs.get("attention_heads", {})
            if ATTENTION + b not in broken
        ]
        for key, arrays in grown:
            n = int(rows.get(key, 0))
            for arr in arrays:
                if arr.shape[0] != n:
                    arr.resize((n, *arr.shape[1:]))

    def _arrays(self, name: str) -> list[Any]:
        if not is_layer(name):
            return [self._array(name)]
        out = [self._array(f"layers/{name}")]
        if self.attrs["pooling"][name] == "none":
            out += [self._array(f"index/{name}/{key}") for key in _INDEX]
        return out

    def _array(self, path: str) -> Any:
        """The array at ``path`` in the group, opened once (a lookup reads its metadata from disk)."""
        if path not in self._open:
            self._open[path] = self.group[path]
        return self._open[path]

    def _token_chunk(self, width: int, dtype: np.dtype) -> int:
        """Rows per chunk of a ``pool="none"`` layer: ~4 MiB chunks at most (logits rows are wide)."""
        return max(1, min(max(self.chunk_rows, 1024), _CHUNK_BYTES // (width * np.dtype(dtype).itemsize)))

    def _create_layer(self, name: str, n: int, width: int, dtype: np.dtype) -> int:
        """Create a layer's arrays with ``n`` rows (and, for ``pool="none"``, its index); its chunk rows."""
        layers = self.group.require_group("layers")
        if self.attrs["pooling"][name] == "none":
            chunk = self._token_chunk(width, dtype)
            layers.create_array(name, shape=(n, width), chunks=(chunk, width), dtype=dtype, overwrite=True)
            idx = self.group.require_group("index").require_group(name)
            for key in _INDEX:
                idx.create_array(key, shape=(n,), chunks=(max(self.chunk_rows, 1024),), dtype="int64", overwrite=True)
        else:
            chunk = max(1, min(self.chunk_rows, int(self.attrs["n_stimuli"])))
            layers.create_array(
                name, shape=(n, width), chunks=(chunk, width), dtype=dtype, fill_value=0, overwrite=True
            )
        return chunk

    def _create_values(self, key: str, n: int, dtype: np.dtype) -> int:
        """Create an attention array (``attention/<block>``, flat, growing) or ``tokens/length``; its chunk size."""
        if key == LENGTHS:
            chunk = max(1, min(self.chunk_rows, n))
            self.group.require_group("tokens").create_array(
                "length", shape=(n,), chunks=(chunk,), dtype="int64", fill_value=0, overwrite=True
            )
            return chunk
        block = key[len(ATTENTION) :]
        self.group.require_group("attention").create_array(
            block, shape=(n,), chunks=(_ATTN_CHUNK,), dtype=dtype, overwrite=True
        )
        return _ATTN_CHUNK

    def ensure_layers(
        self,
        order: list[str],
        widths: dict[str, int],
        dtype: np.dtype,
        *,
        attention_heads: dict[str, int] | None = None,
        vocab: list[str] | None = None,
    ) -> None:
        """Create the arrays once the first batch has shown each layer's width and the network order
        (and, for token-level capture, each block's attention heads and the tokenizer's texts)."""
        self._open.clear()
        n = int(self.attrs["n_stimuli"])
        for name in order:
            rows = 0 if self.attrs["pooling"][name] == "none" else n
            self.attrs.setdefault("chunk_rows", {})[name] = self._create_layer(name, rows, int(widths[name]), dtype)
        heads = dict(attention_heads or {})
        self.attrs["attention_heads"] = heads
        for key in attention_keys(self.attrs):
            self.attrs["chunk_rows"][key] = self._create_values(key, 0 if key != LENGTHS else n, dtype)
        if vocab is not None:
            text = self.group.require_group("tokens").create_array(
                "vocab", shape=(len(vocab),), chunks=(max(1, len(vocab)),), dtype=str, overwrite=True
            )
            text[:] = np.array(vocab, dtype=object)
        self.attrs["layers"] = list(order)
        self.attrs["rows"] = {**{name: 0 for name in order}, **{ATTENTION + b: 0 for b in heads}}
        self.attrs["chunks"] = {name: [] for name in checked_keys(self.attrs)}
        keys = ("layers", "attention_heads", "rows", "chunk_rows", "chunks")
        self.group.attrs.update({k: self.attrs[k] for k in keys})

    def batches(self, batch_size: int) -> list[tuple[int, int]]:
        """The stimulus ranges still to run: first those of damaged chunks, then the rest after ``n_done``.

        A damaged chunk's stimuli are re-run in the batches of the original run (multiples of
        ``batch_size``), so a repaired store holds the values of an undamaged one to the bit.
        """
        n = int(self.attrs["n_stimuli"])
        wanted: list[tuple[int, int, str, int]] = []
        for d in self.damages:
            records = self.attrs["chunks"][d.layer]
            for k in [d.chunk] if d.chunk is not None else range(len(records)):
                s0, s1 = int(records[k][2]), int(records[k][3]) + 1
                lo, hi = s0 // batch_size * batch_size, min(-(-s1 // batch_size) * batch_size, n)
                wanted.append((lo, hi, d.layer, k))
        self._groups = []  # (start, stop, {layer: [chunks]}), disjoint
        for lo, hi, layer, k in sorted(wanted):
            if self._groups and lo < self._groups[-1][1]:
                g0, g1, chunks = self._groups[-1]
                self._groups[-1] = (g0, max(g1, hi), chunks)
            else:
                self._groups.append((lo, hi, {}))
            self._groups[-1][2].setdefault(layer, []).append(k)
        self._parts: dict[tuple[int, int], list[Any]] = {}
        spans = []
        for g0, g1, _ in self._groups:
            spans += [(b0, min(b0 + batch_size, g1)) for b0 in range(g0, g1, batch_size)]
        self._repair_spans = set(spans)
        rest = [(b0, min(b0 + batch_size, n)) for b0 in range(self.n_done, n, batch_size)]
        return spans + rest

    def _record(
        self,
        name: str,
        r0: int,
        r1: int,
        batch_stim: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
        first_stimulus: int = 0,
    ) -> None:
        """Checksum the chunks holding rows ``r0:r1`` of ``name`` as they now read back from the store.

        For an attention array the rows are value offsets: ``offsets`` are the first value of each
        stimulus of the batch written (the first of them ``first_stimulus``), then the end; a chunk
        already recorded (extended, or repaired) keeps its first stimulus."""
        chunk = int(self.attrs["chunk_rows"][name])
        records = self.attrs["chunks"][name]
        arrays = self._arrays(name)
        token = is_layer(name) and self.attrs["pooling"][name] == "none"
        for k in range(r0 // chunk, (r1 - 1) // chunk + 1):
            c0, c1 = k * chunk, min((k + 1) * chunk, r1)
            if k < len(records):
                c1 = max(c1, int(records[k][1]))
            parts = [np.asarray(a[c0:c1]) for a in arrays]
            if name.startswith(ATTENTION):
                if offsets is None:  # a repair: the same values as recorded
                    s0, s1, s0_row = (int(v) for v in records[k][2:5])
                else:
                    first, last = np.searchsorted(offsets, [c0, c1 - 1], side="right") - 1
                    s1 = first_stimulus + int(last)
                    if k < len(records):
                        s0, s0_row = int(records[k][2]), int(records[k][4])
                    else:
                        s0, s0_row = first_stimulus + int(first), int(offsets[first])
            elif token:
                s0, s1 = int(parts[1][0]), int(parts[1][-1])
                if k < len(records):
                    s0_row = int(records[k][4])
                else:
                    s0_row = r0 + int(np.searchsorted(batch_stim, s0))
            else:
                s0, s1, s0_row = c0, c1 - 1, c0
            rec = [c0, c1, s0, s1, s0_row, digest(*parts)]
            if k < len(records):
                records[k] = rec
            else:
                records.append(rec)

    def _collect_repair(self, start: int, stop: int, batch: dict[str, Any]) -> None:
        """Keep a batch of a damaged group's stimuli; once the group is complete, rewrite its chunks."""
        g0, g1, chunks = next(g for g in self._groups if g[0] <= start < g[1])
        self._parts[(start, stop)] = [batch[name] for name in chunks]  # attention: (values, lengths)
        if stop < g1:
            return
        parts = [self._parts.pop(span) for span in sorted(s for s in self._parts if g0 <= s[0] < g1)]
        starts = sorted(s[0] for s in self._repair_spans if g0 <= s[0] < g1)
        self._groups.remove((g0, g1, chunks))
        for i, (name, ks) in enumerate(chunks.items()):
            pieces = [p[i] for p in parts]
            if name.startswith(ATTENTION):
                value: Any = tuple(np.concatenate([p[j] for p in pieces]) for j in range(2))
            elif isinstance(pieces[0], tuple):
                value: Any = tuple(
                    np.concatenate([p[j] + (b0 - g0 if j == 1 else 0) for p, b0 in zip(pieces, starts)])
                    for j in range(len(pieces[0]))
                )
            else:
                value = np.concatenate(pieces)
            self._repair(name, ks, g0, value)
        self._commit(dict(self.attrs["rows"]), self.n_done)

    def _repair(self, name: str, ks: list[int], start: int, value: Any) -> None:
        """Rewrite chunks ``ks`` of ``name`` from the outputs of stimuli ``start:...`` and record them again."""
        data = value[0] if isinstance(value, tuple) else value
        if any(d.layer == name and d.chunk is None for d in self.damages):
            self._open.clear()
            if not is_layer(name):
                n = int(self.attrs["rows"][name]) if name != LENGTHS else int(self.attrs["n_stimuli"])
                self._create_values(name, n, data.dtype)
            else:
                pooled = self.attrs["pooling"][name] != "none"
                n = int(self.attrs["n_stimuli"]) if pooled else int(self.attrs["rows"][name])
                self._create_layer(name, n, data.shape[1], data.dtype)
            self.damages = [d for d in self.damages if not (d.layer == name and d.chunk is None)]
        for k in ks:
            r0, r1, s0, _, s0_row, _ = self.attrs["chunks"][name][k]
            if name.startswith(ATTENTION):  # value: the stimuli's attention values and real-token counts
                heads = int(self.attrs["attention_heads"][name[len(ATTENTION) :]])
                first = int(value_offsets(value[1], heads)[s0 - start])  # stimulus s0's first value in ``value``
                self._array(name)[r0:r1] = value[0][first + r0 - s0_row : first + r1 - s0_row]
            elif isinstance(value, tuple):
                first = int(np.searchsorted(value[1], s0 - start))  # first row of stimulus s0 in ``value``
                take = slice(first + r0 - s0_row, first + r1 - s0_row)
                offsets = (0, start, 0, 0)  # stimulus numbers in ``value`` count from ``start``
                for arr, v, off in zip(self._arrays(name), value, offsets):
                    arr[r0:r1] = v[take] + off if off else v[take]
            else:
                self._arrays(name)[0][r0:r1] = value[r0 - start : r1 - start]
            self._record(name, r0, r1)

    def write_batch(
        self,
        start: int,
        stop: int,
        batch: dict[str, Any],
        attention: dict[str, np.ndarray] | None = None,
        lengths: np.ndarray | None = None,
    ) -> None:
        """Write the rows of stimuli ``start:stop`` of every layer (and their attention), then commit them.

        A batch of stimuli already written (a damaged chunk's, see :meth:`batches`) repairs those chunks;
        its attention values are already stored and are not written again.
        """
        if start < self.n_done and (start, stop) in self._repair_spans:
            extra = {ATTENTION + b: (v, lengths) for b, v in (attention or {}).items()}
            self._collect_repair(start, stop, {**batch, **extra, LENGTHS: lengths})
            return
        if start != self.n_done:
            raise RuntimeError(f"batch starts at {start} but the store has {self.n_done} stimuli")  # pragma: no cover
        rows = dict(self.attrs["rows"])
        for name in self.attrs["layers"]:
            value = batch[name]
            if self.attrs["pooling"][name] == "none":
                data, stim, pos, tok = value
                r0 = rows[name]
                rows[name] = self._append(self._arrays(name), r0, (data, stim + start, pos, tok))
                if rows[name] > r0:
                    self._record(name, r0, rows[name], stim + start)
            else:
                self._array(f"layers/{name}")[start:stop] = value
                rows[name] = stop
                self._record(name, start, stop)
        # a store begun before the attention arrays had records (resumed by this version) stays unrecorded
        recorded = LENGTHS in self.attrs["chunks"]
        if lengths is not None and attention:
            self._array(LENGTHS)[start:stop] = lengths
            if recorded:
                self._record(LENGTHS, start, stop)
        for block, values in (attention or {}).items():
            key = ATTENTION + block
            r0 = rows[key]
            rows[key] = self._append([self._array(key)], r0, (values,))
            if recorded and rows[key] > r0:
                offsets = r0 + value_offsets(lengths, int(self.attrs["attention_heads"][block]))
                self._record(key, r0, rows[key], offsets=offsets, first_stimulus=start)
        self._commit(rows, stop)

    @staticmethod
    def _append(arrays: list[Any], r0: int, values: tuple[np.ndarray, ...]) -> int:
        """Grow ``arrays`` and write ``values`` at rows ``r0:``; the new row count."""
        r1 = r0 + values[0].shape[0]
        for arr, v in zip(arrays, values):
            arr.resize((r1, *arr.shape[1:]))
            arr[r0:r1] = v
        return r1

    def _commit(self, rows: dict[str, int], n_done: int) -> None:
        """Record that ``n_done`` stimuli (``rows`` rows per layer) are written: one atomic file write."""
        complete = n_done == int(self.attrs["n_stimuli"])
        update = {"rows": rows, "n_done": n_done, "complete": complete, "chunks": self.attrs["chunks"]}
        self.group.attrs.update(update)
        self.attrs.update(update)
        write_backup(self.path, self.attrs)


def _difference(key: str, old: Any, new: Any) -> str:
    """One differing field of a refused resume, short: the first differing entry of a long value."""
    key = "stimuli (stimulus_ids)" if key == "stimulus_ids" else key
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{key} (store: {len(old)} entries; this run: {len(new)})"
        i = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
        return f"{key} (entry {i}: store {old[i]!r}; this run {new[i]!r})"
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) ^ set(new)) or sorted(k for k in old if old[k] != new[k])
        k = keys[0]
        return f"{key} (at {k!r}: store {old.get(k)!r}; this run {new.get(k)!r})"
    return f"{key} (store: {old!r}; this run: {new!r})"
