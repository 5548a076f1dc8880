"""The sparse autoencoder: encoder, activation (TopK, BatchTopK, ReLU, JumpReLU), decoder; save and load.

An SAE with ``m`` latents on ``d``-dimensional activations computes, on the scaled input
``s x`` (``s`` = :attr:`SparseAutoencoder.scale`, chosen at training so that the mean row norm is
``sqrt(d)``)::

    pre   = (s x - b_dec) W_enc + b_enc                       (n, m)
    z     = sigma(pre)                                        the codes (latent activations)
    x_hat = (z W_dec + b_dec) / s                             in the units of x

with ``sigma`` one of

* ``topk``: keep the ``k`` largest of ``relu(pre)`` in each row (Gao et al. 2024, "Scaling and
  evaluating sparse autoencoders").
* ``batchtopk``: in training, keep the ``k * n`` largest of ``relu(pre)`` over the whole batch;
  at inference ``relu(pre) * (pre > threshold)`` with one threshold learnt in training (Bussmann
  et al. 2024, "BatchTopK sparse autoencoders").
* ``relu``: ``relu(pre)``, trained with an L1 penalty (Bricken et al. 2023, "Towards
  monosemanticity").
* ``jumprelu``: ``pre * (pre > theta_i)`` with one learnt threshold per latent (Rajamanoharan et
  al. 2024, "Jumping ahead: improving reconstruction fidelity with JumpReLU sparse autoencoders").

Decoder rows (``W_dec[i]``, the atoms) have unit norm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ReprlabError, ReprlabTypeError

KINDS = ("topk", "batchtopk", "relu", "jumprelu")
_FORMAT = 1
_ENCODE_ROWS = 8192  # rows per block in encode/decode, to bound the (rows, m) temporary


class SparseAutoencoder(torch.nn.Module):
    """A trained (or freshly initialised) sparse autoencoder; see the module docstring for the maths.

    Attributes
    ----------
    kind : str
        ``"topk"``, ``"batchtopk"``, ``"relu"`` or ``"jumprelu"``.
    k : int or None
        Latents kept per row (topk), mean latents per row (batchtopk), target L0 (jumprelu).
    d, m : int
        Input width and number of latents.
    layer : str or None
        The layer the SAE was trained on (checked where it is spliced into a model).
    scale : float
        Input scale ``s``: the SAE sees ``s x`` (mean row norm ``sqrt(d)`` on the training data).
    info : dict
        Training record: data, steps, seed, recipe, seconds, final running FVU and L0.
    """

    def __init__(self, d: int, m: int, kind: str = "topk", k: int | None = None, layer: str | None = None) -> None:
        super().__init__()
        self.kind, self.k, self.d, self.m, self.layer = kind, k, int(d), int(m), layer
        self.W_enc = torch.nn.Parameter(torch.zeros(d, m))
        self.b_enc = torch.nn.Parameter(torch.zeros(m))
        self.W_dec = torch.nn.Parameter(torch.zeros(m, d))
        self.b_dec = torch.nn.Parameter(torch.zeros(d))
        # jumprelu: the per-latent thresholds; batchtopk: the inference threshold (one value)
        self.theta = torch.nn.Parameter(torch.zeros(m)) if kind == "jumprelu" else None
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("scale_", torch.ones((), dtype=torch.float64))
        self.info: dict[str, Any] = {}

    # --- properties ----------------------------------------------------------------------------

    @property
    def scale(self) -> float:
        return float(self.scale_)

    @property
    def atoms(self) -> torch.Tensor:
        """The dictionary: decoder rows, shape ``(m, d)`` (unit norm), in the SAE's scaled units."""
        return self.W_dec.detach()

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k is not None else ""
        at = f", layer={self.layer!r}" if self.layer else ""
        return f"SparseAutoencoder({self.kind}, d={self.d}, m={self.m}{k}{at})"

    # --- the maths on scaled tensors (no checks) --------------------------------------------------

    def pre_activations(self, xs: torch.Tensor) -> torch.Tensor:
        return (xs - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Inference activation (the training-time BatchTopK and JumpReLU live in training)."""
        if self.kind == "topk":
            return topk_rows(pre, int(self.k))
        if self.kind == "batchtopk":
            return torch.where(pre > self.threshold, pre.clamp_min(0), torch.zeros_like(pre))
        if self.kind == "relu":
            return torch.relu(pre)
        return torch.where(pre > self.theta, pre, torch.zeros_like(pre))

    def codes_scaled(self, xs: torch.Tensor) -> torch.Tensor:
        """The codes of scaled rows: ``activate(pre_activations(xs))`` (a pursuit dictionary overrides it)."""
        return self.activate(self.pre_activations(xs))

    def decode_scaled(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec + self.b_dec

    # --- public, on user arrays -------------------------------------------------------------------

    def _input(self, X: Any, name: str, width: int) -> tuple[torch.Tensor, bool]:
        from .._validation import as_tensor

        is_torch = isinstance(X, torch.Tensor)
        t = as_tensor(X, name, dtype=self.W_dec.dtype, device=self.W_dec.device)
        if t.shape[1] != width:
            raise ReprlabError(
                f"`{name}` has {t.shape[1]} columns but this SAE expects {width} "
                f"({'input width d' if width == self.d else 'latents m'}); was it trained on another layer?"
            )
        return t, is_torch

    @torch.no_grad()
    def encode(self, X: Any) -> Any:
        """Sparse codes ``z`` of the rows of ``X`` (n, d) -> (n, m). A torch tensor in gives a tensor
        out (on the SAE's device); anything else gives a NumPy array."""
        t, is_torch = self._input(X, "X", self.d)
        s = self.scale_.to(t.dtype)
        out = torch.cat([self.codes_scaled(b * s) for b in t.split(_ENCODE_ROWS)])
        return out if is_torch else out.cpu().numpy()

    @torch.no_grad()
    def decode(self, Z: Any) -> Any:
        """Reconstruction ``x_hat`` (n, d), in the units of the training data, from codes ``Z`` (n, m)."""
        t, is_torch = self._input(Z, "Z", self.m)
        out = self.decode_scaled(t) / self.scale_.to(t.dtype)
        return out if is_torch else out.cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, X: Any) -> Any:
        """``decode(encode(X))`` in one pass."""
        t, is_torch = self._input(X, "X", self.d)
        s = self.scale_.to(t.dtype)
        out = torch.cat([self.decode_scaled(self.codes_scaled(b * s)) / s for b in t.split(_ENCODE_ROWS)])
        return out if is_torch else out.cpu().numpy()

    # --- persistence ------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {"format": _FORMAT, "kind": self.kind, "k": self.k, "d": self.d, "m": self.m, "layer": self.layer}

    def save(self, path: str | Path) -> Path:
        """Write ``path/`` (a directory): ``sae.json`` (configuration and training record) and
        ``sae.pt`` (the weights, float32). Read it back with :func:`reprlab.dictionary.load`."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        torch.save(state, p / "sae.pt")
        (p / "sae.json").write_text(json.dumps({**self.config(), "info": _jsonable(self.info)}, indent=1))
        return p


class PursuitDictionary(SparseAutoencoder):
    """A dictionary without an encoder: the codes of a row are its (orthogonal) matching-pursuit
    decomposition over the atoms, ``k`` of them at most (as :func:`reprlab.dictionary.matching_pursuit`).

    Built by :func:`reprlab.dictionary.itda`. It has the interface of an SAE (``encode``, ``decode``,
    ``reconstruct``, ``atoms``, ``save``), so :func:`~reprlab.dictionary.evaluate`,
    :func:`~reprlab.dictionary.top_examples`, :func:`~reprlab.dictionary.loss_recovered`,
    :func:`~reprlab.dictionary.match` and the pursuits take it like a trained SAE. Its atoms are unit
    rows of ``W_dec``; there is no input scale (``scale = 1``) and no decoder bias (``b_dec = 0``), and
    the codes are homogeneous: ``encode(c x) = c encode(x)``.

    Attributes
    ----------
    pursuit : "omp" or "mp"
    rows : ndarray of int
        For an ITDA dictionary, the row of the training data each atom was taken from.
    """

    def __init__(self, atoms: torch.Tensor, k: int, pursuit: str = "omp", layer: str | None = None) -> None:
        torch.nn.Module.__init__(self)
        m, d = atoms.shape
        self.kind, self.k, self.d, self.m, self.layer, self.pursuit = "itda", int(k), int(d), int(m), layer, pursuit
        self.W_dec = torch.nn.Parameter(atoms.detach().clone(), requires_grad=False)
        self.b_dec = torch.nn.Parameter(torch.zeros(d, dtype=atoms.dtype), requires_grad=False)
        self.theta = None
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("scale_", torch.ones((), dtype=torch.float64))
        self.info = {}

    @property
    def rows(self) -> np.ndarray:
        return np.asarray(self.info.get("rows", []), dtype=np.int64)

    def __repr__(self) -> str:
        at = f", layer={self.layer!r}" if self.layer else ""
        return f"PursuitDictionary({self.pursuit}, d={self.d}, m={self.m}, k={self.k}{at})"

    def pre_activations(self, xs: torch.Tensor) -> torch.Tensor:
        raise ReprlabError("A pursuit dictionary has no encoder: use encode() or codes_scaled().")

    def codes_scaled(self, xs: torch.Tensor) -> torch.Tensor:
        from .pursuit import mp_codes, omp_codes

        return (omp_codes if self.pursuit == "omp" else mp_codes)(xs - self.b_dec, self.W_dec.detach(), self.k)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "pursuit": self.pursuit}


def topk_rows(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest entries of ``relu(pre)`` in each row, zero elsewhere."""
    vals, idx = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter_(-1, idx, vals.clamp_min(0))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x


def load(path: str | Path, device: Any = None) -> SparseAutoencoder:
    """Read an SAE written by :meth:`SparseAutoencoder.save` (a directory with ``sae.json`` and ``sae.pt``)."""
    from .._validation import resolve_device

    p = Path(path)
    if not (p / "sae.json").exists() or not (p / "sae.pt").exists():
        raise ReprlabError(
            f"`path`: {str(p)!r} is not a saved SAE (expected sae.json and sae.pt in it). "
            "Write one with sae.save(path) or `reprlab sae train ... --out DIR`."
        )
    cfg = json.loads((p / "sae.json").read_text())
    if cfg.get("format") != _FORMAT or cfg.get("kind") not in (*KINDS, "itda"):
        raise ReprlabError(f"`path`: {str(p / 'sae.json')!r} is not a reprlab SAE of a known format.")
    if cfg["kind"] == "itda":
        atoms = torch.zeros(cfg["m"], cfg["d"])
        sae: SparseAutoencoder = PursuitDictionary(atoms, cfg["k"], cfg["pursuit"], cfg["layer"])
    else:
        sae = SparseAutoencoder(cfg["d"], cfg["m"], cfg["kind"], cfg["k"], cfg["layer"])
    sae.load_state_dict(torch.load(p / "sae.pt", map_location="cpu", weights_only=True))
    sae.info = cfg.get("info", {})
    return sae.to(resolve_device(device)).eval()


def as_sae(obj: Any, name: str) -> SparseAutoencoder:
    if isinstance(obj, SparseAutoencoder):
        return obj
    if isinstance(obj, (str, Path)):
        return load(obj)
    raise ReprlabTypeError(
        f"`{name}` must be a SparseAutoencoder (rl.dictionary.train / load) or its directory; got {type(obj).__name__}."
    )
