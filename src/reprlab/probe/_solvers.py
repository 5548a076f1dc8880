"""Many probe fits at once: penalised logistic regression and ridge, batched over problems.

A *problem* is one fit: a layer's matrix ``X`` (shared by all problems of that layer), a 0/1 weight
per row (the training rows of a fold), the standardisation of those training rows, labels and a
regularisation strength. Because every problem reads the same ``X``, the logits of all problems are
one matrix product ``X @ V`` with ``V = W / sd`` stacked over problems (the standardisation folds into
the weights: ``((X - mu) / sd) W + b = X (W / sd) + (b - (mu / sd) W)``), so hundreds of folds,
inner-CV folds, regularisation values and label permutations cost a few large products per
iteration instead of a loop of small fits.

Logistic regression (as scikit-learn's ``LogisticRegression(penalty="l2")``) minimises, per problem,

    f(W, b) = (1 / n_p) sum_i ell(x_i W + b, y_i) + ||W||^2 / (2 C n_p)

over the ``n_p`` training rows (the same minimiser as scikit-learn's ``C sum ell + ||W||^2 / 2``); the
intercept is not penalised unless ``penalise_intercept`` (used by the MDL code, where a training
prefix may miss a class). ``ell`` is the binary log-loss on one logit for two classes and the
multinomial log-loss on one logit per class otherwise, as scikit-learn. The minimiser is found by
limited-memory BFGS (Nocedal & Wright 2006, algorithm 7.4; memory 10) with a backtracking Armijo line
search, run for all problems together but with separate curvature pairs, steps and stopping per
problem; a problem stops when its largest gradient entry is below ``tol``. The objective is strictly
convex, so every problem has one minimiser and the curvature condition ``s^T y > 0`` always holds.

Ridge (as scikit-learn's ``Ridge(alpha)`` on standardised features with an intercept) is solved in
closed form for all ``alpha`` from one eigendecomposition per problem: of the ``d x d`` Gram matrix
of the standardised training rows when there are more rows than features, else of the ``n x n``
kernel matrix (the dual form, rows padded with zeros, which changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EPS_SD = 1e-12


@dataclass
class Standardisation:
    """Per-problem mean and standard deviation (ddof 0, as ``StandardScaler``) of the training rows."""

    mu: torch.Tensor  # (P, d)
    sd: torch.Tensor  # (P, d); 1 where a feature is constant on the training rows (as StandardScaler)


def standardisation(X: torch.Tensor, masks: torch.Tensor, scale: bool = True) -> Standardisation:
    """Mean and SD of ``X``'s rows weighted by each row of ``masks`` (P, n)."""
    w = masks / masks.sum(dim=1, keepdim=True)
    mu = w @ X
    if not scale:
        return Standardisation(mu, torch.ones_like(mu))
    var = (w @ (X * X) - mu * mu).clamp_min(0.0)
    sd = var.sqrt()
    sd = torch.where(sd < _EPS_SD * (1.0 + mu.abs()), torch.ones_like(sd), sd)
    return Standardisation(mu, sd)


@dataclass
class LogisticFit:
    W: torch.Tensor  # (P, d, k) in standardised units
    b: torch.Tensor  # (P, k)
    std: Standardisation
    n_classes: int
    iterations: int

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """(P, n, k) logits of every row under every problem's fit."""
        V = self.W / self.std.sd.unsqueeze(-1)
        c = self.b - torch.einsum("pd,pdk->pk", self.std.mu, V)
        P, d, k = V.shape
        Z = (X @ V.permute(1, 0, 2).reshape(d, P * k)).reshape(X.shape[0], P, k).permute(1, 0, 2)
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
    Y: torch.Tensor,
    masks: torch.Tensor,
    n_p: torch.Tensor,
    lam: torch.Tensor,
    std: Standardisation,
    k: int,
    binary: bool,
    penalise_intercept: bool,
):
    """Returns f(theta) -> (values (P,), grads (P, D)) for theta = [W.flatten(), b] per problem."""
    P, d = std.mu.shape
    inv_sd = 1.0 / std.sd

    def f(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        W = theta[:, : d * k].reshape(P, d, k)
        b = theta[:, d * k :]
        V = W * inv_sd.unsqueeze(-1)
        c = b - torch.einsum("pd,pdk->pk", std.mu, V)
        Z = (X @ V.permute(1, 0, 2).reshape(d, P * k)).reshape(-1, P, k).permute(1, 0, 2) + c.unsqueeze(1)
        Z = Z.contiguous()  # softmax and logsumexp are several times slower on the permuted layout
        if binary:
            z = Z[..., 0]
            loss = torch.nn.functional.softplus(z) - Y * z
            G = (torch.sigmoid(z) - Y).unsqueeze(-1)
        else:
            lse = torch.logsumexp(Z, dim=-1)
            loss = lse - (Z * Y).sum(-1)
            G = torch.softmax(Z, dim=-1) - Y
        wts = masks / n_p.unsqueeze(1)
        value = (loss * wts).sum(1) + 0.5 * lam * (W * W).sum((1, 2))
        G = G * wts.unsqueeze(-1)  # (P, n, k)
        grad_c = G.sum(1)  # (P, k)
        grad_V = (X.T @ G.permute(1, 0, 2).reshape(X.shape[0], P * k)).reshape(d, P, k).permute(1, 0, 2)
        grad_W = (grad_V - std.mu.unsqueeze(-1) * grad_c.unsqueeze(1)) * inv_sd.unsqueeze(-1) + lam.view(-1, 1, 1) * W
        grad_b = grad_c
        if penalise_intercept:
            value = value + 0.5 * lam * (b * b).sum(1)
            grad_b = grad_b + lam.view(-1, 1) * b
        return value, torch.cat([grad_W.reshape(P, d * k), grad_b], dim=1)

    return f


def lbfgs(f, theta: torch.Tensor, tol: float, max_iter: int, memory: int = 10) -> tuple[torch.Tensor, int]:
    """Minimise P independent smooth convex functions at once (``f`` returns values (P,) and gradients)."""
    P, D = theta.shape
    S = torch.zeros(memory, P, D, dtype=theta.dtype, device=theta.device)
    Yh = torch.zeros_like(S)
    rho = torch.zeros(memory, P, dtype=theta.dtype, device=theta.device)
    stored = torch.zeros(memory, P, dtype=torch.bool, device=theta.device)
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
            a = torch.where(stored[j], rho[j] * (S[j] * q).sum(1), torch.zeros_like(rho[j]))
            q = q - a.unsqueeze(1) * Yh[j]
            alphas.append(a)
        last = order[0]
        yy = (Yh[last] * Yh[last]).sum(1)
        gamma = torch.where(stored[last] & (yy > 0), 1.0 / (rho[last] * yy).clamp_min(1e-300), torch.ones_like(yy))
        r = q * gamma.unsqueeze(1)
        for j, a in zip(reversed(order), reversed(alphas)):
            bcoef = torch.where(stored[j], rho[j] * (Yh[j] * r).sum(1), torch.zeros_like(rho[j]))
            r = r + (a - bcoef).unsqueeze(1) * S[j]
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
            cv, cg = f(cand)
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
    return theta, it


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
) -> LogisticFit:
    """Fit one penalised logistic regression per problem.

    ``X`` (n, d); ``labels`` (P, n) integer class codes in ``0..n_classes-1`` (one row per problem, so
    problems may differ in their labels: permutations, controls); ``masks`` (P, n) 0/1 training rows;
    ``C`` (P,) inverse regularisation strengths.
    """
    P = masks.shape[0]
    d = X.shape[1]
    binary = n_classes == 2
    k = 1 if binary else n_classes
    std = standardisation(X, masks, scale)
    n_p = masks.sum(1)
    Y = labels.to(X.dtype) if binary else torch.nn.functional.one_hot(labels, n_classes).to(X.dtype)
    lam = 1.0 / (C * n_p)
    f = _logistic_objective(X, Y, masks, n_p, lam, std, k, binary, penalise_intercept)
    theta0 = torch.zeros(P, d * k + k, dtype=X.dtype, device=X.device)
    theta, it = lbfgs(f, theta0, tol, max_iter)
    return LogisticFit(theta[:, : d * k].reshape(P, d, k), theta[:, d * k :], std, n_classes, it)


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
