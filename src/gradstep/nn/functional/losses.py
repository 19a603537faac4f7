"""Regression and binary-classification losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep import ops
from gradstep.errors import ShapeError
from gradstep.ops import primitive
from gradstep.tensor import Tensor

from ._common import _check_reduction, _const, _input, _make


def _reduce_array(per: np.ndarray, reduction: str) -> np.ndarray:
    """Per-element losses reduced as ``reduction`` asks, in their own dtype."""
    if reduction == "none":
        return per
    total = per.sum() / (per.size if reduction == "mean" else 1)
    return np.asarray(total, dtype=per.dtype)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _target(target: Any, like: Tensor, op: str) -> Tensor:
    """Float target of the input's shape (arrays are cast to the input's dtype)."""
    if isinstance(target, Tensor):
        t = target
    else:
        t = _const(np.asarray(target, dtype=like._data.dtype))
    if t._data.shape != like._data.shape:
        raise ShapeError(
            f"{op}: target shape {t._data.shape} differs from input shape {like._data.shape}"
        )
    return t


@primitive
def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(x - y)^2``, one fused op (gradient ``2 (x - y)`` scaled by the
    reduction; the target gets the negative when it requires grad).

    Shape: input and target ``(*)`` (same shape); output scalar, or ``(*)`` for ``"none"``.
    """
    _check_reduction(reduction, "mse_loss")
    x = _input(input, None, "mse_loss")
    t = _target(target, x, "mse_loss")
    dt = x._data.dtype
    d = x._data - t._data
    sq = d * d
    n = sq.size
    out = sq if reduction == "none" else np.asarray(
        sq.sum() / (n if reduction == "mean" else 1), dtype=dt
    )

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        if reduction == "mean":
            gx = d * (2 * g / n).astype(dt, copy=False)
        else:
            gx = d * (2 * g).astype(dt, copy=False)
        return gx, (-gx if t.requires_grad else None)

    return _make(out, (x, t), backward)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|x - y|``. Shape: input and target ``(*)`` (same shape)."""
    _check_reduction(reduction, "l1_loss")
    x = _input(input, None, "l1_loss")
    return _reduce(ops.abs(ops.sub(x, _target(target, x, "l1_loss"))), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``, with ``d = x - y``.

    Shape: input and target ``(*)`` (same shape).
    """
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x = _input(input, None, "huber_loss")
    d = ops.sub(x, _target(target, x, "huber_loss"))
    ad = ops.abs(d)
    quad = ops.mul(ops.mul(d, d), 0.5)
    lin = ops.mul(ops.sub(ad, 0.5 * delta), delta)
    return _reduce(ops.where(ad._data < delta, quad, lin), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Huber loss divided by ``beta`` (``beta=0`` is the L1 loss). Shape: same as input."""
    if beta == 0:
        return l1_loss(input, target, reduction)
    return ops.div(huber_loss(input, target, reduction, beta), beta)


def _bce_weight(
    weight: Any, shape: tuple[int, ...], dt: Any, op: str, name: str
) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=dt)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ShapeError(
            f"{op}: {name} of shape {w.shape} does not broadcast to input {shape}"
        ) from None
    return w


@primitive
def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] (logs clamped at -100 as PyTorch).

    Shape: input and target ``(*)`` (same shape); output scalar or ``(*)``.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    x = _input(input, None, "binary_cross_entropy")
    xd = x._data
    dt = xd.dtype
    y = _target(target, x, "binary_cross_entropy")._data.astype(dt, copy=False)
    if xd.size and (np.any(xd < 0) or np.any(xd > 1) or np.any(np.isnan(xd))):
        raise ValueError("binary_cross_entropy: all input values must be probabilities in [0, 1]")
    w = _bce_weight(weight, xd.shape, dt, "binary_cross_entropy", "weight")
    with np.errstate(divide="ignore"):
        lx = np.maximum(np.log(xd), -100)
        l1x = np.maximum(np.log1p(-xd), -100)
    per = -(y * lx + (1 - y) * l1x)
    if w is not None:
        per = per * w
    out = _reduce_array(np.asarray(per, dtype=dt), reduction)

    def backward(g: np.ndarray) -> tuple[Any]:
        gx = (xd - y) / np.maximum((1 - xd) * xd, dt.type(1e-12))
        if w is not None:
            gx = gx * w
        gx = gx * (g / xd.size if reduction == "mean" else g)
        return (gx,)

    return _make(out, (x,), backward)


@primitive
def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy fused: ``(1-y) x + (1 + (pw-1) y) softplus(-x)``, stable.

    ``pos_weight`` (broadcast along the last, class, dimension) weighs positive examples.

    Shape: input and target ``(*)`` (same shape); output scalar or ``(*)``.
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    op = "binary_cross_entropy_with_logits"
    x = _input(input, None, op)
    xd = x._data
    dt = xd.dtype
    y = _target(target, x, op)._data.astype(dt, copy=False)
    w = _bce_weight(weight, xd.shape, dt, op, "weight")
    pw = _bce_weight(pos_weight, xd.shape, dt, op, "pos_weight")
    sp = np.log1p(np.exp(-np.abs(xd))) + np.maximum(-xd, 0)  # softplus(-x)
    lw = None if pw is None else 1 + (pw - 1) * y
    per = (1 - y) * xd + (sp if lw is None else lw * sp)
    if w is not None:
        per = per * w
    out = _reduce_array(np.asarray(per, dtype=dt), reduction)

    def backward(g: np.ndarray) -> tuple[Any]:
        sig = ops._sigmoid(xd)
        gx = sig - y if lw is None else (1 - y) + lw * (sig - 1)
        if w is not None:
            gx = gx * w
        gx = gx * (g / xd.size if reduction == "mean" else g)
        return (gx,)

    return _make(out, (x,), backward)
