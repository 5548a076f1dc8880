"""Fixtures for the intervention tests: a tiny random Llama (built here, no download)."""

from __future__ import annotations

import pytest
import torch


def hook_count(model: torch.nn.Module) -> int:
    """Every forward hook and pre-hook on every module of ``model``."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(getattr(m, "_forward_hooks_with_kwargs", {}))
        for m in model.modules()
    )


@pytest.fixture(scope="module")
def tiny_lm():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=None,
        pad_token_id=0,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M from the zoo, loaded once for every intervention test that needs a real model."""
    import reprlab as rl

    pytest.importorskip("transformers")
    return rl.zoo.load("smollm2-135m")
