"""``rl.dictionary.train``: a sparse autoencoder trained on an array or a store, streamed, resumable.

The recipe (the standard one of Gao et al. 2024 and Bricken et al. 2023, as in dictionary_learning
and SAELens):

* inputs scaled by one factor ``s`` so that their mean row norm is ``sqrt(d)`` (estimated on
  ``scale_rows`` rows from random chunks; recorded as ``sae.scale`` and applied by ``encode``);
* decoder rows (atoms) drawn at random and normalised to unit norm, the encoder initialised to the
  decoder's transpose, the encoder bias at 0 and the decoder bias at the mean of the scaled inputs;
* loss ``mean_rows ||x - x_hat||^2`` plus, by kind: TopK and BatchTopK the AuxK loss
  ``alpha ||e - e_hat||^2 / ||e - mean(e)||^2`` where ``e = x - x_hat`` and ``e_hat`` decodes the
  ``k_aux = d/2`` largest pre-activations of the dead latents (alpha = 1/32; Gao et al. 2024, A.2);
  ReLU ``l1_coeff * mean_rows sum_i z_i ||W_dec_i||`` with the coefficient ramped up linearly over the
  first 5 % of steps; JumpReLU ``sparsity_coeff * (L0 / k - 1)^2`` where L0 is the number of
  latents above their threshold, differentiated with a rectangle-kernel straight-through estimator
  of bandwidth ``bandwidth``, thresholds starting at ``theta_init`` (Rajamanoharan et al. 2024; the L0
  target form as in dictionary_learning);
* Adam, learning rate ``2e-4 / sqrt(m / 2^14)`` by default (Gao et al. 2024), constant, then
  linearly down to 0 over the last 20 % of steps;
* the gradient component parallel to each decoder row removed before the step and the rows
  renormalised after it, so atoms stay unit norm;
* a latent is dead when it has not fired on the last ``dead_after`` training rows (default
  ``min(10,000,000, n_rows)``: 10 M tokens as Gao et al., or one pass over smaller data).

The training batches come from :meth:`reprlab.dictionary.data.Rows.stream` (chunks shuffled, rows
shuffled across the chunks of a buffer), a function of the seed and the step only, so a run resumed
from its checkpoint (written atomically every ``checkpoint_every`` steps: weights, optimiser state,
dead-latent counters, the BatchTopK threshold, the running statistics) sees the same batches and
ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .._validation import check_int, check_positive
from ..errors import ReprlabError
from .data import Rows
from .sae import KINDS, SparseAutoencoder

_CKPT_FORMAT = 1


class _JumpReLU(torch.autograd.Function):
    """``pre * H(pre - theta)``; d/dtheta by the rectangle-kernel pseudo-derivative
    ``-(theta / eps) K((pre - theta) / eps)`` (Rajamanoharan et al. 2024, eq. 11)."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return pre * (pre > theta)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        pre, theta = ctx.saved_tensors
        eps = ctx.eps
        kernel = ((pre - theta).abs() < eps / 2).to(grad.dtype)
        d_theta = (-(theta / eps) * kernel * grad).sum(0)
        return grad * (pre > theta), d_theta, None


class _Step(torch.autograd.Function):
    """``H(pre - theta)``; d/dtheta by ``-(1 / eps) K((pre - theta) / eps)`` (ibid., eq. 12)."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor, None]:
        pre, theta = ctx.saved_tensors
        eps = ctx.eps
        kernel = ((pre - theta).abs() < eps / 2).to(grad.dtype)
        return None, (-(1.0 / eps) * kernel * grad).sum(0), None


class _Progress:
    """tqdm with the running FVU and L0 when installed, else a line on stderr every 5 %."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str) -> None:
        self.enabled, self.total, self.bar, self.last = enabled, total, None, initial
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step")
        except ImportError:
            self.bar = None

    def update(self, step: int, fvu: float, l0: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(step - self.last)
            self.bar.set_postfix(fvu=f"{fvu:.4f}", l0=f"{l0:.1f}", refresh=False)
        elif step == self.total or step - self.last >= max(1, self.total // 20):
            print(f"step {step}/{self.total}  fvu {fvu:.4f}  l0 {l0:.1f}", file=sys.stderr, flush=True)
        else:
            return
        self.last = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Adam (betas 0.9, 0.999), the fused kernel where this torch has it for the device (one pass over
    each tensor instead of several; the same update up to rounding)."""
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), fused=True)
    except (RuntimeError, TypeError):  # torch < 2.4 on the CPU, or a device without the fused kernel
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write to a temporary file, then rename it over ``path``: a reader (or a run killed mid-write)
    sees the previous checkpoint or the new one, never a partial file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    acts: Any,
    layer: str | None = None,
    kind: str = "topk",
    k: int | None = 32,
    expansion: int = 8,
    steps: int | None = None,
    batch_size: int = 4096,
    device: Any = None,
    seed: int = 0,
    *,
    n_latents: int | None = None,
    lr: float | None = None,
    l1_coeff: float = 5.0,
    sparsity_coeff: float = 1.0,
    bandwidth: float = 0.001,
    theta_init: float = 0.001,
    auxk_alpha: float = 1 / 32,
    dead_after: int | None = None,
    buffer_rows: int = 65536,
    scale_rows: int = 16384,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
) -> SparseAutoencoder:
    """Train a sparse autoencoder on the rows of ``acts`` (see the module docstring for the recipe).

    Parameters
    ----------
    acts : array (n_rows, d), torch tensor, or rl.Activations
        The training rows. A store is read chunk by chunk (never whole): pass ``layer``. A
        ``pool="none"`` layer gives one row per token.
    layer : str, optional
        The store layer (needed when the store has several); recorded in the SAE.
    kind : "topk", "batchtopk", "relu" or "jumprelu"
    k : int
        Latents per row: kept per row (topk), on average over a batch (batchtopk), or the target
        L0 (jumprelu). Ignored by relu (its sparsity comes from ``l1_coeff``).
    expansion : int
        Latents per input dimension (``m = expansion * d``) unless ``n_latents`` is given.
    steps : int, optional
        Optimiser steps (default: one pass over the rows, ``n_rows // batch_size``).
    batch_size : int
        Rows per step.
    device : str or torch.device, optional
        Where to train (e.g. ``"cuda"``); the data are read on the CPU and moved batch by batch.
    seed : int
        Seeds the initialisation and the order of the batches: the same seed, data and settings
        give the same weights (on the CPU, bit for bit).
    lr, l1_coeff, sparsity_coeff, bandwidth, theta_init, auxk_alpha, dead_after
        The recipe's constants (module docstring). ``l1_coeff`` (default 5, the value of Anthropic's
        April 2024 update for LLM activations) acts on the scaled inputs, where a row made of ``L0``
        features has coefficients of about ``c = sqrt(d / L0)``: a latent pays ``l1_coeff * c`` to save
        about ``c^2`` of squared error and its code shrinks by about ``l1_coeff / 2``, so tune it well
        below ``c`` (docs/dictionary.md, "Known limits", has a sweep on a planted dictionary).
    buffer_rows, scale_rows : int
        Rows per shuffle buffer; rows used to estimate the input scale and mean.
    checkpoint : path, optional
        A file: written every ``checkpoint_every`` steps (default: 20 times per run) and at the end.
        If it exists when the run starts and holds the same run (data shape, settings, seed), the
        run resumes from it (after ``kill -9`` too); a checkpoint of another run raises.
    progress : bool
        A progress bar with the running FVU and L0 (exponential averages over batches).

    Returns
    -------
    SparseAutoencoder
        On ``device``, in eval mode, with ``sae.info`` recording the data, the settings, the input
        scale and the final running FVU and L0.
    """
    from .._validation import resolve_device

    if kind not in KINDS:
        raise ReprlabError(f"`kind` must be one of {list(KINDS)}; got {kind!r}.")
    rows = Rows(acts, layer)
    d = rows.d
    m = check_int(n_latents, "n_latents") if n_latents is not None else check_int(expansion, "expansion") * d
    if kind != "relu":
        k = check_int(k, "k")
        if k > m:
            raise ReprlabError(
                f"`k` ({k}) is larger than the number of latents ({m} = expansion x d); lower k or raise expansion."
            )
    else:
        k = None
    batch_size = check_int(batch_size, "batch_size")
    if batch_size > rows.n:
        raise ReprlabError(f"`batch_size` ({batch_size}) is larger than the number of rows ({rows.n}); lower it.")
    steps = check_int(steps, "steps") if steps is not None else max(1, rows.n // batch_size)
    lr = check_positive(lr, "lr") if lr is not None else 2e-4 / math.sqrt(m / 2**14)
    l1_coeff, sparsity_coeff = check_positive(l1_coeff, "l1_coeff"), check_positive(sparsity_coeff, "sparsity_coeff")
    bandwidth, auxk_alpha = check_positive(bandwidth, "bandwidth"), float(auxk_alpha)
    theta_init = check_positive(theta_init, "theta_init")
    dead_after = check_int(dead_after, "dead_after") if dead_after is not None else min(10_000_000, rows.n)
    every = check_int(checkpoint_every, "checkpoint_every") if checkpoint_every is not None else max(1, steps // 20)
    dev = resolve_device(device)

    sample = rows.sample(scale_rows, seed)
    mean_norm = float(sample.double().norm(dim=1).mean())
    if not mean_norm > 0:
        raise ReprlabError(f"`acts` ({rows.source}): the sampled rows are all zero; there is nothing to encode.")
    scale = math.sqrt(d) / mean_norm
    settings = {
        "kind": kind, "k": k, "d": d, "m": m, "steps": steps, "batch_size": batch_size, "seed": int(seed),
        "lr": lr, "l1_coeff": l1_coeff, "sparsity_coeff": sparsity_coeff, "bandwidth": bandwidth,
        "theta_init": theta_init, "auxk_alpha": auxk_alpha, "dead_after": dead_after, "buffer_rows": buffer_rows,
        "n_rows": rows.n, "layer": rows.layer, "scale": scale,
    }  # fmt: skip

    sae = SparseAutoencoder(d, m, kind, k, rows.layer)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        W = torch.randn(m, d, generator=gen)
        sae.W_dec.copy_(W / W.norm(dim=1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_dec.copy_((sample.double() * scale).mean(0).float())
        sae.scale_.fill_(scale)
        if sae.theta is not None:
            sae.theta.fill_(theta_init)
    sae.to(dev).train()
    opt = _adam(list(sae.parameters()), lr)
    since_fired = torch.zeros(m, dtype=torch.long, device=dev)
    stats = {"fvu": float("nan"), "l0": float("nan"), "resumed_from": 0}
    start = 0

    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        if state.get("format") != _CKPT_FORMAT or state.get("settings") != settings:
            old = state.get("settings", {})
            diffs = [f"{key} ({old.get(key)!r} there, {v!r} now)" for key, v in settings.items() if old.get(key) != v]
            raise ReprlabError(
                f"`checkpoint`: {str(ckpt)!r} belongs to a different run, so this run cannot resume from it. "
                f"Differences: {'; '.join(diffs) or 'format'}. Delete it or choose another path."
            )
        sae.load_state_dict(state["sae"])
        opt.load_state_dict(state["opt"])
        since_fired.copy_(state["since_fired"])
        stats = dict(state["stats"])
        start = stats["resumed_from"] = int(state["step"])

    def save_checkpoint(step: int) -> None:
        if ckpt is not None:
            _save_atomic(
                {"format": _CKPT_FORMAT, "settings": settings, "step": step, "sae": sae.state_dict(),
                 "opt": opt.state_dict(), "since_fired": since_fired, "stats": stats},
                ckpt,
            )  # fmt: skip

    t0 = time.perf_counter()
    bar = _Progress(steps, start, progress, f"{kind} SAE")
    batches = rows.stream(batch_size, int(seed), buffer_rows, start_step=start)
    try:
        for step in range(start, steps):
            x = next(batches).to(dev) * scale
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (steps - step) / max(1.0, 0.2 * steps))
            loss, fired, active, err = _loss(
                sae, x, step, steps, since_fired >= dead_after, l1_coeff, sparsity_coeff, bandwidth, auxk_alpha
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                w, g = sae.W_dec, sae.W_dec.grad
                g -= (g * w).sum(1, keepdim=True) * w
            opt.step()
            with torch.no_grad():
                sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True)
                if sae.theta is not None:
                    sae.theta.clamp_(min=0.0)
                since_fired += x.shape[0]
                since_fired[fired] = 0
                fvu = float(err.pow(2).sum() / (x - x.mean(0)).pow(2).sum())
                l0 = float(active) / x.shape[0]
                first = math.isnan(stats["fvu"])
                stats["fvu"] = fvu if first else 0.95 * stats["fvu"] + 0.05 * fvu
                stats["l0"] = l0 if first else 0.95 * stats["l0"] + 0.05 * l0
            if not math.isfinite(float(loss.detach())):
                raise ReprlabError(
                    f"Training diverged at step {step} (loss {float(loss)}); lower `lr` (now {lr:.3g})"
                    + (" or `l1_coeff`" if kind == "relu" else "") + "."
                )  # fmt: skip
            bar.update(step + 1, stats["fvu"], stats["l0"])
            if (step + 1) % every == 0 or step + 1 == steps:
                save_checkpoint(step + 1)
    finally:
        bar.close()
    sae.eval()
    sae.info = {
        **{key: v for key, v in settings.items() if key not in ("d", "m", "kind", "k", "layer")},
        "data": rows.source,
        "mean_norm": mean_norm,
        "seconds": round(time.perf_counter() - t0, 3),
        "running_fvu": stats["fvu"],
        "running_l0": stats["l0"],
        "dead_fraction_training": float((since_fired >= dead_after).float().mean()),
        "resumed_from": stats["resumed_from"],
        "device": str(dev),
    }
    return sae


class _Gathered(torch.autograd.Function):
    """``pre[r, idx[r, j]]`` with ``pre = (x - b_dec) W_enc + b_enc``, differentiated sparsely.

    ``pre`` is computed once without a graph; only the ``k`` selected entries per row carry a
    gradient, so the backward pass costs ``O(n k d)`` instead of the dense ``O(n m d)``:
    ``dL/dW_enc[:, i] = sum_{(r, j): idx[r, j] = i} g[r, j] (x_r - b_dec)``,
    ``dL/db_enc[i] = sum_{(r, j): idx[r, j] = i} g[r, j]`` and ``dL/db_dec = -W_enc dL/db_enc``.
    It equals the gradient of the dense formula (tested against autograd on it).
    """

    @staticmethod
    def forward(
        ctx: Any, pre: torch.Tensor, idx: torch.Tensor, xc: torch.Tensor, b_dec: torch.Tensor,
        W_enc: torch.Tensor, b_enc: torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(idx, xc, W_enc)
        return pre.gather(1, idx)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:
        idx, xc, W_enc = ctx.saved_tensors
        n, k = idx.shape
        m = W_enc.shape[1]
        flat, gflat = idx.reshape(-1), g.reshape(-1)
        g_benc = torch.zeros(m, dtype=g.dtype, device=g.device).index_add_(0, flat, gflat)
        g_W = None
        if ctx.needs_input_grad[4]:
            rows = torch.arange(n, device=g.device).repeat_interleave(k)
            G = torch.sparse_coo_tensor(torch.stack([flat, rows]), gflat, (m, n), check_invariants=False)
            g_W = torch.sparse.mm(G, xc).t()
        g_bdec = -(W_enc @ g_benc) if ctx.needs_input_grad[3] else None
        return None, None, None, g_bdec, g_W, g_benc


def _topk_sparse(
    sae: SparseAutoencoder, pre: torch.Tensor, idx: torch.Tensor, xc: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, decoded) of the codes kept at ``idx``: ``relu(pre[idx])`` and ``sum_j z_j W_dec[idx_j]``
    (a gather of ``k`` decoder rows per row, not the dense ``z W_dec``)."""
    vals = _Gathered.apply(pre, idx, xc, sae.b_dec, sae.W_enc, sae.b_enc).clamp_min(0)
    return vals, torch.nn.functional.embedding_bag(idx, sae.W_dec, per_sample_weights=vals, mode="sum")


def _loss(
    sae: SparseAutoencoder,
    x: torch.Tensor,
    step: int,
    steps: int,
    dead: torch.Tensor,
    l1_coeff: float,
    sparsity_coeff: float,
    bandwidth: float,
    auxk_alpha: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, latents that fired (m,) bool, number of non-zero codes, residual) of one batch of scaled
    rows under the SAE's kind."""
    if sae.kind == "topk":
        return _loss_topk(sae, x, dead, auxk_alpha)
    pre = sae.pre_activations(x)
    if sae.kind == "batchtopk":
        flat = torch.relu(pre).flatten()
        vals, idx = flat.topk(min(int(sae.k) * x.shape[0], flat.numel()))
        z = torch.zeros_like(flat).scatter(0, idx, vals).view_as(pre)
        with torch.no_grad():  # inference threshold: average of the smallest kept activation
            kept = vals[vals > 0]
            if len(kept):
                beta = min(0.999, step / (step + 1))  # a plain running mean until step 1000, then an EMA
                sae.threshold.copy_(beta * sae.threshold + (1 - beta) * kept.min())
    elif sae.kind == "relu":
        z = torch.relu(pre)
    else:
        z = _JumpReLU.apply(pre, sae.theta, bandwidth)
    x_hat = sae.decode_scaled(z)
    err = x - x_hat
    loss = err.pow(2).sum(-1).mean()
    if sae.kind == "batchtopk" and auxk_alpha > 0 and bool(dead.any()):
        k_aux = min(sae.d // 2, int(dead.sum()))
        aux_pre = torch.where(dead, pre, torch.full_like(pre, -torch.inf))
        vals, idx = aux_pre.topk(k_aux, dim=-1)
        z_aux = torch.zeros_like(pre).scatter(-1, idx, vals.clamp_min(0))
        loss = loss + auxk_alpha * _auxk(z_aux @ sae.W_dec, err)
    elif sae.kind == "relu":
        ramp = min(1.0, (step + 1) / max(1.0, 0.05 * steps))
        loss = loss + l1_coeff * ramp * (z * sae.W_dec.norm(dim=1)).sum(-1).mean()
    elif sae.kind == "jumprelu":
        l0 = _Step.apply(pre, sae.theta, bandwidth).sum(-1).mean()
        loss = loss + sparsity_coeff * (l0 / sae.k - 1).pow(2)
    with torch.no_grad():
        nz = z > 0
        return loss, nz.any(0), nz.sum(), err


def _auxk(e_hat: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
    """The AuxK term (Gao et al. 2024): the dead latents' reconstruction ``e_hat`` of the residual ``e``
    (no gradient through ``e``), normalised by the residual's variance:
    ``sum ||e_hat - e||^2 / sum ||e - mean(e)||^2``."""
    e = err.detach()
    return (e_hat - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum().clamp_min(1e-12)


def _loss_topk(
    sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, auxk_alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The TopK loss with sparse gradients (:class:`_Gathered`, a decoder gather): the same values and
    gradients as the dense formula, at ``O(n k d)`` besides the one dense encoder product."""
    xc = x - sae.b_dec.detach()
    with torch.no_grad():
        pre = torch.addmm(sae.b_enc, xc, sae.W_enc)
        idx = pre.topk(int(sae.k), dim=-1).indices
    vals, dec = _topk_sparse(sae, pre, idx, xc)
    err = x - (dec + sae.b_dec)
    loss = err.pow(2).sum(-1).mean()
    if auxk_alpha > 0 and bool(dead.any()):
        dead_idx = dead.nonzero().flatten()
        k_aux = min(sae.d // 2, len(dead_idx))
        if len(dead_idx) <= 4 * k_aux:  # dense over the dead latents: (n, n_dead) codes, one product each way
            pre_dead = torch.addmm(sae.b_enc[dead_idx], x - sae.b_dec, sae.W_enc[:, dead_idx])
            aux_vals, aux_pos = pre_dead.topk(k_aux, dim=-1)
            z_aux = torch.zeros_like(pre_dead).scatter(-1, aux_pos, aux_vals.clamp_min(0))
            e_hat = z_aux @ sae.W_dec[dead_idx]
        else:  # many dead latents: gathers of the k_aux kept ones per row
            with torch.no_grad():
                aux_idx = dead_idx[pre[:, dead_idx].topk(k_aux, dim=-1).indices]
            _, e_hat = _topk_sparse(sae, pre, aux_idx, xc)
        loss = loss + auxk_alpha * _auxk(e_hat, err)
    with torch.no_grad():
        nz = vals > 0
        fired = torch.zeros(sae.m, dtype=torch.bool, device=x.device)
        fired[idx[nz]] = True
        return loss, fired, nz.sum(), err
