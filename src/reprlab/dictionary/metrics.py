"""``rl.dictionary.evaluate``: reconstruction and sparsity of an SAE on held-out rows, one formula each.

Every sum runs over all ``n`` evaluation rows at once (accumulated in float64 block by block), never
as a mean of per-batch ratios. With ``x_hat`` the reconstruction and ``z`` the codes:

==================  ==========================================================================
``fvu``             ``sum_rows ||x - x_hat||^2 / sum_rows ||x - mean(x)||^2`` (mean over the
                    evaluation rows). Predicting the mean gives 1, a perfect reconstruction 0.
``explained``       ``1 - fvu``.
``mse``             ``sum_rows ||x - x_hat||^2 / (n d)``: mean over rows and dimensions.
``l0``              mean over rows of the number of non-zero codes.
``cosine``          mean over rows of ``<x, x_hat> / (||x|| ||x_hat||)`` (rows with a zero norm
                    count as 0).
``shrinkage``       mean over rows of ``||x_hat|| / ||x||`` (below 1: the reconstruction is shrunk).
``density``         per latent: the fraction of rows where it is non-zero.
``dead_fraction``   the fraction of latents that never fire over the evaluation rows.
``density_hist``    counts of ``log10(density)`` of the live latents in bins of 0.25 from -7 to 0.
==================  ==========================================================================

How the peers define the same names (see docs/dictionary.md): SAELens's ``explained_variance``
divides per row and averages (``1 - mean_rows(||x - x_hat||^2 / ||x - mean_batch(x)||^2)`` in its
newer versions, about zero in older ones); dictionary_learning's ``frac_variance_explained`` is
``1 - sum_dims var(x - x_hat) / sum_dims var(x)`` per batch, which centres the residual too, so it
equals ``1 - fvu`` here only when the residual has mean zero; its ``l2_ratio`` is ``shrinkage`` and
its ``frac_alive`` is ``1 - dead_fraction``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .data import Rows
from .sae import as_sae

HIST_EDGES = np.arange(-7.0, 0.0001, 0.25)


@dataclass
class Evaluation:
    """The numbers of :func:`evaluate` (formulas in the module docstring)."""

    fvu: float
    mse: float
    l0: float
    cosine: float
    shrinkage: float
    dead_fraction: float
    density: np.ndarray = field(repr=False)
    n_rows: int = 0

    @property
    def explained(self) -> float:
        return 1.0 - self.fvu

    @property
    def density_hist(self) -> tuple[np.ndarray, np.ndarray]:
        """(counts, bin edges) of ``log10(density)`` over the latents that fired."""
        live = self.density[self.density > 0]
        counts, edges = np.histogram(np.log10(live), bins=HIST_EDGES)
        return counts, edges

    def to_dict(self) -> dict[str, Any]:
        counts, edges = self.density_hist
        return {
            "n_rows": self.n_rows, "fvu": self.fvu, "explained": self.explained, "mse": self.mse, "l0": self.l0,
            "cosine": self.cosine, "shrinkage": self.shrinkage, "dead_fraction": self.dead_fraction,
            "density_hist": {"log10_edges": edges.tolist(), "counts": counts.tolist()},
        }  # fmt: skip


@torch.no_grad()
def evaluate(sae: Any, X: Any, layer: str | None = None, batch_size: int = 8192) -> Evaluation:
    """Evaluate ``sae`` on the rows of ``X`` (held-out data: an array, a tensor or a store + ``layer``).

    Reads ``X`` block by block (a store larger than memory is fine); all statistics are exact sums
    over every row (module docstring for each formula and how SAELens and dictionary_learning
    define it).
    """
    from ..errors import ReprlabError

    sae = as_sae(sae, "sae")
    rows = Rows(X, layer if layer is not None else (sae.layer if _is_store(X) else None), name="X")
    if rows.d != sae.d:
        raise ReprlabError(f"`X` has {rows.d} features but the SAE was trained on {sae.d}; use the same layer.")
    dev, dtype = sae.W_dec.device, sae.W_dec.dtype
    s = sae.scale_.to(dev, dtype)
    n = 0
    mean = torch.zeros(sae.d, dtype=torch.float64)
    ss_total = torch.zeros((), dtype=torch.float64)  # sum ||x - mean||^2, merged block by block (Chan et al.)
    ss_err = 0.0
    l0 = cos = shrink = 0.0
    fired = torch.zeros(sae.m, dtype=torch.float64)
    for _, block in rows.blocks(batch_size):
        x = block.to(dev, dtype)
        z = sae.codes_scaled(x * s)
        x_hat = sae.decode_scaled(z) / s
        x64, xh64 = x.double().cpu(), x_hat.double().cpu()
        b = x64.shape[0]
        bmean = x64.mean(0)
        bss = (x64 - bmean).pow(2).sum()
        delta = bmean - mean
        ss_total = ss_total + bss + delta.pow(2).sum() * n * b / (n + b)
        mean = mean + delta * b / (n + b)
        n += b
        ss_err += float((x64 - xh64).pow(2).sum())
        nz = (z != 0).double().cpu()
        l0 += float(nz.sum())
        fired += nz.sum(0)
        nx, nh = x64.norm(dim=1), xh64.norm(dim=1)
        denom = nx * nh
        cos += float(
            torch.where(denom > 0, (x64 * xh64).sum(1) / denom.clamp_min(1e-300), torch.zeros_like(denom)).sum()
        )
        shrink += float(torch.where(nx > 0, nh / nx.clamp_min(1e-300), torch.zeros_like(nx)).sum())
    if float(ss_total) <= 0:
        raise ReprlabError("`X`: every row is the same, so the FVU (variance about the mean) is undefined.")
    density = (fired / n).numpy()
    return Evaluation(
        fvu=ss_err / float(ss_total),
        mse=ss_err / (n * sae.d),
        l0=l0 / n,
        cosine=cos / n,
        shrinkage=shrink / n,
        dead_fraction=float((density == 0).mean()),
        density=density,
        n_rows=n,
    )


def _is_store(X: Any) -> bool:
    from ..store.activations import Activations

    return isinstance(X, Activations)
