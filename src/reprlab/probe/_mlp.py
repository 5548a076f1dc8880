"""Small MLP probes (one hidden ReLU layer), many trained at once on a shared input matrix.

Problems are stacked as for the linear probes (see :mod:`reprlab.probe._solvers`): the first layer of
every problem reads the same ``X`` through one matrix product, with each problem's training-fold
standardisation folded into its weights. The loss is the sum over problems of each problem's mean
training loss plus its weight decay, and Adam updates every parameter element by element, so the
problems are trained exactly as if each were trained alone (same seed stream per problem).
"""

from __future__ import annotations

import torch

from ._solvers import standardisation


def fit_predict_mlp(
    X: torch.Tensor,
    targets: torch.Tensor,
    masks: torch.Tensor,
    n_classes: int | None,
    *,
    hidden: int = 64,
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> torch.Tensor:
    """Train one MLP per problem on its masked rows; return every row's output per problem.

    ``targets`` (P, n): class codes (``n_classes`` given) or real values (``n_classes=None``). Returns
    (P, n, n_classes) probabilities, or (P, n) predictions for a real target.
    """
    P, n = masks.shape
    d = X.shape[1]
    std = standardisation(X, masks)
    k = 1 if n_classes is None else n_classes
    gen = torch.Generator().manual_seed(int(seed))
    W_in = (torch.randn(P, d, hidden, generator=gen, dtype=X.dtype) / d**0.5).to(X.device).requires_grad_()
    b1 = torch.zeros(P, hidden, dtype=X.dtype, device=X.device, requires_grad=True)
    W_out = (torch.randn(P, hidden, k, generator=gen, dtype=X.dtype) / hidden**0.5).to(X.device).requires_grad_()
    b2 = torch.zeros(P, k, dtype=X.dtype, device=X.device, requires_grad=True)
    inv_sd = (1.0 / std.sd).unsqueeze(-1)
    y_mu = y_sd = None
    if n_classes is None:  # standardise a real target on the training rows too
        y_mu = (masks * targets).sum(1) / masks.sum(1)
        y_sd = (((targets - y_mu.unsqueeze(1)) ** 2 * masks).sum(1) / masks.sum(1)).sqrt().clamp_min(1e-12)
        t_std = (targets - y_mu.unsqueeze(1)) / y_sd.unsqueeze(1)
    wts = masks / masks.sum(1, keepdim=True)

    def forward() -> torch.Tensor:
        V = W_in * inv_sd
        c = b1 - torch.einsum("pd,pdh->ph", std.mu, V)
        H = (X @ V.permute(1, 0, 2).reshape(d, P * hidden)).reshape(n, P, hidden).permute(1, 0, 2) + c.unsqueeze(1)
        return torch.relu(H) @ W_out + b2.unsqueeze(1)  # (P, n, k)

    opt = torch.optim.Adam([W_in, b1, W_out, b2], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        out = forward()
        if n_classes is None:
            per_row = (out[..., 0] - t_std) ** 2
        else:
            per_row = torch.logsumexp(out, -1) - out.gather(-1, targets.long().unsqueeze(-1))[..., 0]
        loss = (per_row * wts).sum() + 0.5 * weight_decay * ((W_in * W_in).sum() + (W_out * W_out).sum())
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = forward()
        if n_classes is None:
            return out[..., 0] * y_sd.unsqueeze(1) + y_mu.unsqueeze(1)
        return torch.softmax(out, dim=-1)
