"""In-place ops (``+=``, ``add_``, ``zero_``, ``t[i] = v``...) with PyTorch's autograd rules.

* Under :func:`~gradstep.no_grad` (or on tensors outside any graph) the op writes into the
  tensor's own array: ``p -= lr * p.grad`` updates the parameter itself, and every view of
  the array sees the change.
* With gradient recording on, an in-place op on a leaf that requires grad raises
  :class:`~gradstep.errors.GradError` (as PyTorch); on a tensor computed by the graph it is
  recorded like the out-of-place op, and the tensor takes the result's place in the graph.
* Every in-place op bumps the tensor's version. ``backward`` raises when a tensor was
  modified after an op used it (the values saved for the gradient would be stale), and when
  a tensor computed by the graph was itself modified under ``no_grad``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep import _dtypes, _random, _tensor_methods
from gradstep._opsutil import const, data_of, index_key
from gradstep.errors import GradError, ShapeError
from gradstep.tensor import Tensor, bump_version, is_grad_enabled

__all__ = ["inplace", "setitem_"]

_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
           "pow": np.power}


def _category(kind: str) -> int:
    return 0 if kind == "b" else (1 if kind in "iu" else 2)


def _check_cast(t: Tensor, kind: str, other: Any) -> None:
    """PyTorch refuses in-place results of a higher category than the tensor (int += 0.5)."""
    arr = t._data
    if isinstance(other, Tensor):
        od = other._data
        rk = _dtypes.promote(arr, od).kind
    elif isinstance(other, np.ndarray):
        rk = other.dtype.kind
    elif isinstance(other, bool):
        rk = "b"
    elif isinstance(other, int):
        rk = "i"
    else:
        rk = "f"
    if kind == "div":
        rk = "f"
    if _category(rk) > _category(arr.dtype.kind):
        res = "float" if rk == "f" else "int"
        raise GradError(
            f"{kind}_: result type {res} can't be cast to the tensor's dtype {arr.dtype.name} "
            "in place; convert first (e.g. t = t.float())"
        )


def _stale(g: np.ndarray) -> Any:
    raise GradError(
        "backward: a tensor computed by the graph was modified in place under no_grad after "
        "it was computed, so its gradient can no longer be computed; modify a clone instead"
    )


def _write(t: Tensor, kind: str, args: tuple[Any, ...]) -> None:
    """Apply the op to ``t._data`` itself."""
    arr = t._data
    if kind in _UFUNCS:
        other = args[0]
        _check_cast(t, kind, other)
        _UFUNCS[kind](arr, data_of(other), out=arr, casting="unsafe")
    elif kind == "fill":
        arr[...] = data_of(args[0])
    elif kind == "copy":
        np.copyto(arr, np.asarray(data_of(args[0])), casting="unsafe")
    elif kind == "clamp":
        lo, hi = data_of(args[0]), data_of(args[1])
        if lo is None and hi is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        np.clip(arr, lo, hi, out=arr, casting="unsafe")
    elif kind == "masked_fill":
        np.copyto(arr, np.asarray(data_of(args[1])), casting="unsafe",
                  where=np.asarray(data_of(args[0]), dtype=bool))
    elif kind in ("normal", "uniform"):
        gen = _random.numpy_generator(args[2], f"{kind}_")
        if kind == "normal":
            arr[...] = gen.normal(args[0], args[1], arr.shape)
        else:
            arr[...] = gen.uniform(args[0], args[1], arr.shape)
    elif kind == "exp":
        np.exp(arr, out=arr)
    elif kind == "neg":
        np.negative(arr, out=arr)
    elif kind == "relu":
        np.maximum(arr, 0, out=arr)
    elif kind == "setitem":
        arr[args[0]] = data_of(args[1])
    else:  # pragma: no cover - the methods only pass the kinds above
        raise ValueError(f"unknown in-place op {kind!r}")


def _outofplace(old: Tensor, kind: str, args: tuple[Any, ...]) -> Tensor:
    """The recorded equivalent of the in-place op, applied to ``old``."""
    ops = _tensor_methods._ops
    shape, dtype = old._data.shape, old._data.dtype
    if kind in _UFUNCS:
        _check_cast(old, kind, args[0])
        return getattr(ops, kind)(old, args[0])  # type: ignore[no-any-return]
    if kind == "clamp":
        return ops.clamp(old, args[0], args[1])  # type: ignore[no-any-return]
    if kind == "masked_fill":
        return ops.masked_fill(old, args[0], args[1])  # type: ignore[no-any-return]
    if kind in ("exp", "neg", "relu"):
        return getattr(ops, kind)(old)  # type: ignore[no-any-return]
    if kind == "setitem":
        return ops.index_put(old, args[0], args[1])  # type: ignore[no-any-return]
    if kind in ("fill", "copy"):
        src = const(args[0])
        if src._data.dtype != dtype:
            src = ops.astype(src, dtype)
        return ops.broadcast_to(src, shape)  # type: ignore[no-any-return]
    # normal_ / uniform_: new values, no gradient to what was there
    fresh = Tensor(np.empty(shape, dtype=dtype), dtype=dtype)
    _write(fresh, kind, args)
    return fresh


def inplace(t: Tensor, kind: str, *args: Any) -> Tensor:
    """Apply an in-place op of ``kind`` to ``t`` with ``args``; returns ``t``."""
    if is_grad_enabled() and (
        t.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
    ):
        if t.requires_grad and t._backward is None:
            raise GradError(
                f"{kind}_: a leaf tensor that requires grad is used in an in-place operation; "
                "update parameters inside `with gradstep.no_grad():` (or use an out-of-place op)"
            )
        old = Tensor.__new__(Tensor)
        old._data = t._data
        old._grad = None
        old.requires_grad = t.requires_grad
        old._parents = t._parents
        old._backward = t._backward
        old._version = getattr(t, "_version", 0)
        args = tuple(old if a is t else a for a in args)  # e.g. y *= y
        res = _outofplace(old, kind, args)
        data = res._data.astype(t._data.dtype, copy=False)
        if data.shape != t._data.shape:
            raise ShapeError(
                f"{kind}_: the result has shape {data.shape}, which differs from the tensor's "
                f"shape {t._data.shape}"
            )
        t._data = data if data.flags.writeable and data is not old._data else np.array(data)
        t._parents = res._parents
        t._backward = res._backward
        t.requires_grad = res.requires_grad
        bump_version(t)
        return t
    try:
        _write(t, kind, args)
    except ValueError as exc:
        if not t._data.flags.writeable:
            raise ShapeError(
                f"{kind}_: this tensor is a read-only broadcast view (from expand or "
                "broadcast_to); write into a clone instead"
            ) from None
        raise ShapeError(f"{kind}_: {exc} (tensor shape {t._data.shape})") from None
    except IndexError as exc:
        raise IndexError(f"setitem: {exc} (tensor shape {t._data.shape})") from None
    bump_version(t)
    if t._backward is not None:
        t._backward = _stale
    return t


def setitem_(t: Tensor, index: Any, value: Any) -> None:
    """``t[index] = value`` (tensors or numbers), as an in-place op."""
    key = index_key(index)
    if not isinstance(value, Tensor):
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"setitem: value must be numeric, got {type(value).__name__}")
    inplace(t, "setitem", key, value)
