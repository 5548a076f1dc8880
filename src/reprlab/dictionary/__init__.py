"""Sparse autoencoders and dictionaries (``rl.dictionary``).

>>> import reprlab as rl
>>> sae = rl.dictionary.train(acts, layer="model.layers.6", kind="topk", k=32, expansion=8)  # doctest: +SKIP
>>> rl.dictionary.evaluate(sae, X_test).fvu                                                   # doctest: +SKIP

Modules: :mod:`.sae` (the model, save/load), :mod:`.train` (the training recipe), :mod:`.data`
(streaming rows from arrays and stores), :mod:`.metrics` (evaluate), :mod:`.splice`
(loss recovered with the SAE spliced in), :mod:`.inspect` (top
activating examples), :mod:`.match` (atoms across dictionaries), :mod:`.pursuit` (sparse codes
over a given dictionary), :mod:`.itda` (a dictionary of the data's own activations). The
formulas and their references are in each module and in
docs/dictionary.md.
"""

from .inspect import top_examples
from .itda import itda
from .match import Match, match
from .metrics import Evaluation, evaluate
from .pursuit import matching_pursuit, orthogonal_matching_pursuit
from .sae import PursuitDictionary, SparseAutoencoder, load
from .splice import LossRecovered, loss_recovered
from .train import train

__all__ = [
    "Evaluation",
    "LossRecovered",
    "Match",
    "PursuitDictionary",
    "SparseAutoencoder",
    "evaluate",
    "itda",
    "load",
    "loss_recovered",
    "match",
    "matching_pursuit",
    "orthogonal_matching_pursuit",
    "top_examples",
    "train",
]
