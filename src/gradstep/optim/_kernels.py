"""In-place vector kernels shared by the optimizers, and the chunked, threaded runner.

``axpy`` (``y += a*x``) and ``scal`` (``x *= a``) are NumPy ufuncs in place.

:func:`elementwise` applies an optimizer's pure update function to L2-sized chunks
(``CHUNK`` elements) of contiguous arrays, spreading large arrays over a small thread pool
(NumPy releases the GIL inside ufuncs). Every update is elementwise and uses correctly
rounded operations only, so the result does not depend on the chunking, the threads, or
on whether the arrays are one flat buffer or one parameter: the flat and per-parameter
paths agree bit for bit.

Fused kernels: when the optional C extension ``gradstep._fused`` is built (``pip install``
compiles it when a C compiler is present), SGD and Adam update float32/float64 C-contiguous
arrays in one pass over memory instead of 4-10 NumPy passes (:func:`run_fused`, split over
the thread pool with the GIL released). The C loops perform the NumPy path's operations in
the same order with the same roundings (compiled without FMA contraction), so the results
are bit-identical to the NumPy kernels. ``GRADSTEP_FUSED=0`` in the environment (read at
import) turns them off; :func:`set_fused_enabled` is the same switch for tests.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = [
    "axpy", "scal", "CHUNK",
    "elementwise", "set_num_threads", "get_num_threads", "flush_below",
    "fused_available", "fused_enabled", "set_fused_enabled", "run_fused",
]

#: elements per chunk (64 Ki elements: 256 KiB of float32 per array, so that the 3-5 arrays
#: an update touches stay in L2 between its passes).
CHUNK = 1 << 16
#: arrays at least this large are split over the thread pool.
PARALLEL_MIN = 1 << 19

_FUSED_MOD: Any
try:  # the optional C extension (absent when gradstep was installed without a C compiler)
    _FUSED_MOD = importlib.import_module("gradstep._fused")
except ImportError:  # pragma: no cover - exercised only without the extension
    _FUSED_MOD = None
_FUSED_ON = [_FUSED_MOD is not None and os.environ.get("GRADSTEP_FUSED", "1").strip() != "0"]
_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


_THREADS = [max(1, min(_usable_cpus(), 4))]  # a process pinned to one CPU splits no work
_POOL: list[ThreadPoolExecutor | None] = [None]
_LOCAL = threading.local()


def fused_available() -> bool:
    """Whether the C extension ``gradstep._fused`` is built and importable."""
    return _FUSED_MOD is not None


def fused_enabled() -> bool:
    """Whether the optimizers currently use the fused C kernels (when the arrays allow)."""
    return _FUSED_ON[0]


def set_fused_enabled(enabled: bool) -> bool:
    """Turn the fused C kernels on or off (on by default when built, unless
    ``GRADSTEP_FUSED=0``). Returns the previous setting. Both settings give bit-identical
    results; off means the NumPy kernels."""
    prev = _FUSED_ON[0]
    _FUSED_ON[0] = bool(enabled) and _FUSED_MOD is not None
    return prev


def _scalar_ok(x: Any, itemsize: int) -> bool:
    """Whether NumPy would round scalar ``x`` to the arrays' dtype (as the C kernels do)."""
    t = type(x)
    if t is float or t is int or t is bool:
        return True
    return isinstance(x, np.floating) and x.dtype.itemsize <= itemsize


def run_fused(
    name: str, arrays: Sequence[np.ndarray | None], scalars: Sequence[Any], flags: int,
) -> bool:
    """Apply the fused C kernel ``name`` (``"sgd"``, ``"adam"``) to ``arrays`` in place.

    Returns False, having done nothing, when the fused kernels are off or unavailable,
    or the arrays (float32/float64, one dtype, one size, C-contiguous, writeable where
    updated) or the scalars (Python numbers, or NumPy floats no wider than the
    arrays) do not qualify: the caller then runs the NumPy kernel. Large arrays are split
    over the thread pool (the C loops release the GIL).
    """
    if not _FUSED_ON[0]:
        return False
    a0 = arrays[0]
    if type(a0) is not np.ndarray:
        return False
    dtype = a0.dtype
    if dtype not in _FUSED_DTYPES:
        return False
    n = a0.size
    for a in arrays:
        if a is not None and (type(a) is not np.ndarray or a.dtype != dtype or a.size != n):
            return False
    itemsize = dtype.itemsize
    for x in scalars:
        if type(x) is not float and not _scalar_ok(x, itemsize):
            return False
    if not n:
        return True
    fn: Callable[..., None] = getattr(_FUSED_MOD, name)
    threads = _THREADS[0]
    if threads == 1 or n < PARALLEL_MIN:
        # the C function acquires every buffer (C-contiguous, of one float kind, writable
        # where updated) before it changes anything, and refuses the call otherwise: then
        # the NumPy kernel runs
        try:
            fn(*arrays, 0, n, *scalars, flags)
        except (BufferError, TypeError, ValueError):
            return False
        return True
    for i, u in enumerate(arrays):  # checked before the work is split over threads
        if u is not None and not (u.flags.c_contiguous and (i == 1 or u.flags.writeable)):
            return False
    pool = _POOL[0]
    if pool is None:
        pool = _POOL[0] = ThreadPoolExecutor(threads, thread_name_prefix="gradstep-optim")
    # ranges aligned to 64 elements (whole cache lines); the last one runs in this thread
    bounds = [min(n, (n * i // threads) & ~63) for i in range(threads)] + [n]
    futures = [
        pool.submit(fn, *arrays, lo, hi, *scalars, flags)
        for lo, hi in zip(bounds[:-2], bounds[1:-1]) if hi > lo
    ]
    fn(*arrays, bounds[-2], n, *scalars, flags)
    for f in futures:
        f.result()
    return True


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """``y += a * x`` in place (``x`` and ``y`` of the same shape and dtype)."""
    if a == 1.0:  # 1.0 * x is x exactly: one pass instead of two
        np.add(y, x, out=y)
        return
    n = y.size
    if n > CHUNK or not (x.flags.c_contiguous and y.flags.c_contiguous):
        y += a * x
        return
    t = _scratch(y.dtype, -1)[:n].reshape(y.shape)
    np.multiply(x, a, out=t)
    np.add(y, t, out=y)


def scal(a: float, x: np.ndarray) -> None:
    """``x *= a`` in place."""
    np.multiply(x, a, out=x)


def flush_below(x: np.ndarray, threshold: float) -> None:
    """Set the entries of ``x`` with ``|x| < threshold`` to zero, in place."""
    if not x.size:
        return
    if x.size <= CHUNK and x.flags.c_contiguous:
        a = _scratch(x.dtype, -2)[: x.size].reshape(x.shape)
        m = _scratch(np.dtype(np.bool_), -3)[: x.size].reshape(x.shape)
        np.abs(x, out=a)
        np.less(a, threshold, out=m)
    else:
        m = np.abs(x) < threshold
    np.copyto(x, 0, where=m)


# --------------------------------------------------------------------------- runner
def set_num_threads(n: int) -> int:
    """Threads used for large updates (1: no threads). Returns the previous number."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    prev = _THREADS[0]
    if n != prev and _POOL[0] is not None:
        _POOL[0].shutdown(wait=True)
        _POOL[0] = None
    _THREADS[0] = n
    return prev


def get_num_threads() -> int:
    """Threads used for large updates."""
    return _THREADS[0]


def _scratch(dtype: np.dtype, i: int) -> np.ndarray:
    """This thread's scratch array number ``i`` of ``CHUNK`` elements of ``dtype``."""
    cache: dict[tuple[str, int], np.ndarray] | None = getattr(_LOCAL, "cache", None)
    if cache is None:
        cache = _LOCAL.cache = {}
    key = (dtype.str, i)
    arr = cache.get(key)
    if arr is None:
        arr = cache[key] = np.empty(CHUNK, dtype=dtype)
    return arr


def _run_range(
    fn: Callable[..., None], flats: Sequence[np.ndarray | None], nwork: int, lo: int, hi: int,
) -> None:
    dtype = next(f for f in flats if f is not None).dtype
    scratch = [_scratch(dtype, i) for i in range(nwork)]
    for s in range(lo, hi, CHUNK):
        e = min(s + CHUNK, hi)
        fn(*[None if f is None else f[s:e] for f in flats], tuple(w[: e - s] for w in scratch))


def elementwise(
    fn: Callable[..., None], arrays: Sequence[np.ndarray | None], nwork: int
) -> None:
    """Call ``fn(*chunks, work)`` over matching chunks of ``arrays`` (None entries stay None).

    ``fn`` must be elementwise and in place; ``work`` is a tuple of ``nwork`` scratch arrays
    of the chunk's size. Non-contiguous arrays are processed whole, with fresh scratch.
    """
    present = [a for a in arrays if a is not None]
    if not all(a.flags.c_contiguous for a in present):
        fn(*arrays, tuple(np.empty_like(present[0]) for _ in range(nwork)))
        return
    n = present[0].size
    if n <= CHUNK:
        shape = present[0].shape
        dtype = present[0].dtype
        fn(*arrays, tuple(_scratch(dtype, i)[:n].reshape(shape) for i in range(nwork)))
        return
    flats = [None if a is None else a.reshape(-1) for a in arrays]
    threads = _THREADS[0]
    if threads == 1 or n < PARALLEL_MIN:
        _run_range(fn, flats, nwork, 0, n)
        return
    pool = _POOL[0]
    if pool is None:
        pool = _POOL[0] = ThreadPoolExecutor(threads, thread_name_prefix="gradstep-optim")
    nchunks = -(-n // CHUNK)
    bounds = [min(n, (nchunks * i // threads) * CHUNK) for i in range(threads + 1)]
    futures = [
        pool.submit(_run_range, fn, flats, nwork, lo, hi)
        for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo
    ]
    for f in futures:
        f.result()
