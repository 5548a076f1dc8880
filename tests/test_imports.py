"""No import cycles between the modules of src/reprlab.

The check reads every module's source (an AST walk, nothing is imported) and follows every ``import``
and ``from ... import`` statement, at module level and inside functions alike: a deferred import is
still a dependency, and a cycle through one (``engine.compare_all`` <-> ``engine.distributed`` once) is
what this test exists to forbid. Imports under ``if TYPE_CHECKING:`` are annotations only and are
skipped. ``from pkg import name`` depends on the module ``pkg.name`` when that is a module, else on
``pkg`` itself; a package's ``__init__`` counts as the package. Importing a submodule runs its parent
packages' ``__init__``s too, but those edges are implied by the layout, not written by anyone, so they
are not followed (otherwise every package that imports its own modules would be a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "reprlab"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package directory ``root``."""
    mods = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package tree it imports (see the module docstring)."""
    mods = module_files(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = _type_checking_nodes(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                graph[mod] |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for a in node.names:
                    full = f"{target}.{a.name}"
                    if full in mods:
                        graph[mod].add(full)
                    elif target in mods:
                        graph[mod].add(target)
        graph[mod].discard(mod)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module, each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan (1972); the package trees here are shallow enough to recurse
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(_cycle_in(sorted(comp), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One closed path through the first module of a strongly connected component (for the message)."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component always has a cycle")


def test_no_import_cycles_in_reprlab():
    graph = import_graph(SRC)
    assert graph.get("reprlab.engine.compare_all"), "the walk found no imports"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    "files, cycle",
    [
        (  # module level, relative imports across subpackages
            {
                "__init__.py": "",
                "a/__init__.py": "",
                "a/x.py": "from ..b import y\n",
                "b/__init__.py": "",
                "b/y.py": "from ..a.x import f\n",
            },
            ["pkg.a.x", "pkg.b.y", "pkg.a.x"],
        ),
        (  # a deferred import inside a function is still a dependency
            {
                "__init__.py": "",
                "one.py": "import pkg.two\n",
                "two.py": "def f():\n    from . import one\n    return one\n",
            },
            ["pkg.one", "pkg.two", "pkg.one"],
        ),
        (  # through a package __init__, three modules long
            {
                "__init__.py": "from .p import q\n",
                "p.py": "from .r import s\n",
                "r.py": "import pkg\n",
                "t.py": "",
            },
            ["pkg", "pkg.p", "pkg.r", "pkg"],
        ),
    ],
)
def test_a_planted_cycle_is_reported(tmp_path, files, cycle):
    assert find_cycles(import_graph(_package(tmp_path, files))) == [cycle]


def test_acyclic_package_and_type_checking_imports_pass(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "from . import low, high\n",
            "low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .high import H\n",
            "high.py": "from .low import L\nimport os\n",
        },
    )
    graph = import_graph(root)
    assert graph["pkg.high"] == {"pkg.low"} and graph["pkg"] == {"pkg.low", "pkg.high"}
    assert find_cycles(graph) == []


#: The layers of docs/architecture.md, lowest first: a module may import its own layer and the ones
#: below, never one above. Packages not listed (the families being added: probe, lens, intervene,
#: dictionary, io; and capture, store, report, cli, experiments) sit above the engine and are not
#: constrained here beyond the no-cycle rule.
LAYERS = [
    {"errors", "_version", "_callable"},
    {"_validation", "_linalg", "_neighbors", "_pairs", "_registry", "results", "_progress"},
    {"stream"},
    {"measures", "describe"},
    {"engine", "api", "stats", "_stimulus_ids"},
]
#: Deliberate upward imports, each deferred to the one function that needs it: plotting (matplotlib) and
#: the human-RSA convenience that loads a zoo model and extracts its layers (capture).
ALLOWED_UP = {
    ("reprlab.results", "reprlab.report.figures"),
    ("reprlab.stats.human", "reprlab"),
    # rows matched by stimulus id: an rl.Activations store is one of the id-carrying inputs it recognises
    ("reprlab._stimulus_ids", "reprlab.store.activations"),
}


def _layer(module: str) -> int | None:
    part = module.split(".")[1] if "." in module else None
    return next((i for i, members in enumerate(LAYERS) if part in members), None)


def test_layers_import_only_downwards():
    wrong = []
    for mod, deps in import_graph(SRC).items():
        here = _layer(mod)
        if here is None:
            continue
        for dep in deps:
            there = _layer(dep)
            above = there is None or there > here
            if above and (mod, dep) not in ALLOWED_UP:
                wrong.append(f"{mod} -> {dep}")
    assert not wrong, "imports against the layering of docs/architecture.md: " + ", ".join(sorted(wrong))
