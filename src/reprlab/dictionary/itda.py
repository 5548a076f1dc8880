"""``rl.dictionary.itda``: a dictionary learnt by Inference-Time Decomposition of Activations.

ITDA (Leask, Nanda & Al Moubayed 2025, "Inference-Time Decomposition of Activations (ITDA): a
scalable approach to interpreting large language models") learns no weights: its atoms are
activations of the data themselves, normalised to unit norm, and a row's code is its matching-pursuit
decomposition over them. The dictionary grows in one pass over the rows, batch by batch:

1. each row ``x`` of the batch is normalised, ``u = x / ||x||`` (all-zero rows are skipped), and
   decomposed over the current atoms by ``k`` steps of orthogonal matching pursuit (or plain MP);
   its error is ``e = ||u - u_hat||^2``, between 0 (explained) and 1 (orthogonal to every atom);
2. rows with ``e > threshold`` are candidates, and are added greedily, worst first: the candidate
   with the largest current error becomes an atom, and every other candidate's current error drops
   to ``1 - <u, a>^2`` where that is smaller (``a`` the new atom: the error of the one-atom code
   ``<u, a> a``, a valid code with at most ``k`` atoms). This repeats while the largest remaining
   error exceeds ``threshold`` and the dictionary has fewer than ``n_atoms`` atoms.

The paper adds every candidate of a batch at once (the authors' code: OMP codes, threshold 0.3), so
two near-identical rows of one batch both become atoms; step 2 keeps one of them (a row whose squared
cosine with an atom added before it in the batch exceeds ``1 - threshold`` is not added). The
pursuit codes of the other candidates are not recomputed within a batch (that would cost a pursuit
per added atom), so a smaller ``batch_size`` follows the sequential rule (one row at a time, which
``batch_size=1`` is) more closely, at more pursuit calls.

The result is a :class:`~reprlab.dictionary.sae.PursuitDictionary`: ``encode`` gives the pursuit
codes with at most ``k`` atoms, and ``rows`` says which data row each atom came from (for a token
store, ``acts.index(layer)`` turns it into a document and a position: the atom is a token in context).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .._validation import check_int
from ..errors import ReprlabError
from .data import Rows
from .pursuit import mp_codes, omp_codes
from .sae import PursuitDictionary

PURSUITS = ("omp", "mp")


@torch.no_grad()
def itda(
    X: Any,
    n_atoms: int | None = None,
    k: int = 8,
    threshold: float = 0.3,
    *,
    layer: str | None = None,
    pursuit: str = "omp",
    batch_size: int = 1024,
    progress: bool = False,
) -> PursuitDictionary:
    """Learn an ITDA dictionary from the rows of ``X`` in one pass (module docstring for the algorithm).

    Parameters
    ----------
    X : array (n_rows, d), torch tensor, or rl.Activations (with ``layer``)
        The rows, read block by block in their order (shuffle them first for a dictionary that does
        not depend on the order of the documents).
    n_atoms : int, optional
        Largest dictionary size; the pass stops once it is reached. Default: no limit (the size is set
        by ``threshold``).
    k : int
        Atoms per row in the pursuit, in training and in ``encode``.
    threshold : float in (0, 1)
        A row becomes an atom when its normalised squared pursuit error ``||u - u_hat||^2`` exceeds it
        (0.3 in the authors' code). Lower: more atoms and a better fit.
    pursuit : "omp" or "mp"
        Orthogonal matching pursuit (least-squares coefficients, the paper's choice) or plain MP.
    batch_size : int
        Rows decomposed together (step 2 of the module docstring adds atoms within a batch).
    progress : bool
        A line on stderr per block of rows read.

    Returns
    -------
    PursuitDictionary
        Unit atoms as rows of ``W_dec``; ``rows`` the source row of each atom; ``info`` the settings,
        ``n_rows_seen`` and the mean error of the rows as they were seen.
    """
    from .._validation import resolve_device

    if pursuit not in PURSUITS:
        raise ReprlabError(f"`pursuit` must be one of {list(PURSUITS)}; got {pursuit!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not (0 < threshold < 1):
        raise ReprlabError(
            f"`threshold` must be a number in (0, 1): the normalised squared error above which a row becomes "
            f"an atom; got {threshold!r}."
        )
    k = check_int(k, "k")
    n_atoms = check_int(n_atoms, "n_atoms") if n_atoms is not None else None
    batch_size = check_int(batch_size, "batch_size")
    rows = Rows(X, layer, name="X")
    d = rows.d
    if n_atoms is not None and k > n_atoms:
        raise ReprlabError(f"`k` ({k}) is larger than `n_atoms` ({n_atoms}); a row can use at most n_atoms atoms.")
    codes = omp_codes if pursuit == "omp" else mp_codes
    limit = n_atoms if n_atoms is not None else math.inf
    dev = resolve_device(None)

    atoms = torch.zeros(0, d, dtype=torch.float64, device=dev)
    sources: list[int] = []
    err_sum, seen, skipped, reported = 0.0, 0, 0, 0
    for start, x in _batches(rows, batch_size):
        if len(sources) >= limit:
            break
        x = x.to(dev, torch.float64)
        norms = x.norm(dim=1)
        keep = (norms > 0).nonzero().flatten()
        skipped += x.shape[0] - len(keep)
        u = x[keep] / norms[keep, None]
        r = u - codes(u, atoms, k) @ atoms if len(atoms) else u.clone()
        err = r.pow(2).sum(1)
        err_sum += float(err.sum())
        seen += len(keep)
        cand = (err > threshold).nonzero().flatten()
        uc, ec = u[cand], err[cand]
        while len(cand) and len(sources) < limit:
            j = int(ec.argmax())  # the first of equal errors: the earliest row
            if not float(ec[j]) > threshold:
                break
            a = uc[j]
            atoms = torch.cat([atoms, a[None]])
            sources.append(start + int(keep[cand[j]]))
            ec = torch.minimum(ec, 1.0 - (uc @ a).pow(2))
            ec[j] = 0.0
        if progress and (start + x.shape[0] - reported >= rows.n / 20 or start + x.shape[0] == rows.n):
            reported = start + x.shape[0]
            print(f"itda: {reported}/{rows.n} rows, {len(sources)} atoms", file=sys.stderr, flush=True)
    if not sources:
        raise ReprlabError(f"`X` ({rows.source}): every row is all-zero; there is nothing to decompose.")
    out = PursuitDictionary(atoms.float(), k, pursuit, rows.layer)
    out.info = {
        "method": "itda", "threshold": float(threshold), "k": k, "pursuit": pursuit, "batch_size": batch_size,
        "n_atoms_limit": n_atoms, "n_rows": rows.n, "n_rows_seen": seen + skipped, "zero_rows_skipped": skipped,
        "mean_error_seen": err_sum / max(1, seen), "data": rows.source, "rows": sources,
    }  # fmt: skip
    return out


def _batches(rows: Rows, batch_size: int) -> Iterator[tuple[int, torch.Tensor]]:
    """(first row, rows) of consecutive batches of ``batch_size`` rows (the last one shorter), read
    from the store block by block."""
    buf, at = torch.zeros(0, rows.d), 0
    for _, block in rows.blocks(max(batch_size, rows.chunk_rows)):
        buf = torch.cat([buf, block])
        while len(buf) >= batch_size:
            yield at, buf[:batch_size]
            buf, at = buf[batch_size:], at + batch_size
    if len(buf):
        yield at, buf
