"""Packaged stimulus sets (read from installed packages) and user stimuli from files."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError


def test_lee50_with_the_human_similarity_matrix():
    s = rl.stimuli.load("lee50")
    assert len(s) == 50 and s.kind == "text" and s.ids[0] == "lee00" and len(set(s.ids)) == 50
    assert s.items[0].startswith("The national executive of the strife-torn Democrats")
    S = s.human_similarity
    assert S.shape == (50, 50)
    np.testing.assert_array_equal(S, S.T)
    np.testing.assert_array_equal(np.diag(S), np.ones(50))
    assert S[0, 1] == pytest.approx(0.3) and S[1, 0] == pytest.approx(0.3) and S.min() >= 0 and S.max() <= 1
    D = s.human_dissimilarity
    np.testing.assert_allclose(D, 1 - S - np.diag(np.diag(1 - S)))
    assert np.all(np.diag(D) == 0)


def test_human_rdm_is_an_rdm_labelled_by_ids():
    s = rl.stimuli.load("lee50")
    D = s.human_rdm
    assert isinstance(D, rl.RDM) and list(D.labels) == list(s.ids)
    np.testing.assert_allclose(np.asarray(D.square), s.human_dissimilarity)
    with pytest.raises(ReprlabError, match="no human similarity matrix"):
        _ = rl.stimuli.load("lee300").human_dissimilarity


def test_lee300():
    s = rl.stimuli.load("lee300")
    assert len(s) == 300 and s.ids[-1] == "leebg299" and s.items[0].startswith("Hundreds of people")
    assert len(set(s.items)) == 293 and len(s.meta["duplicates"]) == 7  # as the corpus has them (module docstring)
    d = s.distinct()
    assert len(d) == 293 and len(set(d.items)) == 293 and set(s.meta["duplicates"]).isdisjoint(d.ids)
    assert all(s.items[s.ids.index(rep)] == s.items[s.ids.index(orig)] for rep, orig in s.meta["duplicates"].items())


@pytest.mark.parametrize(
    ("name", "n_pairs", "first"), [("simlex999", 999, ("old", "new", 1.58)), ("wordsim353", 353, ("love", "sex", 6.77))]
)
def test_word_pair_sets(name, n_pairs, first):
    s = rl.stimuli.load(name)
    assert len(s.pairs) == n_pairs and s.ratings.shape == (n_pairs,)
    assert s.pairs[0] == first[:2] and s.ratings[0] == pytest.approx(first[2])
    assert len(set(s.items)) == len(s.items) == len(s)
    words = np.asarray(s.items, dtype=object)
    assert [tuple(p) for p in words[s.pair_index]] == [tuple(p) for p in s.pairs]


def test_image_sets():
    d = rl.stimuli.load("digits")
    assert len(d) == 1797 and d.items[0].dtype == np.uint8 and d.items[0].shape == (8, 8)
    assert d.items[0].max() <= 255 and sorted(set(d.labels.tolist())) == list(range(10))
    p = rl.stimuli.load("photos")
    assert p.ids == ["chelsea", "coffee", "astronaut", "rocket", "cat", "camera"]
    assert p.items[0].shape == (300, 451, 3) and p.items[-1].ndim == 2 and p.label_names[p.labels[1]] == "coffee"
    f = rl.stimuli.load("lfw-subset")
    assert len(f) == 200 and f.items[0].shape == (25, 25) and f.items[0].dtype == np.uint8
    assert f.labels[:100].sum() == 100 and f.labels[100:].sum() == 0 and f.ids[100] == "nonface100"
    sub = f.subset(["nonface150", "face003"])
    assert sub.labels.tolist() == [0, 1] and len(sub) == 2
    with pytest.raises(ReprlabError, match="unknown stimulus id"):
        f.subset(["face999"])


def test_user_text_and_csv(tmp_path):
    (tmp_path / "s.txt").write_text("a cat\n\n  a dog \nthe end\n")
    t = rl.stimuli.load(tmp_path / "s.txt")
    assert t.items == ["a cat", "a dog", "the end"] and t.ids == ["s0", "s1", "s2"]
    (tmp_path / "d.csv").write_text('id,text,other\nx1,"hello, world",1\nx2,bye,2\n')
    c = rl.stimuli.load(tmp_path / "d.csv", column="text", id_column="id")
    assert c.items == ["hello, world", "bye"] and c.ids == ["x1", "x2"]
    assert rl.stimuli.load(f"{tmp_path / 'd.csv'}:text").items == c.items
    with pytest.raises(ReprlabError, match="name the column"):
        rl.stimuli.load(tmp_path / "d.csv")
    with pytest.raises(ReprlabError, match=r"no column 'txt'.*Did you mean 'text'"):
        rl.stimuli.load(tmp_path / "d.csv", column="txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ReprlabError, match="no non-empty line"):
        rl.stimuli.load(tmp_path / "empty.txt")


def test_user_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, size=(7, 9), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "b.png")
    Image.fromarray(grey).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("ignored")
    s = rl.stimuli.load(tmp_path)
    assert s.ids == ["a.png", "b.png"] and s.kind == "image"
    np.testing.assert_array_equal(s.items[0], grey)
    np.testing.assert_array_equal(s.items[1], rgb)
    (tmp_path / "none").mkdir()
    with pytest.raises(ReprlabError, match="holds no image file"):
        rl.stimuli.load(tmp_path / "none")
    with pytest.raises(ReprlabError, match="is one image"):
        rl.stimuli.load(tmp_path / "a.png")


def test_unknown_set_suggests_names():
    assert {
        "lee50", "lee300", "simlex999", "wordsim353", "digits", "photos", "lfw-subset", "naplib-speech",
        "lee-pos", "vader-words", "concreteness",
    } == set(
        rl.stimuli.available()
    )
    with pytest.raises(ReprlabError, match="Did you mean 'lee50'"):
        rl.stimuli.load("lee5")
