"""Matrix products for the dense layers, optionally through SciPy's BLAS ``gemm``.

``gemm`` computes ``C <- alpha * op(A) @ op(B) + beta * C``: with ``beta = 1`` a weight
gradient is accumulated straight into the parameter's ``._grad`` array, without a temporary
and without a second pass (``grad += g.T @ x``), which saved 50-200 us per large layer and
step in ``benchmarks/bench_mlp.py`` with one BLAS thread.

It is **off by default** (``GRADSTEP_BLAS=scipy`` turns it on). SciPy ships its own
OpenBLAS, separate from NumPy's: with both libraries at their default thread counts their
worker threads spin against each other, and on the 2-core benchmark machine an MLP step
became 10x slower (8,980 against 84,171 samples/s at batch 128). With one BLAS thread
(``threadpoolctl.threadpool_limits(1)``) the SciPy path is safe and a little faster.

Without SciPy, or by default, every function here is NumPy's matmul, with the same values up
to float rounding. Arrays are handled as C-contiguous row-major matrices; ``gemm`` sees them
as the transposed Fortran-order matrices, which costs no copy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

_GEMM: dict[np.dtype, Any] | None = None


def _blas_threads() -> dict[str, int]:
    """File path -> thread count of every BLAS library loaded now (empty without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return {}
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def _match_thread_limit(before: dict[str, int]) -> None:
    """Give BLAS libraries loaded since ``before`` no more threads than those loaded already.

    SciPy's OpenBLAS is loaded on first use, possibly inside a ``threadpool_limits`` block
    (``gradstep train --threads 1``, or a user's own) that only reached the libraries
    already loaded: without this, the dense layers would run with the library's default.
    """
    if not before:
        return
    from threadpoolctl import ThreadpoolController

    limit = min(before.values())
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and lib.filepath not in before and lib.num_threads > limit:
            lib.set_num_threads(limit)


def _gemms() -> dict[np.dtype, Any]:
    global _GEMM
    if _GEMM is None:
        table: dict[np.dtype, Any] = {}
        if os.environ.get("GRADSTEP_BLAS", "").lower() == "scipy":
            before = _blas_threads()
            try:
                from scipy.linalg.blas import dgemm, sgemm
            except ImportError:  # pragma: no cover - depends on the environment
                pass
            else:
                table = {np.dtype(np.float32): sgemm, np.dtype(np.float64): dgemm}
                _match_thread_limit(before)
        _GEMM = table
    return _GEMM


def load() -> bool:
    """Load the BLAS backend now (e.g. before setting thread limits); True if SciPy's is used."""
    return bool(_gemms())


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
    """``a @ b`` for 2-D ``a`` (m, k) and ``b`` (k, n) (NumPy's matmul: as fast here)."""
    return a @ b  # type: ignore[no-any-return]


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a.T @ b`` for ``a`` (k, m) and ``b`` (k, n), added into ``out`` (m, n) when given.

    With ``out`` the product is accumulated in place (``out += a.T @ b``) and ``out`` is
    returned; ``out`` must then be C-contiguous and of the operands' dtype.
    """
    if a.shape[0] == 1:
        # one example: an outer product, a single broadcast multiply (a K=1 GEMM costs
        # several times more)
        if out is None:
            return np.multiply(a.T, b)
        out += np.multiply(a.T, b)
        return out
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
