"""Build the gradstep documentation site: ``python docs/build.py [--check] [--jobs N]``.

1. Installs MathJax from npm into ``build/npm`` (once; the site serves it itself, so
   formulas render offline).
2. Executes every tutorial ``docs/tutorials/NN_*.py`` in a scratch directory and writes
   its page (code, printed output, figures) into ``build/docs-generated/``; a tutorial
   that fails fails the build.
3. Runs ``mkdocs build --strict`` into ``site/`` and checks that every public name of
   every API module has an entry.
4. With ``--check``: serves ``site/`` on localhost and checks every page in headless
   Chromium (``docs/check_site.py``).

Needs ``pip install -e ".[docs]"``, npm, and for ``--check`` Debian's ``chromium``.
MNIST for the Nielsen tutorial is read from ``$GRADSTEP_DATA/mnist``; when that variable
is unset, ``../shared/data`` beside the repository is used if it exists.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = ROOT / "build"
GENERATED = BUILD / "docs-generated"
SITE = ROOT / "site"
NPM = BUILD / "npm"
MATHJAX_VERSION = "3.2.2"

sys.path[:0] = [str(ROOT / "src"), str(DOCS / "_build")]   # this checkout's gradstep
from hooks import _home, api_modules  # noqa: E402


def step(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def ensure_mathjax() -> None:
    """Install the npm package mathjax (pinned) into build/npm unless it is there."""
    pkg = NPM / "node_modules" / "mathjax" / "package.json"
    if pkg.exists() and f'"version": "{MATHJAX_VERSION}"' in pkg.read_text():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("docs build: npm is needed to install MathJax (apt-get install npm)")
    NPM.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM),
                    f"mathjax@{MATHJAX_VERSION}"], check=True)


def tutorial_env() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    shared = ROOT.parent / "shared" / "data"
    if "GRADSTEP_DATA" not in env and (shared / "mnist").is_dir():
        env["GRADSTEP_DATA"] = str(shared)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    return env


def run_tutorial(script: Path, env: dict[str, str]) -> tuple[Path, int, str, float]:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"gradstep-{script.stem}-") as scratch:
        proc = subprocess.run(
            [sys.executable, str(DOCS / "_build" / "run_tutorial.py"), str(script),
             str(GENERATED / "tutorials")],
            cwd=scratch, env=env, capture_output=True, text=True, timeout=900,
        )
    return script, proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - t0


def run_tutorials(jobs: int, only: list[str]) -> None:
    scripts = sorted((DOCS / "tutorials").glob("[0-9]*.py"))
    if only:
        scripts = [s for s in scripts if any(o in s.stem for o in only)]
    else:
        shutil.rmtree(GENERATED, ignore_errors=True)
    env = tutorial_env()
    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for script, rc, log, seconds in pool.map(lambda s: run_tutorial(s, env), scripts):
            print(f"  {script.name}: {'ok' if rc == 0 else 'FAILED'} in {seconds:.1f} s",
                  flush=True)
            if rc != 0:
                failed.append(script.name)
                print(log, flush=True)
    if failed:
        sys.exit(f"docs build: tutorial(s) failed: {', '.join(failed)}")


def mkdocs_build() -> None:
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                    "--config-file", str(ROOT / "mkdocs.yml")], cwd=ROOT, check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))


def check_api_coverage() -> None:
    """Every name in every API module's ``__all__`` has an anchor on its API page."""
    missing = []
    for module in api_modules():
        mod = importlib.import_module(module)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, v in vars(mod).items() if not n.startswith("_")
                     and getattr(v, "__module__", None) == module]
        html = (SITE / "api" / module / "index.html").read_text(encoding="utf-8")
        ids = set(re.findall(r'id="([^"]+)"', html))
        for name in names:
            sub = f"{module}.{name}"
            try:
                home = _home(name, getattr(mod, name))
            except Exception:  # reported by the mkdocs build already
                missing.append(sub)
                continue
            if sub in ids or home in ids or sub in api_modules():
                continue
            missing.append(sub)
    if missing:
        sys.exit("docs build: public names without an API entry: " + ", ".join(missing))
    print(f"  API reference: every exported name of {len(api_modules())} modules has an entry")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the gradstep documentation site.")
    ap.add_argument("--check", action="store_true",
                    help="serve the site on localhost and check every page in Chromium")
    ap.add_argument("--jobs", type=int, default=2, help="tutorials run in parallel (2)")
    ap.add_argument("--only", nargs="*", default=[],
                    help="rerun only the tutorials whose name contains one of these")
    ap.add_argument("--skip-tutorials", action="store_true",
                    help="reuse the tutorial pages of the last build")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    step("MathJax")
    ensure_mathjax()
    if not args.skip_tutorials:
        step("tutorials")
        run_tutorials(args.jobs, args.only)
    step("mkdocs build --strict")
    mkdocs_build()
    check_api_coverage()
    if args.check:
        step("browser check")
        subprocess.run([sys.executable, str(DOCS / "check_site.py"), str(SITE)], check=True)
    print(f"docs build: done in {time.perf_counter() - t0:.0f} s -> {SITE}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
