"""The library's exceptions.

Every error reprlab raises on bad input is a :class:`ReprlabError` (a ``ValueError``) or a
:class:`ReprlabTypeError` (a ``TypeError``), so callers can catch either the standard kind or ours.
Messages name the argument, say what was expected and what arrived, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ReprlabError(ValueError):
    """Bad input or parameter value (a ``ValueError``)."""


class ReprlabTypeError(TypeError):
    """Input of the wrong kind (a ``TypeError``)."""


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message gives the pip command."""


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'a' or 'b'?"`` for the closest choices, or ``""``."""
    found = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.5)
    if not found:
        return ""
    return " Did you mean " + " or ".join(repr(f) for f in found) + "?"


def require(module: str, extra: str, package: str | None = None):
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the fix."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - exercised by monkeypatching in tests
        pkg = package or module.split(".")[0]
        raise MissingDependencyError(
            f"This feature needs the optional package '{pkg}', which is not installed. "
            f"Install it with: pip install 'reprlab[{extra}]'  (or: pip install {pkg})"
        ) from err
