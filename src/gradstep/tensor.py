"""Tensor and the reverse-mode backward engine.

A :class:`Tensor` wraps a NumPy array (``_data``). When an op is applied to tensors of
which at least one ``requires_grad`` (and gradient recording is on in this thread), the
result keeps references to its inputs (``_parents``) and a *backward closure* that maps the
gradient of the result to one gradient per input. :meth:`Tensor.backward` visits the graph
in reverse topological order (built iteratively, so graphs of any depth work), calls each
closure once, reduces every input gradient back to that input's shape (the one central
un-broadcast: no op has to do it itself), accumulates gradients of tensors that are used
several times, and adds the result into the gradient array (``_grad``) of every leaf.

``t.data`` and ``t.grad`` are tensors, as in PyTorch: ``.data`` shares ``_data`` and is cut
from the graph; ``.grad`` wraps ``_grad`` (the same object on repeated access while the
array is the same). Layers and optimizers work on the arrays directly.

Dtypes follow PyTorch (see :mod:`gradstep._dtypes`): ``tensor([1, 2])`` is int64, floats
take the default dtype (float32), and a Python scalar never changes a tensor's dtype.
Gradients always have the dtype of the tensor they belong to. ``Tensor(data)`` (the class)
keeps float data's dtype and turns integers and bools into the default float dtype.

In-place ops bump a version counter (an int slot written only by in-place ops); a recorded
op keeps the counter value of its creation, and ``backward`` raises when an input was
modified after the op used it.
"""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradstep import _dtypes, _format, _random
from gradstep import _tensor_methods as _TM
from gradstep._autograd import (  # noqa: F401  (_unbroadcast, bump_version: re-exported)
    GradFn,
    _op_name,
    _unbroadcast,
    bump_version,
    run_backward,
)
from gradstep._device import CPU, check_device, device
from gradstep._grad_mode import (
    _CLOCK,
    _GRAD_ENABLED,
    _LOCAL,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from gradstep._tensor_methods import TensorMethods
from gradstep.errors import DTypeError, GradError, ShapeError

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
    "inference_mode",
    "is_grad_enabled",
    "set_grad_enabled",
]

BackwardFn = Callable[[np.ndarray], Sequence["np.ndarray | None"]]

DEFAULT_DTYPE = np.dtype(np.float32)  # the initial default; see gradstep.get_default_dtype

def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert data for ``Tensor(data)``: float data keeps its dtype, ints and bools become
    the default float dtype (as ``torch.Tensor(data)``), unless ``dtype`` is given."""
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
        dt = _dtypes.as_dtype(dtype, "tensor")
        if arr.dtype != dt:
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"tensor: data must be numeric, got dtype {arr.dtype}")
            arr = arr.astype(dt)
        return arr
    kind = arr.dtype.kind
    default = _dtypes.DEFAULT[0]
    if kind == "f":
        # float ndarrays keep their dtype; Python floats and lists take the default dtype
        if arr is not data and not isinstance(data, (Tensor, np.generic)):
            arr = arr.astype(default)
        return arr
    if kind in "biu":
        return arr.astype(default)
    raise TypeError(
        f"tensor: data must be numeric (bool, int or float), got dtype {arr.dtype}"
        + (f" from {type(data).__name__}" if not isinstance(data, np.ndarray) else "")
    )


def _check_requires_grad(arr: np.ndarray, requires_grad: Any, op: str) -> builtins.bool:
    if requires_grad and arr.dtype.kind != "f":
        raise DTypeError(
            f"{op}: only floating-point tensors can require grad, got dtype {arr.dtype.name}; "
            "convert first (e.g. .float())"
        )
    return builtins.bool(requires_grad)


def _plain(arr: np.ndarray) -> Tensor:
    out = Tensor.__new__(Tensor)
    out._data = arr
    out._grad = None
    out.requires_grad = False
    out._parents = ()
    out._backward = None
    return out


class Tensor(TensorMethods):
    """An n-dimensional array that records the ops applied to it for backpropagation.

    Args:
        data: array-like numeric data. Float arrays keep their dtype; integers and bools
            become the default float dtype unless ``dtype`` says otherwise (use
            :func:`gradstep.tensor` for PyTorch's inference: ``tensor([1, 2])`` is int64).
        dtype: optional dtype to convert to.
        requires_grad: whether gradients with respect to this tensor are wanted (floating
            point tensors only).

    Attributes:
        data: this tensor's values as a tensor outside the graph (shares memory).
        grad: the accumulated gradient as a tensor, or None.
    """

    __slots__ = ("_data", "_grad", "requires_grad", "_parents", "_backward", "_version",
                 "_grad_t", "__weakref__")

    __array_priority__ = 1000.0  # make ndarray <op> Tensor defer to Tensor
    __hash__ = object.__hash__  # elementwise == does not make tensors unhashable

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        arr = _to_array(data, dtype)
        self._data: np.ndarray = arr
        self._grad: np.ndarray | None = None
        self.requires_grad: bool = _check_requires_grad(arr, requires_grad, "tensor")
        self._parents: tuple[Tensor, ...] = ()
        self._backward: BackwardFn | None = None
        self._version: int = 0

    # ------------------------------------------------------- data and grad
    @property
    def data(self) -> Tensor:
        """This tensor's values as a tensor cut from the graph, sharing memory."""
        return _plain(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        arr = value._data if isinstance(value, Tensor) else np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"data: expected numeric data, got dtype {arr.dtype}")
        self._data = arr

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient as a tensor sharing memory with it, or None.

        Repeated access returns the same object while the gradient array is the same.
        """
        g = self._grad
        if g is None:
            return None
        ref = getattr(self, "_grad_t", None)
        cached = ref() if ref is not None else None
        if cached is not None and cached._data is g:
            return cached  # type: ignore[no-any-return]
        out = _plain(g)
        self._grad_t = weakref.ref(out)
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
            raise DTypeError(
                f"grad: assigned gradient has dtype {arr.dtype} but the tensor has dtype "
                f"{self._data.dtype}"
            )
        self._grad = arr
        if isinstance(value, Tensor):
            self._grad_t = weakref.ref(value)

    # ------------------------------------------------------------------ graph
    @staticmethod
    def _make(data: np.ndarray, parents: tuple[Tensor, ...], backward: BackwardFn) -> Tensor:
        """Create the result of an op. Records the graph only when it is needed.

        ``backward(g)`` returns one gradient (or None) per parent, in any shape that
        broadcasts to the parent's shape; the engine reduces it. (Replaced below by
        :func:`_make_fast`, the same code with its globals bound as locals.)
        """
        return _make_fast(data, parents, backward)

    @property
    def is_leaf(self) -> builtins.bool:
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self._backward is None

    @property
    def grad_fn(self) -> GradFn | None:
        """The op that produced this tensor (None for leaves)."""
        if self._backward is None:
            return None
        return GradFn(self._backward, self._parents)

    def backward(self, gradient: Any = None, retain_graph: builtins.bool = False,
                 **kw: Any) -> None:
        """Backpropagate from this tensor, accumulating into the leaves' gradients.

        Args:
            gradient: gradient of the final objective with respect to this tensor; may be
                omitted only when this tensor has a single element (then it is 1). ``grad=``
                is accepted as an alias.
            retain_graph: keep the graph so that backward can be called through it again.

        Raises:
            GradError: this tensor does not require grad, ``gradient`` is missing for a
                non-scalar, the graph was already released, or an input of a recorded op
                was modified in place after the op used it.
            ShapeError: ``gradient`` does not have this tensor's shape.
        """
        if "grad" in kw:
            gradient = kw.pop("grad")
        if kw:
            raise TypeError(f"backward: unexpected keyword argument(s) {sorted(kw)}")
        if not self.requires_grad:
            raise GradError(
                "backward: this tensor does not require grad (no input of the computation "
                "has requires_grad=True, or it was computed under no_grad())"
            )
        if gradient is None:
            if self._data.size != 1:
                raise GradError(
                    f"backward: grad can be omitted only for a single-element output, "
                    f"got shape {self._data.shape}; pass grad= of that shape or reduce first"
                )
            g = np.ones_like(self._data)
        else:
            g = np.asarray(
                gradient._data if isinstance(gradient, Tensor) else gradient,
                dtype=self._data.dtype,
            )
            if g.shape != self._data.shape:
                raise ShapeError(
                    f"backward: grad has shape {g.shape} but the tensor has shape "
                    f"{self._data.shape}"
                )
        run_backward(self, g, retain_graph)

    # ------------------------------------------------------------- utilities
    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        return _plain(self._data)

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self._parents = ()
        self._backward = None
        self.requires_grad = False
        return self

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (the gradient flows back)."""
        return _TM._ops.clone(self)  # type: ignore[no-any-return]

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only) and return self."""
        self.requires_grad = _check_requires_grad(self._data, requires_grad, "requires_grad_")
        return self

    def zero_grad(self) -> None:
        """Drop the accumulated gradient."""
        self._grad = None

    def retain_grad(self) -> None:
        """Accepted for compatibility: gradstep keeps gradients of leaves only."""
        raise GradError("retain_grad: gradients of non-leaf tensors are not kept by gradstep")

    def numpy(self) -> np.ndarray:
        """The underlying array, shared (not copied): writing to it changes the tensor.

        Raises:
            GradError: the tensor requires grad (use ``t.detach().numpy()``, as in PyTorch).
        """
        if self.requires_grad:
            raise GradError(
                "numpy: cannot call numpy() on a tensor that requires grad; "
                "use t.detach().numpy()"
            )
        return self._data

    def item(self) -> Any:
        """The value of a single-element tensor as a Python number."""
        if self._data.size != 1:
            raise ShapeError(
                f"item: only single-element tensors convert to a Python number, "
                f"got shape {self._data.shape} ({self._data.size} elements)"
            )
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    # ----------------------------------------------------------- dtypes, devices
    def astype(self, dtype: Any) -> Tensor:
        """Differentiable dtype conversion (integer results leave the graph)."""
        return _TM._ops.astype(self, dtype)  # type: ignore[no-any-return]

    def float(self) -> Tensor:
        return self.astype(_dtypes.float32)

    def double(self) -> Tensor:
        return self.astype(_dtypes.float64)

    def half(self) -> Tensor:
        return self.astype(_dtypes.float16)

    def long(self) -> Tensor:
        return self.astype(_dtypes.int64)

    def int(self) -> Tensor:
        return self.astype(_dtypes.int32)

    def short(self) -> Tensor:
        return self.astype(_dtypes.int16)

    def bool(self) -> Tensor:
        return self.astype(_dtypes.bool)

    def byte(self) -> Tensor:
        return self.astype(_dtypes.uint8)

    def type(self, dtype: Any = None) -> Any:
        """``type(dtype)`` converts; ``type()`` names the type (``"gradstep.FloatTensor"``)."""
        if dtype is None:
            names = {"float32": "Float", "float64": "Double", "float16": "Half",
                     "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                     "uint8": "Byte", "bool": "Bool"}
            return f"gradstep.{names.get(self._data.dtype.name, 'Float')}Tensor"
        return self.astype(dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(other_tensor)``, ``to(device, dtype)``."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"to: unexpected keyword argument(s) {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a._data.dtype
            elif isinstance(a, (str, device)):
                dev = a
            elif a is not None:
                dtype = a
        check_device(dev, "to")
        out = self if dtype is None else self.astype(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        check_device("cuda", "cuda")
        return self  # pragma: no cover - check_device always raises

    @property
    def device(self) -> device:
        return CPU

    @property
    def is_cuda(self) -> builtins.bool:
        return False

    def is_floating_point(self) -> builtins.bool:
        return builtins.bool(self._data.dtype.kind == "f")

    def element_size(self) -> builtins.int:
        return builtins.int(self._data.dtype.itemsize)

    def copy(self) -> Tensor:
        """A new leaf tensor holding a copy of the data."""
        return Tensor(self._data.copy(), dtype=self._data.dtype, requires_grad=self.requires_grad)

    @property
    def shape(self) -> tuple[builtins.int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> builtins.int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def itemsize(self) -> builtins.int:
        return builtins.int(self._data.dtype.itemsize)

    # ----------------------------------------------------------- Python protocols
    def __repr__(self) -> str:
        suffix = []
        if self._backward is not None:
            suffix.append(f"grad_fn=<{_op_name(self._backward)}>")
        elif self.requires_grad:
            suffix.append("requires_grad=True")
        return _format.tensor_repr(self._data, _dtypes.DEFAULT[0], suffix)

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        if self._data.size != 1:
            raise TypeError(
                f"unsupported format string {spec!r} for a tensor of {self._data.size} elements "
                "(format works for single-element tensors)"
            )
        return format(self._data.item(), spec)

    def __bool__(self) -> builtins.bool:
        if self._data.size != 1:
            raise ShapeError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous "
                "(use .any() or .all())"
            )
        return builtins.bool(self._data)

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __index__(self) -> builtins.int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only single-element integer tensors can be used as an index")
        return builtins.int(self._data.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """NumPy's conversion: ``np.array(t)`` copies; ``np.asarray(t)`` may share memory."""
        arr = self._data
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            if copy is False:
                raise ValueError("__array__: a dtype conversion needs a copy (copy=False given)")
            return arr.astype(dtype)
        return arr.copy() if copy else arr



def _make_fast(
    data: np.ndarray,
    parents: tuple[Tensor, ...],
    backward: BackwardFn,
    _new: Any = object.__new__,
    _cls: Any = Tensor,
    _on: list[builtins.bool] = _GRAD_ENABLED,
    _local: Any = _LOCAL,
    _clock: list[builtins.int] = _CLOCK,
    _nd: Any = np.ndarray,
    _asarray: Any = np.asarray,
) -> Tensor:
    # the hot path of every op: defaults make the module globals fast locals
    out = _new(_cls)
    if type(data) is not _nd:  # NumPy gives scalars for 0-d results; keep an array
        data = _asarray(data)
    out._data = data
    out._grad = None
    if _on[0] or getattr(_local, "enabled", True):
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._backward = backward
                out._version = _clock[0]
                return out  # type: ignore[no-any-return]
    out.requires_grad = False
    out._parents = ()
    out._backward = None
    return out  # type: ignore[no-any-return]


Tensor._make = staticmethod(_make_fast)  # type: ignore[method-assign,assignment]


# ------------------------------------------------------------------ constructors
def tensor(data: Any, dtype: Any = None, device: Any = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """A leaf tensor holding a copy of ``data``, with PyTorch's dtype inference.

    ``tensor([1, 2])`` is int64, ``tensor([True])`` bool, ``tensor([1.5])`` the default
    float dtype; NumPy arrays and tensors keep their dtype.
    """
    check_device(device, "tensor")
    if isinstance(data, Tensor):
        data = data._data
    if dtype is None:
        arr = _dtypes.infer_array(data)
    else:
        arr = _to_array(data, dtype)
    if arr is data or (isinstance(data, np.ndarray) and np.shares_memory(arr, data)):
        arr = arr.copy()
    t = Tensor(arr, dtype=arr.dtype)
    t.requires_grad = _check_requires_grad(arr, requires_grad, "tensor")
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with tensors and arrays whose dtype fits."""
    check_device(device, "as_tensor")
    if isinstance(data, Tensor):
        if dtype is None or data._data.dtype == np.dtype(dtype):
            return data
        return data.astype(dtype)
    if dtype is None:
        arr = _dtypes.infer_array(data, "as_tensor")
    else:
        arr = _to_array(data, dtype)
    return Tensor(arr, dtype=arr.dtype)


def _dtype(dtype: Any, op: str = "dtype") -> np.dtype:
    return _dtypes.DEFAULT[0] if dtype is None else _dtypes.as_dtype(dtype, op)


def _shape(shape: tuple[Any, ...]) -> tuple[builtins.int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = tuple(builtins.int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be integers, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"shape must be non-negative, got {out}")
    return out


def _leaf(arr: np.ndarray, requires_grad: Any, device: Any, op: str) -> Tensor:
    check_device(device, op)
    t = Tensor(arr, dtype=arr.dtype)
    t.requires_grad = _check_requires_grad(arr, requires_grad, op)
    return t


def zeros(*size: Any, dtype: Any = None, requires_grad: builtins.bool = False,
          device: Any = None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _leaf(np.zeros(_shape(size), dtype=_dtype(dtype, "zeros")), requires_grad, device,
                 "zeros")


def ones(*size: Any, dtype: Any = None, requires_grad: builtins.bool = False,
         device: Any = None) -> Tensor:
    """A tensor of ones."""
    return _leaf(np.ones(_shape(size), dtype=_dtype(dtype, "ones")), requires_grad, device,
                 "ones")


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: builtins.bool = False,
         device: Any = None) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype inferred from it: bool, int64 or the
    default float dtype)."""
    shp = _shape((size,) if isinstance(size, builtins.int) else tuple(size))
    if dtype is None:
        fv = fill_value._data if isinstance(fill_value, Tensor) else fill_value
        dt = _dtypes.infer_array(fv, "full").dtype
    else:
        dt = _dtypes.as_dtype(dtype, "full")
    fv = fill_value._data if isinstance(fill_value, Tensor) else fill_value
    return _leaf(np.full(shp, fv, dtype=dt), requires_grad, device, "full")


def _like(t: Any, dtype: Any, op: str) -> tuple[tuple[builtins.int, ...], np.dtype]:
    arr = t._data if isinstance(t, Tensor) else np.asarray(t)
    return arr.shape, (arr.dtype if dtype is None else _dtypes.as_dtype(dtype, op))


def zeros_like(t: Any, dtype: Any = None, requires_grad: builtins.bool = False,
               device: Any = None) -> Tensor:
    """Zeros of ``t``'s shape and dtype."""
    shape, dt = _like(t, dtype, "zeros_like")
    return _leaf(np.zeros(shape, dtype=dt), requires_grad, device, "zeros_like")


def ones_like(t: Any, dtype: Any = None, requires_grad: builtins.bool = False,
              device: Any = None) -> Tensor:
    """Ones of ``t``'s shape and dtype."""
    shape, dt = _like(t, dtype, "ones_like")
    return _leaf(np.ones(shape, dtype=dt), requires_grad, device, "ones_like")


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Values ``start, start + step, ...`` below ``end``: int64 when all three are
    integers, else the default float dtype (unless ``dtype`` is given)."""
    if end is None:
        start, end = 0, start
    vals = [v._data.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        ints = all(isinstance(v, (builtins.int, np.integer)) for v in vals)
        dt = _dtypes.int64 if ints else _dtypes.DEFAULT[0]
    else:
        dt = _dtypes.as_dtype(dtype, "arange")
    if vals[2] == 0:
        raise ValueError("arange: step must be non-zero")
    arr = np.arange(vals[0], vals[1], vals[2], dtype=np.float64 if dt.kind == "f" else None)
    return _leaf(arr.astype(dt), requires_grad, device, "arange")


def randn(*size: Any, generator: Any = None, dtype: Any = None,
          requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Standard-normal samples (``generator``: a :class:`gradstep.Generator`, a
    ``numpy.random.Generator``, or None for the default generator)."""
    gen = _random.numpy_generator(generator, "randn")
    dt = _random.float_dtype(dtype, "randn")
    native = dt if dt in (np.float32, np.float64) else np.float64
    data = gen.standard_normal(_shape(size), dtype=native).astype(dt, copy=False)
    return _leaf(data, requires_grad, device, "randn")


def rand(*size: Any, generator: Any = None, dtype: Any = None,
         requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Uniform samples in [0, 1) (``generator`` as in :func:`randn`)."""
    gen = _random.numpy_generator(generator, "rand")
    dt = _random.float_dtype(dtype, "rand")
    native = dt if dt in (np.float32, np.float64) else np.float64
    data = gen.random(_shape(size), dtype=native).astype(dt, copy=False)
    return _leaf(data, requires_grad, device, "rand")

