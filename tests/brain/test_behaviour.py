"""rl.surprisal: token surprisals sum to the model's cross-entropy in bits; words sum their sub-word tokens."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_lm():
    """A randomly initialised 2-layer Llama and a byte-level BPE tokenizer trained here (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = ["the cat sat on the mat", "a dog ran after the cat and the mat"] * 20
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tk.train_from_iterator(corpus, trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    )
    return transformers.LlamaForCausalLM(cfg).eval(), tok


def total_bits(model, tok, text):
    ids = torch.tensor([[tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()  # mean over the predicted tokens, nats
    return loss * (ids.shape[1] - 1) / math.log(2)


def test_sums_equal_the_models_cross_entropy(tiny_lm):
    model, tok = tiny_lm
    texts = ["The catalogue sat  on mats.", "dogs ran\nafter", "cat"]
    res = rl.surprisal(model, texts, tokenizer=tok, batch_size=2)  # padded batches
    for r, text in zip(res, texts):
        assert r.total == pytest.approx(total_bits(model, tok, text), abs=1e-5)
        assert r.word_surprisal.sum() == pytest.approx(r.total, abs=1e-9)
        assert r.words == text.split()


def test_words_sum_their_sub_word_tokens(tiny_lm):
    model, tok = tiny_lm
    r = rl.surprisal(model, "The catalogue sat", tokenizer=tok)[0]
    assert len(r.tokens) > len(r.words)  # "catalogue" is not in the tiny vocabulary: several tokens
    for w in range(len(r.words)):
        np.testing.assert_allclose(r.word_surprisal[w], r.token_surprisal[r.token_word == w].sum())
    df = rl.surprisal(model, ["a cat", "the mat"], tokenizer=tok).to_pandas()
    assert list(df["word"]) == ["a", "cat", "the", "mat"]


def test_batching_does_not_change_values(tiny_lm):
    model, tok = tiny_lm
    texts = ["the cat sat on the mat", "a dog", "ran after the cat and the mat"]
    one = rl.surprisal(model, texts, tokenizer=tok, batch_size=1)
    three = rl.surprisal(model, texts, tokenizer=tok, batch_size=3)
    for a, b in zip(one, three):
        np.testing.assert_allclose(a.token_surprisal, b.token_surprisal, atol=1e-4)


def test_bad_input(tiny_lm):
    model, tok = tiny_lm
    with pytest.raises(ReprlabError, match="no tokenizer"):
        rl.surprisal(model, ["a cat"])
    with pytest.raises(ReprlabTypeError, match="causal language model"):
        rl.surprisal("gpt2", ["a cat"], tokenizer=tok)
    with pytest.raises(ReprlabTypeError, match="`texts`"):
        rl.surprisal(model, [1, 2], tokenizer=tok)
    with pytest.raises(ReprlabError, match="empty"):
        rl.surprisal(model, [""], tokenizer=tok)
    with pytest.raises(ReprlabError, match="more than the model's context"):
        rl.surprisal(model, ["the cat " * 80], tokenizer=tok)


@pytest.mark.slow
def test_smollm2_surprisal_sums_to_its_cross_entropy(smollm2_lm):
    text = "The capital of France is Paris. The cat sat on the mat."
    r = rl.surprisal(smollm2_lm, text)[0]
    print(r.total, total_bits(smollm2_lm.model, smollm2_lm.tokenizer, text))
    assert r.total == pytest.approx(total_bits(smollm2_lm.model, smollm2_lm.tokenizer, text), abs=1e-5 * r.total)
    assert r.words == text.split()
    assert len(r.tokens) >= len(r.words)
