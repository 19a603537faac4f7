"""Helpers shared by the op modules: the primitive registry, constants, dim handling.

Every differentiable primitive is registered in :data:`PRIMITIVES` with :func:`primitive`;
the test suite checks each one with finite differences and against PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradstep.errors import DimensionError
from gradstep.tensor import Tensor

__all__ = ["PRIMITIVES", "primitive", "const", "check_dim", "norm_dims", "dims_kw",
           "expand_reduced", "data_of"]

PRIMITIVES: dict[str, Callable[..., Any]] = {}
"""Name -> function of every differentiable primitive (the gradcheck test iterates it)."""


def primitive(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``func`` as a differentiable primitive."""
    PRIMITIVES[func.__name__.rstrip("_")] = func
    return func


_new = Tensor.__new__


def const(x: Any) -> Tensor:
    """``x`` as a tensor: tensors pass through; scalars and arrays become constants."""
    if isinstance(x, Tensor):
        return x
    t = _new(Tensor)
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"operand must be numeric, got {type(x).__name__} with dtype {arr.dtype}")
    t._data = arr
    t._grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    t._version = 0
    return t


def data_of(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _range_error(dim: Any, ndim: int, op: str) -> DimensionError:
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    return DimensionError(
        f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions "
        f"(expected {lo}..{hi})"
    )


def check_dim(dim: Any, ndim: int, op: str) -> int:
    """``dim`` normalized to ``0..ndim-1`` (a 0-d tensor accepts 0 and -1, as PyTorch)."""
    try:
        d = int(dim)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}") from None
    n = max(ndim, 1)
    if not -n <= d < n:
        raise _range_error(d, ndim, op)
    return d % n if ndim else 0


def norm_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...]:
    """``dim`` (None, an int or a sequence) as a sorted tuple of distinct dims."""
    if dim is None:
        return tuple(range(ndim))
    items = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in items:
        v = check_dim(d, ndim, op)
        if ndim and v in out:
            raise ValueError(f"{op}: dim {v} appears more than once in {dim!r}")
        if ndim:
            out.append(v)
    return tuple(sorted(out))


def dims_kw(op: str, dim: Any, keepdim: Any, kw: dict[str, Any]) -> tuple[Any, bool]:
    """Merge NumPy's ``axis=``/``keepdims=`` aliases into ``dim``/``keepdim``."""
    if kw:
        if "axis" in kw:
            if dim is not None:
                raise TypeError(f"{op}: give dim or axis, not both")
            dim = kw.pop("axis")
        if "keepdims" in kw:
            keepdim = kw.pop("keepdims")
        # NumPy's functions (np.sum(t), np.any(t), ...) call the method with their defaults
        for name, default in (("out", None), ("dtype", None), ("where", True)):
            if name in kw and kw[name] is default:
                del kw[name]
        if kw:
            raise TypeError(f"{op}: unexpected keyword argument(s) {sorted(kw)}")
    return dim, bool(keepdim)


def expand_reduced(g: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
    """Re-insert the reduced dims of ``g`` (a no-op when ``keepdim``)."""
    if keepdim or not axes:
        return g
    return np.expand_dims(g, axes)


def index_key(index: Any) -> Any:
    """An indexing key with tensors replaced by their arrays."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index


def scalar_operand(x: Any, partner: np.ndarray) -> np.ndarray:
    """A Python scalar as a 0-d array of the dtype PyTorch gives ``partner <op> x``."""
    from gradstep import _dtypes

    kind = partner.dtype.kind
    if isinstance(x, bool):
        dt = partner.dtype
    elif isinstance(x, int):
        dt = partner.dtype if kind in "iuf" else np.dtype(np.int64)
    else:
        dt = partner.dtype if kind == "f" else _dtypes.DEFAULT[0]
    return np.asarray(x, dtype=dt)


def binary_dtype(out: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """Cast NumPy's result of ``a <op> b`` to PyTorch's result dtype."""
    from gradstep import _dtypes

    ad, bd = data_of(a), data_of(b)
    if isinstance(ad, np.ndarray) and isinstance(bd, np.ndarray):
        return out.astype(_dtypes.promote(ad, bd), copy=False)
    arr, scalar = (ad, bd) if isinstance(ad, np.ndarray) else (bd, ad)
    if not isinstance(arr, np.ndarray):
        return out
    return _dtypes.scalar_result(arr, scalar, out)
