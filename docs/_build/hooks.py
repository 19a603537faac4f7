"""MkDocs hooks for the gradstep site (registered in mkdocs.yml).

* ``on_config``: assembles the navigation from what exists: the executed tutorials, the
  guide pages present in ``docs/`` (optional ones appear only when someone has written
  them), and one API page per public module.
* ``on_files``: adds the generated pages: the tutorials executed by ``docs/build.py``
  (``build/docs-generated/``) and the API pages (one ``::: module`` directive each).
* ``on_post_build``: copies MathJax (installed from npm by ``docs/build.py``) into the
  site, so formulas render without a network connection.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import shutil
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.gradstep")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GENERATED = ROOT / "build" / "docs-generated"
MATHJAX = ROOT / "build" / "npm" / "node_modules" / "mathjax" / "es5"
# What the site needs of MathJax: the TeX-to-HTML bundle, its fonts, the TeX extensions it
# may load on demand, and the menu/accessibility parts the bundle can ask for.
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "sre")

# Guide pages in reading order; a page that does not exist is left out.
GUIDES = [
    "pytorch.md", "optim.md", "cli.md", "visualisation.md", "interop.md", "distributed.md",
    "reliability.md", "textbook.md",
]
TOP = ["index.md", "about.md", "CONTRIBUTING-internal.md"]

# Public modules with an API page, in reading order; a module that cannot be imported
# (``gradstep.utils.data`` before it exists) is left out.
API_MODULES = [
    "gradstep", "gradstep.ops", "gradstep.nn", "gradstep.nn.functional", "gradstep.nn.init",
    "gradstep.nn.utils", "gradstep.optim", "gradstep.optim.lr_scheduler", "gradstep.data",
    "gradstep.utils.data", "gradstep.datasets", "gradstep.train", "gradstep.callbacks",
    "gradstep.metrics", "gradstep.models", "gradstep.checkpoint", "gradstep.interop",
    "gradstep.distributed", "gradstep.viz", "gradstep.viz.compare", "gradstep.viz.layers",
    "gradstep.viz.explain", "gradstep.errors", "gradstep.gradcheck",
]


def api_modules() -> list[str]:
    """The modules of API_MODULES that import here."""
    found = []
    for name in API_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        found.append(name)
    return found


def _api_uri(module: str) -> str:
    return f"api/{module}.md"


def _summary(module: str) -> str:
    doc = importlib.import_module(module).__doc__ or ""
    return doc.strip().split("\n")[0].rstrip(".")


def _api_index(modules: list[str]) -> str:
    rows = "\n".join(f"| [`{m}`]({m}.md) | {_summary(m)} |" for m in modules)
    return (
        "# API reference\n\n"
        "Generated from the docstrings at build time: every name a module exports "
        "(its `__all__`) has an entry. The update rules of the optimizers are written "
        "as math in their docstrings and rendered here.\n\n"
        "| Module | What it holds |\n|---|---|\n" + rows + "\n"
    )


def _api_page(module: str) -> str:
    """``::: module``, plus the exported names that a submodule of the same name hides.

    ``gradstep.tensor`` is both a module and the function ``tensor`` that ``gradstep``
    exports; Griffe resolves the name to the module, so the function gets its own block.
    """
    import sys

    mod = importlib.import_module(module)
    page = f"::: {module}\n"
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if f"{module}.{name}" in sys.modules and not inspect.ismodule(obj):
            home = f"{obj.__module__}.{obj.__qualname__}"
            page += f"\n::: {home}\n    options:\n      heading_level: 2\n"
    return page


def _tutorial_pages() -> list[str]:
    scripts = sorted(p for p in (DOCS / "tutorials").glob("[0-9]*.py"))
    pages = []
    for script in scripts:
        md = GENERATED / "tutorials" / (script.stem + ".md")
        if not md.exists():
            log.warning("tutorial %s has not been executed: run `python docs/build.py`",
                        script.name)
            continue
        if md.stat().st_mtime < script.stat().st_mtime:
            log.warning("tutorial %s changed after it was executed: run `python docs/build.py`",
                        script.name)
        pages.append(f"tutorials/{script.stem}.md")
    return pages


def on_config(config: Any, **kwargs: Any) -> Any:
    present = {p.name for p in DOCS.glob("*.md")}
    guides = [g for g in GUIDES if g in present]
    extra = sorted(present - set(guides) - set(TOP))
    nav: list[Any] = [{"Home": "index.md"}]
    tutorials = _tutorial_pages()
    if tutorials:
        nav.append({"Tutorials": tutorials})
    nav.append({"Guides": guides + extra})
    api = [{m: _api_uri(m)} for m in api_modules()]
    nav.append({"API reference": [{"Overview": "api/index.md"}, *api]})
    nav.append({"About": ["about.md"] + [p for p in TOP[2:] if p in present]})
    config["nav"] = nav
    return config


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    if GENERATED.exists():
        for path in sorted(GENERATED.rglob("*")):
            if path.is_file():
                uri = path.relative_to(GENERATED).as_posix()
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    modules = api_modules()
    files.append(File.generated(config, "api/index.md", content=_api_index(modules)))
    for m in modules:
        files.append(File.generated(config, _api_uri(m), content=_api_page(m)))
    return files


def on_post_build(config: Any, **kwargs: Any) -> None:
    if not (MATHJAX / "tex-chtml.js").exists():
        raise PluginError(
            f"MathJax is missing ({MATHJAX}): run `python docs/build.py`, which installs the "
            "npm package mathjax into build/npm"
        )
    dest = Path(config["site_dir"]) / "assets" / "mathjax"
    for part in MATHJAX_PARTS:
        src = MATHJAX / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
