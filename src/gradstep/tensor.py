"""Tensor and the reverse-mode backward engine.

A :class:`Tensor` wraps a NumPy array. When an op is applied to tensors of which at
least one ``requires_grad`` (and gradient recording is enabled), the result keeps
references to its inputs (``_parents``) and a *backward closure* that maps the
gradient of the result to one gradient per input. :meth:`Tensor.backward` visits
the graph in reverse topological order (built iteratively, so graphs of any depth
work), calls each closure once, reduces every input gradient back to that input's
shape (the one central un-broadcast: no op has to do it itself), accumulates
gradients of tensors that are used several times, and adds the result into the
``._grad`` of every leaf that requires it.

Dtype rule: tensors are float32 unless float64 data or ``dtype=float64`` is given.
Binary ops follow NumPy's promotion: float32 with float64 gives float64, and Python
scalars never change the dtype (``x * 2.0`` keeps float32). Gradients always have
the dtype of the tensor they belong to.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from gradstep.errors import GradError, ShapeError

__all__ = [
    "Tensor",
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "arange",
    "randn",
    "rand",
    "zeros_like",
    "ones_like",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
]

BackwardFn = Callable[[np.ndarray], Sequence["np.ndarray | None"]]

# Gradient recording switch. A one-element list so that the hot path reads it
# without a global statement or an attribute lookup on a class.
_GRAD_ENABLED = [True]

DEFAULT_DTYPE = np.dtype(np.float32)
_FLOAT_KINDS = "f"


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph for backward."""
    return _GRAD_ENABLED[0]


F = TypeVar("F", bound=Callable[..., Any])


class _GradMode(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets gradient recording on or off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        self._prev: list[bool] = []

    def __enter__(self) -> _GradMode:
        self._prev.append(_GRAD_ENABLED[0])
        _GRAD_ENABLED[0] = self.enabled
        return self

    def __exit__(self, *exc: object) -> None:
        _GRAD_ENABLED[0] = self._prev.pop()

    def __call__(self, func: F) -> F:  # type: ignore[override]
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(self.enabled):
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]


def no_grad() -> _GradMode:
    """Disable graph recording: ``with gradstep.no_grad(): ...`` or ``@gradstep.no_grad()``."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Re-enable graph recording inside a :func:`no_grad` region."""
    return _GradMode(True)


def set_grad_enabled(mode: bool) -> _GradMode:
    """Set graph recording on or off (usable as a context manager)."""
    return _GradMode(mode)


def _released(grad: np.ndarray) -> Sequence[np.ndarray | None]:
    raise GradError(
        "backward through a graph that was already released: intermediate values are freed "
        "after .backward(); call the first .backward(retain_graph=True) to backpropagate twice"
    )


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reduce (or expand) ``grad`` to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    if grad.ndim == len(shape):
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        try:
            grad = np.broadcast_to(grad, shape)
        except ValueError:
            raise ShapeError(
                f"backward: gradient of shape {grad.shape} does not fit a tensor of shape {shape}"
            ) from None
    return grad


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data to an ndarray with gradstep's dtype rule."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray):
        arr = data
    else:
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"tensor: cannot convert {type(data).__name__} to an array: {exc}"
            ) from None
    if dtype is not None:
        dt = np.dtype(dtype)
        if arr.dtype != dt:
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"tensor: data must be numeric, got dtype {arr.dtype}")
            arr = arr.astype(dt)
        return arr
    kind = arr.dtype.kind
    if kind == "f":
        # float64 ndarrays stay float64; Python floats and lists become float32
        if arr.dtype.itemsize < 4 or (
            arr is not data and not isinstance(data, (Tensor, np.generic))
        ):
            arr = arr.astype(DEFAULT_DTYPE)
        return arr
    if kind in "biu":
        return arr.astype(DEFAULT_DTYPE)
    raise TypeError(
        f"tensor: data must be numeric (bool, int or float), got dtype {arr.dtype}"
        + (f" from {type(data).__name__}" if not isinstance(data, np.ndarray) else "")
    )


class Tensor:
    """An n-dimensional array that records the ops applied to it for backpropagation.

    Args:
        data: array-like numeric data. Integers and bools become float32 unless
            ``dtype`` says otherwise; float64 data stays float64.
        dtype: optional NumPy dtype to convert to.
        requires_grad: whether gradients with respect to this tensor are wanted.

    Attributes:
        data: the underlying ``numpy.ndarray``.
        grad: the accumulated gradient (an ndarray of the same shape and dtype) or None.
    """

    __slots__ = ("_data", "_grad", "requires_grad", "_parents", "_backward", "__weakref__")

    __array_priority__ = 1000.0  # make ndarray <op> Tensor defer to Tensor

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        arr = _to_array(data, dtype)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"tensor: only floating-point tensors can require grad, got {arr.dtype}"
            )
        self._data: np.ndarray = arr
        self._grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = ()
        self._backward: BackwardFn | None = None

    # ------------------------------------------------------- data and grad
    # The arrays live in ``_data`` and ``_grad`` (what the engine, layers and optimizers
    # use); ``data`` and ``grad`` are PyTorch's views of them, as tensors.
    @property
    def data(self) -> Tensor:
        """This tensor's values as a tensor cut from the graph, sharing memory."""
        out = Tensor.__new__(Tensor)
        out._data = self._data
        out._grad = None
        out.requires_grad = False
        out._parents = ()
        out._backward = None
        return out

    @data.setter
    def data(self, value: Any) -> None:
        arr = value._data if isinstance(value, Tensor) else np.asarray(value)
        if not isinstance(arr, np.ndarray):  # pragma: no cover - asarray always gives one
            raise TypeError(f"data: expected a tensor or array, got {type(value).__name__}")
        self._data = arr

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient as a tensor sharing memory with it, or None."""
        g = self._grad
        if g is None:
            return None
        out = Tensor.__new__(Tensor)
        out._data = g
        out._grad = None
        out.requires_grad = False
        out._parents = ()
        out._backward = None
        return out

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        arr = value._data if isinstance(value, Tensor) else np.asarray(value)
        if arr.shape != self._data.shape:
            raise ShapeError(
                f"grad: assigned gradient has shape {arr.shape} but the tensor has shape "
                f"{self._data.shape}"
            )
        if arr.dtype != self._data.dtype:
            raise TypeError(
                f"grad: assigned gradient has dtype {arr.dtype} but the tensor has dtype "
                f"{self._data.dtype}"
            )
        self._grad = arr

    # ------------------------------------------------------------------ graph
    @staticmethod
    def _make(data: np.ndarray, parents: tuple[Tensor, ...], backward: BackwardFn) -> Tensor:
        """Create the result of an op. Records the graph only when it is needed.

        ``backward(g)`` returns one gradient (or None) per parent, in any shape that
        broadcasts to the parent's shape; the engine reduces it.
        """
        out = Tensor.__new__(Tensor)
        out._data = data
        out._grad = None
        if _GRAD_ENABLED[0]:
            for p in parents:
                if p.requires_grad:
                    out.requires_grad = True
                    out._parents = parents
                    out._backward = backward
                    return out
        out.requires_grad = False
        out._parents = ()
        out._backward = None
        return out

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self._backward is None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating into ``._grad`` of the leaves.

        Args:
            grad: gradient of the final objective with respect to this tensor; may be
                omitted only when this tensor has a single element (then it is 1).
            retain_graph: keep the graph so that backward can be called through it again.

        Raises:
            GradError: this tensor does not require grad, ``grad`` is missing for a
                non-scalar, or the graph was already released.
            ShapeError: ``grad`` does not have this tensor's shape.
        """
        if not self.requires_grad:
            raise GradError(
                "backward: this tensor does not require grad (no input of the computation "
                "has requires_grad=True, or it was computed under no_grad())"
            )
        if grad is None:
            if self._data.size != 1:
                raise GradError(
                    f"backward: grad can be omitted only for a single-element output, "
                    f"got shape {self._data.shape}; pass grad= of that shape or reduce first"
                )
            g = np.ones_like(self._data)
        else:
            g = np.asarray(grad._data if isinstance(grad, Tensor) else grad, dtype=self._data.dtype)
            if g.shape != self._data.shape:
                raise ShapeError(
                    f"backward: grad has shape {g.shape} but the tensor has shape {self._data.shape}"
                )

        # Iterative post-order DFS: topological order without recursion.
        order: list[Tensor] = []
        seen: set[int] = {id(self)}
        stack: list[tuple[Tensor, int]] = [(self, 0)]
        while stack:
            node, i = stack[-1]
            parents = node._parents
            if i < len(parents):
                stack[-1] = (node, i + 1)
                p = parents[i]
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    stack.append((p, 0))
            else:
                stack.pop()
                order.append(node)

        grads: dict[int, np.ndarray] = {id(self): g}
        owned: set[int] = set()  # gradients in `grads` that were freshly allocated by us
        for node in reversed(order):
            gn = grads.pop(id(node), None)
            if gn is None:
                continue
            fn = node._backward
            if fn is None:  # leaf
                if node._grad is None:
                    node._grad = gn if id(node) in owned and gn.flags.writeable else np.array(gn)
                else:
                    node._grad += gn
                continue
            pgrads = fn(gn)
            parents = node._parents
            if not retain_graph:
                node._backward = _released
                node._parents = ()
            for p, pg in zip(parents, pgrads):
                if pg is None or not p.requires_grad:
                    continue
                if pg.shape != p._data.shape:
                    pg = _unbroadcast(pg, p._data.shape)
                if pg.dtype != p._data.dtype:
                    pg = pg.astype(p._data.dtype)
                key = id(p)
                prev = grads.get(key)
                if prev is None:
                    grads[key] = pg
                elif key in owned:
                    prev += pg
                else:
                    # asarray: for 0-d inputs NumPy returns a scalar, which `+=` cannot update
                    grads[key] = np.asarray(prev + pg)
                    owned.add(key)

    # ------------------------------------------------------------- utilities
    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        out = Tensor.__new__(Tensor)
        out._data = self._data
        out._grad = None
        out.requires_grad = False
        out._parents = ()
        out._backward = None
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Drop the accumulated gradient."""
        self._grad = None

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def item(self) -> float:
        """The value of a single-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(
                f"item: only single-element tensors convert, got shape {self._data.shape}"
            )
        return self._data.item()  # type: ignore[no-any-return]

    def tolist(self) -> Any:
        return self._data.tolist()

    def astype(self, dtype: Any) -> Tensor:
        """Differentiable dtype conversion."""
        from gradstep import ops

        return ops.astype(self, dtype)

    def float(self) -> Tensor:  # noqa: A003
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def copy(self) -> Tensor:
        """A new leaf tensor holding a copy of the data."""
        return Tensor(self._data.copy(), dtype=self._data.dtype, requires_grad=self.requires_grad)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    def numel(self) -> int:
        return self._data.size

    def dim(self) -> int:
        return self._data.ndim

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(
            self._data, separator=", ", precision=4, threshold=20, prefix="tensor("
        )
        extra = ""
        if self._data.dtype != DEFAULT_DTYPE:
            extra += f", dtype={self._data.dtype}"
        if self._backward is not None:
            extra += ", grad_fn"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._data)

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is None:
            return self._data
        return self._data.astype(dtype)

    __hash__ = object.__hash__

    # -------------------------------------------------- operators and methods
    # Thin forwards to gradstep.ops (bound at the bottom of this module).
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # comparisons give boolean tensors without gradient (== stays identity-based)
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self._data < _ops._data(other), dtype=bool)

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self._data <= _ops._data(other), dtype=bool)

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self._data > _ops._data(other), dtype=bool)

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self._data >= _ops._data(other), dtype=bool)

    def eq(self, other: Any) -> Tensor:
        """Elementwise equality as a boolean tensor."""
        return Tensor(self._data == _ops._data(other), dtype=bool)

    def matmul(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return _ops.var(self, axis, keepdims, ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return _ops.sqrt(_ops.var(self, axis, keepdims, ddof))

    def logsumexp(self, axis: Any = -1, keepdims: bool = False) -> Tensor:
        return _ops.logsumexp(self, axis, keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def permute(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self, None)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, axis: Any = None) -> Tensor:
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return _ops.unsqueeze(self, axis)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return _ops.broadcast_to(self, shape)

    def expand(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.broadcast_to(self, shape)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:
        return _ops.clip(self, min, max)

    clamp = clip

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops.log_softmax(self, axis)

    def argmax(self, axis: Any = None) -> np.ndarray:
        return np.argmax(self._data, axis=axis)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ constructors
def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Create a leaf tensor holding a copy of ``data``.

    Integers and bools become float32 unless ``dtype`` is given; float64 stays float64.
    """
    if isinstance(data, Tensor):
        data = data._data
    arr = _to_array(data, dtype)
    if arr is data or (isinstance(data, np.ndarray) and np.shares_memory(arr, data)):
        arr = arr.copy()
    return Tensor(arr, dtype=arr.dtype, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """Wrap ``data`` as a tensor without copying when the dtype already fits."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


def _dtype(dtype: Any) -> np.dtype:
    return DEFAULT_DTYPE if dtype is None else np.dtype(dtype)


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be integers, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"shape must be non-negative, got {out}")
    return out


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(
        np.zeros(_shape(shape), dtype=_dtype(dtype)),
        dtype=_dtype(dtype),
        requires_grad=requires_grad,
    )


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(
        np.ones(_shape(shape), dtype=_dtype(dtype)),
        dtype=_dtype(dtype),
        requires_grad=requires_grad,
    )


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    shp = _shape((shape,) if isinstance(shape, int) else tuple(shape))
    return Tensor(
        np.full(shp, fill_value, dtype=_dtype(dtype)),
        dtype=_dtype(dtype),
        requires_grad=requires_grad,
    )


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    arr = np.zeros_like(t._data, dtype=dtype)
    return Tensor(arr, dtype=arr.dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    arr = np.ones_like(t._data, dtype=dtype)
    return Tensor(arr, dtype=arr.dtype, requires_grad=requires_grad)


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values in ``[start, stop)`` (float32 unless ``dtype`` is given)."""
    if stop is None:
        start, stop = 0, start
    return Tensor(
        np.arange(start, stop, step, dtype=_dtype(dtype)),
        dtype=_dtype(dtype),
        requires_grad=requires_grad,
    )


def _check_generator(generator: Any, name: str) -> np.random.Generator:
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{name}: generator must be a numpy.random.Generator "
            f"(e.g. numpy.random.default_rng(0)), "
            f"got {type(generator).__name__}"
        )
    return generator


def randn(
    *shape: Any, generator: np.random.Generator, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Standard-normal samples drawn from an explicit ``numpy.random.Generator``."""
    gen = _check_generator(generator, "randn")
    dt = _dtype(dtype)
    data = gen.standard_normal(
        _shape(shape), dtype=dt if dt in (np.float32, np.float64) else np.float64
    )
    return Tensor(data.astype(dt, copy=False), dtype=dt, requires_grad=requires_grad)


def rand(
    *shape: Any, generator: np.random.Generator, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Uniform samples in [0, 1) drawn from an explicit ``numpy.random.Generator``."""
    gen = _check_generator(generator, "rand")
    dt = _dtype(dtype)
    data = gen.random(_shape(shape), dtype=dt if dt in (np.float32, np.float64) else np.float64)
    return Tensor(data.astype(dt, copy=False), dtype=dt, requires_grad=requires_grad)


from gradstep import ops as _ops  # noqa: E402  (binds the operator methods above)
