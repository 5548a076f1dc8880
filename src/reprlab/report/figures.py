"""Figures for results: layer x layer heatmaps, alignment by depth with interval bands, a 2-D map
(classical MDS) of all layers of all models, and describe measures by depth.

Colour maps are colour-blind safe (``cividis`` for sequential data, ``RdBu_r`` centred at 0 for signed
data; line colours from the Okabe-Ito palette), fonts are readable at print size, and every figure
function returns the matplotlib Figure; :func:`save` writes PNG and SVG.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import require

# Okabe & Ito (2008), a palette distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _plt():
    mpl = require("matplotlib", "report")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "svg.fonttype": "none"})
    return plt


#: Heat maps with more rows or columns than this label every k-th one (k chosen to keep about 20).
MAX_TICK_LABELS = 24


def larger_is_similar(measure: str) -> bool | None:
    """True for a similarity, False for a distance (lower = more similar), None when ``measure`` (a
    result's spec string) is not a registered compare measure."""
    from .. import _registry
    from ..errors import ReprlabError, ReprlabTypeError

    try:
        m, p = _registry.resolve(measure, {})
    except (ReprlabError, ReprlabTypeError, ValueError):
        return None
    return m.info.variant_for(p).larger_is_similar if m.info.kind == "compare" else None


def scale_label(measure: str) -> str:
    """How to read a result's colour scale: "higher = more similar" or "lower = more similar"."""
    larger = larger_is_similar(measure)
    return "" if larger is None else ("higher = more similar" if larger else "lower = more similar")


def _ticks(n: int) -> range:
    return range(0, n, int(np.ceil(n / 20)) if n > MAX_TICK_LABELS else 1)


def heatmap(result: Any, ax: Any = None, title: str | None = None, annotate: bool | None = None) -> Any:
    """A labelled heatmap of a :class:`~reprlab.ComparisonResult` (rows x cols); returns the axes.

    Similarities and distances read the same way: the colour of "more similar" is the same (the
    sequential map is reversed for a distance) and the colour bar says which way is more similar.
    Matrices with more than ``MAX_TICK_LABELS`` rows or columns label every k-th one.
    """
    plt = _plt()
    values = np.asarray(result.values, dtype=float)
    if ax is None:
        scale = 1.6 if getattr(result, "ci_low", None) is not None else 1.0  # room for the intervals
        size = (
            min(12.0, max(3.2, scale * 0.42 * len(result.cols) + 1.8)),
            min(10.0, max(2.8, scale * 0.36 * len(result.rows) + 1.2)),
        )
        _, ax = plt.subplots(figsize=size, layout="constrained")
    finite = values[np.isfinite(values)]
    signed = finite.size and finite.min() < 0 < finite.max()
    larger = larger_is_similar(result.measure)
    if signed:
        lim = float(np.abs(finite).max())
        im = ax.imshow(values, cmap="RdBu_r" if larger is not False else "RdBu", vmin=-lim, vmax=lim)
    else:
        im = ax.imshow(values, cmap="cividis_r" if larger is False else "cividis")
    cols, rows = _ticks(len(result.cols)), _ticks(len(result.rows))
    ax.set_xticks(cols, [result.cols[i] for i in cols], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(rows, [result.rows[i] for i in rows], fontsize=8)
    ax.set_title(textwrap.fill(title or result.measure, 38), fontsize=10)
    bar = ax.figure.colorbar(im, ax=ax, shrink=0.85)
    label = scale_label(result.measure)
    if label:
        bar.set_label(("distance: " if larger is False else "similarity: ") + label, fontsize=8)
    if annotate is None:
        annotate = values.size <= 100
    if annotate and finite.size:
        mid = (finite.min() + finite.max()) / 2
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v = values[i, j]
                if np.isfinite(v):
                    dark = (v < mid) != (bool(signed) or larger is False)  # cividis is dark at its low end
                    color = "white" if dark else "black"
                    ax.text(j, i, _cell_text(result, i, j), ha="center", va="center", fontsize=7, color=color)
    notes = _uncertainty_notes(result)
    if notes:
        ax.set_xlabel(notes, fontsize=7)
    return ax


def _cell_text(result: Any, i: int, j: int) -> str:
    """A heatmap cell: the value, its interval below it (when the result has intervals), and ``*`` when its
    permutation p-value is below 0.05."""
    text = f"{result.values[i, j]:.2f}"
    p = getattr(result, "p", None)
    if p is not None and p[i, j] < 0.05:
        text += "*"
    lo, hi = getattr(result, "ci_low", None), getattr(result, "ci_high", None)
    if lo is not None and hi is not None:
        text += f"\n[{lo[i, j]:.2f}, {hi[i, j]:.2f}]"
    return text


def _uncertainty_notes(result: Any) -> str:
    """The x-axis note saying what the brackets and stars of the annotations are."""
    meta = getattr(result, "meta", {}) or {}
    notes = []
    if getattr(result, "ci_low", None) is not None and "intervals" in meta:
        iv = meta["intervals"]
        notes.append(f"[ ]: {iv['ci']:.0%} bootstrap interval ({iv['rule']}, {iv['n']} resamples)")
    if getattr(result, "p", None) is not None and "p_values" in meta:
        notes.append(f"*: permutation p < 0.05 ({meta['p_values']['n']} permutations, uncorrected)")
    return "\n".join(notes)


def depth_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    ylabel: str,
    title: str,
    ceiling: tuple[float, float] | None = None,
) -> Any:
    """Values by relative depth, one line per model with its interval band.

    ``curves[model]`` has ``layers`` (names), ``value`` and optionally ``low`` / ``high``. The x axis
    is the relative depth 0..1 so models of different depths share it; ``ceiling`` draws a band.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.4), layout="constrained")
    for k, (model, c) in enumerate(curves.items()):
        n = len(c["value"])
        x = np.linspace(0, 1, n) if n > 1 else np.zeros(1)
        color = OKABE_ITO[k % len(OKABE_ITO)]
        ax.plot(x, c["value"], marker="o", ms=3, color=color, label=model)
        if c.get("low") is not None and c.get("high") is not None:
            ax.fill_between(x, c["low"], c["high"], color=color, alpha=0.2, linewidth=0)
    if ceiling is not None:
        ax.axhspan(ceiling[0], ceiling[1], color="0.6", alpha=0.25, label="noise ceiling")
    ax.set_xlabel("relative depth (0 = embeddings, 1 = last layer)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return fig


def classical_mds(D: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of a distance matrix: top eigenvectors of ``-H D^2 H / 2``."""
    D = np.asarray(D, dtype=float)
    n = D.shape[0]
    H = np.eye(n) - 1.0 / n
    B = -0.5 * H @ (D**2) @ H
    w, V = np.linalg.eigh((B + B.T) / 2)
    order = np.argsort(w)[::-1][:dims]
    return V[:, order] * np.sqrt(np.clip(w[order], 0, None))


def layer_map(D: np.ndarray, labels: Sequence[str], groups: Sequence[str], title: str) -> Any:
    """A 2-D MDS map of layers from a distance matrix; each model's layers joined in depth order."""
    plt = _plt()
    P = classical_mds(D)
    fig, ax = plt.subplots(figsize=(5.2, 4.2), layout="constrained")
    for k, g in enumerate(dict.fromkeys(groups)):
        idx = [i for i, gi in enumerate(groups) if gi == g]
        color = OKABE_ITO[k % len(OKABE_ITO)]
        ax.plot(P[idx, 0], P[idx, 1], "-o", color=color, ms=4, label=g)
        ax.annotate(labels[idx[0]], P[idx[0]], fontsize=7, color=color, xytext=(3, 3), textcoords="offset points")
        ax.annotate(labels[idx[-1]], P[idx[-1]], fontsize=7, color=color, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def save(fig: Any, directory: str | Path, stem: str) -> dict[str, str]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` in ``directory``; returns the two paths."""
    plt = _plt()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fig = getattr(fig, "figure", fig)
    paths = {}
    for ext in ("png", "svg"):
        p = directory / f"{stem}.{ext}"
        fig.savefig(p, dpi=150 if ext == "png" else None)
        paths[ext] = str(p)
    plt.close(fig)
    return paths
