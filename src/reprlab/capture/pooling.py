"""Pooling: one layer output of a batch -> one row per stimulus (or one row per token / position).

Shapes a layer may return (batch first):

* ``(B, D)``: already one vector per stimulus; every pooling keeps it as it is.
* ``(B, T, D)``: a token sequence (transformers). ``mask`` (``(B, T)``, 1 for real tokens, 0 for
  padding; the tokenizer's ``attention_mask``) says which positions are real; without a mask every
  position is real.
* ``(B, C, H, W)``: a convolutional feature map, channels first.

Poolings:

==================  =========================================================================
``"mean"``          tokens: mean over the real tokens, ``sum_t m_t h_t / sum_t m_t`` (as
                    sentence-transformers); maps: mean over the H x W positions
``"last"``          tokens: the last real token of each stimulus (mask-aware: works for left and
                    right padding)
``"first"``         tokens: the first real token (position 0 with right padding)
``"max"``           tokens: element-wise max over the real tokens; maps: over the positions
``"spatial_mean"``  maps only: mean over H x W (the global average pool of CNN heads)
``"flatten"``       maps (or any fixed-size output): every value of a stimulus in one row
``"none"``          keep every real token (maps: every position, features = channels), one row
                    each, with the stimulus index and the position of every row
==================  =========================================================================
"""

from __future__ import annotations

import torch

from ..errors import ReprlabError, close_matches

POOLINGS = ("mean", "last", "first", "max", "spatial_mean", "flatten", "none")
_TOKEN_ONLY = {"last", "first"}
_MAP_ONLY = {"spatial_mean"}


def check_pool(pool: str) -> str:
    """Validate a pooling name."""
    if not isinstance(pool, str) or pool not in POOLINGS:
        raise ReprlabError(f"`pool` must be one of {list(POOLINGS)}; got {pool!r}.{close_matches(str(pool), POOLINGS)}")
    return pool


def check_fits(shape: tuple[int, ...], pool: str, layer: str, mask: torch.Tensor | None) -> None:
    """Raise a clear error when ``pool`` cannot be applied to an output of ``shape``."""
    nd = len(shape)
    what = f"Layer {layer!r} returned an output of shape {tuple(shape)}"
    if nd not in (2, 3, 4):
        raise ReprlabError(
            f"{what}; reprlab pools outputs of shape (batch, features), (batch, tokens, features) or "
            f"(batch, channels, height, width). Pick another layer (e.g. its parent module)."
        )
    if nd == 3:
        if pool in _MAP_ONLY:
            raise ReprlabError(
                f"{what} (a token sequence); pool={pool!r} is for convolutional maps (batch, C, H, W). "
                "Use pool='mean' for the mean over tokens."
            )
        if pool == "flatten" and mask is not None:
            raise ReprlabError(
                f"{what} (a padded token sequence); pool='flatten' would mix padding into the rows and the "
                "width would change with the batch. Use pool='none' to keep every token, or 'mean' / 'last'."
            )
        if mask is not None and tuple(mask.shape) != tuple(shape[:2]):
            raise ReprlabError(
                f"{what}, but the attention mask has shape {tuple(mask.shape)}; the token axis does not match "
                f"the input tokens, so pool={pool!r} cannot use the mask. Use a layer whose output has one "
                "position per input token, or pool a fixed-size output."
            )
    if nd == 4 and pool in _TOKEN_ONLY:
        raise ReprlabError(
            f"{what} (a convolutional map, channels first); pool={pool!r} needs a token sequence. Use "
            "'spatial_mean' (or 'mean'), 'max', 'flatten' or 'none'."
        )


def pool_output(h: torch.Tensor, pool: str, mask: torch.Tensor | None):
    """Pool one layer output of a batch.

    Returns a ``(B, F)`` tensor, or for ``pool="none"`` a triple ``(rows, stimulus, position)``:
    ``rows`` is ``(n_rows, F)``, ``stimulus`` the batch-relative stimulus index of each row and
    ``position`` its token index (maps: the flat index ``y * W + x``).
    """
    nd = h.dim()
    if nd == 2:
        if pool == "none":
            idx = torch.arange(h.shape[0], device=h.device)
            return h, idx, torch.zeros_like(idx)
        return h
    if nd == 4:
        b, c = h.shape[:2]
        if pool == "flatten":
            return h.reshape(b, -1)
        flat = h.reshape(b, c, -1)
        if pool in ("mean", "spatial_mean"):
            return flat.mean(dim=2)
        if pool == "max":
            return flat.amax(dim=2)
        # none: every position a row, channels as features
        rows = flat.transpose(1, 2).reshape(-1, c)
        n_pos = flat.shape[2]
        stim = torch.arange(b, device=h.device).repeat_interleave(n_pos)
        pos = torch.arange(n_pos, device=h.device).repeat(b)
        return rows, stim, pos
    # tokens (B, T, D)
    b, t, _ = h.shape
    if mask is None:
        if pool == "mean":
            return h.mean(dim=1)
        if pool == "max":
            return h.amax(dim=1)
        if pool == "first":
            return h[:, 0]
        if pool == "last":
            return h[:, -1]
        if pool == "flatten":
            return h.reshape(b, -1)
        rows = h.reshape(b * t, -1)
        stim = torch.arange(b, device=h.device).repeat_interleave(t)
        pos = torch.arange(t, device=h.device).repeat(b)
        return rows, stim, pos
    m = mask.to(device=h.device)
    if pool == "mean":
        mf = m.to(h.dtype).unsqueeze(-1)
        return (h * mf).sum(dim=1) / mf.sum(dim=1).clamp(min=1e-9)
    if pool == "max":
        neg = torch.finfo(h.dtype).min
        return h.masked_fill(~m.bool().unsqueeze(-1), neg).amax(dim=1)
    positions = torch.arange(t, device=h.device)
    real = m.bool()
    if pool == "last":
        idx = torch.where(real, positions, -1).amax(dim=1).clamp(min=0)
        return h[torch.arange(b, device=h.device), idx]
    if pool == "first":
        idx = torch.where(real, positions, t).amin(dim=1).clamp(max=t - 1)
        return h[torch.arange(b, device=h.device), idx]
    stim, tok, pos = real_tokens(real)
    return h[stim, tok], stim, pos


def real_tokens(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The real tokens of a ``(B, T)`` boolean mask, in row-major order: their stimulus, their token
    index in the padded sequence, and their position, which counts real tokens from 0 (independent
    of the padding side): the rows ``pool="none"`` keeps."""
    stim, tok = real.nonzero(as_tuple=True)
    return stim, tok, (real.cumsum(dim=1) - 1)[stim, tok]
