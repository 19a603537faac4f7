"""In-place vector kernels shared by the optimizers: ``y += a*x`` and ``x *= a``.

Both dispatch to SciPy's BLAS (``saxpy``/``daxpy``, ``sscal``/``dscal``) when SciPy is
importable, the arrays are C-contiguous float32/float64 and BLAS is enabled; otherwise
they use NumPy in place, in L2-sized chunks so that no full-size temporary is allocated.

The choice depends only on dtype and contiguity, never on the array's size or offset, so
an update computed over one flat buffer and the same update computed parameter by
parameter take the same kernel for every element and agree bit for bit (OpenBLAS's axpy
uses a fused multiply-add in its vector body and in its tail alike). BLAS axpy rounds
``a*x + y`` once (FMA); the NumPy fallback rounds twice: the two backends can differ in the
last bit, each is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:  # SciPy is optional
    from scipy.linalg import blas as _blas
except ImportError:  # pragma: no cover - exercised only without scipy
    _blas = None

__all__ = ["axpy", "scal", "blas_available", "blas_enabled", "set_blas_enabled", "CHUNK"]

#: elements per chunk of the NumPy fallback (128 Ki elements: 512 KiB of float32).
CHUNK = 1 << 17

_AXPY: dict[np.dtype, Callable[..., Any]] = {}
_SCAL: dict[np.dtype, Callable[..., Any]] = {}
if _blas is not None:
    _AXPY = {np.dtype(np.float32): _blas.saxpy, np.dtype(np.float64): _blas.daxpy}
    _SCAL = {np.dtype(np.float32): _blas.sscal, np.dtype(np.float64): _blas.dscal}

_ENABLED = [_blas is not None]


def blas_available() -> bool:
    """Whether SciPy's BLAS could be imported."""
    return _blas is not None


def blas_enabled() -> bool:
    """Whether the kernels currently use BLAS."""
    return _ENABLED[0]


def set_blas_enabled(enabled: bool) -> bool:
    """Turn the BLAS kernels on or off (off: NumPy only). Returns the previous setting.

    Switch it only between runs: a trajectory computed partly with each backend can differ
    in the last bit from one computed with a single backend.
    """
    prev = _ENABLED[0]
    _ENABLED[0] = bool(enabled) and _blas is not None
    return prev


def _flat(a: np.ndarray) -> np.ndarray | None:
    """A 1-D view of ``a`` when it is C-contiguous (else None)."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    return None


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """``y += a * x`` in place (``x`` and ``y`` of the same shape and dtype)."""
    if _ENABLED[0]:
        fn = _AXPY.get(y.dtype)
        if fn is not None and x.dtype == y.dtype:
            xf, yf = _flat(x), _flat(y)
            if xf is not None and yf is not None and xf.size:
                fn(xf, yf, a=a)
                return
    n = y.size
    if n <= CHUNK or not (x.flags.c_contiguous and y.flags.c_contiguous):
        y += a * x
        return
    xf, yf = x.reshape(-1), y.reshape(-1)
    tmp = np.empty(CHUNK, dtype=y.dtype)
    for s in range(0, n, CHUNK):
        e = min(s + CHUNK, n)
        t = tmp[: e - s]
        np.multiply(xf[s:e], a, out=t)
        np.add(yf[s:e], t, out=yf[s:e])


def scal(a: float, x: np.ndarray) -> None:
    """``x *= a`` in place."""
    if _ENABLED[0]:
        fn = _SCAL.get(x.dtype)
        if fn is not None:
            xf = _flat(x)
            if xf is not None and xf.size:
                fn(a, xf)
                return
    np.multiply(x, a, out=x)
