"""Small networks trained on scikit-learn's digits, for demos and for judging measures.

``digits_networks(seeds)`` trains one MLP per seed (the seed sets the initialisation and the order of
minibatches; the data split is fixed) and returns each network's hidden-layer activations on the same
held-out digits. Networks trained from different seeds learn the same task with different weights,
so a good similarity measure should find that layer i of one network best matches layer i of another
(Kornblith et al. 2019, section 6.1). Training takes about a second per network on one CPU core.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import require

HIDDEN = (128, 64, 64, 32)


@dataclass
class DigitsNetwork:
    """A trained MLP, its layer activations on the held-out digits, and its test accuracy."""

    seed: int
    model: torch.nn.Sequential
    layers: dict[str, np.ndarray]
    accuracy: float


def load_digits_split(test_size: int = 500, split_seed: int = 0) -> tuple[np.ndarray, ...]:
    """Digits (1797 x 64, scaled to [0, 1]) split into train and a fixed held-out set of ``test_size``."""
    datasets = require("sklearn.datasets", "data", "scikit-learn")
    d = datasets.load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(y))
    test, train = order[:test_size], order[test_size:]
    return X[train], y[train], X[test], y[test]


def build_mlp(hidden: Sequence[int] = HIDDEN, n_in: int = 64, n_out: int = 10) -> torch.nn.Sequential:
    """An MLP ``n_in -> hidden... -> n_out`` with ReLU; hidden layers are named ``layer1``, ``layer2``..."""
    mods: dict[str, torch.nn.Module] = {}
    width = n_in
    for i, h in enumerate(hidden, start=1):
        mods[f"layer{i}"] = torch.nn.Sequential(torch.nn.Linear(width, h), torch.nn.ReLU())
        width = h
    mods["logits"] = torch.nn.Linear(width, n_out)
    return torch.nn.Sequential(OrderedDict(mods))


def train_mlp(
    seed: int,
    X: np.ndarray,
    y: np.ndarray,
    hidden: Sequence[int] = HIDDEN,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> torch.nn.Sequential:
    """Train an MLP with Adam from initialisation seed ``seed`` (deterministic on CPU)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_mlp(hidden, X.shape[1], int(y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        perm = torch.randperm(len(yt), generator=gen)
        for start in range(0, len(yt), batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def layer_activations(model: torch.nn.Sequential, X: np.ndarray) -> dict[str, np.ndarray]:
    """Every named layer's output (post-ReLU for hidden layers) on ``X``, as float64 arrays."""
    out, h = {}, torch.from_numpy(X)
    for name, module in model.named_children():
        h = module(h)
        out[name] = h.double().numpy()
    return out


def digits_networks(
    seeds: Sequence[int] = (0, 1),
    hidden: Sequence[int] = HIDDEN,
    epochs: int = 30,
    test_size: int = 500,
) -> list[DigitsNetwork]:
    """Train one MLP per seed on the same digits and return their activations on the held-out set."""
    Xtr, ytr, Xte, yte = load_digits_split(test_size)
    nets = []
    for s in seeds:
        model = train_mlp(int(s), Xtr, ytr, hidden, epochs)
        layers = layer_activations(model, Xte)
        acc = float((layers["logits"].argmax(1) == yte).mean())
        nets.append(DigitsNetwork(int(s), model, layers, acc))
    return nets
