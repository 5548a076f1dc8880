"""``rl.lens.project``: the tokens a residual-stream direction promotes and suppresses.

A direction ``v`` added to the residual stream changes the logits, to first order, by
``W_U (g * c(v))``: ``c`` centres ``v`` when the final norm is a LayerNorm (RMSNorm does not centre),
``g`` is the norm's elementwise gain, ``W_U`` the unembedding (the final norm's division by the
state's scale is a positive factor shared by all tokens, so it does not change the order). This is
the "direct logit attribution" reading of a direction (Elhage et al. 2021, "A mathematical
framework for transformer circuits"; used for probe directions and steering vectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError
from ._model import language_model


@dataclass
class Projection:
    """The ``k`` tokens a direction promotes most (largest logit change) and suppresses most.

    ``promoted`` / ``suppressed``: lists of ``(token text, logit change per unit of the direction)``,
    strongest first; ``scores``: the change for every token id (vocabulary order).
    """

    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]
    scores: np.ndarray

    def __repr__(self) -> str:
        up = ", ".join(repr(t) for t, _ in self.promoted[:5])
        down = ", ".join(repr(t) for t, _ in self.suppressed[:5])
        return f"Projection(promotes {up} ...; suppresses {down} ...)"


def project(direction: Any, lm: Any, k: int = 20, *, through_norm: bool = True) -> Projection:
    """Project ``direction`` (``d_model`` values, or an object with a ``.direction``) through the
    unembedding of ``lm`` (see the module docstring); ``through_norm=False`` skips the final norm's
    centring and gain."""
    m = language_model(lm)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ReprlabError(f"`k` must be a positive integer; got {k!r}.")
    v = getattr(direction, "direction", direction)
    if not isinstance(v, (np.ndarray, torch.Tensor, list, tuple)):
        raise ReprlabTypeError(f"`direction` must be a vector of {m.d_model} values; got {type(direction).__name__}.")
    v = torch.as_tensor(np.asarray(v, dtype=np.float64) if not isinstance(v, torch.Tensor) else v).double().cpu()
    if v.squeeze().dim() != 1 or v.numel() != m.d_model:
        raise ReprlabError(f"`direction` must have {m.d_model} values (the model's width); got shape {tuple(v.shape)}.")
    if not torch.isfinite(v).all() or not v.abs().sum() > 0:
        raise ReprlabError("`direction` must be finite and not all zero.")
    v = v.reshape(-1)
    if through_norm:
        if isinstance(m.norm, torch.nn.LayerNorm) or getattr(m.norm, "bias", None) is not None:
            v = v - v.mean()
        gain = getattr(m.norm, "weight", None)
        if isinstance(gain, torch.Tensor) and gain.numel() == v.numel():
            v = v * gain.detach().double().cpu()
    scores = (m.unembed.weight.detach().double().cpu() @ v).numpy()
    k = min(k, scores.size)
    up = np.argsort(-scores, kind="stable")[:k]
    down = np.argsort(scores, kind="stable")[:k]
    return Projection(
        list(zip(m.texts(up.tolist()), scores[up].tolist())),
        list(zip(m.texts(down.tolist()), scores[down].tolist())),
        scores,
    )
