"""Stimulus sets that work offline, and user stimuli from files.

>>> import reprlab as rl
>>> stim = rl.stimuli.load("lee50")                   # doctest: +SKIP
>>> stim.items[:1], stim.ids[:1], stim.human_similarity.shape   # doctest: +SKIP

Packaged sets (read at run time from the installed packages; nothing is copied into reprlab, which
matters for gensim's LGPL data files):

==============  =========================================================================================
``lee50``       50 news documents (Lee, Pincombe & Welsh 2005; gensim ``lee.cor``) with the 50 x 50
                human document-similarity matrix (``similarities0-1.txt``, ratings scaled to [0, 1],
                stored upper-triangular and symmetrised here)
``lee300``      the 300 background documents of the same corpus (``lee_background.cor``), as the corpus
                has them: 293 distinct texts (7 documents repeat an earlier one exactly; ``meta
                ["duplicates"]`` maps each repeat's id to the first one's). ``.distinct()`` keeps the
                first of each; measures that need distinct points (TwoNN, MLE, ...) need it or their
                ``duplicates="drop"``
``simlex999``   SimLex-999 (Hill, Reichart & Korhonen 2015): 999 word pairs with mean human similarity
``wordsim353``  WordSim-353 (Finkelstein et al. 2002): 353 word pairs with mean human relatedness
``digits``      scikit-learn's 1,797 handwritten digits, 8 x 8, labels 0-9
``photos``      six scikit-image photographs (chelsea, coffee, astronaut, rocket, cat, camera)
``lfw-subset``  scikit-image's ``lfw_subset``: 200 images 25 x 25, 100 faces (label 1) then 100
                non-faces (label 0)
==============  =========================================================================================

``naplib-speech`` holds the transcripts of naplib's 10 speech trials (their recorded responses:
``rl.datasets.load("naplib-speech")``).

For the two word-pair sets, ``items`` are the distinct words (in order of first appearance), so
their activations can be extracted once; ``pairs`` and ``ratings`` hold the pairs and the human
scores, and ``pair_index`` the rows of both words of each pair in ``items``.

Images are NumPy ``uint8`` arrays of shape (H, W) or (H, W, 3).

User stimuli: ``load("sentences.txt")`` (one stimulus per non-empty line), ``load("data.csv",
column="text")`` (or ``"data.csv:text"``), ``load("images/")`` (every .png / .jpg / .jpeg / .bmp /
.gif / .tif file, sorted by name; ids are the file names).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReprlabError, close_matches, require

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}


def check_items(items: Sequence[Any], name: str = "stimuli") -> None:
    """Refuse stimuli with a missing entry (None or NaN) or a mix of texts and non-texts: a model's
    preprocessing (a tokenizer, an image transform) would otherwise fail deep inside with its own error."""
    for i, x in enumerate(items):
        if x is None or (isinstance(x, float) and x != x):
            raise ReprlabError(
                f"`{name}`: item {i} is {x!r}, not a stimulus. Remove the missing entries (and their ids) or fill "
                "them in; every stimulus must be a text, an image or an array."
            )
    texts = [isinstance(x, str) for x in items]
    if any(texts) and not all(texts):
        i, j = texts.index(False), texts.index(True)
        raise ReprlabError(
            f"`{name}`: item {i} is a {type(items[i]).__name__} but item {j} is a text; the stimuli of one "
            "extraction must all be of one kind (e.g. str(x) for every item)."
        )


@dataclass
class Stimuli:
    """A list of stimuli with ids, and whatever labels or human judgements come with the set.

    Attributes
    ----------
    name : str
    kind : "text" or "image"
    items : list
        Texts (str) or images (uint8 arrays (H, W) or (H, W, 3)).
    ids : list[str]
        One id per item, unique.
    labels : numpy.ndarray or None
        Class labels (``digits``, ``photos``, ``lfw-subset``).
    label_names : list[str] or None
        Names of the label values, where known.
    human_similarity : numpy.ndarray or None
        ``lee50``: the symmetric 50 x 50 human similarity matrix in [0, 1] (1 on the diagonal).
    pairs, ratings, pair_index
        ``simlex999`` / ``wordsim353``: word pairs, mean human ratings, and the rows of both words in
        ``items``.
    source : str
        Where the data came from.
    """

    name: str
    kind: str
    items: list[Any]
    ids: list[str]
    labels: np.ndarray | None = None
    label_names: list[str] | None = None
    human_similarity: np.ndarray | None = None
    pairs: list[tuple[str, str]] | None = None
    ratings: np.ndarray | None = None
    pair_index: np.ndarray | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_items(self.items, f"Stimuli {self.name!r}")
        if len(self.items) != len(self.ids):
            raise ReprlabError(f"Stimuli {self.name!r}: {len(self.items)} items but {len(self.ids)} ids.")
        if len(set(self.ids)) != len(self.ids):
            raise ReprlabError(f"Stimuli {self.name!r}: ids must be unique.")

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Stimuli({self.name!r}, {len(self)} {self.kind} items)"

    @property
    def human_dissimilarity(self) -> np.ndarray:
        """``1 - human_similarity`` (the similarities lie in [0, 1]); zero diagonal."""
        if self.human_similarity is None:
            raise ReprlabError(f"Stimuli {self.name!r} have no human similarity matrix (lee50 has one).")
        d = 1.0 - self.human_similarity
        np.fill_diagonal(d, 0.0)
        return d

    @property
    def human_rdm(self) -> Any:
        """The human dissimilarities (:attr:`human_dissimilarity`, 1 - similarity) as a ``reprlab.RDM``
        whose labels are the stimulus ids."""
        from ..measures.rsa import RDM

        return RDM(self.human_dissimilarity, method="human (1 - similarity)", labels=list(self.ids))

    def distinct(self) -> Stimuli:
        """The stimuli without exact repeats: the first occurrence of each item is kept (ids unchanged)."""
        first: dict[Any, str] = {}
        keep = []
        for sid, item in zip(self.ids, self.items):
            key = item if isinstance(item, str) else (np.asarray(item).tobytes(), np.shape(item))
            if key not in first:
                first[key] = sid
                keep.append(sid)
        return self if len(keep) == len(self.ids) else self.subset(keep)

    def subset(self, ids: Sequence[str]) -> Stimuli:
        """The stimuli ``ids``, in that order (labels follow; pair data and human matrices are dropped)."""
        where = {s: i for i, s in enumerate(self.ids)}
        missing = [i for i in ids if i not in where]
        if missing:
            raise ReprlabError(f"`ids`: unknown stimulus id {missing[0]!r}.{close_matches(missing[0], self.ids)}")
        rows = [where[i] for i in ids]
        return Stimuli(
            name=self.name,
            kind=self.kind,
            items=[self.items[r] for r in rows],
            ids=list(ids),
            labels=None if self.labels is None else self.labels[rows],
            label_names=self.label_names,
            source=self.source,
        )


# --- packaged sets ----------------------------------------------------------------------------


def _gensim_path(filename: str) -> str:
    require("gensim", "data")
    from gensim.test.utils import datapath

    return datapath(filename)


def _read_corpus(filename: str) -> list[str]:
    with open(_gensim_path(filename), encoding="latin-1") as f:
        return [line.strip() for line in f if line.strip()]


def _lee50() -> Stimuli:
    docs = _read_corpus("lee.cor")
    upper = np.loadtxt(_gensim_path("similarities0-1.txt"))
    sim = np.triu(upper) + np.triu(upper, 1).T
    return Stimuli(
        "lee50",
        "text",
        docs,
        [f"lee{i:02d}" for i in range(len(docs))],
        human_similarity=sim,
        source="gensim test data lee.cor + similarities0-1.txt (Lee, Pincombe & Welsh 2005)",
    )


def _lee300() -> Stimuli:
    docs = _read_corpus("lee_background.cor")
    return Stimuli(
        "lee300",
        "text",
        docs,
        [f"leebg{i:03d}" for i in range(len(docs))],
        source="gensim test data lee_background.cor",
        meta={"duplicates": _repeats(docs, [f"leebg{i:03d}" for i in range(len(docs))])},
    )


def _repeats(items: Sequence[str], ids: Sequence[str]) -> dict[str, str]:
    """id of each item that repeats an earlier one exactly -> id of the first."""
    first: dict[str, str] = {}
    out = {}
    for sid, item in zip(ids, items):
        if item in first:
            out[sid] = first[item]
        else:
            first[item] = sid
    return out


def _word_pairs(name: str, filename: str, source: str) -> Stimuli:
    pairs: list[tuple[str, str]] = []
    ratings: list[float] = []
    with open(_gensim_path(filename), encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            a, b, r = line.rstrip("\n").split("\t")[:3]
            pairs.append((a, b))
            ratings.append(float(r))
    words: list[str] = []
    row: dict[str, int] = {}
    for a, b in pairs:
        for w in (a, b):
            if w not in row:
                row[w] = len(words)
                words.append(w)
    return Stimuli(
        name,
        "text",
        words,
        list(words),
        pairs=pairs,
        ratings=np.asarray(ratings),
        pair_index=np.array([[row[a], row[b]] for a, b in pairs], dtype=np.int64),
        source=source,
    )


def _to_uint8(img: np.ndarray, top: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(img, dtype=np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def _digits() -> Stimuli:
    require("sklearn", "data", "scikit-learn")
    from sklearn.datasets import load_digits

    d = load_digits()
    items = [_to_uint8(im, 16.0) for im in d.images]
    return Stimuli(
        "digits",
        "image",
        items,
        [f"digit{i:04d}" for i in range(len(items))],
        labels=np.asarray(d.target),
        label_names=[str(k) for k in range(10)],
        source="scikit-learn load_digits (values 0-16 scaled to 0-255)",
    )


_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "cat", "camera")


def _photos() -> Stimuli:
    require("skimage", "data", "scikit-image")
    import skimage.data

    items = [np.asarray(getattr(skimage.data, n)()) for n in _PHOTOS]
    return Stimuli(
        "photos",
        "image",
        items,
        list(_PHOTOS),
        labels=np.arange(len(_PHOTOS)),
        label_names=list(_PHOTOS),
        source="scikit-image skimage.data",
    )


def _lfw_subset() -> Stimuli:
    require("skimage", "data", "scikit-image")
    import skimage.data

    imgs = skimage.data.lfw_subset()
    items = [_to_uint8(im, 1.0) for im in imgs]
    labels = np.r_[np.ones(100, dtype=np.int64), np.zeros(len(items) - 100, dtype=np.int64)]
    return Stimuli(
        "lfw-subset",
        "image",
        items,
        [f"{'face' if lab else 'nonface'}{i:03d}" for i, lab in enumerate(labels)],
        labels=labels,
        label_names=["non-face", "face"],
        source="scikit-image skimage.data.lfw_subset (first 100 faces, then 100 non-faces)",
    )


def _naplib_speech() -> Stimuli:
    from ..io.datasets import load as load_dataset

    d = load_dataset("naplib-speech")
    return Stimuli(
        "naplib-speech",
        "text",
        list(d.transcripts),
        list(d.trials),
        source="naplib sample data: transcripts of the 10 trials; responses in rl.datasets.load('naplib-speech')",
    )


_SETS = {
    "lee50": _lee50,
    "lee300": _lee300,
    "simlex999": lambda: _word_pairs("simlex999", "simlex999.txt", "gensim test data simlex999.txt (Hill et al. 2015)"),
    "wordsim353": lambda: _word_pairs(
        "wordsim353", "wordsim353.tsv", "gensim test data wordsim353.tsv (Finkelstein et al. 2002)"
    ),
    "digits": _digits,
    "photos": _photos,
    "lfw-subset": _lfw_subset,
    # probing sets with labels (reprlab.probe.datasets)
    "lee-pos": lambda: _probe_set("lee_pos"),
    "vader-words": lambda: _probe_set("vader_words"),
    "concreteness": lambda: _probe_set("concreteness"),
    "naplib-speech": _naplib_speech,
}


def _probe_set(name: str) -> Stimuli:
    """A labelled set built by ``reprlab.probe.datasets`` (which builds on this module, so it is found by
    name at call time rather than imported here: an import would close a cycle)."""
    import importlib

    return getattr(importlib.import_module("reprlab.probe.datasets"), name)()


def available() -> list[str]:
    """Names of the packaged stimulus sets."""
    return list(_SETS)


# --- user files ---------------------------------------------------------------------------------


def _read_text(path: Path) -> Stimuli:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    items = [ln for ln in lines if ln]
    if not items:
        raise ReprlabError(f"{str(path)!r} holds no non-empty line; put one stimulus per line.")
    return Stimuli(path.stem, "text", items, [f"{path.stem}{i}" for i in range(len(items))], source=str(path))


def _read_csv(path: Path, column: str | None, id_column: str | None) -> Stimuli:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0].keys()) if rows else []
    if not rows:
        raise ReprlabError(f"{str(path)!r} has no data rows.")
    if column is None:
        raise ReprlabError(
            f"{str(path)!r} is a CSV file: name the column that holds the stimuli, e.g. "
            f"load({str(path)!r}, column={header[0]!r}) (CLI: --column). Columns: {header}."
        )
    for arg, col in (("column", column), ("id_column", id_column)):
        if col is not None and col not in header:
            raise ReprlabError(f"`{arg}`: {str(path)!r} has no column {col!r}.{close_matches(col, header)}")
    items = [r[column] for r in rows]
    ids = [r[id_column] for r in rows] if id_column else [f"{path.stem}{i}" for i in range(len(items))]
    return Stimuli(path.stem, "text", items, ids, source=f"{path} column {column!r}")


def _read_images(path: Path) -> Stimuli:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise ReprlabError(f"The folder {str(path)!r} holds no image file ({', '.join(sorted(_IMAGE_SUFFIXES))}).")
    Image = require("PIL.Image", "data", "pillow")
    items = []
    for p in files:
        with Image.open(p) as im:
            im = im.convert("L") if im.mode in ("L", "I", "I;16", "1") else im.convert("RGB")
            items.append(np.array(im))
    return Stimuli(path.name, "image", items, [p.name for p in files], source=str(path))


def load(name: str | Path, *, column: str | None = None, id_column: str | None = None) -> Stimuli:
    """A packaged stimulus set by name (see :func:`available`), or stimuli from a file or folder.

    Parameters
    ----------
    name : str or Path
        A set name, a ``.txt`` file (one stimulus per line), a ``.csv`` file (with ``column``, or
        written ``"file.csv:column"``), or a folder of images.
    column, id_column : str, optional
        CSV only: the column holding the stimuli, and optionally one holding unique ids.
    """
    if isinstance(name, str) and name in _SETS:
        return _SETS[name]()
    text = str(name)
    path = Path(text)
    if not path.exists() and ":" in text and Path(text.rsplit(":", 1)[0]).suffix.lower() == ".csv":
        text, column = text.rsplit(":", 1)
        path = Path(text)
    if path.is_dir():
        return _read_images(path)
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return _read_csv(path, column, id_column)
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            raise ReprlabError(f"{text!r} is one image; pass the folder that holds the images.")
        return _read_text(path)
    raise ReprlabError(
        f"Unknown stimuli {text!r}: not a packaged set and no such file or folder.{close_matches(text, _SETS)} "
        f"Packaged sets: {available()}."
    )
