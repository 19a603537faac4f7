"""Shape, indexing, joining and selection ops (re-exported by :mod:`gradstep.ops`).

Primitives carry their vector-Jacobian product; the composites below them (``transpose``,
``chunk``, ``index_select``...) are built from primitives and need no gradient code.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep import _dtypes
from gradstep._opsutil import (
    binary_dtype,
    check_dim,
    const,
    data_of,
    dims_kw,
    index_key,
    norm_dims,
    primitive,
    scalar_operand,
)
from gradstep.errors import ShapeError
from gradstep.tensor import Tensor

_make = Tensor._make
_t = const


def _plain(arr: np.ndarray) -> Tensor:
    t = Tensor.__new__(Tensor)
    t._data = arr
    t._grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    return t


# ------------------------------------------------------------------- reshaping
@primitive
def reshape(a: Any, shape: Sequence[int]) -> Tensor:
    """View the data with a new shape (one dimension may be -1)."""
    a = _t(a)
    ad = a._data
    try:
        out = ad.reshape(shape)
    except (ValueError, TypeError):
        raise ShapeError(
            f"reshape: cannot reshape {ad.shape} ({ad.size} elements) to {tuple(shape)}"
        ) from None
    in_shape = ad.shape
    return _make(out, (a,), lambda g: (g.reshape(in_shape),))


view = reshape


@primitive
def permute(a: Any, dims: Sequence[int]) -> Tensor:
    """Reorder the dims: ``out.shape[i] == a.shape[dims[i]]``."""
    a = _t(a)
    ad = a._data
    axes = tuple(check_dim(d, ad.ndim, "permute") for d in dims)
    if len(axes) != ad.ndim or sorted(axes) != list(range(ad.ndim)):
        raise ShapeError(f"permute: dims {tuple(dims)} are not a permutation for shape {ad.shape}")
    inv = tuple(np.argsort(axes)) if ad.ndim else ()
    out = np.transpose(ad, axes)
    return _make(out, (a,), lambda g: (np.transpose(g, inv),))


def transpose(a: Any, dim0: int, dim1: int) -> Tensor:
    """Swap dims ``dim0`` and ``dim1`` (PyTorch's meaning, not NumPy's permutation)."""
    a = _t(a)
    nd = a._data.ndim
    d0, d1 = check_dim(dim0, nd, "transpose"), check_dim(dim1, nd, "transpose")
    if nd < 2:
        return a
    perm = list(range(nd))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return permute(a, perm)  # type: ignore[no-any-return]


swapaxes = transpose


def t(a: Any) -> Tensor:
    """Transpose of a matrix (0-D and 1-D tensors are returned as they are)."""
    a = _t(a)
    if a._data.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dims, got shape {a._data.shape}")
    return transpose(a, 0, -1) if a._data.ndim == 2 else a


def flatten(a: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` (inclusive) into one."""
    a = _t(a)
    shape = a._data.shape
    nd = len(shape)
    if nd == 0:
        return reshape(a, (1,))  # type: ignore[no-any-return]
    s, e = check_dim(start_dim, nd, "flatten"), check_dim(end_dim, nd, "flatten")
    if s > e:
        raise ShapeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {shape}"
        )
    merged = math.prod(shape[s : e + 1])
    return reshape(a, shape[:s] + (merged,) + shape[e + 1 :])  # type: ignore[no-any-return]


def squeeze(a: Any, dim: Any = None, **kw: Any) -> Tensor:
    """Remove size-1 dims (all, or those of ``dim`` that have size 1, as PyTorch)."""
    dim, _ = dims_kw("squeeze", dim, False, kw)
    a = _t(a)
    shape = a._data.shape
    axes = norm_dims(dim, len(shape), "squeeze")
    new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
    return reshape(a, new)  # type: ignore[no-any-return]


def unsqueeze(a: Any, dim: int, **kw: Any) -> Tensor:
    """Insert a size-1 dim at ``dim`` (``-ndim-1 <= dim <= ndim``)."""
    if "axis" in kw:
        dim = kw.pop("axis")
    if kw:
        raise TypeError(f"unsqueeze: unexpected keyword argument(s) {sorted(kw)}")
    a = _t(a)
    shape = a._data.shape
    ax = check_dim(dim, len(shape) + 1, "unsqueeze")
    return reshape(a, shape[:ax] + (1,) + shape[ax:])  # type: ignore[no-any-return]


@primitive
def broadcast_to(a: Any, shape: Sequence[int]) -> Tensor:
    """Broadcast to ``shape`` (a read-only view); the gradient is summed back."""
    a = _t(a)
    try:
        out = np.broadcast_to(a._data, tuple(shape))
    except ValueError:
        raise ShapeError(
            f"broadcast_to: cannot broadcast {a._data.shape} to {tuple(shape)}"
        ) from None
    return _make(out, (a,), lambda g: (g,))


def expand(a: Any, shape: Sequence[int]) -> Tensor:
    """Broadcast to ``shape``; -1 keeps a dim's size (a read-only view, as PyTorch's)."""
    a = _t(a)
    cur = a._data.shape
    lead = len(shape) - len(cur)
    if lead < 0:
        raise ShapeError(f"expand: target {tuple(shape)} has fewer dims than {cur}")
    target = tuple(
        cur[i - lead] if (s == -1 and i >= lead) else int(s) for i, s in enumerate(shape)
    )
    return broadcast_to(a, target)  # type: ignore[no-any-return]


@primitive
def astype(a: Any, dtype: Any) -> Tensor:
    """Convert to ``dtype``; the gradient is converted back (integer and bool results are
    outside the graph). Returns ``a`` itself when the dtype is already ``dtype``."""
    a = _t(a)
    dt = _dtypes.as_dtype(dtype, "astype")
    if a._data.dtype == dt:
        return a
    out = a._data.astype(dt)
    if dt.kind != "f":
        return _plain(out)
    return _make(out, (a,), lambda g: (g,))


to_dtype = astype


# -------------------------------------------------------------------- indexing
def _is_basic(key: Any) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
            continue
        if not (isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis):
            return False
    return True


@primitive
def getitem(a: Any, index: Any) -> Tensor:
    """Indexing with ints, slices, None, Ellipsis, long tensors and bool masks.

    Basic indexing returns a view (writing to it writes to ``a``, as PyTorch). The
    backward scatter-adds, so repeated indices receive the sum of their gradients.
    """
    a = _t(a)
    ad = a._data
    key = index_key(index)
    if isinstance(key, list):
        key = np.asarray(key)
    try:
        out = ad[key]
    except IndexError as exc:
        raise IndexError(f"getitem: {exc} (tensor shape {ad.shape})") from None
    basic = _is_basic(key)

    def backward(g: np.ndarray) -> tuple[Any]:
        full = np.zeros(ad.shape, dtype=g.dtype)
        if basic:
            full[key] = g
        else:
            np.add.at(full, key, g)
        return (full,)

    return _make(np.asarray(out), (a,), backward)


def narrow(a: Any, dim: int, start: int, length: int) -> Tensor:
    """``length`` elements of dim ``dim`` from ``start`` (a view)."""
    a = _t(a)
    d = check_dim(dim, a._data.ndim, "narrow")
    n = a._data.shape[d]
    s = start + n if start < 0 else start
    if not (0 <= s <= n and 0 <= length and s + length <= n):
        raise ShapeError(f"narrow: start {start} + length {length} exceeds dim {d} of size {n}")
    key = (slice(None),) * d + (slice(s, s + length),)
    return getitem(a, key)  # type: ignore[no-any-return]


def select(a: Any, dim: int, index: int) -> Tensor:
    """The slice at ``index`` of dim ``dim`` (that dim removed)."""
    a = _t(a)
    d = check_dim(dim, a._data.ndim, "select")
    return getitem(a, (slice(None),) * d + (int(index),))  # type: ignore[no-any-return]


def chunk(a: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` pieces of ``ceil(n / chunks)`` elements (the last may be smaller)."""
    a = _t(a)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = check_dim(dim, a._data.ndim, "chunk")
    n = a._data.shape[d]
    size = builtins.max(1, -(-n // chunks))
    return split(a, size, d)


def split(a: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` elements along ``dim``, or of the given section sizes."""
    a = _t(a)
    d = check_dim(dim, a._data.ndim, "split")
    n = a._data.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ShapeError(f"split: sections {sizes} do not add up to dim {d} of size {n}")
    out = []
    start = 0
    for s in sizes:
        out.append(narrow(a, d, start, s))
        start += s
    return tuple(out)


def unbind(a: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """All slices along ``dim``, that dim removed."""
    a = _t(a)
    d = check_dim(dim, a._data.ndim, "unbind")
    return tuple(select(a, d, i) for i in range(a._data.shape[d]))


def index_select(a: Any, dim: int, index: Any) -> Tensor:
    """The entries of dim ``dim`` listed in the 1-D integer ``index``."""
    a = _t(a)
    d = check_dim(dim, a._data.ndim, "index_select")
    idx = np.asarray(data_of(index))
    if idx.ndim > 1 or idx.dtype.kind not in "iu":
        raise ShapeError(f"index_select: index must be a 1-D integer tensor, got {idx.dtype}"
                         f"{idx.shape}")
    return getitem(a, (slice(None),) * d + (idx.reshape(-1),))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- joining
def _check_same_dims(op: str, shapes: list[tuple[int, ...]], axis: int, skip_axis: bool) -> None:
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first):
            raise ShapeError(
                f"{op}: all tensors need the same number of dimensions, got {first} and {s}"
            )
        for i, (x, y) in enumerate(zip(first, s)):
            if x != y and not (skip_axis and i == axis):
                raise ShapeError(
                    f"{op}: shapes {first} and {s} differ in dimension {i} (dim={axis})"
                )


def _join_arrays(ts: list[Tensor]) -> list[np.ndarray]:
    arrays = [x._data for x in ts]
    dt = arrays[0].dtype
    if any(x.dtype != dt for x in arrays[1:]):
        for x in arrays[1:]:
            dt = _dtypes.promote(np.empty((1,), dt), np.empty((1,), x.dtype))
        arrays = [x.astype(dt, copy=False) for x in arrays]
    return arrays


@primitive
def concatenate(tensors: Sequence[Any], dim: int = 0, **kw: Any) -> Tensor:
    """Join tensors along an existing ``dim`` (``axis=`` accepted)."""
    dim, _ = dims_kw("cat", None if "axis" in kw else dim, False, kw)
    ts = [_t(x) for x in tensors]
    if not ts:
        raise ValueError("cat: needs at least one tensor")
    arrays = _join_arrays(ts)
    nd = arrays[0].ndim
    if nd == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated")
    ax = check_dim(dim, nd, "cat")
    _check_same_dims("cat", [x.shape for x in arrays], ax, True)
    out = np.concatenate(arrays, axis=ax)
    bounds = np.cumsum([x.shape[ax] for x in arrays])[:-1]

    def backward(g: np.ndarray) -> list[Any]:
        return list(np.split(g, bounds, axis=ax))

    return _make(out, tuple(ts), backward)


cat = concatenate


@primitive
def stack(tensors: Sequence[Any], dim: int = 0, **kw: Any) -> Tensor:
    """Join tensors along a new ``dim`` (``axis=`` accepted)."""
    dim, _ = dims_kw("stack", None if "axis" in kw else dim, False, kw)
    ts = [_t(x) for x in tensors]
    if not ts:
        raise ValueError("stack: needs at least one tensor")
    arrays = _join_arrays(ts)
    ax = check_dim(dim, arrays[0].ndim + 1, "stack")
    _check_same_dims("stack", [x.shape for x in arrays], -1, False)
    out = np.stack(arrays, axis=ax)

    def backward(g: np.ndarray) -> list[Any]:
        return [np.take(g, i, axis=ax) for i in range(len(arrays))]

    return _make(out, tuple(ts), backward)


# ------------------------------------------------------------------- selection
def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors; a Python scalar takes the dtype PyTorch gives it."""
    if isinstance(a, (int, float)) and isinstance(b, Tensor):
        return _t(scalar_operand(a, b._data)), b
    if isinstance(b, (int, float)) and isinstance(a, Tensor):
        return a, _t(scalar_operand(b, a._data))
    return _t(a), _t(b)


@primitive
def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (all three broadcast together)."""
    c = np.asarray(data_of(cond), dtype=bool)
    a, b = _operands(a, b)
    try:
        out = np.where(c, a._data, b._data)
    except ValueError:
        raise ShapeError(
            f"where: shapes {c.shape}, {a._data.shape} and {b._data.shape} "
            "cannot be broadcast together"
        ) from None
    if a._data.dtype != b._data.dtype:
        out = binary_dtype(out, a, b)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        zero = np.zeros((), dtype=g.dtype)
        return (
            np.where(c, g, zero) if a.requires_grad else None,
            np.where(c, zero, g) if b.requires_grad else None,
        )

    return _make(out, (a, b), backward)


def masked_fill(a: Any, mask: Any, value: Any) -> Tensor:
    """``a`` with ``value`` where ``mask`` is true (the gradient flows elsewhere)."""
    a = _t(a)
    m = np.asarray(data_of(mask))
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    if isinstance(value, Tensor) and value._data.ndim != 0:
        raise ShapeError("masked_fill: value must be a number or a 0-d tensor")
    v = value if isinstance(value, Tensor) else _t(np.asarray(value, dtype=a._data.dtype))
    return where(m, v, a)  # type: ignore[no-any-return]


def _extreme2(a: Any, b: Any, fn: Any, name: str) -> Tensor:
    a, b = _operands(a, b)
    ad, bd = a._data, b._data
    try:
        out = fn(ad, bd)
    except ValueError:
        raise ShapeError(
            f"{name}: shapes {ad.shape} and {bd.shape} cannot be broadcast together"
        ) from None
    if ad.dtype != bd.dtype:
        out = binary_dtype(out, a, b)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        wa = np.where(ad == bd, 0.5, (ad == out)).astype(g.dtype, copy=False)
        return (g * wa if a.requires_grad else None, g * (1 - wa) if b.requires_grad else None)

    return _make(out, (a, b), backward)


@primitive
def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; ties share the gradient equally (as PyTorch)."""
    return _extreme2(a, b, np.maximum, "maximum")


@primitive
def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; ties share the gradient equally (as PyTorch)."""
    return _extreme2(a, b, np.minimum, "minimum")


@primitive
def clip(a: Any, min: Any = None, max: Any = None) -> Tensor:
    """Clamp into ``[min, max]``; the gradient passes where ``min <= a <= max``."""
    a = _t(a)
    ad = a._data
    lo, hi = data_of(min), data_of(max)
    if lo is None and hi is None:
        raise ValueError("clamp: at least one of min and max must be given")
    out = np.clip(ad, lo, hi)
    if isinstance(lo, float) or isinstance(hi, float):
        out = out.astype(ad.dtype if ad.dtype.kind == "f" else _dtypes.DEFAULT[0], copy=False)
    else:
        out = out.astype(ad.dtype, copy=False)

    def backward(g: np.ndarray) -> tuple[Any]:
        mask = np.ones(ad.shape, dtype=bool)
        if lo is not None:
            mask &= ad >= lo
        if hi is not None:
            mask &= ad <= hi
        return (g * mask,)

    return _make(out, (a,), backward)


clamp = clip
