"""Tensor's operators and methods, with PyTorch's names and signatures.

:class:`TensorMethods` is a base class of :class:`~gradstep.tensor.Tensor`. Its methods are
thin forwards to the functions of :mod:`gradstep.ops`, which this module does not import:
``gradstep.ops`` hands itself over through :func:`bind` when it is imported, so the engine
and the ops never import each other.

Every method that takes ``dim=``/``keepdim=`` also accepts NumPy's ``axis=``/``keepdims=``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["TensorMethods", "bind"]

_ops: Any = None  # the gradstep.ops module, set by bind()


# Operators whose signature is the op's own ``(self, other)``: bind() installs the op itself
# as the method, which saves a Python call per operator on the hot path.
_DIRECT = {"__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div",
           "__matmul__": "matmul", "__pow__": "pow", "__neg__": "neg", "__abs__": "abs",
           "__getitem__": "getitem", "__eq__": "eq", "__ne__": "ne", "__lt__": "lt",
           "__le__": "le", "__gt__": "gt", "__ge__": "ge"}


def bind(ops_module: Any) -> None:
    """Called once by :mod:`gradstep.ops`: route the methods below to its functions."""
    global _ops
    _ops = ops_module
    for method, name in _DIRECT.items():
        setattr(TensorMethods, method, getattr(ops_module, name))


def _shape_args(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


class TensorMethods:
    """Operators and methods of :class:`~gradstep.tensor.Tensor` (see the module docstring)."""

    __slots__ = ()
    _data: np.ndarray

    # ------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Any:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Any:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Any:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Any:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Any:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Any:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Any:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return _ops.div(other, self)

    def __floordiv__(self, other: Any) -> Any:
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return _ops.floor_divide(other, self)

    def __mod__(self, other: Any) -> Any:
        return _ops.remainder(self, other)

    def __neg__(self) -> Any:
        return _ops.neg(self)

    def __pos__(self) -> Any:
        return self

    def __pow__(self, other: Any) -> Any:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Any:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Any:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return _ops.matmul(other, self)

    def __abs__(self) -> Any:
        return _ops.abs(self)

    def __invert__(self) -> Any:
        return _ops.logical_not(self) if self._data.dtype.kind == "b" else _ops.bitwise_not(self)

    def __and__(self, other: Any) -> Any:
        return _ops.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> Any:
        return _ops.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other: Any) -> Any:
        return _ops.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __getitem__(self, index: Any) -> Any:
        return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        _ops.setitem_(self, index, value)

    # ------------------------------------------------------------ comparisons
    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return _ops.eq(self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return _ops.ne(self, other)

    def __lt__(self, other: Any) -> Any:
        return _ops.lt(self, other)

    def __le__(self, other: Any) -> Any:
        return _ops.le(self, other)

    def __gt__(self, other: Any) -> Any:
        return _ops.gt(self, other)

    def __ge__(self, other: Any) -> Any:
        return _ops.ge(self, other)

    def eq(self, other: Any) -> Any:
        """Elementwise ``==`` as a bool tensor."""
        return _ops.eq(self, other)

    def ne(self, other: Any) -> Any:
        """Elementwise ``!=`` as a bool tensor."""
        return _ops.ne(self, other)

    def lt(self, other: Any) -> Any:
        return _ops.lt(self, other)

    def le(self, other: Any) -> Any:
        return _ops.le(self, other)

    def gt(self, other: Any) -> Any:
        return _ops.gt(self, other)

    def ge(self, other: Any) -> Any:
        return _ops.ge(self, other)

    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                equal_nan: bool = False) -> Any:
        return _ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:
        return _ops.allclose(self, other, rtol, atol, equal_nan)  # type: ignore[no-any-return]

    def equal(self, other: Any) -> bool:
        return _ops.equal(self, other)  # type: ignore[no-any-return]

    def all(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.all(self, dim, keepdim, **kw)

    def any(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.any(self, dim, keepdim, **kw)

    def isnan(self) -> Any:
        return _ops.isnan(self)

    def isfinite(self) -> Any:
        return _ops.isfinite(self)

    def isinf(self) -> Any:
        return _ops.isinf(self)

    # ------------------------------------------------------------- reductions
    def sum(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.sum(self, dim, keepdim, **kw)

    def mean(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.mean(self, dim, keepdim, **kw)

    def prod(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.prod(self, dim, keepdim, **kw)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.var(self, dim, unbiased, keepdim, **kw)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.std(self, dim, unbiased, keepdim, **kw)

    def max(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.max(self, dim, keepdim, **kw)

    def min(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.min(self, dim, keepdim, **kw)

    def amax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.amax(self, dim, keepdim, **kw)

    def amin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.amin(self, dim, keepdim, **kw)

    def argmax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.argmax(self, dim, keepdim, **kw)

    def argmin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.argmin(self, dim, keepdim, **kw)

    def logsumexp(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.logsumexp(self, dim, keepdim, **kw)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return _ops.norm(self, p, dim, keepdim, **kw)

    def softmax(self, dim: Any = None, **kw: Any) -> Any:
        return _ops.softmax(self, dim, **kw)

    def log_softmax(self, dim: Any = None, **kw: Any) -> Any:
        return _ops.log_softmax(self, dim, **kw)

    def cumsum(self, dim: Any = None, **kw: Any) -> Any:
        return _ops.cumsum(self, dim, **kw)

    # ---------------------------------------------------------------- shapes
    def size(self, dim: int | None = None) -> Any:
        """The shape as a tuple, or the size of dimension ``dim``."""
        shape = self._data.shape
        if dim is None:
            return shape
        return shape[_ops.check_dim(dim, len(shape), "size")]

    def numel(self) -> int:
        return int(self._data.size)

    def dim(self) -> int:
        return int(self._data.ndim)

    ndimension = dim

    def nelement(self) -> int:
        return int(self._data.size)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def reshape(self, *shape: Any) -> Any:
        return _ops.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> Any:
        return _ops.reshape(self, _shape_args(shape))

    def view_as(self, other: Any) -> Any:
        return _ops.reshape(self, other.shape)

    def reshape_as(self, other: Any) -> Any:
        return _ops.reshape(self, other.shape)

    def contiguous(self) -> Any:
        return self

    def transpose(self, dim0: int, dim1: int) -> Any:
        return _ops.transpose(self, dim0, dim1)

    def swapaxes(self, axis0: int, axis1: int) -> Any:
        return _ops.transpose(self, axis0, axis1)

    def t(self) -> Any:
        return _ops.t(self)

    def permute(self, *dims: Any) -> Any:
        return _ops.permute(self, _shape_args(dims))

    @property
    def T(self) -> Any:
        return _ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Any:
        return _ops.transpose(self, -2, -1)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None, **kw: Any) -> Any:
        return _ops.squeeze(self, dim, **kw)

    def unsqueeze(self, dim: int, **kw: Any) -> Any:
        return _ops.unsqueeze(self, dim, **kw)

    def broadcast_to(self, shape: Sequence[int]) -> Any:
        return _ops.broadcast_to(self, shape)

    def expand(self, *shape: Any) -> Any:
        return _ops.expand(self, _shape_args(shape))

    def expand_as(self, other: Any) -> Any:
        return _ops.broadcast_to(self, other.shape)

    def repeat(self, *sizes: Any) -> Any:
        return _ops.repeat(self, _shape_args(sizes))

    def chunk(self, chunks: int, dim: int = 0) -> Any:
        return _ops.chunk(self, chunks, dim)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> Any:
        return _ops.split(self, split_size_or_sections, dim)

    def unbind(self, dim: int = 0) -> Any:
        return _ops.unbind(self, dim)

    def narrow(self, dim: int, start: int, length: int) -> Any:
        return _ops.narrow(self, dim, start, length)

    def flip(self, *dims: Any, **kw: Any) -> Any:
        return _ops.flip(self, kw.pop("dims") if "dims" in kw else _shape_args(dims), **kw)

    def roll(self, shifts: Any, dims: Any = None) -> Any:
        return _ops.roll(self, shifts, dims)

    def gather(self, dim: int, index: Any) -> Any:
        return _ops.gather(self, dim, index)

    def scatter(self, dim: int, index: Any, src: Any = None, **kw: Any) -> Any:
        return _ops.scatter(self, dim, index, src, **kw)

    def index_select(self, dim: int, index: Any) -> Any:
        return _ops.index_select(self, dim, index)

    def masked_fill(self, mask: Any, value: Any) -> Any:
        return _ops.masked_fill(self, mask, value)

    def tril(self, diagonal: int = 0) -> Any:
        return _ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Any:
        return _ops.triu(self, diagonal)

    # ------------------------------------------------------------------- math
    def matmul(self, other: Any) -> Any:
        return _ops.matmul(self, other)

    def mm(self, other: Any) -> Any:
        return _ops.mm(self, other)

    def bmm(self, other: Any) -> Any:
        return _ops.bmm(self, other)

    def dot(self, other: Any) -> Any:
        return _ops.dot(self, other)

    def outer(self, other: Any) -> Any:
        return _ops.outer(self, other)

    def pow(self, exponent: Any) -> Any:
        return _ops.pow(self, exponent)

    def add(self, other: Any, alpha: Any = 1) -> Any:
        return _ops.add(self, other if alpha == 1 else _ops.mul(other, alpha))

    def sub(self, other: Any, alpha: Any = 1) -> Any:
        return _ops.sub(self, other if alpha == 1 else _ops.mul(other, alpha))

    def mul(self, other: Any) -> Any:
        return _ops.mul(self, other)

    def div(self, other: Any) -> Any:
        return _ops.div(self, other)

    def clamp(self, min: Any = None, max: Any = None) -> Any:
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Any:
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Any:
        return _ops.minimum(self, other)

    def round(self, decimals: int = 0) -> Any:
        return _ops.round(self, decimals=decimals)

    def __round__(self, ndigits: int | None = None) -> Any:
        return _ops.round(self, decimals=ndigits or 0)

    # -------------------------------------------------------------- in place
    def __iadd__(self, other: Any) -> Any:
        return _ops.inplace(self, "add", other)

    def __isub__(self, other: Any) -> Any:
        return _ops.inplace(self, "sub", other)

    def __imul__(self, other: Any) -> Any:
        return _ops.inplace(self, "mul", other)

    def __itruediv__(self, other: Any) -> Any:
        return _ops.inplace(self, "div", other)

    def add_(self, other: Any, alpha: Any = 1) -> Any:
        return _ops.inplace(self, "add", other if alpha == 1 else _ops.mul(other, alpha))

    def sub_(self, other: Any, alpha: Any = 1) -> Any:
        return _ops.inplace(self, "sub", other if alpha == 1 else _ops.mul(other, alpha))

    def mul_(self, other: Any) -> Any:
        return _ops.inplace(self, "mul", other)

    def div_(self, other: Any) -> Any:
        return _ops.inplace(self, "div", other)

    def pow_(self, exponent: Any) -> Any:
        return _ops.inplace(self, "pow", exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Any:
        return _ops.inplace(self, "clamp", min, max)

    clip_ = clamp_

    def zero_(self) -> Any:
        return _ops.inplace(self, "fill", 0)

    def fill_(self, value: Any) -> Any:
        return _ops.inplace(self, "fill", value)

    def copy_(self, src: Any) -> Any:
        return _ops.inplace(self, "copy", src)

    def masked_fill_(self, mask: Any, value: Any) -> Any:
        return _ops.inplace(self, "masked_fill", mask, value)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Any:
        return _ops.inplace(self, "normal", mean, std, generator)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Any:
        return _ops.inplace(self, "uniform", a, b, generator)

    def exp_(self) -> Any:
        return _ops.inplace(self, "exp")

    def neg_(self) -> Any:
        return _ops.inplace(self, "neg")

    def relu_(self) -> Any:
        return _ops.inplace(self, "relu")

    # ------------------------------------------------------ elementwise math
    def exp(self) -> Any:
        return _ops.exp(self)

    def log(self) -> Any:
        return _ops.log(self)

    def log1p(self) -> Any:
        return _ops.log1p(self)

    def log2(self) -> Any:
        return _ops.log2(self)

    def log10(self) -> Any:
        return _ops.log10(self)

    def sqrt(self) -> Any:
        return _ops.sqrt(self)

    def rsqrt(self) -> Any:
        return _ops.rsqrt(self)

    def sin(self) -> Any:
        return _ops.sin(self)

    def cos(self) -> Any:
        return _ops.cos(self)

    def tan(self) -> Any:
        return _ops.tan(self)

    def tanh(self) -> Any:
        return _ops.tanh(self)

    def sigmoid(self) -> Any:
        return _ops.sigmoid(self)

    def relu(self) -> Any:
        return _ops.relu(self)

    def abs(self) -> Any:
        return _ops.abs(self)

    def sign(self) -> Any:
        return _ops.sign(self)

    def neg(self) -> Any:
        return _ops.neg(self)

    def floor(self) -> Any:
        return _ops.floor(self)

    def ceil(self) -> Any:
        return _ops.ceil(self)

    def trunc(self) -> Any:
        return _ops.trunc(self)

    def square(self) -> Any:
        return _ops.square(self)

    def reciprocal(self) -> Any:
        return _ops.reciprocal(self)

    def logical_not(self) -> Any:
        return _ops.logical_not(self)

    def expm1(self) -> Any:
        return _ops.expm1(self)
