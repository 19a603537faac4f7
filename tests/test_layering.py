"""The import rules of DESIGN.md, checked on the source with ``ast`` (nothing is imported).

* No import cycles among gradstep's modules (module-level imports; imports inside
  functions and ``if TYPE_CHECKING:`` blocks are deferred and cannot form a cycle at
  import time). Importing ``a.b.c`` also runs the ``__init__`` of the packages above it,
  so those count as imported too (except the importer's own packages). The package root
  ``gradstep/__init__.py`` is the facade that re-exports everything, so it is not a node.
* ``gradstep.train`` imports neither ``gradstep.viz``, ``gradstep.distributed`` nor
  ``gradstep.cli``, at any depth (those plug into fit through callbacks and plug-ins).
* ``gradstep.optim`` never imports ``gradstep.nn``.
* Nothing below the training layer (errors, the engine, nn, optim, data) imports
  ``gradstep.train``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gradstep

PKG = Path(gradstep.__file__).resolve().parent

# Import cycles that are known and being removed elsewhere; each entry is a frozenset of the
# modules of one cycle. Keep empty unless a cycle is tracked by an open issue.
KNOWN_CYCLES: list[frozenset[str]] = []


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _targets(mod: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The gradstep modules an import statement loads."""
    out = []
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "gradstep"]
    base = node.module or ""
    if node.level:
        pkg = mod.split(".")
        if not MODULES[mod].name == "__init__.py":
            pkg = pkg[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([base] if base else []))
    if base.split(".")[0] != "gradstep":
        return []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in MODULES else base)
    return out


def _imports(mod: str, *, module_level: bool) -> set[str]:
    tree = ast.parse(MODULES[mod].read_text(), str(MODULES[mod]))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(_targets(mod, node))
            elif module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                    ast.Lambda)):
                continue
            elif module_level and isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse)
            elif isinstance(node, ast.ClassDef) and module_level:
                visit([n for n in node.body if not isinstance(
                    n, (ast.FunctionDef, ast.AsyncFunctionDef))])
            else:
                visit([n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)])

    visit(tree.body)
    # importing a.b.c first runs the __init__ of every package above it (a, a.b) unless that
    # package is one of this module's own ancestors (then it is already being initialised)
    own = {".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 2)}
    for t in list(found):
        parts = t.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in own:
                found.add(parent)
    return {t for t in found if t in MODULES and t != mod}


def _cycles() -> list[list[str]]:
    """The import cycles among gradstep's modules."""
    return _scc({m: sorted(_imports(m, module_level=True) - {"gradstep"}) for m in MODULES
                 if m != "gradstep"})


def _scc(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def _in(mod: str, *prefixes: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def test_no_import_cycles() -> None:
    cycles = [c for c in _cycles() if frozenset(c) not in KNOWN_CYCLES]
    assert not cycles, f"import cycles among gradstep's modules: {cycles}"


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["d"]}
    assert _scc(graph) == [["a", "b", "c"]]
    assert _scc({"a": ["b"], "b": []}) == []


def test_the_analysis_sees_imports() -> None:
    """The checks below would pass vacuously if the parser found no imports."""
    assert "gradstep.tensor" in _imports("gradstep.ops", module_level=True)
    assert "gradstep.callbacks" in _imports("gradstep.train.loop", module_level=True)


@pytest.mark.parametrize("mod", sorted(m for m in MODULES if _in(m, "gradstep.train")))
def test_train_imports_no_viz_distributed_or_cli(mod: str) -> None:
    bad = {t for t in _imports(mod, module_level=False)
           if _in(t, "gradstep.viz", "gradstep.distributed", "gradstep.cli")}
    assert not bad, f"{mod} imports {sorted(bad)}"


@pytest.mark.parametrize("mod", sorted(m for m in MODULES if _in(m, "gradstep.optim")))
def test_optim_never_imports_nn(mod: str) -> None:
    bad = {t for t in _imports(mod, module_level=False) if _in(t, "gradstep.nn")}
    assert not bad, f"{mod} imports {sorted(bad)}"


BELOW_TRAIN = ("gradstep.errors", "gradstep.tensor", "gradstep.ops", "gradstep.gradcheck",
               "gradstep.nn", "gradstep.optim", "gradstep.data")


@pytest.mark.parametrize("mod", sorted(
    m for m in MODULES if _in(m, *BELOW_TRAIN) or m.startswith("gradstep._")))
def test_nothing_below_train_imports_train(mod: str) -> None:
    bad = {t for t in _imports(mod, module_level=False) if _in(t, "gradstep.train")}
    assert not bad, f"{mod} imports {sorted(bad)}"
