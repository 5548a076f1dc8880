"""Figures of the lens family: KL by layer with bootstrap bands, and head-score maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..report.figures import OKABE_ITO, _plt
from .heads import HeadScores
from .logit import LensResult


def kl_by_layer(results: Mapping[str, LensResult], *, n_boot: int = 1000, seed: int = 0, ax: Any = None) -> Any:
    """Mean KL to the model's output per layer for each lens (label -> result), with a 95 % percentile
    bootstrap band over prompts (when there are at least 5); returns the figure."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
    else:
        fig = ax.figure
    for k, (label, res) in enumerate(results.items()):
        x = np.arange(len(res.layers))
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        if len(res.prompts) >= 5:
            mean, lo, hi = res.bootstrap("kl_to_final", n=n_boot, seed=seed)
            ax.fill_between(x, lo, hi, color=colour, alpha=0.25, linewidth=0)
        else:
            mean = res.by_layer("kl_to_final")
        ax.plot(x, mean, marker="o", markersize=3, color=colour, label=label)
    first = next(iter(results.values()))
    ticks = np.arange(0, len(first.layers), max(1, len(first.layers) // 10))
    ax.set_xticks(ticks, [first.layers[i].rsplit(".", 1)[-1] if i else "emb" for i in ticks])
    ax.set_xlabel("residual state (embeddings, then block)")
    ax.set_ylabel("KL(model || lens), nats")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def head_maps(scores: Sequence[HeadScores]) -> Any:
    """One layers x heads map per score kind, side by side; returns the figure."""
    plt = _plt()
    n_layers, n_heads = scores[0].values.shape
    fig, axes = plt.subplots(
        1, len(scores), figsize=(1.2 + (0.22 * n_heads + 1.4) * len(scores), 0.15 * n_layers + 1.6), squeeze=False
    )
    for ax, s in zip(axes[0], scores):
        s.figure(ax=ax)
    fig.tight_layout()
    return fig
