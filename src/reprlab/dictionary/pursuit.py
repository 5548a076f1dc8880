"""Sparse codes over a given dictionary: matching pursuit and orthogonal matching pursuit.

With the atoms ``D`` (m, d) as rows, normalised to ``u_j = D_j / ||D_j||``, each row ``x`` gets a
code ``z`` (m,) with ``x ~ z D`` and at most ``k`` non-zeros:

* matching pursuit (Mallat & Zhang 1993): ``k`` times, pick ``j = argmax_j |<r, u_j>|``, add
  ``c = <r, u_j>`` to atom ``j``'s coefficient and remove it from the residual ``r <- r - c u_j``
  (an atom may be picked more than once; the residual norm never grows).
* orthogonal matching pursuit (Pati et al. 1993): the same choice of atom, but after each pick
  all coefficients of the chosen atoms are refitted by least squares, so the residual is
  orthogonal to every chosen atom and no atom is picked twice.

Coefficients are returned for the atoms as given (``z_j = c_j / ||D_j||``), so ``z @ D``
reconstructs ``x`` in either case.
"""

from __future__ import annotations

from typing import Any

import torch

from .._validation import check_int
from ..errors import ReprlabError

_BLOCK = 4096  # rows per block (bounds the (rows, m) correlation matrix)


def _inputs(X: Any, D: Any, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool, int]:
    from .._validation import as_tensor

    is_torch = isinstance(X, torch.Tensor)
    x = as_tensor(X, "X")
    if isinstance(D, torch.nn.Module) and hasattr(D, "W_dec"):
        D = D.W_dec.detach()
    atoms = as_tensor(D, "D", device=x.device)
    if atoms.shape[1] != x.shape[1]:
        raise ReprlabError(
            f"`D` has atoms of {atoms.shape[1]} dimensions (rows) but `X` has {x.shape[1]} columns; "
            "give the dictionary with one atom per row, shape (n_atoms, n_features)."
        )
    norms = atoms.norm(dim=1)
    if bool((norms == 0).any()):
        raise ReprlabError(f"`D` has {int((norms == 0).sum())} all-zero atoms; remove them.")
    k = check_int(k, "k")
    if k > atoms.shape[0]:
        raise ReprlabError(f"`k` ({k}) is larger than the number of atoms ({atoms.shape[0]}).")
    return x, atoms / norms[:, None], norms, is_torch, k


def _out(z: torch.Tensor, norms: torch.Tensor, is_torch: bool) -> Any:
    z = z / norms
    return z if is_torch else z.cpu().numpy()


def mp_codes(x: torch.Tensor, U: torch.Tensor, k: int) -> torch.Tensor:
    """Matching-pursuit codes (n, m) of the rows of ``x`` over unit atoms ``U`` (m, d); no checks."""
    parts = []
    for r in x.split(_BLOCK):
        r = r.clone()
        z = torch.zeros(r.shape[0], U.shape[0], dtype=r.dtype, device=r.device)
        rows = torch.arange(r.shape[0], device=r.device)
        for _ in range(k):
            c = r @ U.T
            j = c.abs().argmax(dim=1)
            cj = c[rows, j]
            z[rows, j] += cj
            r -= cj[:, None] * U[j]
        parts.append(z)
    return torch.cat(parts) if parts else torch.zeros(0, U.shape[0], dtype=x.dtype, device=x.device)


def omp_codes(x: torch.Tensor, U: torch.Tensor, k: int) -> torch.Tensor:
    """Orthogonal-matching-pursuit codes (n, m) of the rows of ``x`` over unit atoms ``U`` (m, d), at
    most ``min(k, d, m)`` atoms per row; no checks."""
    k = min(k, x.shape[1], U.shape[0])
    parts = []
    for xb in x.split(_BLOCK):
        n = xb.shape[0]
        r = xb.clone()
        rows = torch.arange(n, device=xb.device)
        chosen = torch.zeros(n, 0, dtype=torch.long, device=xb.device)
        taken = torch.zeros(n, U.shape[0], dtype=torch.bool, device=xb.device)
        coef = torch.zeros(n, 0, dtype=xb.dtype, device=xb.device)
        for _ in range(k):
            c = (r @ U.T).abs().masked_fill(taken, -1.0)
            j = c.argmax(dim=1)
            taken[rows, j] = True
            chosen = torch.cat([chosen, j[:, None]], dim=1)
            A = U[chosen]  # (n, t, d)
            coef = torch.linalg.lstsq(A.transpose(1, 2), xb[:, :, None]).solution[:, :, 0]
            r = xb - (coef[:, :, None] * A).sum(1)
        z = torch.zeros(n, U.shape[0], dtype=xb.dtype, device=xb.device)
        z.scatter_add_(1, chosen, coef)
        parts.append(z)
    return torch.cat(parts) if parts else torch.zeros(0, U.shape[0], dtype=x.dtype, device=x.device)


def matching_pursuit(X: Any, D: Any, k: int = 8) -> Any:
    """Codes (n, m) of the rows of ``X`` (n, d) over the atoms ``D`` (m, d) by ``k`` steps of matching
    pursuit (module docstring). ``D`` may also be a trained SAE or an ITDA dictionary (its decoder rows)."""
    x, U, norms, is_torch, k = _inputs(X, D, k)
    return _out(mp_codes(x, U, k), norms, is_torch)


def orthogonal_matching_pursuit(X: Any, D: Any, k: int = 8) -> Any:
    """Codes (n, m) of the rows of ``X`` over the atoms ``D`` by ``k`` steps of orthogonal matching
    pursuit (module docstring): at most ``min(k, d)`` atoms per row, least-squares coefficients."""
    x, U, norms, is_torch, k = _inputs(X, D, k)
    return _out(omp_codes(x, U, k), norms, is_torch)
