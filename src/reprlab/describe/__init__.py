"""Measures of one representation (intrinsic dimension, neural collapse, sparsity, ...).

One module per family; each registers its measures with kind ``"describe"``. The package itself is
callable: ``reprlab.describe(X, "twonn")`` is :func:`reprlab.api.describe`, and every measure is also a
plain function, e.g. ``reprlab.describe.participation_ratio(X)``.
"""

import sys
import types

__all__: list[str] = []


class _CallableModule(types.ModuleType):
    def __call__(self, X, name, /, **params):
        from ..api import describe

        return describe(X, name, **params)


sys.modules[__name__].__class__ = _CallableModule
