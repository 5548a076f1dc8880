"""Approximate all-pairs CKA for kernels whose exact value is out of reach at scale (explicit opt-in).

Exact non-linear-kernel CKA needs the n x n kernel matrix of every representation (O(n^2) memory and
O(n^2 d) time). :func:`minibatch_cka` follows Nguyen, Raghu & Kornblith (2021, "Do wide and deep
networks learn the same things?", ICLR; their minibatch CKA): the stimuli are split into k random
batches of m; in each batch the unbiased HSIC (Song et al. 2012) of every pair of representations is
computed from the m x m kernel matrices; the estimate is

    CKA_mb = mean_b HSIC_u(K_b, L_b) / sqrt(mean_b HSIC_u(K_b, K_b) mean_b HSIC_u(L_b, L_b)).

Each batch mean is an unbiased estimate of the population HSIC, so CKA_mb is consistent for the
population CKA (ratio bias O(1/k)); it is *not* equal to the full-sample value. Its error is stated
with the result: ``meta["stderr"]`` holds the delete-one-batch jackknife standard error of every entry
(Efron & Stein 1981), computed from the per-batch HSIC matrices at no extra cost. Cost: k m^2 (d + L)
per representation set instead of n^2 (d + L); memory: L m^2.

With ``sigma=None`` each representation's bandwidth is ``sigma_scale`` x the median pairwise distance in
the first batch, then fixed for all batches (a per-batch median would change the kernel between batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..._linalg import median, sq_distances, upper_triangle
from ..._validation import resolve_device, resolve_dtype
from ..._version import __version__
from ...errors import ReprlabError
from ...results import ComparisonResult
from ...stream.sources import check_rows, make_source, named_sets
from .kernels import KERNELS, kernel_matrix


def minibatch_cka(
    A: Any,
    B: Any = None,
    *,
    kernel: str = "rbf",
    sigma: float | None = None,
    sigma_scale: float = 1.0,
    batch_size: int = 1000,
    seed: int = 0,
    dtype: Any = None,
    device: Any = None,
) -> ComparisonResult:
    """Minibatch (unbiased-HSIC) CKA of every pair of ``A`` x ``B`` (or within ``A``), with its error.

    Parameters
    ----------
    A, B : Mapping[str, array] or list of arrays (in memory or store arrays)
    kernel : {"rbf", "laplace", "linear"}
    sigma, sigma_scale : bandwidth, or the factor on the first batch's median distance when None
    batch_size : int
        Stimuli per batch, m >= 4; the n stimuli are shuffled (``seed``) and split into floor(n / m)
        batches (at least 2); leftover stimuli are not used.
    Returns
    -------
    ComparisonResult
        ``values`` the estimates, ``meta["stderr"]`` their jackknife standard errors (nested lists),
        ``meta["n_batches"]``, ``meta["batch_size"]``.
    """
    if kernel not in KERNELS:
        raise ReprlabError(f"`kernel` must be one of {KERNELS}; got {kernel!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 4:
        raise ReprlabError(f"`batch_size` must be an integer >= 4 (the unbiased HSIC needs 4); got {batch_size!r}.")
    dt, dev = resolve_dtype(dtype), resolve_device(device)
    rows, cols, values, labels = named_sets(A, B)
    within = B is None
    sources = [make_source(x, lab, dt, dev, load=False) for x, lab in zip(values, labels)]
    n = check_rows(sources)
    k = n // batch_size
    if k < 2:
        raise ReprlabError(
            f"minibatch_cka needs at least 2 batches: n={n} stimuli, batch_size={batch_size}. "
            "Use a smaller batch_size, or the exact rl.compare_all for data this small."
        )
    order = np.random.default_rng(seed).permutation(n)[: k * batch_size].reshape(k, batch_size)
    m, r = batch_size, len(sources)
    sigmas: list[torch.Tensor | None] = [None] * r
    per_batch = torch.zeros((k, r, r), dtype=torch.float64)
    for b, idx in enumerate(order):
        idx = np.sort(idx)  # sorted reads are cheaper on stores
        mats, sums, rowsums = [], [], []
        for g, s in enumerate(sources):
            X = torch.as_tensor(np.asarray(s.data[idx])) if s.lazy else s.data[torch.as_tensor(idx)]
            X = X.to(dtype=dt, device=dev)
            if s.lazy and not bool(torch.isfinite(X).all()):
                raise ReprlabError(f"`{s.label}` contains non-finite values in batch {b}; remove or impute them.")
            if kernel != "linear" and sigmas[g] is None:
                if sigma is not None:
                    sigmas[g] = torch.as_tensor(sigma, dtype=dt, device=dev)
                else:
                    med = median(upper_triangle(sq_distances(X)).sqrt(), lower=True)
                    if float(med) == 0.0:
                        raise ReprlabError(f"The median distance of {s.label} is 0; pass an explicit `sigma`.")
                    sigmas[g] = sigma_scale * med
            K = kernel_matrix(X, kernel, sigmas[g], sigma_scale).fill_diagonal_(0.0)  # K~: zero diagonal (Song et al.)
            mats.append(K.reshape(-1))
            rowsums.append(K.sum(1))
            sums.append(K.sum())
        F, R, S = torch.stack(mats), torch.stack(rowsums), torch.stack(sums)
        h = (F @ F.T + torch.outer(S, S) / ((m - 1) * (m - 2)) - 2.0 / (m - 2) * (R @ R.T)) / (m * (m - 3))
        per_batch[b] = h.to(torch.float64).cpu()

    def cka_of(H: torch.Tensor) -> torch.Tensor:
        d = torch.diagonal(H)
        if not bool((d > 0).all()):
            bad = labels[int(torch.nonzero(d <= 0)[0, 0])]
            raise ReprlabError(f"The minibatch HSIC of {bad} with itself is <= 0; use a larger batch_size.")
        return H / torch.sqrt(torch.outer(d, d))

    full = cka_of(per_batch.mean(0))
    total = per_batch.sum(0)
    jack = torch.stack([cka_of((total - per_batch[b]) / (k - 1)) for b in range(k)])
    stderr = torch.sqrt((k - 1) / k * ((jack - jack.mean(0)) ** 2).sum(0))
    la = len(rows)
    sel = (slice(None), slice(None)) if within else (slice(0, la), slice(la, None))
    meta = {
        "library_version": __version__,
        "n_stimuli": n,
        "n_batches": k,
        "batch_size": m,
        "seed": seed,
        "estimator": "minibatch unbiased HSIC (Nguyen et al. 2021)",
        "stderr": stderr[sel].tolist(),
    }
    params = {"kernel": kernel, "sigma": sigma, "sigma_scale": sigma_scale, "batch_size": m, "seed": seed}
    spec = f"minibatch_cka(kernel={kernel}, batch_size={m})"
    return ComparisonResult(full[sel].numpy(), rows, cols, spec, params, meta)
