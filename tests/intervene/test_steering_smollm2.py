"""Sentiment steering of SmolLM2 (acceptance of issue 20): the dose-response is monotone on 50
held-out prompts and the side effect is 0 at scale 0 and grows with |scale|."""

from __future__ import annotations

import pytest
from scipy.stats import spearmanr

import reprlab as rl
from reprlab.intervene import datasets as ds
from reprlab.intervene.steering import sentiment_direction

pytestmark = pytest.mark.slow


def test_sentiment_direction_steers(smollm2):
    layer = "model.layers.8"
    v = sentiment_direction(smollm2, layer, n=32)  # fitted on VADER pairs, not on the evaluation prompts
    prompts = ds.steering_prompts(50)
    assert not set(prompts) & set(ds.sentiment_pairs(32)[0] + ds.sentiment_pairs(32)[1])
    alphas = [-2.0, -1.0, 0.0, 1.0, 2.0]
    s = rl.steer_sweep(
        smollm2,
        v,
        layer=layer,
        alphas=alphas,
        prompts=prompts,
        answers=(ds.POSITIVE_ANSWERS, ds.NEGATIVE_ANSWERS),
        neutral=ds.neutral_texts(4, max_chars=150),
        n_boot=500,
    )
    assert s.effect_per_prompt.shape == (5, 50)
    assert spearmanr(s.alphas, s.effect).statistic >= 0.9
    assert s.side_effect_kl[2] == 0.0
    kl = s.side_effect_kl
    assert kl[1] > 0 and kl[3] > 0 and kl[0] > kl[1] and kl[4] > kl[3]
