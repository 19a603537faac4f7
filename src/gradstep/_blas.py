"""Matrix products for the dense layers, through SciPy's BLAS ``gemm`` when it is installed.

Two reasons to call ``gemm`` directly instead of ``numpy.matmul``:

* ``gemm`` computes ``C <- alpha * op(A) @ op(B) + beta * C``. With ``beta = 1`` a weight
  gradient is accumulated straight into the parameter's ``.grad`` array, without a
  temporary and without a second pass (``grad += g.T @ x``).
* On the machines gradstep is benchmarked on, SciPy's OpenBLAS build runs these shapes
  1.5-2x faster than NumPy's matmul (``benchmarks/bench_mlp.py`` shows the effect).

SciPy is optional: without it (or with ``GRADSTEP_BLAS=numpy`` in the environment) every
function here falls back to NumPy and gives the same values up to float rounding.
All arrays are handled as C-contiguous row-major matrices; ``gemm`` sees them as the
transposed Fortran-order matrices, which costs no copy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

_GEMM: dict[np.dtype, Any] | None = None


def _gemms() -> dict[np.dtype, Any]:
    global _GEMM
    if _GEMM is None:
        table: dict[np.dtype, Any] = {}
        if os.environ.get("GRADSTEP_BLAS", "").lower() != "numpy":
            try:
                from scipy.linalg.blas import dgemm, sgemm
            except ImportError:  # pragma: no cover - depends on the environment
                pass
            else:
                table = {np.dtype(np.float32): sgemm, np.dtype(np.float64): dgemm}
        _GEMM = table
    return _GEMM


def _gemm_for(*arrays: np.ndarray) -> Any:
    dt = arrays[0].dtype
    for a in arrays:
        if a.dtype != dt or not a.flags.c_contiguous:
            return None
    return _gemms().get(dt)


def matmul_nt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` for 2-D ``a`` (m, k) and ``b`` (n, k); C-contiguous (m, n) result."""
    gemm = _gemm_for(a, b)
    if gemm is None:
        return a @ b.T  # type: ignore[no-any-return]
    # (a @ b.T).T = b @ a.T: in Fortran order b is b.T (k, n) and a is a.T (k, m)
    return gemm(1.0, b.T, a.T, trans_a=1).T  # type: ignore[no-any-return]


def matmul_nn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D ``a`` (m, k) and ``b`` (k, n); C-contiguous (m, n) result."""
    gemm = _gemm_for(a, b)
    if gemm is None:
        return a @ b  # type: ignore[no-any-return]
    # (a @ b).T = b.T @ a.T, and b.T, a.T are b, a read in Fortran order
    return gemm(1.0, b.T, a.T).T  # type: ignore[no-any-return]


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a.T @ b`` for ``a`` (k, m) and ``b`` (k, n), added into ``out`` (m, n) when given.

    With ``out`` the product is accumulated in place (``out += a.T @ b``) and ``out`` is
    returned; ``out`` must then be C-contiguous and of the operands' dtype.
    """
    gemm = _gemm_for(a, b) if out is None else _gemm_for(a, b, out)
    if gemm is None:
        if out is None:
            return a.T @ b  # type: ignore[no-any-return]
        out += a.T @ b
        return out
    # (a.T @ b).T = b.T @ a: in Fortran order b is b.T (n, k) and a is a.T (m, k)
    if out is None:
        return gemm(1.0, b.T, a.T, trans_b=1).T  # type: ignore[no-any-return]
    res = gemm(1.0, b.T, a.T, beta=1.0, c=out.T, trans_b=1, overwrite_c=1)
    if not np.shares_memory(res, out):  # pragma: no cover - gemm copied instead of updating
        out[...] = res.T
    return out
