"""Brain and behaviour data: encoding models with time lags, identification decoding, surprisal.

>>> import reprlab as rl
>>> e = rl.encoding(features, responses, lags=range(0, 10), groups=trial_of_sample)   # doctest: +SKIP
>>> e.score, e.ci_low, e.ci_high                                                     # doctest: +SKIP
>>> rl.identification(X_pred, Y).pairwise                                            # doctest: +SKIP
>>> rl.surprisal(rl.zoo.load("smollm2-135m"), ["The cat sat."])[0].word_surprisal     # doctest: +SKIP

A sibling of :mod:`reprlab.io` (file formats and data sets) rather than a part of it: these are
models fitted to data, whatever file the data came from. Modules: :mod:`~reprlab.brain.lags` (FIR
designs and folds), :mod:`~reprlab.brain.encode` (banded ridge), :mod:`~reprlab.brain.identify`,
:mod:`~reprlab.brain.behaviour` (surprisal). The module names differ from the public function names
(``rl.encoding``, ``rl.identification``, ``rl.surprisal``) so that importing a module never
shadows the function of the same name on the ``reprlab`` package.
"""

from .behaviour import Surprisal, TextSurprisal, surprisal
from .encode import EncodingResult, PairedEncoding, encoding
from .identify import IdentificationResult, identification

__all__ = [
    "EncodingResult",
    "IdentificationResult",
    "PairedEncoding",
    "Surprisal",
    "TextSurprisal",
    "encoding",
    "identification",
    "surprisal",
]
