"""The Lampinen et al. reproduction: the easy feature dominates the variance while both decode."""

from __future__ import annotations

import pytest

from reprlab.experiments.feature_bias import run_feature_bias


@pytest.mark.slow
def test_easy_feature_takes_more_variance_while_both_decode():
    res = run_feature_bias(seeds=(0, 1))
    for row in res.table:
        assert row["task accuracy easy"] >= 0.95 and row["task accuracy hard"] >= 0.95
        assert row["decodability easy"] >= 0.95 and row["decodability hard"] >= 0.95
        assert row["variance easy"] >= 3 * row["variance hard"]
    pairs = {"hard-only vs hard-only", "hard-only vs easy-only", "both vs easy-only", "both vs hard-only"}
    assert set(res.rsa) == pairs
