"""The capability flags and docs/engine.md's capability table follow from the registered hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

import reprlab as rl
from reprlab import _registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_docs_capability_table_is_the_registry():
    """docs/engine.md carries `reprlab._registry.capability_table()`; regenerate it when a hook changes."""
    doc = DOC.read_text()
    start, end = "<!-- capabilities:start -->\n", "<!-- capabilities:end -->"
    assert start in doc and end in doc, "docs/engine.md lost its capability-table markers"
    section = doc[doc.index(start) + len(start) : doc.index(end)]
    assert section == _registry.capability_table(), (
        "docs/engine.md is out of date: paste reprlab._registry.capability_table() between the markers"
    )


@pytest.mark.parametrize("name", ["cka", "cca", "shape", "linear_regression"])
def test_streaming_measures_are_streamable(name):
    info = rl.measures.info(name)
    assert info.streamable and "stream" in info.capabilities


def test_flags_are_derived_from_the_hooks():
    for info in rl.measures.available():
        hooks = _registry.get(info.name).hooks
        assert info.streamable == (hooks.stream is not None)
        assert info.capabilities == hooks.names()
    assert not rl.measures.info("ridge").streamable and rl.measures.info("ridge").capabilities == ()
    assert rl.measures.info("rsa").capabilities == ("all_pairs", "pair_matrix", "compare_pairs")


def test_hooks_are_typed():
    with pytest.raises(ValueError, match="both or neither"):
        _registry.Hooks(pair_matrix=lambda P, **_: P)
    with pytest.raises(TypeError, match=r"must be a reprlab\._registry\.Hooks"):
        _registry.register(
            "_never",
            family="_test",
            params={},
            larger_is_similar=True,
            is_metric=False,
            symmetric=True,
            invariances=set(),
            range=(0.0, 1.0),
            references=(),
            hooks={"stream": None},
        )
    assert "_never" not in _registry._REGISTRY
