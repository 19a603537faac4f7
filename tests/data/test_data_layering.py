"""gradstep.data sits just above the engine: it builds tensors but imports no layer above."""

from __future__ import annotations

import ast
from pathlib import Path

import gradstep.data

FORBIDDEN = ("gradstep.nn", "gradstep.optim", "gradstep.train", "gradstep.viz",
             "gradstep.distributed", "gradstep.cli", "gradstep.callbacks",
             "gradstep.checkpoint", "gradstep.models")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_data_imports_nothing_above_the_engine():
    folder = Path(gradstep.data.__file__).parent
    files = [*folder.glob("*.py"), folder.parent / "datasets.py",
             *(folder.parent / "utils").glob("*.py")]
    assert len(files) > 10
    for f in files:
        for n in _imports(f):
            assert not n.startswith(FORBIDDEN), f"{f.name} imports {n}"


def test_loader_builds_tensors_from_the_engine():
    assert "gradstep.tensor" in _imports(Path(gradstep.data.collate.__file__))
