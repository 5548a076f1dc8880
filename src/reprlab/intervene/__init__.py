"""Writing into a model: intervention hooks, activation patching, steering and concept erasure.

>>> import reprlab as rl
>>> with rl.intervene(lm, {"model.layers.6": rl.add(v, alpha=4.0)}):   # doctest: +SKIP
...     out = lm.generate(**inputs)

* :func:`intervene` with the edits :func:`add`, :func:`ablate`, :func:`project_out`, :func:`patch`,
  :func:`replace` (modules :mod:`.edits`, :mod:`.hooks`).

``rl.intervene`` is both this package and the context manager: calling the package calls
:func:`reprlab.intervene.hooks.intervene` (the import system creates it as a callable module; see
:mod:`reprlab._callable`).
"""

from __future__ import annotations

from .edits import Edit, ablate, add, patch, project_out, replace
from .hooks import Intervention, intervene

__all__ = ["Edit", "Intervention", "ablate", "add", "intervene", "patch", "project_out", "replace"]
