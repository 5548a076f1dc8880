"""RDM transforms (:func:`rdm_transform`): rank, sqrt, minmax and the topological transforms of
Lin & Kriegeskorte (2023) (see :mod:`reprlab.measures.rsa` for the definitions)."""

from __future__ import annotations

import math
from typing import Any

import torch

from ...errors import ReprlabError, close_matches
from .. import _ranks
from .rdms import RDM, _as_stack, _condensed, _squareform

TRANSFORMS = ("rank", "sqrt", "minmax", "geotopological", "geodesic")

# -------------------------------------------------------------------------------------- transforms


def _check_unit_interval(value: Any, name: str) -> float:
    if value is None:
        raise ReprlabError(
            f"The geotopological transform needs `{name}`, a quantile in [0, 1] (e.g. lower=0.1, upper=0.9)."
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ReprlabError(f"`{name}` is a quantile of the dissimilarities and must lie in [0, 1]; got {value!r}.")
    return float(value)


def _minmax(v: torch.Tensor) -> torch.Tensor:
    lo, hi = v.min(), v.max()
    if not bool(hi > lo):
        raise ReprlabError("The RDM is constant, so its min-max scaling (max - min = 0) is undefined.")
    return (v - lo) / (hi - lo)


def _geotopological(v: torch.Tensor, lower: float, upper: float, rsatoolbox_masks: bool) -> torch.Tensor:
    lo = torch.quantile(v, lower)  # linear interpolation, as numpy.quantile
    hi = torch.quantile(v, upper)
    if rsatoolbox_masks:
        # rsatoolbox 0.3.2 applies its three masks one after the other to the same array, so values
        # already mapped into [0, 1] that exceed `hi` are set to 1 again (only when hi < 1).
        w = v.clone()
        w[w < lo] = 0.0
        mid = (w >= lo) & (w <= hi)
        w[mid] = (w[mid] - lo) / (hi - lo)
        w[w > hi] = 1.0
        return w
    if bool(hi > lo):
        return ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    return (v > hi).to(v.dtype)


def _geodesic(v: torch.Tensor, n: int, drop_zero_edges: bool, disconnected: str) -> torch.Tensor:
    s = _minmax(v)
    W = _squareform(s, n)
    inf = torch.tensor(math.inf, dtype=v.dtype, device=v.device)
    absent = W >= 1.0  # the maximal dissimilarities are not edges
    if drop_zero_edges:
        absent |= W == 0.0
    D = torch.where(absent, inf, W)
    D.fill_diagonal_(0.0)
    for k in range(n):  # Floyd-Warshall (the order of networkx.floyd_warshall_numpy)
        D = torch.minimum(D, D[k : k + 1, :] + D[:, k : k + 1])
    out = _condensed(D)
    if disconnected == "error" and bool(torch.isinf(out).any()):
        raise ReprlabError(
            "The geodesic transform's graph is disconnected once the maximal dissimilarities are removed (e.g. a "
            "categorical 0/1 RDM), so some geodesic distances are infinite. Use another transform, or "
            "disconnected='inf' to keep the infinities (rsatoolbox 0.3.2 raises here)."
        )
    return out


def _transform_vec(
    v: torch.Tensor,
    n: int,
    kind: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    rank_method: str = "average",
    rsatoolbox_masks: bool = False,
    drop_zero_edges: bool = False,
    disconnected: str = "error",
) -> torch.Tensor:
    if kind == "rank":
        if rank_method not in _ranks.RANK_METHODS:
            raise ReprlabError(f"`rank_method` must be one of {', '.join(_ranks.RANK_METHODS)}; got {rank_method!r}.")
        return _ranks.rankdata(v, rank_method)
    if kind == "sqrt":
        return v.clamp_min(0.0).sqrt()
    if kind == "minmax":
        return _minmax(v)
    if kind == "geotopological":
        lo, hi = _check_unit_interval(lower, "lower"), _check_unit_interval(upper, "upper")
        if lo > hi:
            raise ReprlabError(f"`lower` ({lo}) must not exceed `upper` ({hi}).")
        return _geotopological(v, lo, hi, rsatoolbox_masks)
    if kind == "geodesic":
        if disconnected not in ("error", "inf"):
            raise ReprlabError(f"`disconnected` must be 'error' or 'inf'; got {disconnected!r}.")
        return _geodesic(v, n, drop_zero_edges, disconnected)
    raise ReprlabError(
        f"Unknown RDM transform {kind!r}; use one of {', '.join(TRANSFORMS)}." + close_matches(str(kind), TRANSFORMS)
    )


def rdm_transform(
    D: Any,
    kind: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    rank_method: str = "average",
    rsatoolbox_masks: bool = False,
    drop_zero_edges: bool = False,
    disconnected: str = "error",
) -> Any:
    """Transform an RDM (or each RDM of a stack).

    Parameters
    ----------
    D : RDM, condensed vector (n_pairs,) or stack (k, n_pairs)
    kind : {"rank", "sqrt", "minmax", "geotopological", "geodesic"}
        ``rank``: ranks from 1 (``rank_method`` as ``scipy.stats.rankdata``: average, min, max, dense,
        ordinal). ``sqrt``: negative entries set to 0, then the square root. ``minmax``:
        ``(d - min) / (max - min)``. ``geotopological`` (Lin & Kriegeskorte 2023): with ``l, u`` the
        ``lower`` / ``upper`` quantiles of the vector (``numpy.quantile``, linear interpolation),
        ``0`` for ``d < l``, ``1`` for ``d > u``, ``(d - l) / (u - l)`` between (a step at ``l`` when
        ``l == u``). ``geodesic``: min-max scale to [0, 1], build the graph whose edges are all pairs
        except those at the maximum (scaled weight 1), return the all-pairs shortest-path lengths (not
        rescaled; values can exceed 1).
    lower, upper : float in [0, 1]
        Quantile bounds of the geotopological transform (required for it).
    rsatoolbox_masks : bool
        geotopological: reproduce rsatoolbox 0.3.2, whose sequential masks send interpolated values
        above the upper bound back to 1 (this only matters when the upper bound is below 1).
    drop_zero_edges : bool
        geodesic: also drop edges of scaled weight 0 (the minimal dissimilarity), as rsatoolbox does
        through ``networkx.from_numpy_array``, which reads a 0 as "no edge". The default keeps them, so
        the most similar pair is at geodesic distance 0.
    disconnected : {"error", "inf"}
        geodesic: what to do when the graph falls apart (e.g. a categorical RDM): raise (default) or
        return infinite distances between components.

    Note: rsatoolbox 0.3.2's ``minmax_transform`` and ``geotopological_transform`` modify the RDMs
    object they are given in place (``get_vectors`` returns a view); reprlab never changes its input.
    Quantiles are taken per RDM (rsatoolbox pools all RDMs of a stack).

    Returns
    -------
    RDM for an RDM or 1-D input, an ndarray (k, n_pairs) for a stack.
    """
    kw = dict(
        lower=lower,
        upper=upper,
        rank_method=rank_method,
        rsatoolbox_masks=rsatoolbox_masks,
        drop_zero_edges=drop_zero_edges,
        disconnected=disconnected,
    )
    if isinstance(D, RDM):
        out = _transform_vec(D.tensor, D.n_conditions, kind, **kw)
        return RDM._from_condensed(out, D.n_conditions, f"{kind}({D.method})", D.labels)
    V, n, single = _as_stack(D, "D")
    out = torch.stack([_transform_vec(v, n, kind, **kw) for v in V])
    return RDM._from_condensed(out[0], n, kind, None) if single else out.cpu().numpy()
