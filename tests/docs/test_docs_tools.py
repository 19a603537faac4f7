"""The documentation build's own tools: tutorial cells, execution, docstring conversion."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "docs" / "_build"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", BUILD / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_parse_cells_splits_prose_and_code():
    rt = _load("run_tutorial")
    text = "# %% [markdown]\n# # Title\n#\n# Some $x$.\n\n# %%\nx = 1\nprint(x)\n\n# %%\n\n"
    cells = rt.parse_cells(text)
    assert [c.kind for c in cells] == ["markdown", "code"]
    assert cells[0].source == "# Title\n\nSome $x$."
    assert cells[1].source == "x = 1\nprint(x)"
    assert cells[1].line == 7


def test_parse_cells_rejects_uncommented_prose():
    rt = _load("run_tutorial")
    with pytest.raises(ValueError, match="must start with '# '"):
        rt.parse_cells("# %% [markdown]\nnot a comment\n")


def test_run_captures_output_and_fails_on_error(tmp_path, monkeypatch):
    rt = _load("run_tutorial")
    monkeypatch.chdir(tmp_path)
    ok = tmp_path / "01_ok.py"
    ok.write_text("# %% [markdown]\n# # Ok\n\n# %%\nprint(6 * 7)\n")
    page = rt.run(ok, tmp_path / "out").read_text()
    assert "# Ok" in page and "```python\nprint(6 * 7)\n```" in page
    assert "```text\n42\n```" in page
    assert 'href="../01_ok.py"' in page
    bad = tmp_path / "02_bad.py"
    bad.write_text("# %% [markdown]\n# # Bad\n\n# %%\nraise RuntimeError('tutorial broke')\n")
    with pytest.raises(RuntimeError, match="tutorial broke"):
        rt.run(bad, tmp_path / "out")
    assert not (tmp_path / "out" / "02_bad.md").exists()


def test_rst_math_becomes_arithmatex_markdown():
    pytest.importorskip("griffe")
    conv = _load("griffe_rst").rst_to_markdown
    doc = "With :math:`g` the gradient:\n\n.. math::\n\n    a &= b \\\\\n    c &= d\n\nEnd."
    md = conv(doc)
    assert "With $g$ the gradient:" in md
    assert "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$" in md
    assert md.rstrip().endswith("End.")
    assert conv(".. math::\n\n    x^2\n").strip() == "$$\nx^2\n$$"


def test_rst_roles_and_literal_blocks():
    pytest.importorskip("griffe")
    conv = _load("griffe_rst").rst_to_markdown
    assert conv("See :func:`fit` and :class:`~gradstep.train.History`.") == (
        "See `fit` and `History`."
    )
    md = conv("Hooks, in order::\n\n    on_train_begin(trainer)\n      on_epoch_begin()\n\nAfter.")
    assert md.startswith("Hooks, in order:\n\n```text\non_train_begin(trainer)\n  on_epoch_begin()\n```")
    assert md.rstrip().endswith("After.")


def test_google_sections_with_several_names_or_prose():
    pytest.importorskip("griffe")
    conv = _load("griffe_rst").rst_to_markdown
    md = conv("Args:\n    atol, rtol: tolerances of the\n        comparison.\n    eps: step.\n")
    assert md.split("\n")[:6] == [
        "Args:", "    atol: tolerances of the", "        comparison.",
        "    rtol: tolerances of the", "        comparison.", "    eps: step.",
    ]
    md = conv("Attributes:\n    model, optimizer (the ones given).\n    epoch: current epoch.\n")
    assert md.startswith("**Attributes:** model, optimizer (the ones given). epoch: current epoch.")
