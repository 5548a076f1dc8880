"""Writing into a model: intervention hooks, activation patching, steering and concept erasure.

>>> import reprlab as rl
>>> with rl.intervene(lm, {"model.layers.6": rl.add(v, alpha=4.0)}):   # doctest: +SKIP
...     out = lm.generate(**inputs)

* :func:`intervene` with the edits :func:`add`, :func:`ablate`, :func:`project_out`, :func:`patch`,
  :func:`replace` (modules :mod:`.edits`, :mod:`.hooks`).

``rl.intervene`` is both this package and the context manager: importing any submodule binds the
package to the name ``reprlab.intervene``, so the package is made callable and calling it calls
:func:`reprlab.intervene.hooks.intervene`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .edits import Edit, ablate, add, patch, project_out, replace
from .hooks import Intervention, intervene

__all__ = ["Edit", "Intervention", "ablate", "add", "intervene", "patch", "project_out", "replace"]


class _CallablePackage(types.ModuleType):
    def __call__(self, model: Any, edits: Any) -> Any:
        return intervene(model, edits)


sys.modules[__name__].__class__ = _CallablePackage
