"""Many probe fits at once: penalised logistic regression and ridge, batched over problems and layers.

A *problem* is one fit: a layer's matrix ``X`` (shared by all problems of that layer), a 0/1 weight
per row (the training rows of a fold), the standardisation of those training rows, labels and a
regularisation strength. Because every problem of a layer reads the same ``X``, the logits of all of
them are one matrix product ``X @ V`` with ``V = W / sd`` stacked over problems (the standardisation
folds into the weights: ``((X - mu) / sd) W + b = X (W / sd) + (b - (mu / sd) W)``). Several layers of
one shape are one problem set: ``X`` is (L, n, d) and problem ``p`` belongs to layer ``p // Q``, so an
iteration costs one batched product per direction for every layer x fold x value x permutation,
instead of a loop of small fits (each of which would read its layer's matrix again).

Logistic regression (as scikit-learn's ``LogisticRegression(penalty="l2")``) minimises, per problem,

    f(W, b) = (1 / n_p) sum_i ell(x_i W + b, y_i) + ||W||^2 / (2 C n_p)

over the ``n_p`` training rows (the same minimiser as scikit-learn's ``C sum ell + ||W||^2 / 2``); the
intercept is not penalised unless ``penalise_intercept`` (used by the MDL code, where a training
prefix may miss a class). ``ell`` is the binary log-loss on one logit for two classes and the
multinomial log-loss on one logit per class otherwise, as scikit-learn. For K > 2 classes the
minimiser has class weights summing to zero (the softmax gradients sum to zero over the classes, so
stationarity gives ``sum_k W_k / (C n_p) = 0``), so ``W = U B^T`` is searched with ``B`` a (K, K - 1)
orthonormal basis of the sum-zero vectors (Helmert contrasts): the same minimiser and the same
``||W|| = ||U||``, with K - 1 columns per problem instead of K in every product.

The minimiser is found by limited-memory BFGS (Nocedal & Wright 2006, algorithm 7.4; memory 10) with a
backtracking Armijo line search, run for all problems together but with separate curvature pairs,
steps and stopping per problem; a problem stops when its largest gradient entry is below
``tol * min(1, 1 / C)`` (``tol`` default 1e-10; the objective is ``1 / (C n_p)``-strongly convex, so
the distance to the minimiser is at most the gradient norm times ``C n_p`` and a weak penalty needs
a tighter gradient for the same probabilities: out-of-fold probabilities within about 1e-7 of the
exact minimiser's). The line search and later iterations evaluate only the problems still searching
(their layers, their columns), so one problem's backtracking or slow convergence does not cost a
product over every layer and problem. On the CPU an evaluation reads the layers in blocks
of rows, both products of a block (logits, then gradient) while it is in cache: the products are
bound by reading the layers, not by arithmetic. The objective is strictly convex,
so every problem has one minimiser and the curvature condition ``s^T y > 0`` always holds.

Ridge (as scikit-learn's ``Ridge(alpha)`` on standardised features with an intercept) is solved in
closed form for all ``alpha`` from one eigendecomposition per problem: of the ``d x d`` Gram matrix
of the standardised training rows when there are more rows than features, else of the ``n x n``
kernel matrix (the dual form, rows padded with zeros, which changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_EPS_SD = 1e-12
_ROW_BLOCK = 1 << 22  # elements of the layers read per block of rows in one evaluation


class _Layers:
    """Some layers of a stacked (L, n, d) tensor, without copying them (see :func:`_matmul`)."""

    def __init__(self, X: torch.Tensor, layers: torch.Tensor):
        self.X, self.layers = X, layers.tolist()


def _matmul(A: torch.Tensor | _Layers, B: torch.Tensor) -> torch.Tensor:
    """Batched product ``A @ B``; on the CPU through NumPy's BLAS, which is faster than torch's for
    these skinny shapes (a tall layer matrix times a few columns per problem). ``A`` may be a subset
    of layers (:class:`_Layers`), multiplied layer by layer in place."""
    if isinstance(A, _Layers):
        if A.X.device.type == "cpu":
            An, Bn = A.X.numpy(), B.numpy()
            return torch.from_numpy(np.stack([An[l] @ Bn[i] for i, l in enumerate(A.layers)]))
        return torch.stack([A.X[l] @ B[i] for i, l in enumerate(A.layers)])
    if A.device.type == "cpu" and B.device.type == "cpu":
        return torch.from_numpy(np.matmul(A.numpy(), B.numpy()))
    return torch.matmul(A, B)


@dataclass
class Standardisation:
    """Per-problem mean and standard deviation (ddof 0, as ``StandardScaler``) of the training rows."""

    mu: torch.Tensor  # (P, d)
    sd: torch.Tensor  # (P, d); 1 where a feature is constant on the training rows (as StandardScaler)


def _as_layers(X: torch.Tensor) -> torch.Tensor:
    """``X`` as (L, n, d): a 2-D matrix is one layer."""
    return X.unsqueeze(0) if X.dim() == 2 else X


def standardisation(X: torch.Tensor, masks: torch.Tensor, scale: bool = True) -> Standardisation:
    """Mean and SD of ``X``'s rows weighted by each row of ``masks`` (P, n).

    ``X`` is (n, d), or (L, n, d) for L layers with ``P = L * Q`` problems, problem ``p`` on layer
    ``p // Q`` (every layer's problems share that layer's matrix). The variance is accumulated about
    the first problem's mean of each layer, ``var = mean_w (x - s)^2 - (mu - s)^2`` (exact for any
    shift ``s``; a shift near the means keeps the digits that ``E x^2 - mu^2`` would cancel when a
    unit's mean is large against its spread), over blocks of rows so that no squared copy of ``X``
    is made.
    """
    X3 = _as_layers(X)
    L, n, d = X3.shape
    P = masks.shape[0]
    Q = P // L
    w = (masks / masks.sum(dim=1, keepdim=True)).reshape(L, Q, n)
    mu = torch.bmm(w, X3)
    if not scale:
        mu = mu.reshape(P, d)
        return Standardisation(mu, torch.ones_like(mu))
    shift = mu[:, :1]  # (L, 1, d)
    var = torch.zeros_like(mu)
    block = max(1, (1 << 19) // max(d, 1))
    for layer in range(L):
        for a in range(0, n, block):
            Xc = X3[layer, a : a + block] - shift[layer]
            var[layer] += w[layer, :, a : a + block] @ (Xc * Xc)
    dm = mu - shift
    var = (var - dm * dm).clamp_min(0.0).reshape(P, d)
    mu = mu.reshape(P, d)
    sd = var.sqrt()
    sd = torch.where(sd < _EPS_SD * (1.0 + mu.abs()), torch.ones_like(sd), sd)
    return Standardisation(mu, sd)


def _by_layer(A: torch.Tensor, L: int) -> torch.Tensor:
    """(P, d, k) per-problem weights as (L, d, Q * k): the columns a layer's matrix multiplies at once."""
    P, d, k = A.shape
    return A.reshape(L, P // L, d, k).permute(0, 2, 1, 3).reshape(L, d, (P // L) * k)


@dataclass
class LogisticFit:
    W: torch.Tensor  # (P, d, k) in standardised units
    b: torch.Tensor  # (P, k)
    std: Standardisation
    n_classes: int
    iterations: int

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """(P, n, k) logits of every row under every problem's fit (``X`` (n, d) or (L, n, d))."""
        X3 = _as_layers(X)
        L, n, _ = X3.shape
        V = self.W / self.std.sd.unsqueeze(-1)
        c = self.b - torch.einsum("pd,pdk->pk", self.std.mu, V)
        P, _, k = V.shape
        Z = _matmul(X3, _by_layer(V, L)).reshape(L, n, P // L, k).permute(0, 2, 1, 3).reshape(P, n, k)
        return Z + c.unsqueeze(1)

    def proba(self, X: torch.Tensor) -> torch.Tensor:
        """(P, n, n_classes) class probabilities."""
        Z = self.logits(X)
        if self.n_classes == 2:
            p1 = torch.sigmoid(Z[..., 0])
            return torch.stack([1.0 - p1, p1], dim=-1)
        return torch.softmax(Z, dim=-1)

    def directions(self) -> torch.Tensor:
        """(P, d, k) weights in the original feature units (``W / sd``)."""
        return self.W / self.std.sd.unsqueeze(-1)


def _logistic_objective(
    X: torch.Tensor,
    labels: torch.Tensor,
    masks: torch.Tensor,
    n_p: torch.Tensor,
    lam: torch.Tensor,
    std: Standardisation,
    k: int,
    binary: bool,
    penalise_intercept: bool,
):
    """Returns f(theta) -> (values (P,), grads (P, D)) for theta = [W.flatten(), b] per problem.

    ``X`` is (L, n, d); the row-level work is laid out (L, n, Q, k) so that a layer's Q problems are
    one product with the layer's matrix and no (P, n, k) tensor is ever transposed.
    """
    L, n, d = X.shape
    P = masks.shape[0]
    Q = P // L
    inv_sd = 1.0 / std.sd
    wts = (masks / n_p.unsqueeze(1)).reshape(L, Q, n).permute(0, 2, 1).unsqueeze(-1).contiguous()  # (L, n, Q, 1)
    lab = labels.reshape(L, Q, n).permute(0, 2, 1).contiguous()  # (L, n, Q)
    if binary:
        Y = lab.to(X.dtype).unsqueeze(-1)
        kp = 1
    else:
        Y = lab.unsqueeze(-1)  # class codes, (L, n, Q, 1)
        B = sum_zero_basis(k, X.dtype, X.device)
        kp = k - 1
    Xt = X.transpose(1, 2)

    def f(
        theta: torch.Tensor, layers: torch.Tensor | None = None, qidx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # ``layers`` (L') and ``qidx`` (L', Q'): evaluate only problems ``layers[i] * Q + qidx[i, j]``
        # (theta holds their rows in that order)
        if layers is None:
            Xs, Xts, w_s, Y_s, mu, isd, lm, Ls, Qs = X, Xt, wts, Y, std.mu, inv_sd, lam, L, Q
        else:
            Ls, Qs = qidx.shape
            rows = (layers.unsqueeze(1) * Q + qidx).reshape(-1)
            li = layers.unsqueeze(1)
            w_s = wts[li, :, qidx].permute(0, 2, 1, 3)  # (L', n, Q', 1)
            Y_s = Y[li, :, qidx].permute(0, 2, 1, 3)
            Xs, Xts = (X, Xt) if Ls == L else (_Layers(X, layers), _Layers(Xt, layers))
            mu, isd, lm = std.mu[rows], inv_sd[rows], lam[rows]
        Ps = Ls * Qs
        W = theta[:, : d * kp].reshape(Ps, d, kp)
        b = theta[:, d * kp :]
        V = W * isd.unsqueeze(-1)
        c = b - torch.einsum("pd,pdk->pk", mu, V)
        Vl, cl = _by_layer(V, Ls), c.reshape(Ls, 1, Qs, kp)

        def block_terms(Xb, Xtb, Yb, wb):  # loss, intercept gradient and product gradient of a block of rows
            nb = Yb.shape[1]
            Z = _matmul(Xb, Vl).reshape(Ls, nb, Qs, kp) + cl
            if binary:
                loss = torch.nn.functional.softplus(Z) - Yb * Z
                G = torch.sigmoid(Z) - Yb
            else:
                # class logits, then a stable log-sum-exp and softmax written out (torch's kernels are slow on
                # a last axis of a few classes); the label's logit is gathered instead of a one-hot product
                Z = (Z.reshape(-1, kp) @ B.T).reshape(Ls, nb, Qs, k)
                m = Z.amax(-1, keepdim=True)
                G = (Z - m).exp_()
                ssum = G.sum(-1, keepdim=True)
                loss = ssum.log().add_(m).sub_(Z.gather(-1, Yb))
                G.div_(ssum)
                G.scatter_add_(-1, Yb, torch.full_like(loss, -1.0))
            G = G.mul_(wb)  # (L', nb, Q', k)
            if not binary:
                G = (G.reshape(-1, k) @ B).reshape(Ls, nb, Qs, kp)
            return (loss * wb).sum(1).reshape(Ps), G.sum(1).reshape(Ps, kp), _matmul(Xtb, G.reshape(Ls, nb, Qs * kp))

        block = max(1, _ROW_BLOCK // max(1, Ls * d))
        if isinstance(Xs, torch.Tensor) and Xs.device.type == "cpu" and n >= 4 * block:
            # rows in blocks: each block of the layers is read once for both products, while in cache
            parts = [
                block_terms(Xs[:, a:e], Xts[:, :, a:e], Y_s[:, a:e], w_s[:, a:e])
                for a, e in ((a, a + block) for a in range(0, n, block))
            ]
            loss_sum = torch.stack([p[0] for p in parts]).sum(0)
            grad_c = torch.stack([p[1] for p in parts]).sum(0)
            grad_V = torch.stack([p[2] for p in parts]).sum(0)
        else:
            loss_sum, grad_c, grad_V = block_terms(Xs, Xts, Y_s, w_s)
        value = loss_sum + 0.5 * lm * (W * W).sum((1, 2))
        grad_V = grad_V.reshape(Ls, d, Qs, kp).permute(0, 2, 1, 3).reshape(Ps, d, kp)
        grad_W = (grad_V - mu.unsqueeze(-1) * grad_c.unsqueeze(1)) * isd.unsqueeze(-1) + lm.view(-1, 1, 1) * W
        grad_b = grad_c
        if penalise_intercept:
            value = value + 0.5 * lm * (b * b).sum(1)
            grad_b = grad_b + lm.view(-1, 1) * b
        return value, torch.cat([grad_W.reshape(Ps, d * kp), grad_b], dim=1)

    f.layout = (L, Q)  # problem p is problem p % Q of layer p // Q
    return f


def _evaluate(f, theta: torch.Tensor, need: torch.Tensor, value: torch.Tensor, grad: torch.Tensor):
    """``f`` at ``theta`` for the problems in ``need``; the other rows keep ``value`` and ``grad``.

    When ``f`` evaluates a subset of its (layers, problems) layout (``f.layout``), only the layers
    holding a needed problem are multiplied, with only their needed problems' columns (padded to the
    same count per layer by repeating one of them), so problems that have converged cost nothing."""
    layout = getattr(f, "layout", None)
    if layout is None:
        return f(theta)
    L, Q = layout
    need2 = need.view(L, Q)
    if bool(need2.all()):
        return f(theta)
    layers = need2.any(1).nonzero().squeeze(1)
    sub = need2[layers]
    width = int(sub.sum(1).max())
    order = torch.argsort((~sub).to(torch.int8), dim=1, stable=True)[:, :width]  # needed problems first
    qidx = torch.where(sub.gather(1, order), order, order[:, :1])
    rows = (layers.unsqueeze(1) * Q + qidx).reshape(-1)
    v, g = f(theta[rows], layers, qidx)
    value, grad = value.clone(), grad.clone()
    value[rows] = v
    grad[rows] = g
    return value, grad


def lbfgs(
    f, theta: torch.Tensor, tol: float | torch.Tensor, max_iter: int, memory: int = 10
) -> tuple[torch.Tensor, int]:
    """Minimise P independent smooth convex functions at once (``f`` returns values (P,) and gradients
    (P, D)); problem ``p`` stops when its largest gradient entry is below ``tol`` (a number or one per
    problem).

    Problems that have converged are dropped from the working set once a quarter of it has, so the
    two-loop recursion and the evaluations cost only what is still searching."""
    P, D = theta.shape
    out = theta.clone()
    ids = torch.arange(P, device=theta.device)
    S = torch.zeros(memory, P, D, dtype=theta.dtype, device=theta.device)
    Yh = torch.zeros_like(S)
    rho = torch.zeros(memory, P, dtype=theta.dtype, device=theta.device)
    stored = torch.zeros(memory, P, dtype=torch.bool, device=theta.device)

    def evaluate(cand, need, value, grad):
        if ids.numel() == P:
            return _evaluate(f, cand, need, value, grad)
        full = out.clone()
        full[ids] = cand
        need_full = torch.zeros(P, dtype=torch.bool, device=need.device)
        need_full[ids] = need
        vf = torch.zeros(P, dtype=value.dtype, device=value.device)
        gf = torch.zeros(P, D, dtype=grad.dtype, device=grad.device)
        vf[ids], gf[ids] = value, grad
        v, g = _evaluate(f, full, need_full, vf, gf)
        return v[ids], g[ids]

    tol = torch.as_tensor(tol, dtype=theta.dtype, device=theta.device).expand(P).clone()
    value, grad = f(theta)
    active = grad.abs().amax(1) > tol
    it = 0
    slot = 0
    while bool(active.any()) and it < max_iter:
        it += 1
        # two-loop recursion, per problem
        q = grad.clone()
        alphas = []
        order = [(slot - 1 - j) % memory for j in range(memory)]
        for j in order:
            a = torch.where(stored[j], rho[j] * torch.linalg.vecdot(S[j], q), torch.zeros_like(rho[j]))
            q = torch.addcmul(q, a.unsqueeze(1), Yh[j], value=-1.0)
            alphas.append(a)
        last = order[0]
        yy = (Yh[last] * Yh[last]).sum(1)
        gamma = torch.where(stored[last] & (yy > 0), 1.0 / (rho[last] * yy).clamp_min(1e-300), torch.ones_like(yy))
        r = q * gamma.unsqueeze(1)
        for j, a in zip(reversed(order), reversed(alphas)):
            bcoef = torch.where(stored[j], rho[j] * torch.linalg.vecdot(Yh[j], r), torch.zeros_like(rho[j]))
            r = torch.addcmul(r, (a - bcoef).unsqueeze(1), S[j])
        direction = -r
        slope = (direction * grad).sum(1)
        bad = slope >= 0  # not a descent direction (numerical): restart from steepest descent
        direction = torch.where(bad.unsqueeze(1), -grad, direction)
        slope = torch.where(bad, -(grad * grad).sum(1), slope)
        first = ~stored.any(0)
        step = torch.where(first, (1.0 / grad.abs().sum(1).clamp_min(1e-300)).clamp(max=1.0), torch.ones_like(slope))
        step = torch.where(active, step, torch.zeros_like(step))
        # backtracking Armijo line search, per problem
        done = ~active
        new_theta, new_value, new_grad = theta, value, grad
        for _ in range(40):
            cand = theta + step.unsqueeze(1) * direction
            cv, cg = evaluate(cand, ~done, value, grad)
            armijo = cv <= value + 1e-4 * step * slope
            # At the rounding floor of f (|f - f*| below eps |f|) Armijo cannot see progress; accept a step
            # that leaves f unchanged to rounding and lowers the largest gradient entry.
            flat = (cv <= value + 8 * torch.finfo(cv.dtype).eps * value.abs()) & (cg.abs().amax(1) < grad.abs().amax(1))
            ok = (armijo | flat) & ~done
            new_theta = torch.where(ok.unsqueeze(1), cand, new_theta)
            new_value = torch.where(ok, cv, new_value)
            new_grad = torch.where(ok.unsqueeze(1), cg, new_grad)
            done = done | ok
            if bool(done.all()):
                break
            step = torch.where(done, step, step * 0.5)
        stalled = active & ~done  # no decrease found: at the minimum to working precision
        s = new_theta - theta
        y = new_grad - grad
        sy = (s * y).sum(1)
        keep = active & done & (sy > 0)
        S[slot] = torch.where(keep.unsqueeze(1), s, S[slot])
        Yh[slot] = torch.where(keep.unsqueeze(1), y, Yh[slot])
        rho[slot] = torch.where(keep, 1.0 / sy.clamp_min(1e-300), rho[slot])
        stored[slot] = stored[slot] | keep
        slot = (slot + 1) % memory
        theta, value, grad = new_theta, new_value, new_grad
        active = active & ~stalled & (grad.abs().amax(1) > tol)
        n_active = int(active.sum())
        if 0 < n_active <= 0.75 * ids.numel():  # drop the converged problems from the working set
            out[ids] = theta
            keep = active.nonzero().squeeze(1)
            ids, theta, value, grad = ids[keep], theta[keep], value[keep], grad[keep]
            active, tol = active[keep], tol[keep]
            S, Yh, rho, stored = S[:, keep], Yh[:, keep], rho[:, keep], stored[:, keep]
    out[ids] = theta
    return out, it


def fit_logistic(
    X: torch.Tensor,
    labels: torch.Tensor,
    masks: torch.Tensor,
    C: torch.Tensor,
    n_classes: int,
    *,
    scale: bool = True,
    penalise_intercept: bool = False,
    tol: float = 1e-10,
    max_iter: int = 2000,
    tol_per_C: bool = True,
) -> LogisticFit:
    """Fit one penalised logistic regression per problem.

    ``X`` (n, d), or (L, n, d) for L layers solved as one problem set (problem ``p`` on layer
    ``p // Q``, ``Q = P / L``); ``labels`` (P, n) integer class codes in ``0..n_classes-1`` (one row
    per problem, so problems may differ in their labels: permutations, controls); ``masks`` (P, n) 0/1
    training rows; ``C`` (P,) inverse regularisation strengths.
    """
    X3 = _as_layers(X)
    P = masks.shape[0]
    if P % X3.shape[0]:
        raise ValueError(f"{P} problems do not split evenly over {X3.shape[0]} layers")
    d = X3.shape[2]
    binary = n_classes == 2
    k = 1 if binary else n_classes
    std = standardisation(X3, masks, scale)
    n_p = masks.sum(1)
    lam = 1.0 / (C * n_p)
    f = _logistic_objective(X3, labels, masks, n_p, lam, std, k, binary, penalise_intercept)
    kp = 1 if binary else k - 1
    theta0 = torch.zeros(P, d * kp + kp, dtype=X3.dtype, device=X3.device)
    # The distance to the minimiser is at most |grad| / lam (f is lam-strongly convex), and lam = 1 / (C n_p):
    # a large C (weak penalty) gets a proportionally tighter tolerance, so the probabilities are as exact.
    # ``tol_per_C=False`` keeps ``tol`` for every C (enough where only the predicted class is used).
    theta, it = lbfgs(f, theta0, tol * (1.0 / C).clamp(max=1.0) if tol_per_C else tol, max_iter)
    W, b = theta[:, : d * kp].reshape(P, d, kp), theta[:, d * kp :]
    if not binary:
        B = sum_zero_basis(k, X3.dtype, X3.device)
        W, b = W @ B.T, b @ B.T
    return LogisticFit(W, b, std, n_classes, it)


def sum_zero_basis(k: int, dtype: torch.dtype, device: Any = None) -> torch.Tensor:
    """(k, k - 1) orthonormal basis of the vectors whose entries sum to 0 (Helmert contrasts)."""
    B = torch.zeros(k, k - 1, dtype=dtype, device=device)
    for j in range(1, k):
        B[:j, j - 1] = 1.0 / (j * (j + 1)) ** 0.5
        B[j, j - 1] = -j / (j * (j + 1)) ** 0.5
    return B


@dataclass
class RidgeFit:
    """Ridge coefficients per problem and alpha, in original feature units."""

    coef: torch.Tensor  # (P, A, d)
    intercept: torch.Tensor  # (P, A)

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """(P, A, n) predictions."""
        P, A, d = self.coef.shape
        return (X @ self.coef.reshape(P * A, d).T).T.reshape(P, A, -1) + self.intercept.unsqueeze(-1)


def fit_ridge(
    X: torch.Tensor, y: torch.Tensor, masks: torch.Tensor, alphas: torch.Tensor, *, scale: bool = True
) -> RidgeFit:
    """Ridge on standardised training rows for every problem (P, n masks) and every alpha (A,).

    ``y`` is (P, n) (one target per problem). Equals ``make_pipeline(StandardScaler(), Ridge(alpha))``.
    """
    P = masks.shape[0]
    d = X.shape[1]
    std = standardisation(X, masks, scale)
    n_p = masks.sum(1)
    y_mean = (masks * y).sum(1) / n_p
    coefs = []
    for p in range(P):  # one eigendecomposition per problem; each is d^3 or n_p^3
        rows = masks[p] > 0
        Xs = (X[rows] - std.mu[p]) / std.sd[p]
        yc = y[p, rows] - y_mean[p]
        if Xs.shape[0] >= d:
            lam, Q = torch.linalg.eigh(Xs.T @ Xs)
            proj = Q.T @ (Xs.T @ yc)  # (d,)
            w = (Q.unsqueeze(0) * (1.0 / (lam.clamp_min(0.0).unsqueeze(0) + alphas.unsqueeze(1))).unsqueeze(1)) @ proj
        else:
            lam, Q = torch.linalg.eigh(Xs @ Xs.T)
            proj = Q.T @ yc
            a = (Q.unsqueeze(0) * (1.0 / (lam.clamp_min(0.0).unsqueeze(0) + alphas.unsqueeze(1))).unsqueeze(1)) @ proj
            w = a @ Xs  # (A, d)
        coefs.append(w / std.sd[p])
    coef = torch.stack(coefs)  # (P, A, d)
    intercept = y_mean.unsqueeze(1) - torch.einsum("pad,pd->pa", coef, std.mu)
    return RidgeFit(coef, intercept)
