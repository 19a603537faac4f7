"""Shared matplotlib helpers: headless backend, a black-and-white-safe style, PNG output.

Every figure of :mod:`gradstep.viz` is drawn through these helpers so that they all look
alike and stay readable when printed in grey or shrunk to README size:

* the backend is Agg (no display needed), chosen before pyplot is imported;
* series differ by line style *and* marker *and* colour (:func:`series_style`), never by
  colour alone;
* fonts are large enough for a 800-pixel-wide figure shown at half size.

matplotlib is optional (``pip install "gradstep[plot]"``): :func:`require_matplotlib`
raises an :class:`ImportError` saying how to install it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "require_matplotlib",
    "matplotlib_available",
    "series_style",
    "new_figure",
    "save_figure",
    "png_size",
    "PNG_SIGNATURE",
]

INSTALL_HINT = 'plotting needs matplotlib: install it with  pip install "gradstep[plot]"'

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: (line style, marker, colour) cycles. Colours are the Okabe-Ito colour-blind-safe palette;
#: they are redundant with the dash pattern and marker, which alone tell the series apart.
_LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
_MARKERS = ("o", "s", "^", "D", "v", "x", "P", "*")
_COLOURS = (
    "#000000",
    "#E69F00",
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
)

_RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": ":",
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "legend.framealpha": 0.85,
    "savefig.bbox": "standard",
    "figure.dpi": 100,
}


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend and return ``matplotlib.pyplot``.

    Raises:
        ImportError: matplotlib is not installed; the message says how to install it.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    if "matplotlib.pyplot" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def series_style(i: int, markevery: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``ax.plot`` giving series ``i`` its own dash, marker and colour.

    Args:
        i: index of the series (styles cycle after 48 series).
        markevery: put a marker on every n-th point (None: let the caller decide; markers
            on every point of a long noisy series would hide the line).
    """
    style: dict[str, Any] = {
        "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        "marker": _MARKERS[i % len(_MARKERS)],
        "color": _COLOURS[i % len(_COLOURS)],
        "markerfacecolor": "white" if (i // len(_MARKERS)) % 2 else _COLOURS[i % len(_COLOURS)],
    }
    if markevery is not None:
        style["markevery"] = max(1, int(markevery))
    return style


def markevery_for(n: int, marks: int = 10) -> int:
    """A ``markevery`` giving about ``marks`` markers on a series of ``n`` points."""
    return max(1, n // max(1, marks))


def new_figure(
    width_px: int = 800, height_px: int = 500, nrows: int = 1, ncols: int = 1, dpi: int = 100
) -> tuple[Any, Any]:
    """A new figure of exactly ``width_px`` x ``height_px`` pixels (when saved at ``dpi``).

    Returns:
        ``(figure, axes)`` as ``plt.subplots`` returns them.
    """
    plt = require_matplotlib()
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width_px / dpi, height_px / dpi), dpi=dpi, squeeze=True
        )
    return fig, axes


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG of its exact pixel size, close it and return the path.

    Parent directories are created. The size is kept fixed (no tight bounding box) so that a
    figure made by :func:`new_figure(800, 500) <new_figure>` is 800 x 500 pixels. The file
    is written atomically with the user's umask.
    """
    import io

    from gradstep._atomic import atomic_write_bytes

    plt = require_matplotlib()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with plt.rc_context(_RC):
        fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` read from a PNG file's IHDR chunk.

    Raises:
        ValueError: the file does not start with the PNG signature and an IHDR chunk.
    """
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"png_size: {os.fspath(path)!r} is not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def apply_style() -> Any:
    """A context manager applying the shared rc settings (for figures built by hand)."""
    plt = require_matplotlib()
    return plt.rc_context(_RC)
