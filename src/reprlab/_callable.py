"""Packages that are also their main function: ``rl.measures.cka(X, Y)`` and ``import reprlab.measures.cka``.

Some public functions share their name with the package or module that holds them: the measures
``cka``, ``shape``, ``rsa``, ``cca``, ``procrustes`` and ``riemannian`` with their families, and
``rl.probe`` / ``rl.intervene`` with theirs. Python reads ``rl.measures.cka`` and
``import reprlab.measures.cka as m`` through the same attribute (``import a.b as m`` is
``getattr(a, "b")`` since Python 3.7) and binds every imported submodule to that attribute, so the one
object must be both the module and the function: a module that can be called.

Such a module is made by the import system's own hook for a custom module type (PEP 451: a loader's
``create_module`` returns the new module object), not by changing a module's class after it ran. A
finder placed first on ``sys.meta_path`` answers for the names in :data:`CALLABLE` only: it asks the
finders behind it for the module's spec and gives it a loader that creates a :class:`CallableModule`
and otherwise defers to the original loader (same file, same code, same ``__spec__``). Calling the
module calls the function named beside it in :data:`CALLABLE`; ``inspect.signature`` and ``help`` of the
call read that function's. Everything else about the module is ordinary.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import inspect
import sys
from types import ModuleType
from typing import Any

#: Module name -> the function (an attribute of that module) that calling the module calls.
CALLABLE: dict[str, str] = {
    "reprlab.measures.cca": "cca",
    "reprlab.measures.cka": "cka",
    "reprlab.measures.procrustes": "procrustes",
    "reprlab.measures.riemannian": "riemannian",
    "reprlab.measures.rsa": "rsa",
    "reprlab.measures.shape": "shape",
    "reprlab.probe": "probe",
    "reprlab.intervene": "intervene",
}


class CallableModule(ModuleType):
    """A module whose call runs its function ``CALLABLE[module.__name__]``.

    ``reprlab.measures.cka(X, Y)`` is ``reprlab.measures.cka.cka(X, Y)``; ``__signature__`` is the
    function's, so ``inspect.signature`` and IDEs show the function's parameters.
    """

    def _function(self) -> Any:
        return getattr(self, CALLABLE[self.__name__])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._function())


class _CallableLoader(importlib.abc.Loader):
    """The original loader, except that the module it fills is created as a :class:`CallableModule`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return CallableModule(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, resource readers, ...
        return getattr(self._loader, name)


class CallableModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`CALLABLE` through the finders behind it and makes them callable."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if fullname not in CALLABLE:
            return None
        for finder in sys.meta_path:
            if isinstance(finder, CallableModuleFinder) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _CallableLoader(spec.loader)
                return spec
        return None


# Installed when reprlab is imported (its __init__ imports this module first), before any of the
# modules above can be: a submodule is always imported after its parent packages.
if not any(isinstance(f, CallableModuleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, CallableModuleFinder())
