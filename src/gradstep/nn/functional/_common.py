"""Helpers shared by the functional families: constants, argument checks, strided windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradstep import _inplace
from gradstep.errors import GradError, ShapeError
from gradstep.tensor import Tensor, bump_version, is_grad_enabled

_make = Tensor._make
_REDUCTIONS = ("mean", "sum", "none")


def _const(x: Any) -> Tensor:
    """A non-tracked tensor wrapping ``x`` as is."""
    t = Tensor.__new__(Tensor)
    t._data = x
    t._grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    return t


def _input(x: Any, dtype: Any, op: str) -> Tensor:
    """Tensors pass through; arrays and lists become constant tensors of ``dtype`` (None:
    gradstep's default rule)."""
    if isinstance(x, Tensor):
        return x
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{op}: cannot convert input of type {type(x).__name__}: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: input must be numeric, got dtype {arr.dtype}")
    if dtype is None:  # gradstep's rule: float64 stays float64, the rest becomes float32
        dtype = np.float64 if arr.dtype == np.float64 else np.float32
    return _const(arr.astype(dtype, copy=False))


def _param(x: Any, dtype: Any = None) -> Tensor | None:
    if x is None or isinstance(x, Tensor):
        return x
    return _const(np.asarray(x, dtype=dtype))


def _weight(x: Any, op: str) -> Tensor:
    """A layer's (required) weight as a tensor."""
    w = _param(x)
    if w is None:
        raise TypeError(f"{op}: weight is required, got None")
    return w


def _pair(v: Any, name: str, op: str, minimum: int = 1) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        out = (int(v), int(v))
    elif (
        isinstance(v, (tuple, list))
        and len(v) == 2
        and all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v)
    ):
        out = (int(v[0]), int(v[1]))
    else:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    if min(out) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {v!r}")
    return out


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_4d(xd: np.ndarray, op: str) -> None:
    if xd.ndim != 4:
        raise ShapeError(f"{op}: expected input of shape (N, C, H, W), got shape {xd.shape}")


def _window_slices(
    xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, ho: int, wo: int
) -> list[np.ndarray]:
    """The kh*kw strided views ``xp[..., i*dh + sh*a, j*dw + sw*b]`` of shape (..., ho, wo)."""
    out = []
    for i in range(kh):
        for j in range(kw):
            r, c = i * dh, j * dw
            out.append(xp[..., r : r + sh * (ho - 1) + 1 : sh, c : c + sw * (wo - 1) + 1 : sw])
    return out


def _pad(xd: np.ndarray, pads: tuple[int, int, int, int], value: float) -> np.ndarray:
    pt, pb, pl, pr = pads
    if not (pt or pb or pl or pr):
        return xd
    n, c, h, w = xd.shape
    xp = np.full((n, c, h + pt + pb, w + pl + pr), value, dtype=xd.dtype)
    xp[:, :, pt : pt + h, pl : pl + w] = xd
    return xp


def _int_array(values: Any, op: str, what: str) -> np.ndarray:
    """Integer array from ints or whole-number floats; ValueError naming non-integers."""
    arr = np.asarray(values._data if isinstance(values, Tensor) else values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        raise ValueError(f"{op}: {what} must be integers, got booleans")
    if arr.dtype.kind == "f":
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))] if arr.size else arr
        if bad.size:
            shown = np.unique(bad)[:8].tolist()
            raise ValueError(
                f"{op}: {what} must be integers, got non-integer values {shown} (dtype {arr.dtype})"
            )
        return arr.astype(np.int64)
    raise ValueError(f"{op}: {what} must be integers, got dtype {arr.dtype}")


def _in_place(x: Any, fn: Callable[[Tensor], Tensor], op: str) -> Tensor:
    """Apply ``fn`` to tensor ``x`` in place, under PyTorch's autograd rules; returns ``x``.

    Recorded (``x`` requires grad, recording on): ``fn`` runs on an alias holding ``x``'s
    place in the graph, and ``x`` then takes the result's place. Otherwise the result is
    written into ``x``'s array.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: inplace=True needs a Tensor input, got {type(x).__name__}")
    if not (is_grad_enabled() and x.requires_grad):
        _inplace.inplace(x, "copy", fn(x)._data)
        return x
    if x._backward is None:
        raise GradError(
            f"{op}: a leaf tensor that requires grad cannot be modified in place "
            "(inplace=True); use inplace=False"
        )
    old = Tensor.__new__(Tensor)
    old._data, old._grad, old.requires_grad = x._data, None, True
    old._parents, old._backward = x._parents, x._backward
    old._version = getattr(x, "_version", 0)
    res = fn(old)
    x._data, x._parents, x._backward = res._data, res._parents, res._backward
    x.requires_grad = res.requires_grad
    bump_version(x)
    return x
