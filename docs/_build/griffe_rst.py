"""Griffe extension: turn the reStructuredText bits of gradstep's docstrings into Markdown.

gradstep's docstrings are Google style with a few reST constructs (Sphinx roles such as
``:func:`fit```, ``.. math::`` blocks, ``::`` literal blocks). mkdocstrings renders
docstrings as Markdown, so before Griffe parses a docstring this extension rewrites:

* ``.. math::`` blocks into ``$$ ... $$`` display math for pymdownx.arithmatex (wrapped in
  an ``aligned`` environment when the block uses ``&`` or ``\\``, as Sphinx wraps it);
* ``:math:`x``` into inline ``$x$``;
* the other roles (``:class:``, ``:func:``, ``:meth:``, ...) into code spans;
* a paragraph ending in ``::`` followed by an indented block into a fenced code block;
* an ``Args:``/``Attributes:`` entry naming several parameters (``atol, rtol: ...``) into
  one entry per name, and a section whose entries are free prose into a paragraph.

The source files are not changed; the rewrite happens only in the documentation build.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from griffe import Extension

_ROLE = re.compile(r":(?:py:)?(class|func|meth|attr|mod|data|obj|exc|const):`([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*$")
_SECTION = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Attributes|Keyword Args|Other Parameters):\s*$"
)
_ENTRY = re.compile(r"^[\w*]+(\s*\([^)]*\))?:(\s|$)")
_MULTI = re.compile(r"^([\w*]+(?:\s*,\s*[\w*]+)+)(\s*\([^)]*\))?:(\s.*|)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _take_block(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """Lines from ``start`` indented deeper than ``base`` (blank lines included)."""
    block: list[str] = []
    i = start
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    return block, i


def _role(match: re.Match[str]) -> str:
    target = match.group(2).strip()
    if "<" in target and target.endswith(">"):      # :func:`title <target>`
        target = target.split("<", 1)[0].strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def _section(header: str, block: list[str]) -> list[str]:
    """One Google section: split multi-name entries; prose sections become a paragraph."""
    nonblank = [b for b in block if b.strip()]
    entry_indent = _indent(nonblank[0])
    entries: list[list[str]] = []
    for line in block:
        if line.strip() and _indent(line) == entry_indent:
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    out = [header]
    for entry in entries:
        first = entry[0].strip()
        multi = _MULTI.match(first)
        if multi:
            for name in multi.group(1).split(","):
                line = " " * entry_indent + name.strip() + (multi.group(2) or "") + ":"
                out += [line + multi.group(3)] + entry[1:]
        elif _ENTRY.match(first):
            out += entry
        else:
            title = header.strip()[:-1]
            text = " ".join(b.strip() for b in block if b.strip())
            return [" " * _indent(header) + f"**{title}:** {text}", ""]
    return out


def rst_to_markdown(text: str) -> str:
    """Rewrite the reST constructs gradstep's docstrings use into Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _MATH_DIRECTIVE.match(line)
        if m:
            pad = m.group(1)
            block, i = _take_block(lines, i + 1, len(pad))
            body = textwrap.dedent("\n".join(block)).strip("\n")
            if "&" in body or "\\\\" in body:
                body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
            out += ["", pad + "$$"] + [pad + b for b in body.split("\n")] + [pad + "$$", ""]
            continue
        sec = _SECTION.match(line)
        if sec:
            block, j = _take_block(lines, i + 1, len(sec.group(1)))
            if any(b.strip() for b in block):
                out += _section(line, block)
                i = j
                continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            block, j = _take_block(lines, i + 1, _indent(line))
            if any(b.strip() for b in block):
                head = line.rstrip()[:-1]
                out.append(head if head.strip() != ":" else "")
                pad = " " * _indent(line)
                body = textwrap.dedent("\n".join(block)).strip("\n")
                out += ["", pad + "```text"] + [pad + b for b in body.split("\n")]
                out += [pad + "```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    md = "\n".join(out)
    md = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", md)
    return _ROLE.sub(_role, md)


class RstToMarkdown(Extension):
    """Rewrites every docstring with :func:`rst_to_markdown` as objects are created.

    It also drops instance attributes without a docstring (``self.model = model`` in an
    ``__init__``) from the classes: the site shows undocumented module-level names (so
    every exported constant has an entry) but not every assignment to ``self``.
    """

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)

    def on_class_members(self, *, cls: Any, **kwargs: Any) -> None:
        for name, member in list(cls.members.items()):
            if (not member.is_alias and member.is_attribute and member.docstring is None
                    and "instance-attribute" in member.labels):
                cls.del_member(name)
