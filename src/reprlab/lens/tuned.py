"""The tuned lens: an affine translator per layer before the model's own decoder.

Belrose et al. 2023 ("Eliciting latent predictions from transformers with the tuned lens"): layer
``l``'s residual state is translated in residual form, ``h' = h + A_l h + b_l`` (``A_l = 0``,
``b_l = 0`` at the start: the logit lens; the last block's translator stays so, as that state
decodes to the model's output itself), then decoded as the logit lens does,
``q_l = softmax(W_U norm(h'))``. The translators are trained to minimise the forward KL
``KL(p || q_l)`` to the model's output distribution ``p`` at the same token, with Adam.

Training reads the token-level store window by window (``window`` rows at a time, so the data may
exceed memory), splits the stimuli into training, validation and held-out ones (whole stimuli, never
tokens of one text on two sides), and reports the held-out KL of the tuned and the logit lens per
layer. The translators are trained jointly, and at a layer where the logit lens is already close to
the output (the last blocks) a short training can leave a translator slightly worse than none; after
training, each layer therefore keeps its translator only if it lowers the KL on the validation
stimuli, and is otherwise reset to the identity (the logit lens). That choice is made on training
documents only, so the held-out figures stay an honest estimate.

The full vocabulary makes each step cost ``4 d V`` multiply-adds per token and layer (``V`` ~ 49k for
SmolLM2). ``train_vocab`` restricts the training loss to the ``train_vocab`` tokens that carry the
most output probability in each window (``p`` and ``q`` renormalised over them), which is ~``V /
train_vocab`` times cheaper; the held-out evaluation always uses the full vocabulary.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..errors import ReprlabError, ReprlabTypeError
from ..store.activations import Activations
from ._model import LanguageModel, language_model
from .logit import LensResult, _lens, _take

_FORMAT = 1


class TunedLens(torch.nn.Module):
    """One affine translator per residual layer (``h -> h + A h + b``), with its training record.

    Attributes
    ----------
    layers : list[str]
        The residual layers it translates (network order).
    model_id : str
        The model it was trained for (checked when it is applied).
    held_out_kl, held_out_logit_kl : numpy.ndarray (n_layers,) or None
        Mean held-out ``KL(p || q)`` per layer (nats, over held-out tokens) of this lens and of the
        logit lens, from training.
    identity_layers : list[str]
        The layers whose trained translator did not lower the validation KL and was reset to the
        identity (their tuned lens is the logit lens).
    history : list[float]
        Training loss (mean over layers) per step.
    config : dict
        How it was trained (steps, lr, rows per step, train_vocab, seed, held-out stimuli, token counts,
        wall-clock and CPU seconds of the training loop, device).
    """

    def __init__(self, layers: list[str], d_model: int, model_id: str) -> None:
        super().__init__()
        self.layers = list(layers)
        self.model_id = model_id
        self.weight = torch.nn.Parameter(torch.zeros(len(layers), d_model, d_model))
        self.bias = torch.nn.Parameter(torch.zeros(len(layers), d_model))
        self.held_out_kl: np.ndarray | None = None
        self.held_out_logit_kl: np.ndarray | None = None
        self.identity_layers: list[str] = []
        self.history: list[float] = []
        self.config: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"TunedLens({self.model_id!r}, {len(self.layers)} layers, d={self.weight.shape[-1]})"

    def translate(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Layer number ``i``'s translator applied to states ``h`` ``(n, d)``."""
        h = h.to(self.weight.dtype)
        return h + h @ self.weight[i].T + self.bias[i]

    def save(self, path: str | Path) -> Path:
        """Write the translators and their record to ``path`` (a ``.pt`` file; tensors only, no pickled code)."""
        p = Path(path)
        state = {
            "format": _FORMAT,
            "library_version": __version__,
            "layers": self.layers,
            "model_id": self.model_id,
            "weight": self.weight.detach().cpu(),
            "bias": self.bias.detach().cpu(),
            "held_out_kl": None if self.held_out_kl is None else torch.as_tensor(self.held_out_kl),
            "held_out_logit_kl": None if self.held_out_logit_kl is None else torch.as_tensor(self.held_out_logit_kl),
            "history": torch.as_tensor(self.history, dtype=torch.float64),
            "identity_layers": self.identity_layers,
            "config": self.config,
        }
        torch.save(state, p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> TunedLens:
        """Read a lens written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise ReprlabError(f"`path`: no tuned lens at {str(p)!r}.")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged or foreign file
            raise ReprlabError(f"`path`: {str(p)!r} is not a tuned lens saved by reprlab ({err}).") from err
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ReprlabError(f"`path`: {str(p)!r} is not a tuned lens saved by reprlab.")
        lens = cls(list(state["layers"]), int(state["weight"].shape[-1]), str(state["model_id"]))
        with torch.no_grad():
            lens.weight.copy_(state["weight"])
            lens.bias.copy_(state["bias"])
        for key in ("held_out_kl", "held_out_logit_kl"):
            if state[key] is not None:
                setattr(lens, key, state[key].numpy())
        lens.history = state["history"].tolist()
        lens.identity_layers = list(state.get("identity_layers", []))
        lens.config = dict(state["config"])
        return lens


def _model_id(lm: Any, m: LanguageModel) -> str:
    name = getattr(lm, "name", None)
    if isinstance(name, str):
        return name
    cfg = getattr(m.module, "config", None)
    return str(getattr(cfg, "_name_or_path", "") or type(m.module).__name__)


def tuned_lens(
    lm: Any, prompts: Any, lens: TunedLens, targets: Any = None, *, batch_size: int = 8, keep_states: bool = True
) -> LensResult:
    """Read the residual states through ``lens``'s translators and the model's decoder: the same
    statistics and methods as :func:`reprlab.lens.logit_lens` (``kind="tuned"``)."""
    if not isinstance(lens, TunedLens):
        raise ReprlabTypeError(
            f"`lens` must be a TunedLens (rl.lens.train_tuned_lens or TunedLens.load); got {lens!r}."
        )
    m = language_model(lm)
    if lens.model_id != _model_id(lm, m):
        raise ReprlabError(f"`lens` was trained for {lens.model_id!r}, not for {_model_id(lm, m)!r}.")
    if lens.weight.shape[-1] != m.d_model:
        raise ReprlabError(f"`lens` has width {lens.weight.shape[-1]}, the model {m.d_model}.")
    lens = lens.to(m.device)

    def decode(i: int, h: torch.Tensor) -> torch.Tensor:
        return m.decode(lens.translate(i, h.to(m.device)))

    return _lens(m, prompts, targets, lens.layers, batch_size, keep_states, "tuned", decode)


def train_tuned_lens(
    lm: Any,
    stimuli: Any,
    *,
    steps: int = 200,
    seed: int = 0,
    lr: float = 1e-3,
    rows_per_step: int = 256,
    train_vocab: int | None = 4096,
    held_out: float = 0.2,
    validation: float = 0.1,
    window: int = 1024,
    device: Any = None,
    progress: bool = False,
) -> TunedLens:
    """Train a tuned lens (see the module docstring) from a token-level store of ``lm``.

    Parameters
    ----------
    lm : zoo language model or transformers causal LM
    stimuli : Activations or texts
        A token-level store (``rl.extract(lm, texts, pool="none", layers="all", out=...)``; read
        window by window) or texts, extracted in memory first.
    steps : int
        Optimiser steps; each takes ``rows_per_step`` training tokens for every layer.
    seed : int
        Seeds the held-out split, the windows and the order of tokens.
    lr : float
        Adam's learning rate.
    train_vocab : int or None
        Train on the KL over this many most probable output tokens per window (None: the full
        vocabulary, exact but ~V / train_vocab times slower).
    held_out : float in (0, 1)
        Fraction of the stimuli held out for the evaluation.
    validation : float in [0, 1)
        Fraction of the stimuli (taken from the training side, never the held-out one) on which each
        layer's trained translator is compared with the identity after training; a translator that
        does not lower the validation KL is reset to the identity (``identity_layers``). 0 keeps every
        trained translator.
    window : int
        Token rows read from the store at a time (with their output logits: ``window x vocab`` floats).
    device : str or torch.device, optional
        Where to train (e.g. ``"cuda"``); the model is moved there.
    """
    m = language_model(lm)
    _check_training(steps, lr, rows_per_step, train_vocab, held_out, validation, window)
    if device is not None:
        from .._validation import resolve_device

        m.module.to(resolve_device(device))
    dev = m.device
    acts = stimuli if isinstance(stimuli, Activations) else _extract(lm, stimuli)
    data = _Data(m, acts, held_out, validation, seed)
    lens = TunedLens(data.layers, m.d_model, _model_id(lm, m)).to(dev)
    opt = torch.optim.Adam(lens.parameters(), lr=lr)
    # the last block's state decodes to the model's output itself: its translator stays the identity
    trained = [(i, n) for i, n in enumerate(data.layers) if n != m.blocks[-1]]
    gen = torch.Generator().manual_seed(seed)
    for p in m.module.parameters():
        p.requires_grad_(False)
    t0, c0 = time.perf_counter(), time.process_time()
    step = 0
    while step < steps:
        states, log_p = data.window(gen, _TRAIN, rows=window)
        if states is None:
            raise ReprlabError("`stimuli`: the training split has no tokens; use more stimuli or a smaller held_out.")
        keep = _vocab(log_p, train_vocab)
        order = torch.randperm(log_p.shape[0], generator=gen)
        for b0 in range(0, order.numel() - rows_per_step + 1 if order.numel() >= rows_per_step else 1, rows_per_step):
            if step >= steps:
                break
            rows = order[b0 : b0 + rows_per_step]
            lp = log_p[rows].to(dev)
            if keep is not None:
                lp = torch.log_softmax(lp[:, keep], dim=-1)
            opt.zero_grad()
            loss = 0.0
            for i, name in trained:
                logits = m.decode(lens.translate(i, states[name][rows].to(dev)), keep)
                lq = torch.log_softmax(logits.float(), dim=-1)
                kl = (lp.exp() * (lp - lq)).sum(dim=-1).mean()
                kl.backward()
                loss += float(kl.detach())
            opt.step()
            lens.history.append(loss / len(trained))
            step += 1
            if progress:
                print(f"\rstep {step}/{steps}  KL {lens.history[-1]:.3f}", end="", flush=True)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    valid_kl = valid_logit_kl = None
    if data.n_rows(_VALID):
        valid_kl, valid_logit_kl = data.evaluate(lens, _VALID)
        with torch.no_grad():
            for i, name in trained:
                if not valid_kl[i] < valid_logit_kl[i]:
                    lens.weight[i].zero_()
                    lens.bias[i].zero_()
                    lens.identity_layers.append(name)
    lens.held_out_kl, lens.held_out_logit_kl = data.evaluate(lens, _HELD)
    lens.config = {
        "steps": steps, "seed": seed, "lr": lr, "rows_per_step": rows_per_step, "train_vocab": train_vocab,
        "held_out": held_out, "validation": validation, "held_out_stimuli": data.ids(_HELD),
        "validation_stimuli": data.ids(_VALID), "n_train_tokens": data.n_rows(_TRAIN),
        "n_validation_tokens": data.n_rows(_VALID), "n_held_out_tokens": data.n_rows(_HELD),
        "validation_kl": None if valid_kl is None else valid_kl.tolist(),
        "validation_logit_kl": None if valid_logit_kl is None else valid_logit_kl.tolist(),
        "train_seconds": round(train_s, 2), "train_cpu_seconds": round(train_cpu, 2), "device": str(dev),
    }  # fmt: skip
    return lens.cpu().requires_grad_(False)


def _check_training(steps: Any, lr: Any, rows: Any, vocab: Any, held_out: Any, validation: Any, window: Any) -> None:
    for name, v in (("steps", steps), ("rows_per_step", rows), ("window", window)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ReprlabError(f"`{name}` must be a positive integer; got {v!r}.")
    if vocab is not None and (not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 2):
        raise ReprlabError(f"`train_vocab` must be None or an integer >= 2; got {vocab!r}.")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ReprlabError(f"`lr` must be a positive number; got {lr!r}.")
    if not isinstance(held_out, (int, float)) or not 0 < held_out < 1:
        raise ReprlabError(f"`held_out` must lie in (0, 1); got {held_out!r}.")
    if not isinstance(validation, (int, float)) or not 0 <= validation < 1 or validation + held_out >= 1:
        raise ReprlabError(
            f"`validation` must lie in [0, 1) and leave stimuli for training beside `held_out` ({held_out!r}); "
            f"got {validation!r}."
        )


def _extract(lm: Any, stimuli: Any) -> Activations:
    from ..capture.extract import extract

    return extract(lm, stimuli, layers="all", pool="none", progress=False)


def _vocab(log_p: torch.Tensor, n: int | None) -> torch.Tensor | None:
    """The ``n`` tokens with the most output probability in the window (None: all)."""
    if n is None or n >= log_p.shape[1]:
        return None
    return torch.topk(log_p.exp().sum(dim=0), n).indices.to(log_p.device)


_TRAIN, _VALID, _HELD = 0, 1, 2


class _Data:
    """The store's residual layers, its stimuli split into training, validation and held-out ones
    (whole stimuli), read a window of rows at a time."""

    def __init__(self, m: LanguageModel, acts: Activations, held_out: float, validation: float, seed: int) -> None:
        from .logit import _from_store

        self.m = m
        self.acts = acts
        states, final, index, ids = _from_store(m, acts, "all")
        self.layers = list(states)
        self.final = final
        self.stimulus = index.stimulus
        n = len(ids)
        n_held = min(n - 1, max(1, round(held_out * n)))
        n_valid = 0 if validation == 0 else min(n - n_held - 1, max(1, round(validation * n)))
        if n < 2 or n_valid < (validation > 0):
            raise ReprlabError(
                f"`stimuli`: {n} stimuli cannot be split into training, validation and held-out ones; "
                "give more stimuli (at least 3), or validation=0 (and at least 2)."
            )
        perm = np.random.default_rng(seed).permutation(n)
        self.part = np.full(n, _TRAIN, dtype=np.int8)
        self.part[perm[:n_held]] = _HELD
        self.part[perm[n_held : n_held + n_valid]] = _VALID
        self._ids = ids
        self.row_part = self.part[self.stimulus]
        self.states = states

    def ids(self, part: int) -> list[str]:
        return [self._ids[i] for i in np.flatnonzero(self.part == part)]

    def n_rows(self, part: int) -> int:
        return int((self.row_part == part).sum())

    def _rows(self, r0: int, r1: int, part: int) -> tuple[dict[str, torch.Tensor], torch.Tensor] | None:
        sel = np.flatnonzero(self.row_part[r0:r1] == part)
        if sel.size == 0:
            return None
        states = {n: _take(self.states[n], slice(r0, r1))[torch.as_tensor(sel)] for n in self.layers}
        with torch.inference_mode():
            logits = self.final(r0, r1)[torch.as_tensor(sel)].float()
        return states, logits.clone()

    def window(self, gen: torch.Generator, part: int, rows: int):
        total = self.stimulus.size
        for _ in range(32):
            r0 = int(torch.randint(0, max(1, total - rows + 1), (1,), generator=gen))
            got = self._rows(r0, min(total, r0 + rows), part)
            if got is not None:
                return got[0], torch.log_softmax(got[1], dim=-1)
        return None, None

    @torch.no_grad()
    def evaluate(self, lens: TunedLens, part: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean KL per layer (nats, full vocabulary) of ``lens`` and of the logit lens over ``part``'s tokens."""
        dev = self.m.device
        tuned = np.zeros(len(self.layers))
        logit = np.zeros(len(self.layers))
        count = 0
        total = self.stimulus.size
        for r0 in range(0, total, 1024):
            got = self._rows(r0, min(total, r0 + 1024), part)
            if got is None:
                continue
            states, logits = got
            for c0 in range(0, logits.shape[0], 256):
                lp = torch.log_softmax(logits[c0 : c0 + 256].double().to(dev), dim=-1)
                for i, name in enumerate(self.layers):
                    h = states[name][c0 : c0 + 256].to(dev)
                    for out, z in ((tuned, lens.translate(i, h)), (logit, h)):
                        lq = torch.log_softmax(self.m.decode(z).double(), dim=-1)
                        out[i] += float((lp.exp() * (lp - lq)).sum())
                count += lp.shape[0]
        if count == 0:
            raise ReprlabError("`stimuli`: the held-out split has no tokens.")
        return tuned / count, logit / count
