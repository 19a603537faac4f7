"""Class-index losses: ``cross_entropy`` (fused with the log-softmax) and ``nll_loss``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep.errors import ShapeError
from gradstep.ops import primitive
from gradstep.tensor import Tensor

from ._common import _check_reduction, _input, _int_array, _make


def _class_dim_flat(xd: np.ndarray, op: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """(M, C) view/copy with the class dimension last, and the per-sample shape."""
    if xd.ndim == 1:
        return xd.reshape(1, -1), ()
    if xd.ndim < 1:
        raise ShapeError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got {xd.shape}")
    c = xd.shape[1]
    sample_shape = (xd.shape[0],) + xd.shape[2:]
    if xd.ndim == 2:
        return xd, sample_shape
    return np.moveaxis(xd, 1, -1).reshape(-1, c), sample_shape


def _unflat_grad(gm: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) == 1:
        return gm.reshape(shape)
    if len(shape) == 2:
        return gm
    moved = (shape[0],) + shape[2:] + (shape[1],)
    return np.moveaxis(gm.reshape(moved), -1, 1)


def _class_weights(
    target: Any, xd: np.ndarray, weight: Any, ignore_index: int, label_smoothing: float, op: str
) -> tuple[np.ndarray, float, np.ndarray | None, bool]:
    """Effective per-class target weights q (M, C) with loss_i = -sum_c q_ic * logp_ic.

    Returns (q, mean denominator, probability targets (M, C) or None, is_prob).
    """
    xm, sample_shape = _class_dim_flat(xd, op)
    m, c = xm.shape
    dt = xd.dtype
    w = None
    if weight is not None:
        w = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=dt)
        if w.shape != (c,):
            raise ShapeError(f"{op}: weight must have shape ({c},) (one per class), got {w.shape}")
    tdata = target._data if isinstance(target, Tensor) else np.asarray(target)
    if (
        tdata.shape == xd.shape
        and tdata.dtype.kind == "f"
        and xd.ndim >= 1
        and op == "cross_entropy"
    ):
        # class probabilities
        tm, _ = _class_dim_flat(tdata.astype(dt, copy=False), op)
        if label_smoothing > 0:
            tm = tm * (1 - label_smoothing) + label_smoothing / c
        q = tm * w if w is not None else tm
        return np.asarray(q, dtype=dt), float(m), tm, True
    if tdata.shape != sample_shape:
        raise ShapeError(
            f"{op}: for input of shape {xd.shape} the target must have shape {sample_shape} "
            f"(class indices)"
            + (" or the input's shape (class probabilities)" if op == "cross_entropy" else "")
            + f", got {tdata.shape}"
        )
    t = _int_array(tdata, op, "class-index targets").reshape(-1)
    valid = t != ignore_index
    bad = t[valid & ((t < 0) | (t >= c))]
    if bad.size:
        raise ValueError(
            f"{op}: class-index targets must be in [0, {c}) (or ignore_index={ignore_index}), "
            f"got out-of-range values {np.unique(bad)[:8].tolist()}"
        )
    tv = np.where(valid, t, 0)
    wy = (w[tv] if w is not None else np.ones(m, dtype=dt)) * valid
    q = np.zeros((m, c), dtype=dt)
    q[np.arange(m), tv] = (1 - label_smoothing) * wy
    if label_smoothing > 0:
        smooth = (label_smoothing / c) * (w if w is not None else np.ones(c, dtype=dt))
        q += smooth[None, :] * valid[:, None].astype(dt)
    return q, float(wy.sum()), None, False


def _loss_out(
    per: np.ndarray, reduction: str, denom: float, sample_shape: tuple[int, ...], dt: Any
) -> tuple[np.ndarray, Any]:
    """Reduced loss and the gradient scale (callable on g) for per-sample losses ``per``."""
    if reduction == "none":
        return per.reshape(sample_shape).astype(dt, copy=False), None
    total = per.sum(dtype=np.float64)
    if reduction == "sum":
        return np.asarray(total, dtype=dt), None
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / denom, dtype=dt), denom


def _grad_scale(g: np.ndarray, reduction: str, denom: Any, m: int) -> Any:
    if reduction == "none":
        return g.reshape(m, 1)
    if reduction == "sum":
        return g
    return g / denom


def _data_of(t: Any) -> np.ndarray:
    return t._data if isinstance(t, Tensor) else t  # type: ignore[no-any-return]


def _cross_entropy_indices(
    x: Tensor, target: np.ndarray, ignore_index: int, reduction: str
) -> Tensor | None:
    """The common case of :func:`cross_entropy`: (N, C) logits and N integer class indices,
    no weights, no smoothing, no ignored targets; None when any target is ``ignore_index``
    (the general path handles it). Same values as the general path, fewer passes."""
    xd = x._data
    m, c = xd.shape
    t = target.astype(np.intp, copy=False)
    if m:
        lo, hi = int(t.min()), int(t.max())
        if lo <= ignore_index <= hi and (t == ignore_index).any():
            return None
        if lo < 0 or hi >= c:
            bad = np.unique(t[(t < 0) | (t >= c)])[:8].tolist()
            raise ValueError(
                f"cross_entropy: class-index targets must be in [0, {c}) (or "
                f"ignore_index={ignore_index}), got out-of-range values {bad}"
            )
    rows = np.arange(m)
    shifted = xd - xd.max(axis=1, keepdims=True)
    ex = np.exp(shifted)
    se = ex.sum(axis=1, keepdims=True)
    per = np.log(se[:, 0]) - shifted[rows, t]
    denom = float(m)
    out, _ = _loss_out(per, reduction, denom, (m,), xd.dtype)

    def backward(g: np.ndarray) -> tuple[Any]:
        gm = ex / se
        gm[rows, t] -= 1
        gm *= _grad_scale(g, reduction, denom, m)
        return (gm,)

    return _make(out, (x,), backward)


@primitive
def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy from logits, fused with the log-softmax (finite for logits of any size).

    ``target`` holds class indices (integers, or whole-number floats since gradstep
    tensors are float by default), or class probabilities of the input's shape (float).
    With ``weight`` the mean divides by the summed weights of the non-ignored targets, as
    PyTorch; ``label_smoothing`` mixes in the uniform distribution.

    Shape: input ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; target ``(N)``, ``()`` or
    ``(N, d1, ...)`` of indices, or the input's shape of probabilities; output: scalar, or
    the target's sample shape when ``reduction='none'``.

    Raises:
        ValueError: non-integer or out-of-range class indices (naming them), bad reduction.
        ShapeError: target or weight shapes that do not fit.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _input(input, None, "cross_entropy")
    xd = x._data
    if xd.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class dimension, got a scalar")
    if (
        xd.ndim == 2
        and weight is None
        and label_smoothing == 0.0
        and reduction != "none"
        and isinstance(target, (np.ndarray, Tensor))
        and _data_of(target).dtype.kind in "iu"
        and _data_of(target).shape == (xd.shape[0],)
    ):
        fast = _cross_entropy_indices(x, _data_of(target), ignore_index, reduction)
        if fast is not None:
            return fast
    q, denom, tm, is_prob = _class_weights(
        target, xd, weight, ignore_index, label_smoothing, "cross_entropy"
    )
    xm, sample_shape = _class_dim_flat(xd, "cross_entropy")
    mx = xm.max(axis=1, keepdims=True)
    shifted = xm - mx
    ex = np.exp(shifted)
    se = ex.sum(axis=1, keepdims=True)
    logp = shifted - np.log(se)
    per = -np.einsum("mc,mc->m", q, logp)
    out, _ = _loss_out(per, reduction, denom, sample_shape, xd.dtype)
    m = xm.shape[0]
    tt = target if (is_prob and isinstance(target, Tensor) and target.requires_grad) else None

    def backward(g: np.ndarray) -> tuple[Any, ...]:
        scale = _grad_scale(g, reduction, denom, m)
        gx = None
        if x.requires_grad:
            prob = ex / se
            gm = prob * q.sum(axis=1, keepdims=True) - q
            gm *= scale
            gx = _unflat_grad(gm, xd.shape)
        if tt is None:
            return (gx,)
        wv = (
            np.ones(xm.shape[1], dtype=xd.dtype)
            if weight is None
            else np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=xd.dtype)
        )
        gt = -(1 - label_smoothing) * wv * logp * scale
        return gx, _unflat_grad(gt, xd.shape)

    parents = (x,) if tt is None else (x, tt)
    return _make(out, parents, backward)


@primitive
def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities ``input``.

    Shape: input ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; target ``(N)``, ``()`` or
    ``(N, d1, ...)``; output scalar, or the target's shape when ``reduction='none'``.
    """
    _check_reduction(reduction, "nll_loss")
    x = _input(input, None, "nll_loss")
    xd = x._data
    if xd.ndim == 0:
        raise ShapeError("nll_loss: input must have a class dimension, got a scalar")
    q, denom, _, _ = _class_weights(target, xd, weight, ignore_index, 0.0, "nll_loss")
    xm, sample_shape = _class_dim_flat(xd, "nll_loss")
    per = -np.einsum("mc,mc->m", q, xm)
    out, _ = _loss_out(per, reduction, denom, sample_shape, xd.dtype)
    m = xm.shape[0]

    def backward(g: np.ndarray) -> tuple[Any]:
        return (_unflat_grad(-q * _grad_scale(g, reduction, denom, m), xd.shape),)

    return _make(out, (x,), backward)
