"""Data types: PyTorch's names for NumPy dtypes, the default float dtype and type inference.

``gradstep.float32`` and friends are ``numpy.dtype`` objects, so ``t.dtype == gradstep.float32``
and ``numpy.zeros(3, dtype=t.dtype)`` both work. The rules follow PyTorch:

* ``tensor([1, 2])`` is int64, ``tensor([True])`` bool, ``tensor([1.5])`` the default float dtype
  (float32 unless :func:`set_default_dtype` says otherwise); NumPy arrays keep their dtype.
* A Python scalar never changes a tensor's dtype, except that an integer or bool tensor
  combined with a Python float gives the default float dtype.
* Between tensors, a zero-dimensional operand does not raise the dtype of dimensioned
  operands of the same kind (``float32[n] + float64[]`` is float32).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

__all__ = [
    "float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "float", "double", "half", "long", "int", "short",
    "get_default_dtype", "set_default_dtype", "as_dtype", "infer_array",
]

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
int16 = np.dtype("int16")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
bool = np.dtype("bool")
float = float32
double = float64
half = float16
long = int64
int = int32
short = int16

# the default floating-point dtype, one-element list so readers need no global statement
DEFAULT = [float32]
_KINDS = "biuf"


def get_default_dtype() -> np.dtype:
    """The dtype of tensors created from Python floats (float32 unless changed)."""
    return DEFAULT[0]


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of tensors created from Python floats (a floating-point dtype).

    Raises:
        TypeError: ``dtype`` is not a floating-point dtype.
    """
    dt = as_dtype(dtype, "set_default_dtype")
    if dt.kind != "f":
        raise TypeError(
            f"set_default_dtype: dtype must be a floating-point dtype, got {dt.name}"
        )
    DEFAULT[0] = dt


def as_dtype(dtype: Any, op: str = "dtype") -> np.dtype:
    """``dtype`` as a ``numpy.dtype`` of a supported (bool, integer or float) kind."""
    if dtype is builtins.float:
        return DEFAULT[0]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype") from None
    if dt.kind not in _KINDS:
        raise TypeError(f"{op}: dtype must be bool, integer or float, got {dt}")
    return dt


def _scan(data: Any) -> str:
    """The widest kind among Python scalars in a nested list ('b' < 'i' < 'f'), '' if none."""
    if isinstance(data, builtins.bool):
        return "b"
    if isinstance(data, builtins.int):
        return "i"
    if isinstance(data, builtins.float):
        return "f"
    if isinstance(data, (list, tuple)):
        best = ""
        for x in data:
            k = _scan(x)
            if k == "f":
                return "f"
            if k == "i" or (k == "b" and best == ""):
                best = k
            if k == "?":
                return "?"
        return best
    return "?"


def infer_array(data: Any, op: str = "tensor") -> np.ndarray:
    """Convert user data to an ndarray with PyTorch's dtype inference (no dtype given)."""
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        kind = _scan(data)
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"{op}: cannot convert {type(data).__name__} to an array: {exc}"
            ) from None
        if kind == "f" or (kind == "" and arr.dtype.kind == "f"):
            arr = arr.astype(DEFAULT[0], copy=False)
        elif kind == "i":
            arr = arr.astype(int64, copy=False)
        elif kind == "" and arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(DEFAULT[0], copy=False)
    if arr.dtype.kind not in _KINDS:
        raise TypeError(
            f"{op}: data must be numeric (bool, int or float), got dtype {arr.dtype}"
            + (f" from {type(data).__name__}" if not isinstance(data, np.ndarray) else "")
        )
    return arr


def _category(dt: np.dtype) -> builtins.int:
    return 0 if dt.kind == "b" else (1 if dt.kind in "iu" else 2)


def promote(a: np.ndarray, b: np.ndarray) -> np.dtype:
    """PyTorch's result dtype for two tensor operands (zero-dim ones weigh less)."""
    da, db = a.dtype, b.dtype
    if da == db:
        return da
    za, zb = a.ndim == 0, b.ndim == 0
    if za == zb:
        ca, cb = _category(da), _category(db)
        if ca != cb:  # the higher category wins with its own dtype (int + float16 -> float16)
            return da if ca > cb else db
        return np.promote_types(da, db)
    dim, zero = (db, da) if za else (da, db)
    cd, cz = _category(dim), _category(zero)
    if cz <= cd:
        return dim
    if cz == 2:
        return zero  # a float 0-d tensor lifts an integer tensor to its own float dtype
    return zero if cd == 0 else dim


def scalar_result(arr: np.ndarray, scalar: Any, out: np.ndarray) -> np.ndarray:
    """Fix NumPy's result dtype for ``tensor <op> python scalar`` to PyTorch's rule."""
    kind = arr.dtype.kind
    if kind == "f":
        return out.astype(arr.dtype, copy=False)
    if isinstance(scalar, builtins.float) or out.dtype.kind == "f":
        return out.astype(DEFAULT[0], copy=False)
    if kind == "b" and not isinstance(scalar, builtins.bool):
        return out.astype(int64, copy=False)
    return out.astype(arr.dtype, copy=False) if out.dtype.kind != "b" else out
