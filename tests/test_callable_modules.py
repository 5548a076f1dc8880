"""Packages that are also their main function (reprlab/_callable.py): modules when imported, the
function when called, and no module's class changed after the fact."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import reprlab as rl
from reprlab._callable import CALLABLE, CallableModule

SRC = Path(__file__).resolve().parents[1] / "src" / "reprlab"


@pytest.mark.parametrize("name", sorted(CALLABLE))
def test_each_listed_package_is_a_module_that_calls_its_function(name):
    module = importlib.import_module(name)
    function = getattr(module, CALLABLE[name])
    assert isinstance(module, ModuleType) and isinstance(module, CallableModule)
    assert module.__spec__.name == name and not isinstance(function, ModuleType)
    assert inspect.signature(module) == inspect.signature(function)
    parent, _, child = name.rpartition(".")
    assert getattr(importlib.import_module(parent), child) is module


def test_measure_families_are_modules_and_measures():
    X = np.random.default_rng(0).normal(size=(40, 6))
    Y = X @ np.random.default_rng(1).normal(size=(6, 5))
    import reprlab.measures.cka as m

    assert isinstance(m, ModuleType) and m is rl.measures.cka
    assert rl.measures.cka(X, Y) == m.cka(X, Y) == rl.compare(X, Y, "cka")
    assert rl.measures.shape(X, Y, alpha=1.0) == rl.compare(X, Y, "shape", alpha=1.0)
    assert rl.measures.rsa(X, Y) == rl.compare(X, Y, "rsa")


@pytest.mark.parametrize(
    "code",
    [
        "import reprlab.measures.cka as m; print(m)",
        # a direct import of the package before the lazy `rl.probe` still gives the callable module
        "import reprlab.probe as p, reprlab as rl; print(p, callable(rl.probe), rl.probe is p)",
        "from reprlab.intervene import hooks; import reprlab as rl; print(callable(rl.intervene))",
    ],
)
def test_in_a_fresh_interpreter(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Error" not in out
    if "cka" in code:
        assert out.startswith("<module 'reprlab.measures.cka' from ")
    else:
        assert out.rstrip().endswith("True")


def test_no_module_class_is_swapped():
    """No ``x.__class__ = ...`` anywhere in src/ (the callable modules are created by their loader)."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            swaps = [t for t in targets if isinstance(t, ast.Attribute) and t.attr == "__class__"]
            found += [f"{path}:{node.lineno}" for _ in swaps]
    assert found == []
