"""Printing tensors the way PyTorch prints them.

Floats use four decimals (``1.5000``), or ``1.`` when every value is whole, or scientific
notation (``1.0000e-05``) when the magnitudes span more than three decades, exceed 1e8 or
fall below 1e-4; all elements of a tensor share one width; rows wrap at 80 characters;
tensors with more than 1000 elements show their first and last three items per dimension.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["tensor_repr"]

LINEWIDTH = 80
THRESHOLD = 1000
EDGE = 3


def _float_formatter(values: np.ndarray) -> Any:
    finite = values[np.isfinite(values)]
    nz = np.abs(finite[finite != 0]).astype(np.float64)
    whole = bool(np.all(finite == np.ceil(finite)))
    sci = False
    if nz.size:
        lo, hi = float(nz.min()), float(nz.max())
        sci = hi / lo > 1000.0 or hi > 1e8 or (not whole and lo < 1e-4)

    def fmt(x: float) -> str:
        if not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if sci:
            return f"{x:.4e}"
        if whole:
            return f"{x:.0f}."
        return f"{x:.4f}"

    return fmt


def _formatter(arr: np.ndarray) -> tuple[Any, int]:
    kind = arr.dtype.kind
    if kind == "f":
        fmt = _float_formatter(arr.reshape(-1))
    elif kind == "b":
        fmt = str
    else:
        fmt = str
    flat = arr.reshape(-1)
    if flat.size > THRESHOLD:
        flat = _edges(arr).reshape(-1)
    width = max((len(fmt(x)) for x in flat.tolist()), default=0)
    return fmt, width


def _edges(arr: np.ndarray) -> np.ndarray:
    """The elements shown by a summarized print (first and last EDGE along each dim)."""
    for d in range(arr.ndim):
        if arr.shape[d] > 2 * EDGE:
            idx = list(range(EDGE)) + list(range(arr.shape[d] - EDGE, arr.shape[d]))
            arr = np.take(arr, idx, axis=d)
    return arr


def _vector(arr: np.ndarray, fmt: Any, width: int, indent: int, summarize: bool) -> str:
    items = arr.tolist()
    if summarize and len(items) > 2 * EDGE:
        parts = [fmt(x).rjust(width) for x in items[:EDGE]] + [" ..."]
        parts += [fmt(x).rjust(width) for x in items[-EDGE:]]
    else:
        parts = [fmt(x).rjust(width) for x in items]
    per_line = max(1, (LINEWIDTH - indent) // (width + 2))
    lines = [", ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(arr: np.ndarray, fmt: Any, width: int, indent: int, summarize: bool) -> str:
    if arr.ndim == 1:
        return _vector(arr, fmt, width, indent, summarize)
    n = arr.shape[0]
    if summarize and n > 2 * EDGE:
        rows = [_nested(arr[i], fmt, width, indent + 1, summarize) for i in range(EDGE)]
        rows.append("...")
        rows += [_nested(arr[i], fmt, width, indent + 1, summarize) for i in range(n - EDGE, n)]
    else:
        rows = [_nested(arr[i], fmt, width, indent + 1, summarize) for i in range(n)]
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def body(arr: np.ndarray, indent: int) -> str:
    """The bracketed values of ``arr`` as PyTorch prints them."""
    if arr.ndim == 0:
        fmt, _ = _formatter(arr)
        return fmt(arr.item())
    if arr.size == 0:
        return "[]"
    summarize = arr.size > THRESHOLD
    fmt, width = _formatter(arr)
    return _nested(arr, fmt, width, indent, summarize)


def tensor_repr(arr: np.ndarray, default_dtype: np.dtype, suffix: list[str]) -> str:
    """``tensor(<values>[, size=...][, dtype=gradstep.X]<suffix>)``."""
    prefix = "tensor("
    extra: list[str] = []
    if arr.size == 0 and arr.shape != (0,):
        extra.append(f"size={tuple(arr.shape)}")
    dt = arr.dtype
    shows = dt != default_dtype and (arr.size == 0 or dt.name not in ("int64", "bool"))
    if shows:
        extra.append(f"dtype=gradstep.{dt.name}")
    parts = [body(arr, len(prefix))] + extra + suffix
    return prefix + ", ".join(parts) + ")"
