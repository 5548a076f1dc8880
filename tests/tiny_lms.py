"""Tiny randomly initialised causal language models of four families, and a word-level tokenizer.

Built in the test process (no download): Llama (tied embeddings, grouped-query attention), GPT-2
(absolute positions, tied), GPT-NeoX / Pythia (parallel residual, untied) and Qwen2 (untied).
"""

from __future__ import annotations

import torch

VOCAB = ["[PAD]", "[UNK]"] + [
    w
    for w in (
        "the a of to and in is was for on that with as by at from it his her they this an are be "
        "capital city country river France Paris Rome Italy Berlin Germany Spain Madrid sea north south "
        "one two three four five red green blue big small old new cat dog bird fish runs sleeps eats"
    ).split()
]
ARCHS = ("llama", "gpt2", "neox", "qwen2")


def tiny_config(arch: str, n_layers: int = 3, vocab_size: int = len(VOCAB)):
    """Width 32, 4 heads, 64 positions; Llama and Qwen2 with 2 key-value heads (grouped-query attention)."""
    import transformers as tr

    common = dict(vocab_size=vocab_size, pad_token_id=0, bos_token_id=None, eos_token_id=None)
    if arch == "gpt2":
        return tr.GPT2Config(n_embd=32, n_layer=n_layers, n_head=4, n_positions=64, **common)
    configs = {"llama": (tr.LlamaConfig, True), "neox": (tr.GPTNeoXConfig, False), "qwen2": (tr.Qwen2Config, False)}
    if arch not in configs:
        raise ValueError(arch)
    config, tied = configs[arch]
    kv = {} if arch == "neox" else {"num_key_value_heads": 2}
    return config(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
        **kv,
        **common,
    )


def tiny_lm(arch: str, seed: int = 0, n_layers: int = 3) -> torch.nn.Module:
    import transformers as tr

    torch.manual_seed(seed)
    model = tr.AutoModelForCausalLM.from_config(tiny_config(arch, n_layers)).eval()
    with torch.no_grad():  # larger weights than the default init, so layers differ visibly
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(4.0)
    return model


def tiny_tokenizer(padding_side: str = "right"):
    """A word-level tokenizer over :data:`VOCAB` (whitespace split), id = position in VOCAB."""
    import transformers as tr
    from tokenizers import Tokenizer, models, pre_tokenizers

    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = tr.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    tok.padding_side = padding_side
    return tok


TEXTS = [
    "the capital of France is Paris",
    "a cat sleeps",
    "the old dog runs to the river and the bird eats a fish",
    "Rome is the capital of Italy",
    "one two three four five",
    "blue",
    "the big red bird",
]
