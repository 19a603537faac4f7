"""Elementwise math, activations and the softmax family (primitives, re-exported by
:mod:`gradstep.ops`). Integer and bool inputs of float functions (``exp``, ``log``...)
are computed in the default float dtype, as PyTorch does."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradstep import _dtypes
from gradstep._opsutil import check_dim, const, dims_kw, expand_reduced, norm_dims, primitive
from gradstep.tensor import Tensor

_make = Tensor._make
_t = const


def _floating(a: Tensor) -> np.ndarray:
    ad = a._data
    return ad if ad.dtype.kind == "f" else ad.astype(_dtypes.DEFAULT[0])


# ------------------------------------------------------------ elementwise math
@primitive
def exp(a: Any) -> Tensor:
    """Elementwise exponential."""
    a = _t(a)
    out = np.exp(_floating(a))
    return _make(out, (a,), lambda g: (g * out,))


@primitive
def log(a: Any) -> Tensor:
    """Elementwise natural logarithm."""
    a = _t(a)
    ad = _floating(a)
    return _make(np.log(ad), (a,), lambda g: (g / ad,))


@primitive
def sqrt(a: Any) -> Tensor:
    """Elementwise square root."""
    a = _t(a)
    out = np.sqrt(_floating(a))
    return _make(out, (a,), lambda g: (g / (2 * out),))


@primitive
def abs(a: Any) -> Tensor:
    """Elementwise absolute value (gradient 0 at 0)."""
    a = _t(a)
    ad = a._data
    return _make(np.abs(ad), (a,), lambda g: (g * np.sign(ad),))


@primitive
def tanh(a: Any) -> Tensor:
    """Elementwise hyperbolic tangent."""
    a = _t(a)
    out = np.tanh(_floating(a))
    return _make(out, (a,), lambda g: (g * (1 - out * out),))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # stable on both tails: exp never sees a positive argument
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@primitive
def sigmoid(a: Any) -> Tensor:
    """Logistic function ``1 / (1 + exp(-a))``, stable for large ``|a|``."""
    a = _t(a)
    out = _sigmoid(_floating(a))
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


def _softmax_dim(dim: Any, kw: dict[str, Any], ndim: int, op: str) -> tuple[int, Any]:
    dtype = kw.pop("dtype", None)
    dim, _ = dims_kw(op, dim, False, kw)
    return check_dim(-1 if dim is None else dim, ndim, op), dtype


def _softmax_input(a: Tensor, dtype: Any) -> Tensor:
    if dtype is not None:
        from gradstep import _tensor_methods

        return _tensor_methods._ops.astype(a, dtype)  # type: ignore[no-any-return]
    return a


@primitive
def softmax(a: Any, dim: Any = None, **kw: Any) -> Tensor:
    """``exp(a) / sum(exp(a))`` along ``dim`` (default -1), computed after subtracting the
    maximum. ``axis=`` is accepted as an alias of ``dim``."""
    a = _t(a)
    axis, dtype = _softmax_dim(dim, kw, a._data.ndim, "softmax")
    a = _softmax_input(a, dtype)
    ad = _floating(a)
    e = np.exp(ad - ad.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g: np.ndarray) -> tuple[Any]:
        gy = g * out
        return (gy - out * gy.sum(axis=axis, keepdims=True),)

    return _make(out, (a,), backward)


@primitive
def log_softmax(a: Any, dim: Any = None, **kw: Any) -> Tensor:
    """``a - logsumexp(a)`` along ``dim`` (default -1); finite for logits of any magnitude."""
    a = _t(a)
    axis, dtype = _softmax_dim(dim, kw, a._data.ndim, "log_softmax")
    a = _softmax_input(a, dtype)
    ad = _floating(a)
    shifted = ad - ad.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g: np.ndarray) -> tuple[Any]:
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return _make(out, (a,), backward)


@primitive
def logsumexp(a: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """``log(sum(exp(a)))`` over ``dim`` (all dims when None), stable for large magnitudes."""
    dim, keepdim = dims_kw("logsumexp", dim, keepdim, kw)
    a = _t(a)
    ad = _floating(a)
    axes = norm_dims(dim, ad.ndim, "logsumexp")
    m = ad.max(axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    s = np.log(np.exp(ad - m).sum(axis=axes, keepdims=True)) + m
    out = s if keepdim else np.squeeze(s, axis=axes)

    def backward(g: np.ndarray) -> tuple[Any]:
        return (expand_reduced(g, axes, keepdim) * np.exp(ad - s),)

    return _make(np.asarray(out), (a,), backward)
