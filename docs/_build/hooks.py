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

import functools
import importlib
import inspect
import logging
import shutil
import sys
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
    "pytorch.md", "optim.md", "compile.md", "cli.md", "visualisation.md", "interop.md",
    "distributed.md",    "reliability.md", "textbook.md",
]
TOP = ["index.md", "about.md", "CONTRIBUTING-internal.md"]

# Public modules with an API page, in reading order; a module that cannot be imported
# (``gradstep.utils.data`` before it exists) is left out.
API_MODULES = [
    "gradstep", "gradstep.ops", "gradstep.nn", "gradstep.nn.functional", "gradstep.nn.init",
    "gradstep.nn.utils", "gradstep.optim", "gradstep.optim.lr_scheduler", "gradstep.data",
    "gradstep.utils.data", "gradstep.datasets", "gradstep.train", "gradstep.jit",
    "gradstep.callbacks",    "gradstep.metrics", "gradstep.models", "gradstep.checkpoint", "gradstep.interop",
    "gradstep.distributed", "gradstep.viz", "gradstep.viz.compare", "gradstep.viz.layers",
    "gradstep.viz.explain", "gradstep.errors", "gradstep.gradcheck",
]


def api_modules() -> list[str]:
    """The modules of API_MODULES that import here, and any other module gradstep exports."""
    import gradstep

    extra = [f"gradstep.{n}" for n in gradstep.__all__
             if inspect.ismodule(getattr(gradstep, n)) and f"gradstep.{n}" not in API_MODULES]
    found = []
    for name in API_MODULES + sorted(extra):
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


@functools.cache
def _static_package() -> Any:
    """gradstep as Griffe sees it without importing it (what mkdocstrings renders)."""
    import griffe

    return griffe.load("gradstep", search_paths=[str(ROOT / "src")], resolve_aliases=False)


def _api_page(module: str) -> str:
    """``::: module``, plus a block for every exported name that block would miss.

    mkdocstrings reads the sources statically. It cannot see names exported through an
    ``__all__`` computed at import time, a module that replaces itself in ``sys.modules``
    (``gradstep.datasets``), or a function hidden by a submodule of the same name
    (``gradstep.tensor``). Each such name gets its own block: under the module's path when
    the module imports it visibly, else under the path where it is defined.
    """
    mod = importlib.import_module(module)
    static = _static_package()
    if module != "gradstep":
        static = static[module.removeprefix("gradstep.")]
    exported = {str(e) for e in (static.exports or [])}
    page = f"::: {module}\n"
    for name in getattr(mod, "__all__", []):
        try:
            obj = getattr(mod, name)
        except Exception as exc:  # a lazy export whose module fails to import
            log.warning("%s exports %r but getting it fails: %r", module, name, exc)
            continue
        if inspect.ismodule(obj):
            continue
        member = static.members.get(name)
        target = member.target_path if member is not None and member.is_alias else ""
        hidden = f"{module}.{name}" in sys.modules or target in sys.modules
        path: str | None
        if member is not None and not hidden:
            if name in exported:
                continue
            path = f"{module}.{name}"
        else:
            path = _home(name, obj)
        if path is not None:  # else nothing Griffe can reach: the coverage check reports it
            page += (f"\n::: {path}\n    options:\n      heading_level: 2\n"
                     "      show_root_full_path: false\n")
    return page


def _home(name: str, obj: Any) -> str | None:
    """The path of the module that defines ``obj`` (a function, class or constant)."""
    if hasattr(obj, "__qualname__") and isinstance(getattr(obj, "__module__", None), str):
        return f"{obj.__module__}.{obj.__qualname__}"
    for mod_name, m in sorted(sys.modules.items()):
        if mod_name.startswith("gradstep.") and getattr(m, "__dict__", {}).get(name) is obj:
            static = _static_package()[mod_name.removeprefix("gradstep.")]
            member = static.members.get(name)
            if member is not None and not member.is_alias:
                return f"{mod_name}.{name}"
    return None


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
