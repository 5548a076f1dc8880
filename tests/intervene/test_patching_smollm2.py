"""rl.patching on SmolLM2 with the France / Italy capital prompts (acceptance of issue 20)."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl

pytestmark = pytest.mark.slow

CLEAN, CORRUPT, ANSWERS = "The capital of France is", "The capital of Italy is", (" Paris", " Rome")


def test_last_layer_last_position_restores_all_and_unchanged_positions_nothing(smollm2):
    last = smollm2.model.config.num_hidden_layers - 1
    res = rl.patching(smollm2, CLEAN, CORRUPT, metric="logit_diff", answers=ANSWERS, layers=[0, 10, last])
    assert res.clean > 0 > res.corrupt  # Paris wins on the clean prompt, Rome on the corrupted one
    assert abs(res.values[-1, -1] - 1.0) <= 0.01
    changed = res.cols.index(next(c for c in res.cols if "France" in c))
    np.testing.assert_allclose(res.values[:, :changed], 0.0, atol=1e-9)  # same tokens before the change
