"""``reprlab.Activations``: layer name -> activation array, in memory or read lazily from a store.

An ``Activations`` is a read-only ``Mapping[str, numpy.ndarray]``, so it goes wherever a mapping of
representations does (``reprlab.compare_all(acts, "cka")``). Opened from a store, nothing is read
until a layer is asked for, and then only that layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import ReprlabError, close_matches, require
from .integrity import ATTENTION, LENGTHS, CheckedLayer, attention_keys, value_offsets


class TokenIndex(NamedTuple):
    """Where each row of a ``pool="none"`` layer comes from (one entry per row).

    ``stimulus``: index into ``Activations.ids``; ``position``: the token's index among the real
    tokens of its stimulus (for feature maps, the flat position ``y * W + x``); ``token_id``: the
    input token id (-1 where the row is no input token); ``token``: its text as the tokenizer decodes
    it (e.g. ``" Paris"``), or ``None`` when the tokenizer is unknown.
    """

    stimulus: np.ndarray
    position: np.ndarray
    token_id: np.ndarray
    token: np.ndarray | None


class Activations(Mapping):
    """Activations of several layers for the same stimuli.

    Attributes
    ----------
    names : list[str]
        Layer names in network order.
    ids : list[str]
        Stimulus ids, in row order (for ``pool="none"`` layers: the stimuli, not the rows).
    attrs : dict
        Provenance: model id, pooling per layer, library version, creation time, ...
    path : pathlib.Path or None
        The store directory, when the activations live on disk.
    attention_layers : list[str]
        The blocks whose attention probabilities were kept (``capture="attn"``).
    """

    def __init__(
        self,
        arrays: Mapping[str, Any],
        ids: Sequence[str],
        attrs: Mapping[str, Any] | None = None,
        index: Mapping[str, tuple[Any, ...]] | None = None,
        path: Path | None = None,
        *,
        attention: Mapping[str, tuple[Any, Any, int]] | None = None,
        vocab: Any = None,
    ) -> None:
        self._arrays = dict(arrays)
        self.names = list(self._arrays)
        self.ids = [str(i) for i in ids]
        self.attrs = dict(attrs or {})
        self._index = dict(index or {})
        self.path = path
        self._attention = dict(attention or {})  # block -> (flat values, real tokens per stimulus, heads)
        self.attention_layers = list(self._attention)
        self._vocab = vocab  # token id -> text: a sequence indexed by id, or a mapping

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Activations:
        """Open a store written by :func:`reprlab.extract` (``out=...``) without reading any layer.

        Raises when the directory is not a store or its extraction has not finished (run the same
        ``reprlab.extract`` call again to resume it).
        """
        from .integrity import Damage, damage_error, open_arrays, read_attrs

        zarr = require("zarr", "data")
        p = Path(path)
        if not (p / "zarr.json").exists():
            raise ReprlabError(f"{str(p)!r} is not an activation store (no zarr.json). Write one with reprlab.extract.")
        attrs = read_attrs(p)
        if "reprlab_store" not in attrs:
            raise ReprlabError(f"{str(p)!r} is a zarr store but not a reprlab activation store.")
        if not attrs.get("complete"):
            raise ReprlabError(
                f"The store {str(p)!r} is incomplete ({attrs.get('n_done', 0)} of {attrs.get('n_stimuli')} stimuli): "
                "its extraction was interrupted. Run the same reprlab.extract call (or `reprlab extract`) again "
                "to resume it."
            )
        group = zarr.open_group(str(p), mode="r")
        arrays: dict[str, CheckedLayer] = {}
        index: dict[str, tuple[Any, ...]] = {}
        records = attrs.get("chunks")  # absent in stores written before checksums were recorded
        for name in attrs["layers"]:
            opened = open_arrays(group, name, attrs["pooling"][name] == "none")
            if isinstance(opened, str):
                rows = (0, int(attrs["rows"][name]))
                raise damage_error(p, [Damage(name, None, rows, (0, int(attrs["n_stimuli"]) - 1), opened)], None)
            arr, idx = opened
            layer_records = None if records is None else records[name]
            arrays[name] = CheckedLayer(p, name, arr, idx, layer_records, attrs["stimulus_ids"])
            if idx:
                index[name] = tuple(idx)
        heads = attrs.get("attention_heads") or {}
        checked: dict[str, CheckedLayer] = {}
        for key in attention_keys(attrs):
            opened = open_arrays(group, key, False)
            if isinstance(opened, str):
                raise damage_error(p, [Damage(key, None, (0, 0), (0, int(attrs["n_stimuli"]) - 1), opened)], None)
            key_records = None if records is None else records.get(key)
            checked[key] = CheckedLayer(p, key, opened[0], [], key_records, attrs["stimulus_ids"])
        attention = {b: (checked[ATTENTION + b], checked[LENGTHS], int(h)) for b, h in heads.items()}
        vocab = group["tokens"]["vocab"] if "tokens" in group and "vocab" in group["tokens"] else None
        return cls(arrays, attrs["stimulus_ids"], attrs, index, path=p, attention=attention, vocab=vocab)

    # --- mapping ------------------------------------------------------------------------------

    def _check(self, name: str) -> str:
        if name not in self._arrays:
            raise KeyError(f"no layer {name!r}.{close_matches(name, self.names)} Layers: {self.names}")
        return name

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self._arrays[self._check(name)][...])

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Activations({len(self.names)} layers, {len(self.ids)} stimuli{where})"

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a layer's array, without reading it."""
        return tuple(self._arrays[self._check(name)].shape)

    def index(self, name: str) -> TokenIndex:
        """For a ``pool="none"`` layer: the stimulus (index into ``ids``), position, token id and
        token text of every row (a :class:`TokenIndex`)."""
        if name not in self._index:
            raise ReprlabError(
                f"Layer {self._check(name)!r} has one row per stimulus; only pool='none' layers have a row index."
            )
        stim, pos, *tok = (np.asarray(a[...]) for a in self._index[name])
        token_id = tok[0] if tok else np.full(len(stim), -1, dtype=np.int64)
        return TokenIndex(stim, pos, token_id, self._texts(token_id))

    def _texts(self, token_id: np.ndarray) -> np.ndarray | None:
        if self._vocab is None or not (token_id >= 0).any():
            return None
        if isinstance(self._vocab, Mapping):
            lookup = self._vocab
        else:
            if not isinstance(self._vocab, np.ndarray):
                self._vocab = np.asarray(self._vocab[...], dtype=object)
            lookup = self._vocab
        return np.array([lookup[int(t)] if t >= 0 else "" for t in token_id], dtype=object)

    def attention(self, layer: str, stimulus: int | str) -> np.ndarray:
        """The attention probabilities of block ``layer`` for one stimulus (its index or id):
        ``(n_heads, n, n)`` over its ``n`` real tokens, queries x keys (``capture="attn"``)."""
        if layer not in self._attention:
            kept = self.attention_layers or "none (extract with capture=(..., 'attn'))"
            raise ReprlabError(
                f"No attention kept for {layer!r}.{close_matches(str(layer), self.attention_layers)} Blocks with "
                f"attention: {kept}."
            )
        i = self._stimulus_number(stimulus)
        values, lengths, heads = self._attention[layer]
        n = np.asarray(lengths[...], dtype=np.int64)
        offsets = value_offsets(n, heads)
        return np.asarray(values[int(offsets[i]) : int(offsets[i + 1])]).reshape(heads, n[i], n[i])

    def _stimulus_number(self, stimulus: int | str) -> int:
        if isinstance(stimulus, str):
            if stimulus not in self.ids:
                raise ReprlabError(f"`stimulus`: no stimulus with id {stimulus!r}.{close_matches(stimulus, self.ids)}")
            return self.ids.index(stimulus)
        if isinstance(stimulus, (int, np.integer)) and not isinstance(stimulus, bool) and 0 <= stimulus < len(self.ids):
            return int(stimulus)
        raise ReprlabError(f"`stimulus` must be an id or an index in 0..{len(self.ids) - 1}; got {stimulus!r}.")

    # --- selections -----------------------------------------------------------------------------

    def subset(self, ids: Sequence[Any]) -> Activations:
        """The rows of the stimuli ``ids`` (in that order), in memory."""
        where = {s: i for i, s in enumerate(self.ids)}
        wanted = [str(i) for i in ids]
        missing = [i for i in wanted if i not in where]
        if missing:
            raise ReprlabError(
                f"`ids`: {len(missing)} id(s) are not in these activations, e.g. {missing[:3]}."
                f"{close_matches(missing[0], self.ids)}"
            )
        rows = np.array([where[i] for i in wanted], dtype=np.int64)
        arrays: dict[str, np.ndarray] = {}
        index: dict[str, tuple[np.ndarray, ...]] = {}
        for name in self.names:
            if name in self._index:
                stim, pos, tok, _ = self.index(name)
                by_stim = np.argsort(stim, kind="stable")  # token rows grouped by stimulus
                starts = np.searchsorted(stim[by_stim], rows, side="left")
                stops = np.searchsorted(stim[by_stim], rows, side="right")
                take = np.concatenate([by_stim[a:b] for a, b in zip(starts, stops)])
                arrays[name] = self[name][take]
                index[name] = (np.repeat(np.arange(len(rows)), stops - starts), pos[take], tok[take])
            else:
                arr = self._arrays[name]
                # a store layer reads (and checks) only the chunks holding these rows
                arrays[name] = arr[rows] if isinstance(arr, CheckedLayer) else np.asarray(arr)[rows]
        attention = {}
        for block in self.attention_layers:
            blocks = [self.attention(block, int(r)) for r in rows]
            lengths = np.array([b.shape[1] for b in blocks], dtype=np.int64)
            attention[block] = (np.concatenate([b.reshape(-1) for b in blocks]), lengths, self._attention[block][2])
        return Activations(arrays, wanted, self.attrs, index, attention=attention, vocab=self._vocab)

    def to_dask(self) -> dict[str, Any]:
        """Each layer as a ``dask.array`` (chunked as stored), for computations larger than memory."""
        da = require("dask.array", "dask", "dask")
        out = {}
        for name in self.names:
            arr = self._arrays[name]
            if isinstance(arr, CheckedLayer):  # a store layer: each dask chunk is read and checked
                out[name] = da.from_array(arr, chunks=arr.chunks, asarray=True, fancy=False)
            else:
                out[name] = da.from_array(np.asarray(arr))
        return out
