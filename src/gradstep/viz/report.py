"""Self-contained HTML reports: text, tables and PNG figures embedded as base64.

The file needs nothing beside itself (no external CSS, scripts or image files), so it can
be mailed or attached to an issue. Only the standard library is used here.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradstep.viz.plot import PNG_SIGNATURE

__all__ = ["Section", "Table", "embed_png", "write_report", "render_report"]


@dataclass
class Table:
    """A table: ``header`` names the columns, each row has one cell per column."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass
class Section:
    """One section of a report: a heading, paragraphs, figures (PNG paths) and tables."""

    heading: str
    text: Sequence[str] = ()
    images: Sequence[str | os.PathLike[str]] = ()
    tables: Sequence[Table] = ()
    captions: Sequence[str] = field(default_factory=tuple)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:960px;margin:2em auto;
padding:0 1em;color:#111;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #111}
h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #999}
figure{margin:1em 0}
img{max-width:100%;height:auto;border:1px solid #ccc}
figcaption{font-size:.9em;color:#333}
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #777;padding:.3em .7em;text-align:right}
th{background:#eee}
td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:bold;padding-bottom:.3em}
code{background:#f3f3f3;padding:0 .2em}
"""


def embed_png(path: str | os.PathLike[str]) -> str:
    """A ``data:image/png;base64,...`` URI holding the PNG file at ``path``.

    Raises:
        ValueError: the file is not a PNG.
    """
    data = Path(path).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"embed_png: {os.fspath(path)!r} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return html.escape(f"{v:.4g}")
    return html.escape(str(v))


def _table(t: Table) -> str:
    out = ["<table>"]
    if t.caption:
        out.append(f"<caption>{html.escape(t.caption)}</caption>")
    out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in t.header) + "</tr>")
    for row in t.rows:
        out.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_report(title: str, sections: Sequence[Section], intro: Sequence[str] = ()) -> str:
    """The HTML text of a report (figures read from disk and embedded)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts.extend(f"<p>{html.escape(p)}</p>" for p in intro)
    for s in sections:
        parts.append(f"<h2>{html.escape(s.heading)}</h2>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in s.text)
        for i, img in enumerate(s.images):
            cap = s.captions[i] if i < len(s.captions) else Path(img).name
            parts.append(
                f'<figure><img src="{embed_png(img)}" alt="{html.escape(cap)}">'
                f"<figcaption>{html.escape(cap)}</figcaption></figure>"
            )
        parts.extend(_table(t) for t in s.tables)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    path: str | os.PathLike[str],
    title: str,
    sections: Sequence[Section],
    intro: Sequence[str] = (),
) -> Path:
    """Write a self-contained HTML report and return its path (parents are created).

    The file is written atomically with the user's umask.
    """
    from gradstep._atomic import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_report(title, sections, intro))
    return path
