"""Activation patching: ``rl.patching(lm, clean, corrupt, metric=..., answers=...)``.

Run a clean prompt and a corrupted prompt of the same token length, then, for each layer and each
position (or each attention head), re-run one prompt with that single state taken from the other run
and measure how much of the clean behaviour comes back (Vig et al. 2020, "Causal mediation analysis";
Meng et al. 2022, "Locating and editing factual associations in GPT"; Zhang & Nanda 2024, "Towards
best practices of activation patching", arXiv:2309.16042, for the metrics and the two directions).

* ``direction="denoise"`` (default): clean states patched into the corrupted run;
  ``direction="noise"``: corrupted states patched into the clean run.
* ``component``: ``"resid"`` (a block's output, the residual stream after it), ``"attn"`` (the
  attention module's output), ``"mlp"`` (the MLP's output), ``"heads"`` (one head's output before the
  output projection; the grid is then layers x heads, each head patched at ``positions``).
* ``metric`` on the next-token logits at the last position, with ``answers = (a, b)``:
  ``"logit_diff"``: ``logit[a] - logit[b]``; ``"probability"``: ``softmax(logits)[a]``; ``"kl"``:
  ``KL(p_clean || p_run)`` (answers not needed).

The grid is normalised as the fraction of the clean metric restored,
``(m_patched - m_corrupt) / (m_clean - m_corrupt)`` (for ``"kl"``: ``1 - KL_patched / KL_corrupt``),
so 1 means the patched run behaves like the clean run and 0 like the corrupted one, in either
direction. Patching runs live: the source run's states are read with forward hooks and written
with :func:`rl.intervene`; each grid row is one batched forward pass (one row per position or head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..capture.tokens import blocks as block_names
from ..errors import ReprlabError, ReprlabTypeError
from .edits import Edit
from .hooks import _head_target, intervene

_METRICS = ("logit_diff", "probability", "kl")
_COMPONENTS = ("resid", "attn", "mlp", "heads")


@dataclass
class PatchingResult:
    """The outcome of :func:`patching`.

    ``values[i, j]``: fraction of the clean metric restored by patching row ``rows[i]`` (a layer) at
    column ``cols[j]`` (a position's token, or a head). ``raw`` holds the metric itself;
    ``clean`` and ``corrupt`` the unpatched runs' metrics.
    """

    values: np.ndarray
    raw: np.ndarray
    rows: list[str]
    cols: list[str]
    clean: float
    corrupt: float
    metric: str
    component: str
    direction: str
    meta: dict = field(default_factory=dict)

    def plot(self, ax: Any = None, title: str | None = None) -> Any:
        """Heatmap of ``values`` (layers x positions or heads), diverging at 0; returns the Figure."""
        from ..report.figures import _plt

        plt = _plt()
        if ax is None:
            _, ax = plt.subplots(
                figsize=(max(3.5, 0.55 * len(self.cols) + 2.0), max(3.0, 0.2 * len(self.rows) + 1.2)),
                layout="constrained",
            )
        lim = max(1.0, float(np.nanmax(np.abs(self.values))))
        im = ax.imshow(self.values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(self.cols)), self.cols, rotation=60, ha="right", fontsize=8)
        step = max(1, len(self.rows) // 15)
        ax.set_yticks(range(0, len(self.rows), step), self.rows[::step], fontsize=8)
        ax.set_xlabel("head" if self.component == "heads" else "position (token)")
        ax.set_ylabel("layer")
        what = "clean -> corrupted" if self.direction == "denoise" else "corrupted -> clean"
        ax.set_title(title or f"Patching {self.component} ({what}), {self.metric}: fraction restored", fontsize=10)
        ax.figure.colorbar(im, ax=ax, shrink=0.85)
        return ax.figure

    def to_dict(self) -> dict:
        return {
            "values": self.values.tolist(),
            "raw": self.raw.tolist(),
            "rows": self.rows,
            "cols": self.cols,
            "clean": self.clean,
            "corrupt": self.corrupt,
            "metric": self.metric,
            "component": self.component,
            "direction": self.direction,
        }


class _RowPatch(Edit):
    """Row ``r`` of the batch gets ``source`` at ``spots[r]`` (a position, or a (position set, head))."""

    def __init__(self, source: torch.Tensor, spots: Sequence[tuple[Sequence[int], int | None]], heads: bool):
        super().__init__(None, list(range(source.shape[-2])) if heads else None)
        self.source = source
        self.spots = list(spots)

    def edit(self, h, pos, mask, layer):
        out = h.clone()
        src = self.source.to(h.dtype)
        for r, (positions, head) in enumerate(self.spots):
            p = torch.as_tensor(positions, dtype=torch.long)
            if head is None:
                out[r, p] = src[0, p]
            else:
                out[r, p, head] = src[0, p, head]
        return out


def _model_and_tokenizer(model: Any, tokenizer: Any) -> tuple[torch.nn.Module, Any]:
    if hasattr(model, "model") and isinstance(model.model, torch.nn.Module) and hasattr(model, "tokenizer"):
        return model.model, tokenizer or model.tokenizer
    if isinstance(model, torch.nn.Module):
        return model, tokenizer
    raise ReprlabTypeError(
        f"`model` must be a zoo model (rl.zoo.load(...)) or a torch.nn.Module; got {type(model).__name__}."
    )


def _ids(text: Any, tokenizer: Any, name: str) -> torch.Tensor:
    if isinstance(text, str):
        if tokenizer is None:
            raise ReprlabError(f"`{name}` is text; pass `tokenizer=` (or a zoo model) to tokenize it.")
        return torch.as_tensor(tokenizer(text, return_tensors="pt")["input_ids"])
    t = torch.as_tensor(text)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or t.shape[0] != 1 or t.dtype not in (torch.int64, torch.int32):
        raise ReprlabError(f"`{name}` must be one text or token ids of shape (1, n); got {tuple(t.shape)}.")
    return t.long()


def answer_id(answer: Any, tokenizer: Any, name: str = "answers") -> int:
    """The token id of an answer: an int, or the first token of a text (e.g. ``" Paris"``)."""
    if isinstance(answer, (int, np.integer)):
        return int(answer)
    if not isinstance(answer, str) or tokenizer is None:
        raise ReprlabError(f"`{name}` must hold token ids, or texts together with a tokenizer; got {answer!r}.")
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ReprlabError(f"`{name}`: {answer!r} tokenizes to nothing.")
    return int(ids[0])


def _metric_values(logits: torch.Tensor, metric: str, ans: tuple[int, int] | None, ref: torch.Tensor | None):
    """Metric of each row's last-position logits (batch, vocab)."""
    z = logits.double()
    if metric == "logit_diff":
        return z[:, ans[0]] - z[:, ans[1]]
    if metric == "probability":
        return torch.softmax(z, -1)[:, ans[0]]
    logp = torch.log_softmax(z, -1)
    return (ref.exp() * (ref - logp)).sum(-1)


def _component_modules(model: torch.nn.Module, component: str, layers: Any) -> list[tuple[str, str]]:
    """(row label, module name) of each patched layer."""
    blocks = block_names(model)
    if not blocks:
        raise ReprlabError(f"{type(model).__name__} has no list of identical blocks to patch layer by layer.")
    if layers is None:
        chosen = list(range(len(blocks)))
    else:
        chosen = [int(i) for i in ([layers] if isinstance(layers, (int, np.integer)) else layers)]
        bad = [i for i in chosen if not 0 <= i < len(blocks)]
        if bad:
            raise ReprlabError(f"`layers`: {bad[0]} is not a block index 0..{len(blocks) - 1}.")
    out = []
    for i in chosen:
        block = model.get_submodule(blocks[i])
        if component == "resid":
            out.append((blocks[i], blocks[i]))
            continue
        keys = ("attn", "attention") if component in ("attn", "heads") else ("mlp", "feed_forward", "ffn")
        child = next((n for n, _ in block.named_children() if any(k in n.lower() for k in keys)), None)
        if child is None:
            raise ReprlabError(f"Block {blocks[i]!r} has no child module for {component!r} (looked for {keys}).")
        out.append((blocks[i], f"{blocks[i]}.{child}"))
    return out


def patching(
    model: Any,
    clean: Any,
    corrupt: Any,
    *,
    metric: str = "logit_diff",
    answers: tuple[Any, Any] | None = None,
    component: str = "resid",
    direction: str = "denoise",
    layers: Any = None,
    positions: Any = None,
    tokenizer: Any = None,
) -> PatchingResult:
    """Activation patching over layers x positions (or layers x heads); see the module docstring.

    Parameters
    ----------
    model : zoo model or torch.nn.Module (a causal LM returning ``.logits`` or a logits tensor)
    clean, corrupt : str or token ids (1, n)
        Must have the same number of tokens.
    metric : "logit_diff" | "probability" | "kl"
    answers : (a, b)
        The correct and the contrasting answer (texts, first token used, or token ids); ``b`` is
        unused for ``"probability"``; not needed for ``"kl"``.
    component : "resid" | "attn" | "mlp" | "heads"
    direction : "denoise" (clean into corrupted) | "noise" (corrupted into clean)
    layers : block indices (default all); positions : positions to patch (default all; for
        ``"heads"``, the positions each head is patched at together, default all).
    """
    lm, tok = _model_and_tokenizer(model, tokenizer)
    if metric not in _METRICS:
        raise ReprlabError(f"`metric` must be one of {list(_METRICS)}; got {metric!r}.")
    if component not in _COMPONENTS:
        raise ReprlabError(f"`component` must be one of {list(_COMPONENTS)}; got {component!r}.")
    if direction not in ("denoise", "noise"):
        raise ReprlabError(f'`direction` must be "denoise" or "noise"; got {direction!r}.')
    c_ids, k_ids = _ids(clean, tok, "clean"), _ids(corrupt, tok, "corrupt")
    n = c_ids.shape[1]
    if k_ids.shape[1] != n:
        raise ReprlabError(
            f"`clean` has {n} tokens and `corrupt` has {k_ids.shape[1]}: patching position by position needs "
            "prompts of the same token length. Rephrase one (e.g. choose names that are one token each)."
        )
    ans = None
    if metric != "kl":
        if answers is None or len(answers) != 2:
            raise ReprlabError(f'metric={metric!r} needs `answers=(correct, contrast)`, e.g. (" Paris", " Rome").')
        ans = (answer_id(answers[0], tok), answer_id(answers[1], tok))
    pos_list = list(range(n)) if positions is None else [int(p) % n for p in np.atleast_1d(positions)]
    if any(not 0 <= p < n for p in pos_list):
        raise ReprlabError(f"`positions` must index the {n} tokens.")
    targets = _component_modules(lm, component, layers)

    src_ids, run_ids = (c_ids, k_ids) if direction == "denoise" else (k_ids, c_ids)
    states: dict[str, torch.Tensor] = {}
    heads_n: dict[str, int] = {}
    handles = []
    modules = dict(lm.named_modules())
    try:
        for _, name in targets:
            if component == "heads":
                proj, h = _head_target(lm, name, modules[name])
                heads_n[name] = h

                def grab_in(m, args, name=name, h=h):
                    x = args[0].detach()
                    states[name] = x.reshape(*x.shape[:-1], h, x.shape[-1] // h)

                handles.append(proj.register_forward_pre_hook(grab_in))
            else:

                def grab_out(m, args, out, name=name):
                    t = out[0] if isinstance(out, (tuple, list)) else out
                    states[name] = t.detach()

                handles.append(modules[name].register_forward_hook(grab_out))
        with torch.no_grad():
            src_logits = _logits(lm(src_ids))[:, -1]
    finally:
        for hd in handles:
            hd.remove()
    with torch.no_grad():
        run_logits = _logits(lm(run_ids))[:, -1]
    clean_logits, corrupt_logits = (src_logits, run_logits) if direction == "denoise" else (run_logits, src_logits)
    ref = torch.log_softmax(clean_logits.double(), -1) if metric == "kl" else None
    m_clean = float(_metric_values(clean_logits, metric, ans, ref)[0])
    m_corrupt = float(_metric_values(corrupt_logits, metric, ans, ref)[0])
    denom = (0.0 - m_corrupt) if metric == "kl" else (m_clean - m_corrupt)
    if abs(denom) < 1e-9:
        raise ReprlabError(
            f"The clean and corrupted runs give the same {metric} ({m_clean:.4g}), so nothing can be restored; "
            "choose prompts whose answers differ."
        )

    if component == "heads":
        n_heads = heads_n[targets[0][1]]
        spots = [(pos_list, hh) for hh in range(n_heads)]
        cols = [f"H{hh}" for hh in range(n_heads)]
    else:
        spots = [([p], None) for p in pos_list]
        texts = [tok.decode([i]) for i in c_ids[0].tolist()] if tok is not None else [str(i) for i in range(n)]
        cols = [f"{p}:{texts[p]}" for p in pos_list]
    raw = np.empty((len(targets), len(spots)))
    batch = run_ids.expand(len(spots), n)
    for i, (_, name) in enumerate(targets):
        edit = _RowPatch(states[name], spots, heads=component == "heads")
        with torch.no_grad(), intervene(lm, {name: edit}):
            logits = _logits(lm(batch))[:, -1]
        raw[i] = _metric_values(logits, metric, ans, ref).numpy()
    values = (1.0 - raw / m_corrupt) if metric == "kl" else (raw - m_corrupt) / (m_clean - m_corrupt)
    return PatchingResult(
        values,
        raw,
        [label for label, _ in targets],
        cols,
        m_clean,
        m_corrupt,
        metric,
        component,
        direction,
        {"positions": pos_list, "modules": [name for _, name in targets]},
    )


def _logits(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if logits is None:
        raise ReprlabError("The model's output has no `.logits`; patching needs a language model's next-token logits.")
    return logits
