"""Writing the activation store: a zarr directory filled batch by batch, resumable after a crash.

Layout of ``<out>/`` (zarr format 3)::

    zarr.json                  group attributes (below)
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
``library_version``, ``created`` (UTC, ISO 8601), and the progress: ``n_done`` (stimuli whose rows
are written in every layer), ``rows`` (committed rows per layer, and values per ``attention/<block>``),
``complete``.

Crash safety: each batch is written to every array first and committed afterwards by one update of
the group attributes (zarr's local store writes every file atomically: a temporary file, then a
rename). A run killed at any point leaves the last committed state readable; a new run with the same
configuration truncates the arrays to the committed rows and continues from ``n_done``, so the store
ends with exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import datetime as _dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ReprlabError, require

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
_ATTENTION = "attention/"  # prefix of the attention arrays' keys in ``rows``
_CHUNK_BYTES = 1 << 22
_ATTN_CHUNK = 1 << 20


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
        if _is_store(self.path):
            self.group = zarr.open_group(str(self.path), mode="r+")
            attrs = dict(self.group.attrs)
            self._check_same_run(attrs, meta)
            self.attrs = attrs
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
        diffs = []
        for key in _IDENTITY:
            old, new = attrs.get(key), meta.get(key)
            if old != new:
                if key == "stimulus_ids":
                    diffs.append(f"stimuli ({len(old or [])} stored ids vs {len(new or [])} now, or a different order)")
                else:
                    diffs.append(f"{key} (store: {old!r}; this run: {new!r})")
        if diffs:
            raise ReprlabError(
                f"`out`: the store {str(self.path)!r} was written by a different run, so this run cannot resume "
                f"into it. Differences: {'; '.join(diffs)}. Use another `out` path, or overwrite=True "
                "(CLI: --overwrite) to replace it."
            )

    def _truncate_to_committed(self) -> None:
        """Drop rows written after the last commit (a run killed mid-batch), so appends are exact."""
        rows = self.attrs.get("rows", {})
        grown = [
            (name, self._arrays(name)) for name in self.attrs.get("layers", []) if self.attrs["pooling"][name] == "none"
        ]
        grown += [(_ATTENTION + b, [self._array(_ATTENTION + b)]) for b in self.attrs.get("attention_heads", {})]
        for key, arrays in grown:
            n = int(rows.get(key, 0))
            for arr in arrays:
                if arr.shape[0] != n:
                    arr.resize((n, *arr.shape[1:]))

    def _arrays(self, name: str) -> list[Any]:
        out = [self._array(f"layers/{name}")]
        if self.attrs["pooling"][name] == "none":
            out += [self._array(f"index/{name}/{key}") for key in ("stimulus", "position", "token")]
        return out

    def _array(self, path: str) -> Any:
        """The array at ``path`` in the group, opened once (a lookup reads its metadata from disk)."""
        if path not in self._open:
            self._open[path] = self.group[path]
        return self._open[path]

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
        layers = self.group.require_group("layers")
        n = int(self.attrs["n_stimuli"])
        for name in order:
            d = int(widths[name])
            if self.attrs["pooling"][name] == "none":  # ~4 MiB chunks at most: logits rows are wide
                chunk = max(1, min(max(self.chunk_rows, 1024), _CHUNK_BYTES // (d * np.dtype(dtype).itemsize)))
                layers.create_array(name, shape=(0, d), chunks=(chunk, d), dtype=dtype, overwrite=True)
                idx = self.group.require_group("index").require_group(name)
                for key in ("stimulus", "position", "token"):
                    idx.create_array(
                        key, shape=(0,), chunks=(max(self.chunk_rows, 1024),), dtype="int64", overwrite=True
                    )
            else:
                chunk = max(1, min(self.chunk_rows, n))
                layers.create_array(name, shape=(n, d), chunks=(chunk, d), dtype=dtype, fill_value=0, overwrite=True)
        heads = dict(attention_heads or {})
        if heads:
            attn = self.group.require_group("attention")
            for block in heads:
                attn.create_array(block, shape=(0,), chunks=(_ATTN_CHUNK,), dtype=dtype, overwrite=True)
            tokens = self.group.require_group("tokens")
            tokens.create_array(
                "length",
                shape=(n,),
                chunks=(max(1, min(self.chunk_rows, n)),),
                dtype="int64",
                fill_value=0,
                overwrite=True,
            )
        if vocab is not None:
            text = self.group.require_group("tokens").create_array(
                "vocab", shape=(len(vocab),), chunks=(max(1, len(vocab)),), dtype=str, overwrite=True
            )
            text[:] = np.array(vocab, dtype=object)
        self.attrs["layers"] = list(order)
        self.attrs["attention_heads"] = heads
        self.attrs["rows"] = {**{name: 0 for name in order}, **{_ATTENTION + b: 0 for b in heads}}
        self.group.attrs.update({k: self.attrs[k] for k in ("layers", "attention_heads", "rows")})

    def write_batch(
        self,
        start: int,
        stop: int,
        batch: dict[str, Any],
        attention: dict[str, np.ndarray] | None = None,
        lengths: np.ndarray | None = None,
    ) -> None:
        """Write the rows of stimuli ``start:stop`` of every layer (and their attention), then commit them."""
        if start != self.n_done:
            raise RuntimeError(f"batch starts at {start} but the store has {self.n_done} stimuli")  # pragma: no cover
        rows = dict(self.attrs["rows"])
        for name in self.attrs["layers"]:
            value = batch[name]
            if self.attrs["pooling"][name] == "none":
                data, stim, pos, tok = value
                rows[name] = self._append(self._arrays(name), rows[name], (data, stim + start, pos, tok))
            else:
                self._array(f"layers/{name}")[start:stop] = value
                rows[name] = stop
        for block, values in (attention or {}).items():
            key = _ATTENTION + block
            rows[key] = self._append([self._array(key)], rows[key], (values,))
        if lengths is not None:
            self._array("tokens/length")[start:stop] = lengths
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
        self.group.attrs.update({"rows": rows, "n_done": n_done, "complete": complete})
        self.attrs.update({"rows": rows, "n_done": n_done, "complete": complete})
