"""Reproduction: learned representations are biased towards easy features (Lampinen et al. 2024).

Lampinen, Chan & Hermann (2024), *Learned feature representations are biased by complexity, learning
order, position, and more*, TMLR. Their MLPs compute an easy (linear) and a hard (non-linear) feature
of binary inputs equally well, yet the easy feature explains far more of the representation's
variance; in the authors' summary, "55% repr. variance explained by the easy one, 5% by the hard",
with similar biases in the top principal components and single units, and RSA can judge two
models that compute the same complex task as less similar than either is to a model computing a
simpler task (and, Hermann & Lampinen 2020, a model trained on both an easy and a hard feature is
most similar to one that uses only the easy feature). Here the both-task model stands to the
easy-only and hard-only models as in the paper (its RSA with the easy-only model is far above its
RSA with the hard-only model, although it computes the hard feature as well as the hard-only model
does); two hard-only models from different seeds, however, stay similar to each other.

Here: inputs are ``n_bits`` independent fair bits; the **easy** feature is bit 0, the **hard** one
the parity (XOR) of bits 1-3. MLPs ``n_bits -> 64 -> 64 -> 64 -> outputs`` (ReLU) are trained with
Adam on binary cross-entropy for both features ("both" models), only the hard one ("hard-only") or
only the easy one ("easy-only"), from several seeds. On held-out inputs the penultimate layer is
analysed with :func:`reprlab.feature_variance` (share of variance alone / unique, in the top PCs,
and the held-out decodability of each feature by a grouped-CV logistic probe), and the models'
penultimate layers are compared by RSA (correlation RDMs, Spearman).

``run_feature_bias()`` takes well under 2 minutes on 2 CPU cores (measured figures are in
docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

PAPER = {
    "easy variance share": 0.55,
    "hard variance share": 0.05,
    "RSA": "two models computing the same complex task can be judged much less similar to each other than "
    "either is to a model computing a much simpler task; Hermann & Lampinen (2020, NeurIPS): models trained "
    "on both an easy and a hard feature are most similar to models that use only the easy one",
    "source": "Lampinen, Chan & Hermann (2024), TMLR; figures and the RSA finding as summarised by the first author",
}


def make_inputs(n: int, n_bits: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random bit vectors, the easy feature (bit 0) and the hard one (parity of bits 1-3)."""
    bits = np.random.default_rng(seed).integers(0, 2, size=(n, n_bits))
    return bits.astype(np.float64), bits[:, 0], bits[:, 1] ^ bits[:, 2] ^ bits[:, 3]


def train_mlp(
    X: np.ndarray, targets: np.ndarray, seed: int, hidden: int = 64, steps: int = 800, lr: float = 3e-3
) -> torch.nn.Sequential:
    """MLP with three ReLU hidden layers trained full-batch with Adam on binary cross-entropy."""
    torch.manual_seed(seed)
    d = X.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(d, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, targets.shape[1]),
    )
    Xt = torch.as_tensor(2 * X - 1, dtype=torch.float32)
    T = torch.as_tensor(targets, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(Xt), T).backward()
        opt.step()
    return net


def penultimate(net: torch.nn.Sequential, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net[:-1](torch.as_tensor(2 * X - 1, dtype=torch.float32)).double().numpy()


def accuracy(net: torch.nn.Sequential, X: np.ndarray, targets: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = net(torch.as_tensor(2 * X - 1, dtype=torch.float32)).numpy()
    return ((out > 0) == (targets > 0)).mean(0)


@dataclass
class FeatureBiasResult:
    """Per seed of the "both" models: task accuracy, variance shares, PC shares and decodability;
    and the RSA between models."""

    table: list[dict[str, Any]]
    rsa: dict[str, float]
    paper: dict[str, Any] = field(default_factory=lambda: dict(PAPER))

    def mean(self, key: str) -> float:
        return float(np.mean([row[key] for row in self.table]))


def run_feature_bias(seeds: tuple[int, ...] = (0, 1, 2), n_bits: int = 12, n_train: int = 4000,
                     n_test: int = 1000, steps: int = 800) -> FeatureBiasResult:
    """Train the models and measure (see the module docstring)."""
    import reprlab as rl

    Xtr, etr, htr = make_inputs(n_train, n_bits, 10_000)
    Xte, ete, hte = make_inputs(n_test, n_bits, 20_000)
    table = []
    reps: dict[str, np.ndarray] = {}
    for s in seeds:
        net = train_mlp(Xtr, np.c_[etr, htr], seed=s, steps=steps)
        acc = accuracy(net, Xte, np.c_[ete, hte])
        H = penultimate(net, Xte)
        reps[f"both{s}"] = H
        fv = rl.feature_variance(H, {"easy": ete, "hard": hte}, n_components=3, seed=s)
        table.append({
            "seed": s,
            "task accuracy easy": float(acc[0]),
            "task accuracy hard": float(acc[1]),
            "variance easy": fv.alone["easy"],
            "variance hard": fv.alone["hard"],
            "unique easy": fv.unique["easy"],
            "unique hard": fv.unique["hard"],
            "PC1 share easy": float(fv.pc_share[0, 0]),
            "PC1 share hard": float(fv.pc_share[1, 0]),
            "decodability easy": fv.decodability["easy"],
            "decodability hard": fv.decodability["hard"],
        })
    for s in seeds[:2]:
        reps[f"hard{s}"] = penultimate(train_mlp(Xtr, htr[:, None], seed=100 + s, steps=steps), Xte)
    reps["easy"] = penultimate(train_mlp(Xtr, etr[:, None], seed=200, steps=steps), Xte)
    sub = slice(0, 300)  # RSA on 300 held-out inputs
    pairs = {"hard-only vs hard-only": (f"hard{seeds[0]}", f"hard{seeds[1]}")} if len(seeds) > 1 else {}
    pairs.update({
        "hard-only vs easy-only": (f"hard{seeds[0]}", "easy"),
        "both vs easy-only": (f"both{seeds[0]}", "easy"),
        "both vs hard-only": (f"both{seeds[0]}", f"hard{seeds[0]}"),
    })
    rsa = {k: rl.compare(reps[a][sub], reps[b][sub], "rsa") for k, (a, b) in pairs.items()}
    return FeatureBiasResult(table, {k: float(v) for k, v in rsa.items()})


def main() -> None:  # pragma: no cover - a script entry
    import time

    t0 = time.perf_counter()
    res = run_feature_bias()
    for row in res.table:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    print({k: round(v, 3) for k, v in res.rsa.items()})
    print("paper:", res.paper)
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
