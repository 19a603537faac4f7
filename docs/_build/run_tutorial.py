"""Execute one tutorial script and write its page: prose, code, printed output, figures.

A tutorial is a plain Python script (it runs with ``python docs/tutorials/NN_name.py``)
split into cells by ``# %%`` lines, the "percent" format that Jupytext, VS Code and
Spyder read. A cell opened by ``# %% [markdown]`` is prose: its lines are Markdown
behind ``# ``. Every other cell is code: it is shown on the page, executed in one
namespace shared by the whole script, and followed on the page by what it printed and by
every matplotlib figure it left open (saved as PNG, then closed). An exception stops the
script and fails the build.

Usage: ``python docs/_build/run_tutorial.py SCRIPT OUT_DIR`` writes ``OUT_DIR/STEM.md``
and ``OUT_DIR/img/STEM-K.png``; the current directory is where the script's own files
(checkpoints, logs) land, so the build runs it in a scratch directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cell:
    kind: str          # "markdown" or "code"
    source: str
    line: int          # first line of the cell in the script (1-based)


def parse_cells(text: str) -> list[Cell]:
    """Split a percent-format script into cells."""
    cells: list[Cell] = []
    kind, start = "code", 1
    buf: list[str] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if line.startswith("# %%"):
            cells.append(Cell(kind, "\n".join(buf), start))
            kind = "markdown" if "[markdown]" in line else "code"
            buf, start = [], n + 1
        else:
            buf.append(line)
    cells.append(Cell(kind, "\n".join(buf), start))
    out = []
    for c in cells:
        src = c.source.strip("\n")
        if not src.strip():
            continue
        if c.kind == "markdown":
            src = "\n".join(_uncomment(line) for line in src.split("\n"))
        out.append(Cell(c.kind, src, c.line))
    return out


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.strip() == "#":
        return ""
    raise ValueError(f"a markdown cell line must start with '# ': {line!r}")


def machine_summary() -> str:
    """One line naming the CPU, core count and software versions that ran the tutorial."""
    import numpy as np

    import gradstep

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ""
    with contextlib.suppress(OSError, AttributeError):
        load = f", load average {os.getloadavg()[0]:.1f}"
    return (
        f"{cpu}, {os.cpu_count()} cores{load}, {platform.system()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}, gradstep {gradstep.__version__}"
    )


def _figures(stem: str, img_dir: Path, counter: list[int]) -> list[str]:
    """Save and close every open matplotlib figure; return their Markdown image lines."""
    if "matplotlib.pyplot" not in sys.modules:
        return []
    plt = sys.modules["matplotlib.pyplot"]
    lines = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        counter[0] += 1
        name = f"{stem}-{counter[0]}.png"
        img_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(img_dir / name, dpi=100, bbox_inches="tight")
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        if not title:
            title = "; ".join(ax.get_title() for ax in fig.axes if ax.get_title())
        alt = (title or f"figure {counter[0]}").replace("[", "(").replace("]", ")")
        lines.append(f"![{alt}](img/{name})")
    plt.close("all")
    return lines


def run(script: Path, out_dir: Path) -> Path:
    """Execute ``script`` cell by cell and write its Markdown page into ``out_dir``."""
    script = script.resolve()
    stem = script.stem
    cells = parse_cells(script.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": "__main__", "__file__": str(script)}
    counter = [0]
    parts: list[str] = []
    t_start = time.perf_counter()
    for i, cell in enumerate(cells):
        if cell.kind == "markdown":
            parts.append(cell.source)
            if i == 0:
                parts.append("{machine}")
            continue
        parts.append("```python\n" + cell.source + "\n```")
        code = compile("\n" * (cell.line - 1) + cell.source, str(script), "exec")
        buf = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            exec(code, namespace)  # noqa: S102  (the build executes its own tutorials)
        print(f"  {stem}: cell at line {cell.line} ran in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        printed = buf.getvalue().rstrip()
        if printed:
            parts.append('<div class="tutorial-output" markdown>\n\n```text\n' + printed
                         + "\n```\n\n</div>")
        parts += _figures(stem, out_dir / "img", counter)
    seconds = time.perf_counter() - t_start
    note = (
        f'<p class="tutorial-machine">Generated from <a href="../{stem}.py">{stem}.py</a>: '
        f"every number and figure on this page is that script's output, from its run while "
        f"the site was built ({seconds:.1f} s on {machine_summary()}). Figures that depend "
        f"on timing or on the CPU will differ on another machine.</p>"
    )
    page = "\n\n".join(parts).replace("{machine}", note, 1) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{stem}.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    script, out_dir = Path(argv[0]), Path(argv[1])
    try:
        out = run(script, out_dir.resolve())
    except Exception:
        traceback.print_exc()
        print(f"tutorial {script} failed", file=sys.stderr)
        return 1
    print(f"  {script.name} -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
