"""Differentiable ops: each primitive's forward is followed by its vector-Jacobian product.

Every primitive computes its result with NumPy and hands :meth:`Tensor._make` a
closure ``backward(g) -> (grad_input_0, grad_input_1, ...)``. A closure may return a
gradient in any shape that broadcasts to its input (the engine un-broadcasts
centrally) and must never modify ``g`` in place.

Every primitive is listed in :data:`PRIMITIVES`; the test suite checks each one
against finite differences and against PyTorch. This module holds the arithmetic and the
reductions and re-exports the primitives of ``_ops_shape`` (shapes, indexing, joining),
``_ops_elementwise`` (math, activations, softmax) and ``_ops_extra`` (PyTorch's further
ops, comparisons and logic). Names and signatures are PyTorch's (``dim=``/``keepdim=``,
with ``axis=``/``keepdims=`` accepted as aliases).

Importing this module hands it to :mod:`gradstep._tensor_methods` (``bind``), which routes
the Tensor methods and operators here; ``gradstep.tensor`` never imports this module.
"""

from __future__ import annotations

import builtins
import sys
from collections import namedtuple
from typing import Any

import numpy as np

from gradstep import _dtypes, _tensor_methods
from gradstep._inplace import inplace, setitem_  # noqa: F401  (re-exported)
from gradstep._ops_elementwise import (  # noqa: F401  (re-exported)
    _sigmoid,
    abs,
    erf,
    exp,
    gelu,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    sqrt,
    tanh,
)
from gradstep._ops_extra import (  # noqa: F401  (re-exported)
    all,
    allclose,
    any,
    argmax,
    argmin,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    clone,
    cos,
    cumsum,
    einsum,
    eq,
    equal,
    expm1,
    flip,
    floor,
    floor_divide,
    gather,
    ge,
    gt,
    index_put,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    lt,
    ne,
    prod,
    reciprocal,
    remainder,
    repeat,
    roll,
    round,
    rsqrt,
    scatter,
    sign,
    sin,
    square,
    tan,
    tril,
    triu,
    trunc,
)
from gradstep._ops_shape import (  # noqa: F401  (re-exported)
    astype,
    broadcast_to,
    cat,
    chunk,
    clamp,
    clip,
    concatenate,
    expand,
    flatten,
    getitem,
    index_select,
    masked_fill,
    maximum,
    minimum,
    narrow,
    permute,
    reshape,
    select,
    split,
    squeeze,
    stack,
    swapaxes,
    t,
    transpose,
    unbind,
    unsqueeze,
    view,
    where,
)
from gradstep._opsutil import (
    PRIMITIVES,
    binary_dtype,
    check_dim,
    dims_kw,
    expand_reduced,
    index_key,
    norm_dims,
    primitive,
    scalar_operand,
)
from gradstep._opsutil import const as _t
from gradstep._opsutil import data_of as _data
from gradstep.errors import DTypeError, ShapeError
from gradstep.tensor import Tensor

_make = Tensor._make
_index_key = index_key
_expand_reduced = expand_reduced


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _bcast_error(op: str, a: Any, b: Any) -> ShapeError:
    sa = np.shape(_data(a))
    sb = np.shape(_data(b))
    return ShapeError(f"{op}: shapes {sa} and {sb} cannot be broadcast together")


def _fix_scalar(out: np.ndarray, ad: np.ndarray, b: Any) -> np.ndarray:
    """PyTorch's dtype for ``tensor <op> scalar`` where NumPy's differs (int tensor with a
    float scalar: the default float dtype)."""
    return _dtypes.scalar_result(ad, b, out) if out.dtype != ad.dtype else out


# ----------------------------------------------------------------- arithmetic
@primitive
def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    tb = type(b)
    if tb is float or tb is int:  # a Python scalar (not bool)
        if type(a) is not Tensor:
            a = _t(a)
        ad = a._data
        out = ad + b
        if out.dtype is not ad.dtype:
            out = _fix_scalar(out, ad, b)
        return _make(out, (a,), lambda g: (g,))
    ta = type(a)
    if ta is float or ta is int:
        if type(b) is not Tensor:
            b = _t(b)
        bd = b._data
        out = a + bd
        if out.dtype is not bd.dtype:
            out = _fix_scalar(out, bd, a)
        return _make(out, (b,), lambda g: (g,))
    if type(a) is not Tensor:
        a = _t(a)
    if type(b) is not Tensor:
        b = _t(b)
    ad, bd = a._data, b._data
    try:
        out = ad + bd
    except ValueError:
        raise _bcast_error("add", a, b) from None
    if ad.dtype is not bd.dtype:
        out = binary_dtype(out, a, b)
    return _make(out, (a, b), lambda g: (g, g))


@primitive
def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b``."""
    tb = type(b)
    if tb is float or tb is int:  # a Python scalar (not bool)
        if type(a) is not Tensor:
            a = _t(a)
        ad = a._data
        out = ad - b
        if out.dtype is not ad.dtype:
            out = _fix_scalar(out, ad, b)
        return _make(out, (a,), lambda g: (g,))
    ta = type(a)
    if ta is float or ta is int:
        if type(b) is not Tensor:
            b = _t(b)
        bd = b._data
        out = a - bd
        if out.dtype is not bd.dtype:
            out = _fix_scalar(out, bd, a)
        return _make(out, (b,), lambda g: (-g,))
    if type(a) is not Tensor:
        a = _t(a)
    if type(b) is not Tensor:
        b = _t(b)
    ad, bd = a._data, b._data
    try:
        out = ad - bd
    except ValueError:
        raise _bcast_error("sub", a, b) from None
    if ad.dtype is not bd.dtype:
        out = binary_dtype(out, a, b)
    return _make(out, (a, b), lambda g: (g, -g if b.requires_grad else None))


@primitive
def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b``."""
    tb = type(b)
    if tb is float or tb is int:  # a Python scalar (not bool)
        if type(a) is not Tensor:
            a = _t(a)
        ad = a._data
        out = ad * b
        if out.dtype is not ad.dtype:
            out = _fix_scalar(out, ad, b)
        return _make(out, (a,), lambda g: (g * b,))
    ta = type(a)
    if ta is float or ta is int:
        if type(b) is not Tensor:
            b = _t(b)
        bd = b._data
        out = a * bd
        if out.dtype is not bd.dtype:
            out = _fix_scalar(out, bd, a)
        return _make(out, (b,), lambda g: (g * a,))
    if type(a) is not Tensor:
        a = _t(a)
    if type(b) is not Tensor:
        b = _t(b)
    ad, bd = a._data, b._data
    try:
        out = ad * bd
    except ValueError:
        raise _bcast_error("mul", a, b) from None
    if ad.dtype is not bd.dtype:
        out = binary_dtype(out, a, b)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        return (g * bd if a.requires_grad else None, g * ad if b.requires_grad else None)

    return _make(out, (a, b), backward)


def _true_div_dtype(out: np.ndarray, ad: np.ndarray, bd: Any) -> np.ndarray:
    """Division of integers gives the default float dtype (as PyTorch)."""
    if out.dtype.kind == "f" and ad.dtype.kind != "f" and np.asarray(bd).dtype.kind != "f":
        return out.astype(_dtypes.DEFAULT[0], copy=False)
    return out


@primitive
def div(a: Any, b: Any) -> Tensor:
    """Elementwise true division ``a / b`` (integers give the default float dtype)."""
    tb = type(b)
    if tb is float or tb is int:  # a Python scalar (not bool)
        if type(a) is not Tensor:
            a = _t(a)
        ad = a._data
        out = ad / b
        if out.dtype is not ad.dtype:
            out = _true_div_dtype(_fix_scalar(out, ad, b), ad, b)
        return _make(out, (a,), lambda g: (g / b,))
    ta = type(a)
    if ta is float or ta is int:
        if type(b) is not Tensor:
            b = _t(b)
        bd = b._data
        a = _t(scalar_operand(a, bd))
    if type(a) is not Tensor:
        a = _t(a)
    if type(b) is not Tensor:
        b = _t(b)
    ad, bd = a._data, b._data
    try:
        out = ad / bd
    except ValueError:
        raise _bcast_error("div", a, b) from None
    if out.dtype is not ad.dtype or ad.dtype is not bd.dtype:
        out = _true_div_dtype(binary_dtype(out, a, b) if ad.dtype != bd.dtype else out, ad, bd)
        if ad.dtype.kind == "f" or bd.dtype.kind == "f":
            out = out.astype(_dtypes.promote(ad, bd), copy=False)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        ga = g / bd if a.requires_grad else None
        gb = -g * out / bd if b.requires_grad else None
        return ga, gb

    return _make(out, (a, b), backward)


@primitive
def neg(a: Any) -> Tensor:
    """Elementwise ``-a``."""
    a = _t(a)
    return _make(-a._data, (a,), lambda g: (-g,))


@primitive
def pow(a: Any, b: Any) -> Tensor:
    """Elementwise ``a ** b`` for tensor or scalar exponents and bases."""
    if _is_scalar(b):
        a = _t(a)
        ad = a._data
        if b == 2:
            return _make(ad * ad, (a,), lambda g: (g * (2 * ad),))
        if ad.dtype.kind != "f" and isinstance(b, float):
            ad = ad.astype(_dtypes.DEFAULT[0])
        out = ad**b

        def backward_s(g: np.ndarray) -> tuple[Any]:
            if b == 0:
                return (np.zeros_like(g),)
            return (g * (b * ad ** (b - 1)),)

        return _make(out, (a,), backward_s)
    if _is_scalar(a):
        a = _t(scalar_operand(a, _t(b)._data))
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    try:
        out = np.power(ad, bd)
    except ValueError:
        raise _bcast_error("pow", a, b) from None
    if ad.dtype is not bd.dtype:
        out = binary_dtype(out, a, b)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        ga = g * bd * np.power(ad, bd - 1) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * out * np.log(ad)
        return ga, gb

    return _make(out, (a, b), backward)


def _matmul_error(ad: np.ndarray, bd: np.ndarray) -> ShapeError:
    return ShapeError(f"matmul: cannot multiply {ad.shape} by {bd.shape}")


@primitive
def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with broadcasting batch dims (1-D, 2-D and batched N-D operands).

    Shape: ``(..., n, k) @ (..., k, m) -> (..., n, m)``; a 1-D left operand is a row,
    a 1-D right operand a column, and the added dimension is removed.
    """
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    if ad.ndim == 0 or bd.ndim == 0:
        raise ShapeError(f"matmul: operands must be at least 1-D, got {ad.shape} and {bd.shape}")
    if ad.shape[-1] != bd.shape[-2 if bd.ndim > 1 else 0]:
        raise _matmul_error(ad, bd)
    try:
        out = ad @ bd
    except ValueError:
        raise _matmul_error(ad, bd) from None
    if ad.dtype != bd.dtype:
        out = binary_dtype(np.asarray(out), a, b)
    if ad.ndim == 2 and bd.ndim == 2:

        def backward2(g: np.ndarray) -> tuple[Any, Any]:
            return (g @ bd.T if a.requires_grad else None, ad.T @ g if b.requires_grad else None)

        return _make(out, (a, b), backward2)
    if ad.ndim == 1 and bd.ndim == 1:
        return _make(np.asarray(out), (a, b), lambda g: (g * bd, g * ad))

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        a2 = ad[None, :] if ad.ndim == 1 else ad
        b2 = bd[:, None] if bd.ndim == 1 else bd
        g2 = g
        if ad.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if bd.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if a.requires_grad:
            ga = g2 @ np.swapaxes(b2, -1, -2)
            if ad.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
                ga = _sum_to_ndim(ga, 1)
        if b.requires_grad:
            gb = np.swapaxes(a2, -1, -2) @ g2
            if bd.ndim == 1:
                gb = gb.reshape(gb.shape[:-1])
                gb = _sum_to_ndim(gb, 1)
        return ga, gb

    return _make(out, (a, b), backward)


def _sum_to_ndim(x: np.ndarray, ndim: int) -> np.ndarray:
    if x.ndim > ndim:
        return x.sum(axis=tuple(range(x.ndim - ndim)))
    return x


def mm(a: Any, b: Any) -> Tensor:
    """Product of two matrices (both must be 2-D)."""
    a, b = _t(a), _t(b)
    if a._data.ndim != 2 or b._data.ndim != 2:
        raise ShapeError(f"mm: both operands must be 2-D, got {a.shape} and {b.shape}")
    return matmul(a, b)  # type: ignore[no-any-return]


def bmm(a: Any, b: Any) -> Tensor:
    """Batched product of ``(B, n, k)`` and ``(B, k, m)`` tensors."""
    a, b = _t(a), _t(b)
    if a._data.ndim != 3 or b._data.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: expected (B, n, k) and (B, k, m), got {a.shape} and {b.shape}")
    return matmul(a, b)  # type: ignore[no-any-return]


def dot(a: Any, b: Any) -> Tensor:
    """Inner product of two 1-D tensors of equal length."""
    a, b = _t(a), _t(b)
    if a._data.ndim != 1 or b._data.ndim != 1 or a.shape != b.shape:
        raise ShapeError(f"dot: expected two 1-D tensors of equal length, got {a.shape} and "
                         f"{b.shape}")
    return matmul(a, b)  # type: ignore[no-any-return]


def outer(a: Any, b: Any) -> Tensor:
    """Outer product of two 1-D tensors: ``out[i, j] = a[i] * b[j]``."""
    a, b = _t(a), _t(b)
    if a._data.ndim != 1 or b._data.ndim != 1:
        raise ShapeError(f"outer: expected two 1-D tensors, got {a.shape} and {b.shape}")
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))  # type: ignore[no-any-return]


ger = outer


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``."""
    prod_ = mm(mat1, mat2)
    if alpha != 1:
        prod_ = mul(prod_, alpha)
    inp = _t(input) if beta == 1 else mul(input, beta)
    return add(inp, prod_)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- reductions
def _float_only(ad: np.ndarray, op: str) -> None:
    if ad.dtype.kind != "f":
        raise DTypeError(
            f"{op}: input dtype must be floating point, got {ad.dtype.name} "
            "(convert with .float() first, or pass dtype=)"
        )


def _reduce_input(a: Any, kw: dict[str, Any], op: str) -> Tensor:
    a = _t(a)
    dtype = kw.pop("dtype", None)
    if dtype is not None:
        a = astype(a, dtype)
    return a  # type: ignore[no-any-return]


@primitive
def sum(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Sum over ``dim`` (all dims when None); integer and bool inputs sum to int64."""
    a = _reduce_input(a, kw, "sum")
    dim, keepdim = dims_kw("sum", dim, keepdim, kw)
    ad = a._data
    axes = norm_dims(dim, ad.ndim, "sum")
    out = np.sum(ad, axis=axes, keepdims=keepdim)
    if ad.dtype.kind in "biu" and out.dtype != np.int64:
        out = np.asarray(out).astype(np.int64)
    shape = ad.shape

    def backward(g: np.ndarray) -> tuple[Any]:
        return (np.broadcast_to(expand_reduced(g, axes, keepdim), shape),)

    return _make(np.asarray(out), (a,), backward)


@primitive
def mean(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Arithmetic mean over ``dim`` (floating-point inputs, or pass ``dtype=``)."""
    a = _reduce_input(a, kw, "mean")
    dim, keepdim = dims_kw("mean", dim, keepdim, kw)
    ad = a._data
    _float_only(ad, "mean")
    axes = norm_dims(dim, ad.ndim, "mean")
    count = 1
    for ax in axes:
        count *= ad.shape[ax]
    out = np.sum(ad, axis=axes, keepdims=keepdim) / np.asarray(count, dtype=ad.dtype)
    shape = ad.shape

    def backward(g: np.ndarray) -> tuple[Any]:
        return (np.broadcast_to(expand_reduced(g, axes, keepdim) / count, shape),)

    return _make(np.asarray(out, dtype=ad.dtype), (a,), backward)


def _extreme(a: Any, dim: Any, keepdim: bool, kw: dict[str, Any], fn: Any, name: str) -> Tensor:
    dim, keepdim = dims_kw(name, dim, keepdim, kw)
    a = _t(a)
    ad = a._data
    if ad.size == 0:
        raise ShapeError(f"{name}: reduction of an empty tensor of shape {ad.shape}")
    axes = norm_dims(dim, ad.ndim, name)
    out = fn(ad, axis=axes, keepdims=True)

    def backward(g: np.ndarray) -> tuple[Any]:
        mask = ad == out
        count = mask.sum(axis=axes, keepdims=True)
        return (mask * (expand_reduced(g, axes, keepdim) / count),)

    res = out if keepdim else np.squeeze(out, axis=axes)
    return _make(np.asarray(res), (a,), backward)


@primitive
def amax(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Maximum over ``dim`` (all dims when None); tied maxima share the gradient equally."""
    return _extreme(a, dim, keepdim, kw, np.max, "amax")


@primitive
def amin(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Minimum over ``dim``; tied minima share the gradient equally."""
    return _extreme(a, dim, keepdim, kw, np.min, "amin")


ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
"""What ``max(dim)``/``min(dim)`` return: ``(values, indices)`` with names, as PyTorch."""


def _max_min(a: Any, dim: Any, keepdim: bool, kw: dict[str, Any], name: str) -> Any:
    if isinstance(dim, Tensor) or isinstance(dim, np.ndarray):
        return (maximum if name == "max" else minimum)(a, dim)
    dim, keepdim = dims_kw(name, dim, keepdim, kw)
    if dim is None:
        return (amax if name == "max" else amin)(a)
    a = _t(a)
    d = check_dim(dim, a._data.ndim, name)
    if a._data.ndim == 0:
        return ValuesIndices(clone(a), argmax(a))
    idx = (argmax if name == "max" else argmin)(a, d, keepdim=True)
    values = gather(a, d, idx)
    if not keepdim:
        values = squeeze(values, d)
        idx = squeeze(idx, d)
    return ValuesIndices(values, idx)


def max(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
    """``max(a)``: the largest element; ``max(a, dim)``: ``(values, indices)`` along ``dim``
    (the gradient goes to the returned index); ``max(a, other)``: :func:`maximum`."""
    return _max_min(a, dim, keepdim, kw, "max")


def min(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
    """As :func:`max`, for the smallest elements."""
    return _max_min(a, dim, keepdim, kw, "min")


def _correction(unbiased: Any, kw: dict[str, Any]) -> float:
    corr = kw.pop("correction", None)
    ddof = kw.pop("ddof", None)
    if corr is not None:
        return float(corr)
    if ddof is not None:
        return float(ddof)
    if unbiased is None:
        return 1.0
    return 1.0 if unbiased else 0.0


@primitive
def var(a: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
        **kw: Any) -> Tensor:
    """Variance over ``dim`` with PyTorch's default ``correction=1`` (the unbiased estimate,
    dividing by ``N - 1``); ``unbiased=False`` or ``correction=0`` divides by ``N``
    (``ddof=`` is accepted as NumPy's spelling of ``correction``)."""
    corr = _correction(unbiased, kw)
    dim, keepdim = dims_kw("var", dim, keepdim, kw)
    a = _t(a)
    ad = a._data
    _float_only(ad, "var")
    axes = norm_dims(dim, ad.ndim, "var")
    n = 1
    for ax in axes:
        n *= ad.shape[ax]
    centered = ad - ad.mean(axis=axes, keepdims=True)
    denom = builtins.max(n - corr, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sum(centered * centered, axis=axes, keepdims=keepdim) / denom

    def backward(g: np.ndarray) -> tuple[Any]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (expand_reduced(g, axes, keepdim) * (2.0 / denom) * centered,)

    return _make(np.asarray(out, dtype=ad.dtype), (a,), backward)


def std(a: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
        **kw: Any) -> Tensor:
    """Standard deviation: ``sqrt(var(...))`` with the same arguments as :func:`var`."""
    return sqrt(var(a, dim, unbiased, keepdim, **kw))  # type: ignore[no-any-return]


def norm(a: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Vector p-norm over ``dim`` (all elements when None): 2 / ``"fro"`` (default), 1,
    ``inf``, ``-inf`` or any positive p."""
    dtype = kw.pop("dtype", None)
    dim, keepdim = dims_kw("norm", dim, keepdim, kw)
    a = _t(a)
    if dtype is not None:
        a = astype(a, dtype)
    _float_only(a._data, "norm")
    if p in ("fro", 2, 2.0):
        return sqrt(sum(mul(a, a), dim, keepdim))  # type: ignore[no-any-return]
    if p in (1, 1.0):
        return sum(abs(a), dim, keepdim)  # type: ignore[no-any-return]
    if p == float("inf"):
        return amax(abs(a), dim, keepdim)  # type: ignore[no-any-return]
    if p == float("-inf"):
        return amin(abs(a), dim, keepdim)  # type: ignore[no-any-return]
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm: p must be 'fro', inf, -inf or a positive number, got {p!r}")
    return pow(sum(pow(abs(a), float(p)), dim, keepdim), 1.0 / p)  # type: ignore[no-any-return]


def numel(a: Any) -> int:
    """Number of elements."""
    return int(np.size(_data(a)))


# ------------------------------------------------------------------ binding
_tensor_methods.bind(sys.modules[__name__])

__all__ = sorted(
    set(PRIMITIVES)
    | {
        "abs", "addmm", "all", "allclose", "amax", "amin", "any", "argmax", "argmin",
        "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bmm", "cat", "chunk",
        "clamp", "dot", "eq", "equal", "erf", "expand", "flatten", "floor_divide", "ge",
        "ger", "gt", "index_select", "inplace", "isclose", "isfinite", "isinf", "isnan",
        "le", "logical_and", "logical_not", "logical_or", "lt", "masked_fill", "max",
        "min", "mm", "narrow", "ne", "norm", "numel", "outer", "permute", "primitive",
        "PRIMITIVES", "select", "setitem_", "split", "squeeze", "std", "swapaxes", "t",
        "transpose", "unbind", "unsqueeze", "view", "ValuesIndices",
    }
)
_ = (_sigmoid, _index_key, _expand_reduced)  # kept importable from here for other modules
