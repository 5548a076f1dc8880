"""Store integrity: what the writer records about every chunk, and the check every read makes.

A zarr store silently reads a missing chunk file as its fill value (zeros), and a truncated or
garbled file surfaces as a codec or JSON error far from its cause. So the writer records, in the
store's own metadata (group attribute ``chunks``), for every chunk of every layer the rows it holds
and a checksum of their values, and every read of a layer (:class:`CheckedLayer`) verifies the
chunks it touches. A chunk that is missing, unreadable or different from what was written is a
:class:`~reprlab.errors.ReprlabError` naming the layer, the rows and the repair: re-running the same
``extract`` re-extracts only those rows (:meth:`StoreWriter.batches`).

Record of chunk ``k`` of a layer: ``[r0, r1, s0, s1, s0_row, digest]``: rows ``r0:r1``, the first and
last stimulus (index into ``stimulus_ids``) with rows in it, the first row of stimulus ``s0`` (for
``pool="none"`` layers a chunk can start in the middle of a stimulus's tokens) and the BLAKE2b-128
digest of the rows' values (with, for ``pool="none"`` layers, their stimulus, position and token-id
index). The attention values of ``capture="attn"`` (``attention/<block>``, one flat array) and the
real-token counts behind them (``tokens/length``) are recorded the same way: their "rows" are value
offsets and stimuli, ``s0_row`` the offset of stimulus ``s0``'s first value.

The group attributes are also copied to ``reprlab.json`` after each commit, so a damaged
``zarr.json`` can be restored by the next run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReprlabError, require

BACKUP = "reprlab.json"
ATTENTION = "attention/"  # a block's attention values: ``attention/<block>``
LENGTHS = "tokens/length"  # real tokens per stimulus, behind the attention values


def is_layer(key: str) -> bool:
    """Whether a checked key is a layer (else one of the attention arrays)."""
    return not (key.startswith(ATTENTION) or key == LENGTHS)


def attention_keys(attrs: dict[str, Any]) -> list[str]:
    """The checked keys of the attention arrays (``attention/<block>`` and ``tokens/length``)."""
    heads = attrs.get("attention_heads") or {}
    return [ATTENTION + b for b in heads] + ([LENGTHS] if heads else [])


def checked_keys(attrs: dict[str, Any]) -> list[str]:
    """Every key with chunk records: the layers, then the attention arrays."""
    return list(attrs.get("layers", [])) + attention_keys(attrs)


def array_path(key: str) -> str:
    """Where a checked key's values live in the group."""
    return key if not is_layer(key) else f"layers/{key}"


def value_offsets(lengths: np.ndarray, heads: int) -> np.ndarray:
    """Offsets of each stimulus's attention values in the flat array: ``heads * n**2`` values each."""
    n = np.asarray(lengths, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(heads * n * n)])


def digest(*parts: np.ndarray) -> str:
    """BLAKE2b-128 of the arrays' values (C order), as hex."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        a = np.ascontiguousarray(p)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def repair_hint(path: Path) -> str:
    return (
        f"To repair it, run the same extraction again with out={str(path)!r} (Python: rl.extract(...); "
        f"CLI: `reprlab extract ... --out {path}`): it re-extracts only the damaged rows. "
        f"`reprlab verify {path}` lists every damaged part of the store."
    )


@dataclass(frozen=True)
class Damage:
    """One damaged part of a store: a chunk of a layer (``chunk`` set) or a whole layer."""

    layer: str
    chunk: int | None
    rows: tuple[int, int]
    stimuli: tuple[int, int]
    what: str

    def describe(self, ids: list[str] | None = None) -> str:
        kind = "layer" if is_layer(self.layer) else "array"
        part = f"chunk {self.chunk}" if self.chunk is not None else f"the whole {kind}"
        unit = "values" if self.layer.startswith(ATTENTION) else "rows"
        s0, s1 = self.stimuli
        names = f" ({ids[s0]!r} .. {ids[s1]!r})" if ids and 0 <= s0 <= s1 < len(ids) else ""
        return (
            f"{kind} {self.layer!r}, {part}: {unit} {self.rows[0]}-{self.rows[1] - 1}, "
            f"stimuli {s0}-{s1}{names}: {self.what}"
        )


def damage_error(path: Path, damages: list[Damage], ids: list[str] | None) -> ReprlabError:
    listed = "; ".join(d.describe(ids) for d in damages[:5])
    more = f" (and {len(damages) - 5} more)" if len(damages) > 5 else ""
    return ReprlabError(f"The activation store {str(path)!r} is damaged: {listed}{more}. {repair_hint(path)}")


def _parse_group_json(file: Path) -> dict[str, Any]:
    doc = json.loads(file.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("attributes"), dict):
        raise ValueError("no attributes")
    return doc["attributes"]


def read_attrs(path: Path) -> dict[str, Any]:
    """The store's group attributes from ``zarr.json``; a clear error when that file is damaged."""
    try:
        return _parse_group_json(path / "zarr.json")
    except (ValueError, UnicodeDecodeError) as exc:
        backup = path / BACKUP
        fix = (
            f"A copy of the metadata is in {BACKUP}: {repair_hint(path)}"
            if backup.exists()
            else "No copy of the metadata exists (a store written before reprlab kept one): re-extract it "
            "(overwrite=True, CLI: --overwrite)."
        )
        raise ReprlabError(
            f"The activation store {str(path)!r} is damaged: its metadata file zarr.json cannot be read "
            f"({type(exc).__name__}: {exc}). {fix}"
        ) from None


def restore_group_metadata(path: Path) -> bool:
    """Rewrite a damaged ``zarr.json`` from the ``reprlab.json`` copy; True when it did."""
    try:
        _parse_group_json(path / "zarr.json")
        return False
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        attrs = json.loads((path / BACKUP).read_text())
    except (OSError, ValueError):
        return False
    doc = {"attributes": attrs, "zarr_format": 3, "node_type": "group"}
    tmp = path / "zarr.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path / "zarr.json")
    return True


def write_backup(path: Path, attrs: dict[str, Any]) -> None:
    tmp = path / (BACKUP + ".tmp")
    tmp.write_text(json.dumps(attrs))
    tmp.replace(path / BACKUP)


def open_arrays(group: Any, name: str, token_rows: bool) -> tuple[Any, list[Any]] | str:
    """The layer's (or attention array's) array and (``pool="none"``) its index arrays, or why they
    cannot be opened."""
    try:
        arr = group[array_path(name)]
        keys = ("stimulus", "position", "token")
        index = [group["index"][name][k] for k in keys if k in group["index"][name]] if token_rows else []
        return arr, index
    except KeyError:
        return "its folder (or its index folder) is missing"
    except Exception as exc:  # a damaged zarr.json of the array: JSON, codec or shape errors
        return f"its array metadata cannot be read ({type(exc).__name__}: {exc})"


class CheckedLayer:
    """A layer of a store read chunk by chunk, each chunk checked against its record before use.

    Supports what readers use: ``shape``, ``dtype``, ``ndim``, ``chunks``, ``layer[...]``, row slices,
    integer row arrays (``layer[rows]``), and a column key after the rows (``layer[a:b, cols]``).
    """

    def __init__(
        self, path: Path, name: str, arr: Any, index: list[Any], records: list[list[Any]] | None, ids: list[str]
    ) -> None:
        self.path, self.name, self._arr, self._index = path, name, arr, index
        self._records, self._ids = records, ids
        self._file = path / array_path(name) / "c"
        self.shape = tuple(arr.shape)
        self.dtype = arr.dtype
        self.ndim = len(self.shape)
        self.chunks = tuple(arr.chunks)
        self._cache: dict[int, np.ndarray] = {}

    def damage(self, k: int) -> Damage | None:
        """Why chunk ``k`` cannot be trusted, or None (and its rows are then cached for this read)."""
        r0, r1, s0, s1, _, want = self._records[k]
        chunk_file = self._file / str(k) / "0" if len(self.shape) == 2 else self._file / str(k)
        missing = not chunk_file.exists()
        try:
            rows = np.asarray(self._arr[r0:r1])
            parts = [rows] + [np.asarray(a[r0:r1]) for a in self._index]
        except Exception as exc:  # a garbled or truncated chunk file fails in its codec
            what = (
                "its chunk file is missing" if missing else f"its chunk file cannot be decoded ({type(exc).__name__})"
            )
            return Damage(self.name, k, (r0, r1), (s0, s1), what)
        if digest(*parts) != want:
            what = (
                "its chunk file is missing (it would read as zeros)"
                if missing
                else "its values differ from those written (checksum mismatch)"
            )
            return Damage(self.name, k, (r0, r1), (s0, s1), what)
        self._cache[k] = rows
        return None

    def _chunk(self, k: int) -> np.ndarray:
        if k not in self._cache:
            d = self.damage(k)
            if d is not None:
                raise damage_error(self.path, [d], self._ids)
        return self._cache.pop(k)

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._records is None:  # a store written before checksums were recorded
            return np.asarray(self._arr[key])
        if not isinstance(key, tuple):
            key = (key,)
        rowkey, rest = key[0], key[1:]
        n = self.shape[0]
        if rowkey is Ellipsis:
            rowkey, rest = slice(None), (Ellipsis,)
        if isinstance(rowkey, slice):
            idx = np.arange(*rowkey.indices(n))
        else:
            idx = np.asarray(rowkey, dtype=np.int64).reshape(-1)
            idx = np.where(idx < 0, idx + n, idx)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise IndexError(f"row index out of range for layer {self.name!r} with {n} rows")
        c = self.chunks[0]
        needed = np.unique(idx // c) if idx.size else np.zeros(0, dtype=np.int64)
        parts = [self._chunk(int(k)) for k in needed]
        if parts:
            starts = np.zeros(int(needed.max()) + 1, dtype=np.int64)
            starts[needed] = np.cumsum([0] + [p.shape[0] for p in parts[:-1]])
            out = np.concatenate(parts)[starts[idx // c] + idx % c]
        else:
            out = np.zeros((0, *self.shape[1:]), dtype=self.dtype)
        if np.isscalar(rowkey) or (isinstance(rowkey, np.ndarray) and rowkey.ndim == 0):
            out = out[0]
        return out[(slice(None), *rest)] if rest and rest != (Ellipsis,) else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def check_layer(path: Path, group: Any, attrs: dict[str, Any], name: str) -> list[Damage]:
    """Every damaged part of one layer or attention array (reads and checks all its chunks)."""
    n_rows = int(attrs.get("rows", {}).get(name, 0)) if name != LENGTHS else int(attrs.get("n_done", 0))
    token = is_layer(name) and attrs["pooling"][name] == "none"
    records = attrs.get("chunks", {}).get(name)
    opened = open_arrays(group, name, token)
    if isinstance(opened, str):
        n = int(attrs.get("n_done", 0))
        return [Damage(name, None, (0, n_rows), (0, max(n - 1, 0)), opened)]
    arr, index = opened
    if records is None:
        return []
    if min(a.shape[0] for a in [arr, *index]) < n_rows:
        return [
            Damage(
                name,
                None,
                (0, n_rows),
                (0, int(attrs.get("n_done", 1)) - 1),
                f"its array has {arr.shape[0]} rows where {n_rows} were written",
            )
        ]
    layer = CheckedLayer(path, name, arr, index, records, attrs.get("stimulus_ids", []))
    out = []
    for k in range(len(records)):
        d = layer.damage(k)
        layer._cache.clear()
        if d is not None:
            out.append(d)
    return out


def verify_store(path: str | Path) -> list[Damage]:
    """Check a whole activation store: every layer's (and attention array's) metadata and every chunk
    against its checksum.

    Returns the damaged parts (empty when the store is intact). Raises when the path is not a store
    or its group metadata cannot be read. Re-running the extraction that wrote the store repairs it.
    """
    p = Path(path)
    if not (p / "zarr.json").exists():
        raise ReprlabError(f"{str(p)!r} is not an activation store (no zarr.json). Write one with reprlab.extract.")
    attrs = read_attrs(p)
    if "reprlab_store" not in attrs:
        raise ReprlabError(f"{str(p)!r} is a zarr store but not a reprlab activation store.")
    group = require("zarr", "data").open_group(str(p), mode="r")
    out: list[Damage] = []
    for name in checked_keys(attrs):
        out += check_layer(p, group, attrs, name)
    return out
