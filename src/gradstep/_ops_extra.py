"""More differentiable primitives (PyTorch's shape, indexing and math ops) and the
non-differentiable comparisons and logic ops. Re-exported by :mod:`gradstep.ops`.

Each primitive computes its result with NumPy and returns ``Tensor._make(out, parents,
backward)``; ``backward(g)`` returns one gradient per parent (any shape that broadcasts to
it) and never modifies ``g``.
"""

from __future__ import annotations

import builtins
import math
import string
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
)
from gradstep.errors import ShapeError
from gradstep.tensor import Tensor

_make = Tensor._make
_new = Tensor.__new__


def _plain(arr: np.ndarray) -> Tensor:
    """A tensor outside the graph (results of comparisons, indices...)."""
    t = _new(Tensor)
    t._data = arr
    t._grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    t._version = 0
    return t


def _floating(a: Tensor) -> np.ndarray:
    """The data of ``a`` as floats (integer and bool tensors become the default dtype)."""
    ad = a._data
    return ad if ad.dtype.kind == "f" else ad.astype(_dtypes.DEFAULT[0])


# ------------------------------------------------------------ elementwise math
def _unary_primitive(name: str, fwd: Any, vjp: Any, doc: str) -> Any:
    def op(a: Any) -> Tensor:
        a = const(a)
        x = _floating(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(fwd(x), dtype=x.dtype)
        return _make(out, (a,), lambda g: (vjp(g, x, out),))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return primitive(op)


sin = _unary_primitive("sin", np.sin, lambda g, x, y: g * np.cos(x), "Elementwise sine.")
cos = _unary_primitive("cos", np.cos, lambda g, x, y: -g * np.sin(x), "Elementwise cosine.")
tan = _unary_primitive("tan", np.tan, lambda g, x, y: g * (1 + y * y), "Elementwise tangent.")
log1p = _unary_primitive("log1p", np.log1p, lambda g, x, y: g / (1 + x), "``log(1 + a)``.")
expm1 = _unary_primitive("expm1", np.expm1, lambda g, x, y: g * (y + 1), "``exp(a) - 1``.")
log2 = _unary_primitive("log2", np.log2, lambda g, x, y: g / (x * math.log(2)), "Base-2 log.")
log10 = _unary_primitive("log10", np.log10, lambda g, x, y: g / (x * math.log(10)),
                         "Base-10 logarithm.")
rsqrt = _unary_primitive("rsqrt", lambda x: 1 / np.sqrt(x), lambda g, x, y: -0.5 * g * y**3,
                         "``1 / sqrt(a)``.")
reciprocal = _unary_primitive("reciprocal", lambda x: 1 / x, lambda g, x, y: -g * y * y,
                              "``1 / a``.")


def _step_primitive(name: str, fwd: Any, doc: str) -> Any:
    """Piecewise-constant ops: gradient zero (as PyTorch), integer dtypes kept."""

    def op(a: Any) -> Tensor:
        a = const(a)
        ad = a._data
        out = np.asarray(fwd(ad)).astype(ad.dtype, copy=False)
        return _make(out, (a,), lambda g: (np.zeros_like(g),))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return primitive(op)


sign = _step_primitive("sign", np.sign, "Elementwise sign (-1, 0 or 1); gradient zero.")
floor = _step_primitive("floor", np.floor, "Round down; gradient zero.")
ceil = _step_primitive("ceil", np.ceil, "Round up; gradient zero.")
trunc = _step_primitive("trunc", np.trunc, "Round toward zero; gradient zero.")


@primitive
def clone(a: Any) -> Tensor:
    """A copy of ``a`` that stays in the graph."""
    a = const(a)
    return _make(a._data.copy(), (a,), lambda g: (g,))


@primitive
def round(a: Any, decimals: int = 0) -> Tensor:
    """Round half to even to ``decimals`` places (as PyTorch); gradient zero."""
    a = const(a)
    ad = a._data
    out = np.round(ad, decimals) if ad.dtype.kind == "f" else ad.copy()
    return _make(out, (a,), lambda g: (np.zeros_like(g),))


@primitive
def square(a: Any) -> Tensor:
    """``a * a``."""
    a = const(a)
    ad = a._data
    return _make(ad * ad, (a,), lambda g: (g * (2 * ad),))


# ------------------------------------------------------------------ reductions
@primitive
def prod(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Product over ``dim`` (all elements when None); the gradient handles zeros exactly."""
    dtype = kw.pop("dtype", None)
    dim, keepdim = dims_kw("prod", dim, keepdim, kw)
    a = const(a)
    ad = a._data if dtype is None else a._data.astype(_dtypes.as_dtype(dtype, "prod"))
    if ad.dtype.kind == "b":
        ad = ad.astype(np.int64)
    if dim is None:
        flat = ad.reshape(-1)
        out = np.asarray(np.prod(flat))
        if keepdim:
            out = out.reshape((1,) * ad.ndim)
        shape = ad.shape

        def backward_all(g: np.ndarray) -> tuple[Any]:
            return ((g.reshape(()) * _others_product(flat, 0)).reshape(shape),)

        return _make(out, (a,), backward_all)
    d = check_dim(dim, ad.ndim, "prod")
    out = np.prod(ad, axis=d, keepdims=keepdim)

    def backward(g: np.ndarray) -> tuple[Any]:
        gk = g if keepdim or ad.ndim == 0 else np.expand_dims(g, d)
        return (gk * _others_product(ad, d if ad.ndim else 0),)

    return _make(np.asarray(out), (a,), backward)


def _others_product(x: np.ndarray, axis: int) -> np.ndarray:
    """For each element, the product of the other elements along ``axis`` (no division)."""
    if x.ndim == 0:
        return np.ones_like(x)
    ones = np.ones_like(np.take(x, [0], axis=axis))
    left = np.cumprod(np.concatenate([ones, x], axis=axis), axis=axis)
    left = np.take(left, range(x.shape[axis]), axis=axis)
    rev = np.flip(x, axis=axis)
    right = np.cumprod(np.concatenate([ones, rev], axis=axis), axis=axis)
    right = np.flip(np.take(right, range(x.shape[axis]), axis=axis), axis=axis)
    return left * right  # type: ignore[no-any-return]


@primitive
def cumsum(a: Any, dim: Any = None, **kw: Any) -> Tensor:
    """Cumulative sum along ``dim``."""
    dtype = kw.pop("dtype", None)
    dim, _ = dims_kw("cumsum", dim, False, kw)
    if dim is None:
        raise TypeError("cumsum: missing the dim argument")
    a = const(a)
    ad = a._data
    if dtype is not None:
        ad = ad.astype(_dtypes.as_dtype(dtype, "cumsum"))
    elif ad.dtype.kind in "bi" and ad.dtype != np.int64:
        ad = ad.astype(np.int64)
    d = check_dim(dim, ad.ndim, "cumsum")
    out = np.cumsum(ad, axis=d) if ad.ndim else ad.copy()

    def backward(g: np.ndarray) -> tuple[Any]:
        if g.ndim == 0:
            return (g,)
        return (np.flip(np.cumsum(np.flip(g, d), axis=d), d),)

    return _make(out, (a,), backward)


def _arg(a: Any, dim: Any, keepdim: bool, kw: dict[str, Any], fn: Any, op: str) -> Tensor:
    dim, keepdim = dims_kw(op, dim, keepdim, kw)
    ad = data_of(a) if isinstance(a, Tensor) else np.asarray(a)
    if ad.size == 0:
        raise ShapeError(f"{op}: cannot be applied to an empty tensor of shape {ad.shape}")
    if dim is None:
        out = np.asarray(fn(ad.reshape(-1)), dtype=np.int64)
        if keepdim:
            out = out.reshape((1,) * ad.ndim)
        return _plain(out)
    d = check_dim(dim, ad.ndim, op)
    if ad.ndim == 0:
        return _plain(np.zeros((), dtype=np.int64))
    return _plain(np.asarray(fn(ad, axis=d, keepdims=keepdim), dtype=np.int64))


def argmax(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Index of the largest element (of the flattened tensor when ``dim`` is None), int64."""
    return _arg(a, dim, keepdim, kw, np.argmax, "argmax")


def argmin(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Index of the smallest element, as :func:`argmax`."""
    return _arg(a, dim, keepdim, kw, np.argmin, "argmin")


# -------------------------------------------------------------- shapes, indexing
@primitive
def repeat(a: Any, sizes: Any) -> Tensor:
    """Tile ``a`` ``sizes[i]`` times along each dim (``sizes`` may add leading dims)."""
    a = const(a)
    ad = a._data
    reps = tuple(int(s) for s in sizes)
    if len(reps) < ad.ndim:
        raise ShapeError(
            f"repeat: {len(reps)} repeat counts given for a tensor with {ad.ndim} dimensions"
        )
    src = ad.reshape((1,) * (len(reps) - ad.ndim) + ad.shape)
    out = np.tile(src, reps)

    def backward(g: np.ndarray) -> tuple[Any]:
        split = []
        for r, s in zip(reps, src.shape):
            split += [r, s]
        summed = g.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2)))
        return (summed.reshape(ad.shape),)

    return _make(out, (a,), backward)


@primitive
def flip(a: Any, dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims``."""
    a = const(a)
    axes = norm_dims(dims, a._data.ndim, "flip")
    out = np.flip(a._data, axes).copy()
    return _make(out, (a,), lambda g: (np.flip(g, axes),))


@primitive
def roll(a: Any, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements cyclically (of the flattened tensor when ``dims`` is None)."""
    a = const(a)
    ad = a._data
    if dims is None:
        out = np.roll(ad.reshape(-1), shifts).reshape(ad.shape)
        return _make(out, (a,), lambda g: (np.roll(g.reshape(-1), -shifts).reshape(ad.shape),))
    sh = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dm = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(sh) != len(dm):
        raise ValueError(f"roll: shifts {shifts!r} and dims {dims!r} differ in length")
    axes = tuple(check_dim(d, ad.ndim, "roll") for d in dm)
    out = np.roll(ad, sh, axes)
    neg = tuple(-s for s in sh)
    return _make(out, (a,), lambda g: (np.roll(g, neg, axes),))


def _index_array(index: Any, op: str) -> np.ndarray:
    idx = np.asarray(data_of(index))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {idx.dtype}")
    return idx


def _scatter_key(idx: np.ndarray, dim: int, size: int, op: str) -> tuple[np.ndarray, ...]:
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise IndexError(f"{op}: index out of range for dimension {dim} of size {size}")
    key = list(np.ix_(*[np.arange(n) for n in idx.shape])) if idx.ndim else []
    key[dim] = idx
    return tuple(key)


@primitive
def gather(a: Any, dim: int, index: Any) -> Tensor:
    """``out[i][j] = a[index[i][j]][j]`` for ``dim=0`` (and likewise for other dims)."""
    a = const(a)
    ad = a._data
    idx = _index_array(index, "gather")
    d = check_dim(dim, ad.ndim, "gather")
    if idx.ndim != ad.ndim:
        raise ShapeError(f"gather: index has {idx.ndim} dims but the input has {ad.ndim}")
    key = _scatter_key(idx, d, ad.shape[d], "gather")
    try:
        out = ad[key]
    except IndexError as exc:
        raise ShapeError(
            f"gather: index of shape {idx.shape} does not fit {ad.shape}: {exc}"
        ) from None

    def backward(g: np.ndarray) -> tuple[Any]:
        full = np.zeros(ad.shape, dtype=g.dtype)
        np.add.at(full, key, g)
        return (full,)

    return _make(out, (a,), backward)


@primitive
def scatter(a: Any, dim: int, index: Any, src: Any = None, **kw: Any) -> Tensor:
    """A copy of ``a`` with ``out[index[i][j]][j] = src[i][j]`` for ``dim=0`` (``value=``
    or a number for ``src`` writes one value)."""
    if "value" in kw:
        src = kw.pop("value")
    if kw:
        raise TypeError(f"scatter: unexpected keyword argument(s) {sorted(kw)}")
    a = const(a)
    ad = a._data
    idx = _index_array(index, "scatter")
    d = check_dim(dim, ad.ndim, "scatter")
    key = _scatter_key(idx, d, ad.shape[d], "scatter")
    out = ad.copy()
    s = const(src)
    sd = s._data
    region = tuple(slice(0, n) for n in idx.shape)
    vals = sd[region] if sd.ndim else sd
    out[key] = vals

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        ga = g.copy()
        ga[key] = 0
        gs = None
        if s.requires_grad:
            gs = np.zeros(sd.shape, dtype=g.dtype)
            gs[region] = g[key]
        return ga, gs

    return _make(out, (a, s), backward)


@primitive
def tril(a: Any, diagonal: int = 0) -> Tensor:
    """Lower triangle of the last two dims (elements above ``diagonal`` set to zero)."""
    a = const(a)
    if a._data.ndim < 2:
        raise ShapeError(f"tril: input must be at least 2-D, got shape {a._data.shape}")
    return _make(np.tril(a._data, diagonal), (a,), lambda g: (np.tril(g, diagonal),))


@primitive
def triu(a: Any, diagonal: int = 0) -> Tensor:
    """Upper triangle of the last two dims (elements below ``diagonal`` set to zero)."""
    a = const(a)
    if a._data.ndim < 2:
        raise ShapeError(f"triu: input must be at least 2-D, got shape {a._data.shape}")
    return _make(np.triu(a._data, diagonal), (a,), lambda g: (np.triu(g, diagonal),))


@primitive
def index_put(a: Any, index: Any, values: Any) -> Tensor:
    """A copy of ``a`` with ``out[index] = values`` (the differentiable form of
    ``a[index] = values``)."""
    a, v = const(a), const(values)
    ad = a._data
    key = index_key(index)
    out = ad.copy()
    try:
        out[key] = v._data
    except IndexError as exc:
        raise IndexError(f"setitem: {exc} (tensor shape {ad.shape})") from None
    except ValueError:
        raise ShapeError(
            f"setitem: values of shape {v._data.shape} do not fit the indexed region"
        ) from None

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        ga = g.copy()
        ga[key] = 0
        return ga, (g[key] if v.requires_grad else None)

    return _make(out, (a, v), backward)


@primitive
def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation (``einsum("ij,jk->ik", a, b)``); gradients for equations without
    ``...`` and without an index repeated within one operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = [const(x) for x in operands]
    arrays = [t._data for t in ts]
    try:
        out = np.asarray(np.einsum(equation, *arrays))
    except ValueError as exc:
        raise ShapeError(f"einsum: {exc}") from None
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    subs = lhs.split(",")
    if not _:
        counts = {c: lhs.count(c) for c in lhs if c in string.ascii_letters}
        rhs = "".join(sorted(c for c, n in counts.items() if n == 1))

    def backward(g: np.ndarray) -> list[Any]:
        if "." in eq or builtins.any(len(set(s)) != len(s) for s in subs):
            raise NotImplementedError(
                f"einsum: gradient of {equation!r} (ellipsis or repeated index in one operand)"
            )
        grads: list[Any] = []
        for k, t in enumerate(ts):
            if not t.requires_grad:
                grads.append(None)
                continue
            others = [(subs[j], arrays[j]) for j in range(len(ts)) if j != k]
            avail = set(rhs).union(*[set(s) for s, _ in others])
            target = "".join(c for c in subs[k] if c in avail)
            spec = ",".join([rhs] + [s for s, _ in others]) + "->" + target
            gk = np.einsum(spec, g, *[x for _, x in others])
            for i, c in enumerate(subs[k]):
                if c not in avail:
                    gk = np.expand_dims(gk, i)
            grads.append(np.broadcast_to(gk, arrays[k].shape))
        return grads

    return _make(out, tuple(ts), backward)


# ------------------------------------------------------ comparisons and logic
def _compare(fn: Any, name: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        try:
            return _plain(np.asarray(fn(data_of(a), data_of(b))))
        except ValueError:
            raise ShapeError(
                f"{name}: shapes {np.shape(data_of(a))} and {np.shape(data_of(b))} "
                "cannot be broadcast together"
            ) from None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{name}`` as a bool tensor (not differentiable)."
    return op


eq = _compare(np.equal, "eq")
ne = _compare(np.not_equal, "ne")
lt = _compare(np.less, "lt")
le = _compare(np.less_equal, "le")
gt = _compare(np.greater, "gt")
ge = _compare(np.greater_equal, "ge")
bitwise_and = _compare(np.bitwise_and, "bitwise_and")
bitwise_or = _compare(np.bitwise_or, "bitwise_or")
bitwise_xor = _compare(np.bitwise_xor, "bitwise_xor")
logical_and = _compare(np.logical_and, "logical_and")
logical_or = _compare(np.logical_or, "logical_or")


def _elementwise_plain(fn: Any, name: str) -> Any:
    def op(a: Any) -> Tensor:
        return _plain(np.asarray(fn(data_of(a))))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{name}`` (not differentiable)."
    return op


logical_not = _elementwise_plain(np.logical_not, "logical_not")
bitwise_not = _elementwise_plain(np.invert, "bitwise_not")
isnan = _elementwise_plain(np.isnan, "isnan")
isinf = _elementwise_plain(np.isinf, "isinf")
isfinite = _elementwise_plain(np.isfinite, "isfinite")


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` as a bool tensor."""
    return _plain(np.asarray(np.isclose(data_of(a), data_of(b), rtol, atol, equal_nan)))


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """True when :func:`isclose` holds everywhere."""
    return bool(np.allclose(data_of(a), data_of(b), rtol, atol, equal_nan))


def equal(a: Any, b: Any) -> bool:
    """True when both tensors have the same shape and the same values."""
    ad, bd = np.asarray(data_of(a)), np.asarray(data_of(b))
    return ad.shape == bd.shape and bool(np.array_equal(ad, bd))


def _bool_reduce(a: Any, dim: Any, keepdim: bool, kw: dict[str, Any], fn: Any,
                 op: str) -> Tensor:
    dim, keepdim = dims_kw(op, dim, keepdim, kw)
    ad = np.asarray(data_of(a))
    axes = norm_dims(dim, ad.ndim, op)
    out = np.asarray(fn(ad, axis=axes, keepdims=keepdim))
    if ad.dtype == np.uint8:
        out = out.astype(np.uint8)
    return _plain(out)


def all(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Whether every element (along ``dim``) is non-zero, as a bool tensor."""
    return _bool_reduce(a, dim, keepdim, kw, np.all, "all")


def any(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Whether any element (along ``dim``) is non-zero, as a bool tensor."""
    return _bool_reduce(a, dim, keepdim, kw, np.any, "any")


def floor_divide(a: Any, b: Any) -> Tensor:
    """Elementwise ``a // b`` rounded toward minus infinity (not differentiable)."""
    ad, bd = data_of(a), data_of(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.floor_divide(ad, bd)
    return _plain(binary_dtype(out, a, b))


@primitive
def remainder(a: Any, b: Any) -> Tensor:
    """Elementwise ``a % b`` with the sign of ``b`` (Python's and PyTorch's rule)."""
    a, b = const(a), const(b)
    ad, bd = a._data, b._data
    with np.errstate(divide="ignore", invalid="ignore"):
        out = binary_dtype(np.remainder(ad, bd), a, b)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        gb = None
        if b.requires_grad:
            gb = -g * np.floor_divide(ad, bd)
        return g, gb

    return _make(out, (a, b), backward)
