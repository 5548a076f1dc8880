"""Edits: what a write hook does to one module's output.

An edit receives the hidden states a module produced, ``h`` of shape ``(batch, positions, width)``
(or ``(batch, positions, heads, head_dim)`` for an edit on single heads), together with the absolute
token position of every row of ``h`` (so that a cached generation step, which runs one new position,
is edited consistently with a full forward pass), and returns the edited states.

The constructors are the public names:

* :func:`add` -- ``h + alpha * v`` (steering; Turner et al. 2023, "Activation addition", arXiv:2308.10248).
* :func:`ablate` -- zero, mean or resample ablation of a layer, of units or of heads
  (Meng et al. 2022 for mean/noise ablation; Chan et al. 2022, "Causal scrubbing", for resampling).
* :func:`project_out` -- ``h - (h Q) Q^T`` for an orthonormal basis ``Q`` of the given directions
  (Ravfogel et al. 2020, "Null it out", INLP's projection step).
* :func:`patch` -- replace states by stored ones from another run (activation patching; Vig et al.
  2020, Meng et al. 2022).
* :func:`replace` -- replace the states by ``fn(h)``.

Positions are absolute token indices into the sequence (for left-padded batches, indices into the
padded sequence). A negative position counts from the end of the latest forward pass that started at
position 0 (the prompt), so ``-1`` is the prompt's last token also during cached generation steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError


def as_vector_tensor(v: Any, name: str) -> torch.Tensor:
    """A float64 tensor from an array, a tensor or an object with a ``vector`` attribute (a Direction)."""
    if hasattr(v, "vector") and not isinstance(v, (np.ndarray, torch.Tensor)):
        v = v.vector
    if isinstance(v, torch.Tensor):
        t = v.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(v, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ReprlabTypeError(
                f"`{name}` must be an array, a tensor or an rl.direction(...) result; got {type(v).__name__}."
            ) from err
    if not torch.isfinite(t).all():
        raise ReprlabError(f"`{name}` holds NaN or Inf values; pass a finite vector.")
    return t


def _positions_list(positions: Any) -> tuple[int, ...] | None:
    if positions is None:
        return None
    if isinstance(positions, (int, np.integer)):
        return (int(positions),)
    try:
        out = tuple(int(p) for p in positions)
    except (TypeError, ValueError) as err:
        raise ReprlabTypeError(
            f"`positions` must be None (every position), an int or a list of ints; got {positions!r}."
        ) from err
    if not out:
        raise ReprlabError("`positions` is empty; pass None for every position or at least one index.")
    return out


def _index_list(x: Any, name: str) -> tuple[int, ...] | None:
    if x is None:
        return None
    if isinstance(x, (int, np.integer)):
        return (int(x),)
    try:
        out = tuple(int(i) for i in x)
    except (TypeError, ValueError) as err:
        raise ReprlabTypeError(f"`{name}` must be None, an int or a list of ints; got {x!r}.") from err
    if not out:
        raise ReprlabError(f"`{name}` is empty; pass None or at least one index.")
    return out


class Edit:
    """Base class of the write edits (see the module docstring). Subclasses implement :meth:`edit`.

    ``positions`` restricts the edit to some token positions (None: all); ``heads`` makes it act on
    single attention heads (the input of the attention module's output projection, viewed as
    ``(batch, positions, heads, head_dim)``) instead of the module's output.
    """

    def __init__(self, positions: Any = None, heads: Any = None) -> None:
        self.positions = _positions_list(positions)
        self.heads = _index_list(heads, "heads")

    def mask(self, pos: torch.Tensor, prompt_len: int | None) -> torch.Tensor:
        """Boolean mask over the current forward's positions ``pos`` (absolute indices) to edit."""
        if self.positions is None:
            return torch.ones(pos.shape[0], dtype=torch.bool, device=pos.device)
        wanted = []
        for p in self.positions:
            if p < 0:
                if prompt_len is None:
                    raise ReprlabError(
                        f"`positions` has the negative index {p}, which counts from the end of the prompt, but "
                        "no forward pass starting at position 0 has run in this block. Use absolute indices."
                    )
                p = prompt_len + p
            wanted.append(p)
        return torch.isin(pos, torch.tensor(wanted, device=pos.device))

    def check_width(self, width: int, layer: str) -> None:
        """Raise a clear error when the edit's vectors do not fit a module of this width."""

    def edit(self, h: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, layer: str) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, h: torch.Tensor, pos: torch.Tensor, prompt_len: int | None, layer: str) -> torch.Tensor:
        self.check_width(h.shape[-1], layer)
        if self.heads is not None:
            self._check_heads(h.shape[-2], layer)
        mask = self.mask(pos, prompt_len)
        if not bool(mask.any()):
            return h
        return self.edit(h, pos, mask, layer)

    def _check_heads(self, n_heads: int, layer: str) -> None:
        bad = [i for i in self.heads or () if not -n_heads <= i < n_heads]
        if bad:
            raise ReprlabError(
                f"`heads`: index {bad[0]} is out of range for {layer!r}, which has {n_heads} heads "
                f"(valid: 0..{n_heads - 1})."
            )

    def _describe(self) -> str:
        parts = []
        if self.positions is not None:
            parts.append(f"positions={list(self.positions)}")
        if self.heads is not None:
            parts.append(f"heads={list(self.heads)}")
        return ", ".join(parts)


def _check_vector_width(v: torch.Tensor, width: int, layer: str, name: str) -> None:
    if v.shape[-1] != width:
        raise ReprlabError(
            f"`{name}` has width {v.shape[-1]} but {layer!r} outputs vectors of width {width}; "
            "take the vector from the same layer (e.g. rl.direction on that layer's activations)."
        )


def _cast(v: torch.Tensor, like: torch.Tensor, cache: dict) -> torch.Tensor:
    key = (like.dtype, like.device)
    if key not in cache:
        cache[key] = v.to(device=like.device, dtype=like.dtype)
    return cache[key]


class Add(Edit):
    """``h + alpha * v`` at the chosen positions (see :func:`add`)."""

    def __init__(self, v: Any, alpha: float, positions: Any = None, heads: Any = None) -> None:
        super().__init__(positions, heads)
        self.vector = as_vector_tensor(v, "v")
        if self.vector.ndim != 1 and not (heads is not None and self.vector.ndim == 2):
            raise ReprlabError(f"`v` must be one vector of shape (width,), got shape {tuple(self.vector.shape)}.")
        self.alpha = float(alpha)
        if not np.isfinite(self.alpha):
            raise ReprlabError(f"`alpha` must be a finite number, got {alpha!r}.")
        self._cache: dict = {}

    def check_width(self, width: int, layer: str) -> None:
        _check_vector_width(self.vector, width, layer, "v")

    def edit(self, h, pos, mask, layer):
        out = h.clone()
        v = _cast(self.vector, h, self._cache)
        if self.heads is None:
            out[:, mask] = h[:, mask] + self.alpha * v
        else:
            heads = list(self.heads)
            sel = out[:, mask]
            sel[:, :, heads] = sel[:, :, heads] + self.alpha * v
            out[:, mask] = sel
        return out

    def __repr__(self) -> str:
        extra = self._describe()
        return f"rl.add(v[{self.vector.shape[-1]}], alpha={self.alpha}{', ' + extra if extra else ''})"


class Ablate(Edit):
    """Zero, mean or resample ablation (see :func:`ablate`)."""

    def __init__(self, kind: str, *, units: Any, positions: Any, heads: Any, mean: Any, reference: Any, seed: int):
        super().__init__(positions, heads)
        if kind not in ("zero", "mean", "resample"):
            raise ReprlabError(f'`kind` must be "zero", "mean" or "resample"; got {kind!r}.')
        self.kind = kind
        self.units = _index_list(units, "units")
        if self.units is not None and self.heads is not None:
            raise ReprlabError("Pass `units` or `heads`, not both: an edit acts on units of a layer or on whole heads.")
        self.seed = int(seed)
        self.reference: torch.Tensor | None = None
        self.mean: torch.Tensor | None = None
        if kind == "zero":
            if mean is not None or reference is not None:
                raise ReprlabError('`mean` and `reference` only apply to kind="mean" or "resample".')
        elif kind == "mean":
            if (mean is None) == (reference is None):
                raise ReprlabError(
                    'kind="mean" needs exactly one of `mean` (the mean state, shape (width,)) or `reference` '
                    "(states of reference inputs, shape (n, width), whose mean is used)."
                )
            if mean is not None:
                self.mean = as_vector_tensor(mean, "mean")
            else:
                ref = as_vector_tensor(reference, "reference")
                self.mean = ref.reshape(-1, ref.shape[-1]).mean(0) if ref.ndim > 1 else ref
            if self.heads is not None:
                self.mean = self.mean.reshape(-1) if self.mean.ndim > 1 else self.mean
        else:
            if reference is None or mean is not None:
                raise ReprlabError(
                    'kind="resample" needs `reference`: states of other inputs, shape (n, width), whose rows '
                    "replace the ablated states (drawn at random with `seed`)."
                )
            ref = as_vector_tensor(reference, "reference")
            if ref.ndim < 2 or ref.shape[0] < 1:
                raise ReprlabError(f"`reference` must have shape (n, width); got {tuple(ref.shape)}.")
            self.reference = ref.reshape(-1, ref.shape[-1])
        self._gen = torch.Generator().manual_seed(self.seed)
        self._cache: dict = {}

    def _fill_width(self) -> torch.Tensor | None:
        return self.mean if self.mean is not None else self.reference

    def check_width(self, width: int, layer: str) -> None:
        fill = self._fill_width()
        if self.heads is not None:
            return  # checked against heads * head_dim in edit
        if fill is not None:
            _check_vector_width(fill, width, layer, "mean" if self.mean is not None else "reference")
        if self.units is not None:
            bad = [u for u in self.units if not -width <= u < width]
            if bad:
                raise ReprlabError(
                    f"`units`: index {bad[0]} is out of range for {layer!r}, which has width {width} "
                    f"(valid: 0..{width - 1})."
                )

    def _replacement(self, h: torch.Tensor, n_rows: int) -> torch.Tensor:
        """Values that replace ``n_rows`` state vectors, shaped like the flat units they replace."""
        full = h.shape[-1] if self.heads is None else h.shape[-2] * h.shape[-1]
        if self.kind == "zero":
            return torch.zeros(n_rows, full, dtype=h.dtype, device=h.device)
        if self.kind == "mean":
            m = _cast(self.mean, h, self._cache)
            if m.shape[-1] != full:
                raise ReprlabError(f"`mean` has width {m.shape[-1]}, the states have width {full}.")
            return m.expand(n_rows, full)
        ref = self.reference
        if ref.shape[-1] != full:
            raise ReprlabError(f"`reference` has width {ref.shape[-1]}, the states have width {full}.")
        idx = torch.randint(ref.shape[0], (n_rows,), generator=self._gen)
        return ref[idx].to(device=h.device, dtype=h.dtype)

    def edit(self, h, pos, mask, layer):
        out = h.clone()
        sel = out[:, mask]  # (batch, m, ...)
        b, m = sel.shape[:2]
        repl = self._replacement(h, b * m)
        if self.heads is None:
            repl = repl.reshape(b, m, h.shape[-1])
            if self.units is None:
                sel = repl
            else:
                u = list(self.units)
                sel[..., u] = repl[..., u]
        else:
            repl = repl.reshape(b, m, h.shape[-2], h.shape[-1])
            hs = list(self.heads)
            sel[:, :, hs] = repl[:, :, hs]
        out[:, mask] = sel
        return out

    def __repr__(self) -> str:
        extra = self._describe()
        if self.units is not None:
            extra = (extra + ", " if extra else "") + f"units={list(self.units)}"
        return f"rl.ablate({self.kind!r}{', ' + extra if extra else ''})"


class ProjectOut(Edit):
    """``h - (h Q) Q^T`` with ``Q`` an orthonormal basis of the directions (see :func:`project_out`)."""

    def __init__(self, v: Any, positions: Any = None) -> None:
        super().__init__(positions, None)
        V = as_vector_tensor(v, "v")
        if V.ndim == 1:
            V = V[None]
        if V.ndim != 2:
            raise ReprlabError(f"`v` must have shape (width,) or (k, width); got {tuple(V.shape)}.")
        norms = V.norm(dim=1)
        if bool((norms == 0).any()):
            raise ReprlabError("`v` holds a zero vector, which has no direction to project out.")
        q, r = torch.linalg.qr(V.T)  # (width, k)
        keep = r.diagonal().abs() > 1e-10 * norms.max()
        self.basis = q[:, keep]
        self._cache: dict = {}

    @property
    def vector(self) -> torch.Tensor:
        return self.basis.T

    def check_width(self, width: int, layer: str) -> None:
        _check_vector_width(self.basis.T, width, layer, "v")

    def edit(self, h, pos, mask, layer):
        out = h.clone()
        q = _cast(self.basis, h, self._cache)
        sel = h[:, mask]
        out[:, mask] = sel - (sel @ q) @ q.T
        return out

    def __repr__(self) -> str:
        return f"rl.project_out({self.basis.shape[1]} direction(s) of width {self.basis.shape[0]})"


class Patch(Edit):
    """Replace states by stored ones, indexed by absolute position (see :func:`patch`)."""

    def __init__(self, source: Any, positions: Any = None, heads: Any = None) -> None:
        super().__init__(positions, heads)
        if isinstance(source, torch.Tensor):
            src = source.detach()
        else:
            src = torch.as_tensor(np.asarray(source))
        if not src.is_floating_point():
            raise ReprlabTypeError(f"`source` must hold floating-point states; got dtype {src.dtype}.")
        want = 4 if heads is not None else 3
        if src.ndim == want - 1:
            src = src[None]
        if src.ndim != want:
            shape = "(batch, positions, heads, head_dim)" if heads is not None else "(batch, positions, width)"
            raise ReprlabError(f"`source` must have shape {shape} or the same without batch; got {tuple(src.shape)}.")
        self.source = src
        self._cache: dict = {}

    def check_width(self, width: int, layer: str) -> None:
        _check_vector_width(self.source, width, layer, "source")

    def edit(self, h, pos, mask, layer):
        src = _cast(self.source, h, self._cache)
        if src.shape[0] not in (1, h.shape[0]):
            raise ReprlabError(
                f"`source` holds {src.shape[0]} sequences but {layer!r} runs a batch of {h.shape[0]}; "
                "pass one source sequence (applied to every row) or one per row."
            )
        if self.heads is not None and src.shape[-2] != h.shape[-2]:
            raise ReprlabError(f"`source` has {src.shape[-2]} heads, {layer!r} has {h.shape[-2]}.")
        n_src = src.shape[1]
        if self.positions is None:
            mask = mask & (pos < n_src)
        else:
            beyond = pos[mask & (pos >= n_src)]
            if beyond.numel():
                raise ReprlabError(
                    f"`source` holds {n_src} positions, but position {int(beyond[0])} is patched at {layer!r}; "
                    "the source run and the patched run must cover the patched positions."
                )
        if not bool(mask.any()):
            return h
        out = h.clone()
        taken = src[:, pos[mask]]
        if taken.shape[0] != h.shape[0]:
            taken = taken.expand(h.shape[0], *taken.shape[1:])
        if self.heads is None:
            out[:, mask] = taken
        else:
            hs = list(self.heads)
            sel = out[:, mask]
            sel[:, :, hs] = taken[:, :, hs]
            out[:, mask] = sel
        return out

    def __repr__(self) -> str:
        extra = self._describe()
        return f"rl.patch(source{list(self.source.shape)}{', ' + extra if extra else ''})"


class Replace(Edit):
    """Replace the states by ``fn(h)`` (see :func:`replace`)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__(None, None)
        if not callable(fn):
            raise ReprlabTypeError(f"`fn` must be callable (hidden states -> hidden states); got {type(fn).__name__}.")
        self.fn = fn

    def edit(self, h, pos, mask, layer):
        out = self.fn(h)
        if not isinstance(out, torch.Tensor) or out.shape != h.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ReprlabError(
                f"rl.replace: the function must return a tensor of the input's shape {tuple(h.shape)} at "
                f"{layer!r}; it returned {got}."
            )
        return out.to(h.dtype)

    def __repr__(self) -> str:
        return f"rl.replace({getattr(self.fn, '__name__', 'fn')})"


# --- public constructors -------------------------------------------------------------------------


def add(v: Any, alpha: float = 1.0, *, positions: Any = None, heads: Any = None) -> Add:
    """Add ``alpha * v`` to the module's output: ``h[:, p] <- h[:, p] + alpha * v`` for the chosen
    positions ``p`` (all by default). Activation addition / steering (Turner et al. 2023,
    arXiv:2308.10248; Rimsky et al. 2024, "Contrastive activation addition").

    ``v`` is a vector of the module's width (an array, a tensor or an :func:`rl.direction` result);
    with ``heads`` it is added to each chosen head's output (``v`` of width head_dim). ``alpha=0``
    leaves the output unchanged bit for bit (``x + 0.0 == x`` for every finite ``x``).
    """
    return Add(v, alpha, positions=positions, heads=heads)


def ablate(
    kind: str = "zero",
    *,
    units: Sequence[int] | int | None = None,
    heads: Sequence[int] | int | None = None,
    positions: Any = None,
    mean: Any = None,
    reference: Any = None,
    seed: int = 0,
) -> Ablate:
    """Ablate a layer, some of its units, or single attention heads, at all or chosen positions.

    * ``"zero"``: set to 0.
    * ``"mean"``: set to a mean state, given as ``mean`` (width,) or computed from ``reference``
      (states of other inputs, (n, width)) -- mean ablation (Wang et al. 2023, "Interpretability in
      the wild").
    * ``"resample"``: set each ablated state to a row of ``reference`` drawn at random (``seed``) --
      resample ablation (Chan et al. 2022, "Causal scrubbing").

    With ``heads``, the layer must be an attention module; the edit acts on the chosen heads'
    outputs before the output projection (the reference states then have width heads * head_dim).
    """
    return Ablate(kind, units=units, positions=positions, heads=heads, mean=mean, reference=reference, seed=seed)


def project_out(v: Any, *, positions: Any = None) -> ProjectOut:
    """Remove the component along ``v`` (one direction (width,) or several (k, width)):
    ``h <- h - (h Q) Q^T`` where ``Q`` is an orthonormal basis of the directions' span (QR).
    The projection step of INLP (Ravfogel et al. 2020, "Null it out")."""
    return ProjectOut(v, positions=positions)


def patch(source: Any, *, positions: Any = None, heads: Any = None) -> Patch:
    """Replace the module's states by stored ones (activation patching; Vig et al. 2020; Meng et al.
    2022, "Locating and editing factual associations in GPT").

    ``source`` has shape (batch, positions, width) or (positions, width): the states the same module
    produced on another run, indexed by absolute token position (a batch of one applies to every
    row). ``positions`` chooses which positions are patched (default: every position the source
    covers). With ``heads``, the source holds per-head states (batch, positions, heads, head_dim)
    and only those heads are patched.
    """
    return Patch(source, positions=positions, heads=heads)


def replace(fn: Callable[[torch.Tensor], torch.Tensor]) -> Replace:
    """Replace the module's output hidden states by ``fn(h)``.

    ``fn`` takes the output tensor ``h`` of shape (batch, positions, width) -- for modules returning
    a tuple (e.g. a transformer block), its first element -- and returns a tensor of the same shape,
    which the rest of the model then sees. During cached generation ``fn`` sees only the new
    positions of each step. Use it for edits that are not listed here, e.g. a sparse autoencoder's
    reconstruction ``lambda h: sae.decode(sae.encode(h))``.
    """
    return Replace(fn)
