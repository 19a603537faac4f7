"""gradstep.data yields NumPy arrays and never imports the autodiff core."""

from __future__ import annotations

import ast
from pathlib import Path

import gradstep.data

FORBIDDEN = ("gradstep.tensor", "gradstep.ops", "gradstep.nn", "gradstep.optim", "gradstep.train")


def test_data_does_not_import_core():
    folder = Path(gradstep.data.__file__).parent
    files = [*folder.glob("*.py"), folder.parent / "datasets.py"]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                assert not n.startswith(FORBIDDEN), f"{f.name} imports {n}"
