"""Differentiable primitive ops: each forward is followed by its vector-Jacobian product.

Every primitive computes its result with NumPy and hands :meth:`Tensor._make` a
closure ``backward(g) -> (grad_input_0, grad_input_1, ...)``. A closure may return a
gradient in any shape that broadcasts to its input (the engine un-broadcasts
centrally) and must never modify ``g`` in place.

Every primitive is listed in :data:`PRIMITIVES`; the test suite checks each one
against finite differences and against PyTorch.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradstep.errors import ShapeError
from gradstep.tensor import Tensor

PRIMITIVES: dict[str, Callable[..., Any]] = {}
"""Name -> function of every differentiable primitive (the gradcheck test iterates it)."""


def primitive(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``func`` as a differentiable primitive."""
    PRIMITIVES[func.__name__.rstrip("_")] = func
    return func


_make = Tensor._make
_new = Tensor.__new__


def _data(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _t(x: Any) -> Tensor:
    """Wrap a non-tensor operand (scalar or array) as a constant tensor."""
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
    return t


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _bcast_error(op: str, a: Any, b: Any) -> ShapeError:
    sa = np.shape(_data(a))
    sb = np.shape(_data(b))
    return ShapeError(f"{op}: shapes {sa} and {sb} cannot be broadcast together")


# ----------------------------------------------------------------- arithmetic
@primitive
def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with NumPy broadcasting."""
    if _is_scalar(b):
        a = _t(a)
        return _make(a._data + b, (a,), lambda g: (g,))
    if _is_scalar(a):
        b = _t(b)
        return _make(a + b._data, (b,), lambda g: (g,))
    a, b = _t(a), _t(b)
    try:
        out = a._data + b._data
    except ValueError:
        raise _bcast_error("add", a, b) from None
    return _make(out, (a, b), lambda g: (g, g))


@primitive
def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b``."""
    if _is_scalar(b):
        a = _t(a)
        return _make(a._data - b, (a,), lambda g: (g,))
    if _is_scalar(a):
        b = _t(b)
        return _make(a - b._data, (b,), lambda g: (-g,))
    a, b = _t(a), _t(b)
    try:
        out = a._data - b._data
    except ValueError:
        raise _bcast_error("sub", a, b) from None
    return _make(out, (a, b), lambda g: (g, -g if b.requires_grad else None))


@primitive
def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b``."""
    if _is_scalar(b):
        a = _t(a)
        return _make(a._data * b, (a,), lambda g: (g * b,))
    if _is_scalar(a):
        b = _t(b)
        return _make(a * b._data, (b,), lambda g: (g * a,))
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    try:
        out = ad * bd
    except ValueError:
        raise _bcast_error("mul", a, b) from None

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        return (g * bd if a.requires_grad else None, g * ad if b.requires_grad else None)

    return _make(out, (a, b), backward)


@primitive
def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b``."""
    if _is_scalar(b):
        a = _t(a)
        return _make(a._data / b, (a,), lambda g: (g / b,))
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    try:
        out = ad / bd
    except ValueError:
        raise _bcast_error("div", a, b) from None

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
def pow(a: Any, b: Any) -> Tensor:  # noqa: A001
    """Elementwise ``a ** b`` for scalar or tensor exponents (and scalar bases)."""
    if _is_scalar(b):
        a = _t(a)
        ad = a._data
        if b == 2:
            return _make(ad * ad, (a,), lambda g: (g * (2 * ad),))
        out = ad**b

        def backward_s(g: np.ndarray) -> tuple[Any]:
            if b == 0:
                return (np.zeros_like(g),)
            return (g * (b * ad ** (b - 1)),)

        return _make(out, (a,), backward_s)
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    try:
        out = np.power(ad, bd)
    except ValueError:
        raise _bcast_error("pow", a, b) from None

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
    """Matrix product with NumPy semantics (1-D, 2-D and batched N-D operands).

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


# ---------------------------------------------------------------- reductions
def _norm_axis(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < builtins.max(ndim, 1):
            raise ShapeError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    return tuple(out)


def _expand_reduced(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    if keepdims or not axes:
        return g
    return np.expand_dims(g, axes)


@primitive
def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    a = _t(a)
    ad = a._data
    axes = _norm_axis(axis, ad.ndim, "sum")
    out = np.sum(ad, axis=axes, keepdims=keepdims)
    shape = ad.shape

    def backward(g: np.ndarray) -> tuple[Any]:
        return (np.broadcast_to(_expand_reduced(g, axes, keepdims), shape),)

    return _make(np.asarray(out), (a,), backward)


@primitive
def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``."""
    a = _t(a)
    ad = a._data
    axes = _norm_axis(axis, ad.ndim, "mean")
    count = 1
    for ax in axes:
        count *= ad.shape[ax]
    out = np.sum(ad, axis=axes, keepdims=keepdims) / np.asarray(count, dtype=ad.dtype)
    shape = ad.shape

    def backward(g: np.ndarray) -> tuple[Any]:
        return (np.broadcast_to(_expand_reduced(g, axes, keepdims) / count, shape),)

    return _make(np.asarray(out, dtype=ad.dtype), (a,), backward)


def _extreme(a: Any, axis: Any, keepdims: bool, fn: Any, name: str) -> Tensor:
    a = _t(a)
    ad = a._data
    if ad.size == 0:
        raise ShapeError(f"{name}: reduction of an empty tensor of shape {ad.shape}")
    axes = _norm_axis(axis, ad.ndim, name)
    out = fn(ad, axis=axes, keepdims=True)

    def backward(g: np.ndarray) -> tuple[Any]:
        mask = ad == out
        count = mask.sum(axis=axes, keepdims=True)
        return (mask * (_expand_reduced(g, axes, keepdims) / count),)

    res = out if keepdims else np.squeeze(out, axis=axes)
    return _make(np.asarray(res), (a,), backward)


@primitive
def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient is shared equally among tied maxima."""
    return _extreme(a, axis, keepdims, np.max, "max")


@primitive
def min(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; the gradient is shared equally among tied minima."""
    return _extreme(a, axis, keepdims, np.min, "min")


@primitive
def var(a: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (NumPy's convention:
    ``ddof=0`` is the biased estimate; PyTorch's default ``correction=1`` is ``ddof=1``)."""
    a = _t(a)
    ad = a._data
    axes = _norm_axis(axis, ad.ndim, "var")
    n = 1
    for ax in axes:
        n *= ad.shape[ax]
    centered = ad - ad.mean(axis=axes, keepdims=True)
    denom = n - ddof
    out = np.sum(centered * centered, axis=axes, keepdims=keepdims) / denom

    def backward(g: np.ndarray) -> tuple[Any]:
        return (_expand_reduced(g, axes, keepdims) * (2.0 / denom) * centered,)

    return _make(np.asarray(out, dtype=ad.dtype), (a,), backward)


# ------------------------------------------------------------------- shaping
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


@primitive
def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None)."""
    a = _t(a)
    ad = a._data
    if axes is not None:
        axes = tuple(int(x) for x in axes)
        if (
            sorted(x % builtins.max(ad.ndim, 1) for x in axes) != list(range(ad.ndim))
            or len(axes) != ad.ndim
        ):
            raise ShapeError(f"transpose: axes {axes} are not a permutation for shape {ad.shape}")
        inv = tuple(np.argsort([x % ad.ndim for x in axes]))
    else:
        inv = None
    out = np.transpose(ad, axes)
    return _make(out, (a,), lambda g: (np.transpose(g, inv),))


def permute(a: Any, axes: Sequence[int]) -> Tensor:
    """Alias of :func:`transpose` with explicit axes."""
    return transpose(a, axes)


def flatten(a: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` (inclusive) into one."""
    a = _t(a)
    shape = a._data.shape
    nd = len(shape)
    if nd == 0:
        return reshape(a, (1,))
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise ShapeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {shape}"
        )
    merged = math.prod(shape[s : e + 1])
    return reshape(a, shape[:s] + (merged,) + shape[e + 1 :])


def squeeze(a: Any, axis: Any = None) -> Tensor:
    """Remove size-1 dimensions (all, or those in ``axis``)."""
    a = _t(a)
    shape = a._data.shape
    if axis is None:
        new = tuple(s for s in shape if s != 1)
    else:
        axes = _norm_axis(axis, len(shape), "squeeze")
        for ax in axes:
            if shape[ax] != 1:
                raise ShapeError(
                    f"squeeze: dimension {ax} of shape {shape} has size {shape[ax]}, not 1"
                )
        new = tuple(s for i, s in enumerate(shape) if i not in axes)
    return reshape(a, new)


def unsqueeze(a: Any, axis: int) -> Tensor:
    """Insert a size-1 dimension at ``axis``."""
    a = _t(a)
    shape = a._data.shape
    nd = len(shape) + 1
    if not -nd <= axis < nd:
        raise ShapeError(f"unsqueeze: axis {axis} is out of range for shape {shape}")
    ax = axis % nd
    return reshape(a, shape[:ax] + (1,) + shape[ax:])


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


@primitive
def astype(a: Any, dtype: Any) -> Tensor:
    """Convert to ``dtype``; the gradient is converted back."""
    a = _t(a)
    return _make(a._data.astype(dtype), (a,), lambda g: (g,))


def _index_key(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic(key: Any) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if not (isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis):
            return False
    return True


@primitive
def getitem(a: Any, index: Any) -> Tensor:
    """Indexing with ints, slices, None, Ellipsis, integer arrays and boolean masks.

    The backward scatter-adds, so repeated indices receive the sum of their gradients.
    """
    a = _t(a)
    ad = a._data
    key = _index_key(index)
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

    if basic:
        out = out.copy() if isinstance(out, np.ndarray) else np.asarray(out)
    return _make(np.asarray(out), (a,), backward)


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
                    f"{op}: shapes {first} and {s} differ in dimension {i} (axis={axis})"
                )


@primitive
def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``."""
    ts = [_t(x) for x in tensors]
    if not ts:
        raise ValueError("concatenate: needs at least one tensor")
    arrays = [t._data for t in ts]
    nd = arrays[0].ndim
    if nd == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated")
    ax = _norm_axis(axis, nd, "concatenate")[0]
    _check_same_dims("concatenate", [x.shape for x in arrays], ax, True)
    out = np.concatenate(arrays, axis=ax)
    bounds = np.cumsum([x.shape[ax] for x in arrays])[:-1]

    def backward(g: np.ndarray) -> list[Any]:
        return list(np.split(g, bounds, axis=ax))

    return _make(out, tuple(ts), backward)


cat = concatenate


@primitive
def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new ``axis``."""
    ts = [_t(x) for x in tensors]
    if not ts:
        raise ValueError("stack: needs at least one tensor")
    arrays = [t._data for t in ts]
    nd = arrays[0].ndim + 1
    if not -nd <= axis < nd:
        raise ShapeError(f"stack: axis {axis} is out of range for {nd - 1}-D tensors")
    ax = axis % nd
    _check_same_dims("stack", [x.shape for x in arrays], -1, False)
    out = np.stack(arrays, axis=ax)

    def backward(g: np.ndarray) -> list[Any]:
        return [np.take(g, i, axis=ax) for i in range(len(arrays))]

    return _make(out, tuple(ts), backward)


@primitive
def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (all three broadcast together)."""
    c = np.asarray(_data(cond), dtype=bool)
    a, b = _t(a), _t(b)
    try:
        out = np.where(c, a._data, b._data)
    except ValueError:
        raise ShapeError(
            f"where: shapes {c.shape}, {a._data.shape} and {b._data.shape} "
            "cannot be broadcast together"
        ) from None

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        zero = np.zeros((), dtype=g.dtype)
        return (
            np.where(c, g, zero) if a.requires_grad else None,
            np.where(c, zero, g) if b.requires_grad else None,
        )

    return _make(out, (a, b), backward)


def _extreme2(a: Any, b: Any, fn: Any, name: str) -> Tensor:
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    try:
        out = fn(ad, bd)
    except ValueError:
        raise _bcast_error(name, a, b) from None

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
def clip(a: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp into ``[min, max]``; the gradient passes where ``min <= a <= max``."""
    a = _t(a)
    ad = a._data
    lo, hi = _data(min), _data(max)
    if lo is None and hi is None:
        raise ValueError("clip: at least one of min and max must be given")
    out = np.clip(ad, lo, hi).astype(ad.dtype, copy=False)

    def backward(g: np.ndarray) -> tuple[Any]:
        mask = np.ones(ad.shape, dtype=bool)
        if lo is not None:
            mask &= ad >= lo
        if hi is not None:
            mask &= ad <= hi
        return (g * mask,)

    return _make(out, (a,), backward)


clamp = clip


# ------------------------------------------------------------ elementwise math
@primitive
def exp(a: Any) -> Tensor:
    """Elementwise exponential."""
    a = _t(a)
    out = np.exp(a._data)
    return _make(out, (a,), lambda g: (g * out,))


@primitive
def log(a: Any) -> Tensor:
    """Elementwise natural logarithm."""
    a = _t(a)
    ad = a._data
    return _make(np.log(ad), (a,), lambda g: (g / ad,))


@primitive
def sqrt(a: Any) -> Tensor:
    """Elementwise square root."""
    a = _t(a)
    out = np.sqrt(a._data)
    return _make(out, (a,), lambda g: (g / (2 * out),))


@primitive
def abs(a: Any) -> Tensor:  # noqa: A001
    """Elementwise absolute value (gradient 0 at 0)."""
    a = _t(a)
    ad = a._data
    return _make(np.abs(ad), (a,), lambda g: (g * np.sign(ad),))


@primitive
def tanh(a: Any) -> Tensor:
    """Elementwise hyperbolic tangent."""
    a = _t(a)
    out = np.tanh(a._data)
    return _make(out, (a,), lambda g: (g * (1 - out * out),))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # stable on both tails: exp never sees a positive argument
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@primitive
def sigmoid(a: Any) -> Tensor:
    """Logistic function ``1 / (1 + exp(-a))``, stable for large ``|a|``."""
    a = _t(a)
    out = _sigmoid(a._data)
    return _make(out, (a,), lambda g: (g * out * (1 - out),))


@primitive
def relu(a: Any) -> Tensor:
    """``max(a, 0)``; gradient 1 where ``a > 0``."""
    a = _t(a)
    out = np.maximum(a._data, 0)
    return _make(out, (a,), lambda g: (g * (out > 0),))


@primitive
def leaky_relu(a: Any, negative_slope: float = 0.01) -> Tensor:
    """``a`` where positive, ``negative_slope * a`` elsewhere."""
    a = _t(a)
    ad = a._data
    pos = ad > 0
    out = np.where(pos, ad, ad * negative_slope)
    slope = np.asarray(negative_slope, dtype=ad.dtype)
    return _make(out, (a,), lambda g: (np.where(pos, g, g * slope),))


_SQRT1_2 = 1 / math.sqrt(2)
_SQRT2_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_erf_impl: Any = None


def erf(x: np.ndarray) -> np.ndarray:
    """Elementwise error function on arrays (SciPy's when installed, else the math module's)."""
    global _erf_impl
    if _erf_impl is None:
        try:
            from scipy.special import erf as scipy_erf

            _erf_impl = scipy_erf
        except ImportError:  # pragma: no cover - depends on the environment
            _erf_impl = np.frompyfunc(math.erf, 1, 1)
    return np.asarray(_erf_impl(x), dtype=x.dtype)


@primitive
def gelu(a: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``a * Phi(a)``; ``approximate="tanh"`` uses the tanh form."""
    a = _t(a)
    x = a._data
    if approximate == "none":
        cdf = 0.5 * (1 + erf(x * _SQRT1_2))
        out = x * cdf

        def backward(g: np.ndarray) -> tuple[Any]:
            pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
            return (g * (cdf + x * pdf),)

    elif approximate == "tanh":
        inner = _SQRT2_PI * (x + 0.044715 * x**3)
        th = np.tanh(inner)
        out = 0.5 * x * (1 + th)

        def backward(g: np.ndarray) -> tuple[Any]:
            dinner = _SQRT2_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * dinner),)

    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _make(out.astype(x.dtype, copy=False), (a,), backward)


def _axis1(axis: int, ndim: int, op: str) -> int:
    if not -builtins.max(ndim, 1) <= axis < builtins.max(ndim, 1):
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis


@primitive
def softmax(a: Any, axis: int = -1) -> Tensor:
    """``exp(a) / sum(exp(a))`` along ``axis``, computed after subtracting the maximum."""
    a = _t(a)
    ad = a._data
    axis = _axis1(axis, ad.ndim, "softmax")
    e = np.exp(ad - ad.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g: np.ndarray) -> tuple[Any]:
        gy = g * out
        return (gy - out * gy.sum(axis=axis, keepdims=True),)

    return _make(out, (a,), backward)


@primitive
def log_softmax(a: Any, axis: int = -1) -> Tensor:
    """``a - logsumexp(a)`` along ``axis``; finite for logits of any magnitude."""
    a = _t(a)
    ad = a._data
    axis = _axis1(axis, ad.ndim, "log_softmax")
    shifted = ad - ad.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g: np.ndarray) -> tuple[Any]:
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return _make(out, (a,), backward)


@primitive
def logsumexp(a: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(a)))`` over ``axis``, stable for large magnitudes."""
    a = _t(a)
    ad = a._data
    axes = _norm_axis(axis, ad.ndim, "logsumexp")
    m = ad.max(axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    s = np.log(np.exp(ad - m).sum(axis=axes, keepdims=True)) + m
    out = s if keepdims else np.squeeze(s, axis=axes)

    def backward(g: np.ndarray) -> tuple[Any]:
        return (_expand_reduced(g, axes, keepdims) * np.exp(ad - s),)

    return _make(np.asarray(out), (a,), backward)


__all__ = sorted(
    set(PRIMITIVES)
    | {
        "permute",
        "flatten",
        "squeeze",
        "unsqueeze",
        "cat",
        "clamp",
        "primitive",
        "PRIMITIVES",
        "erf",
    }
)
