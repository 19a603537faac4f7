"""Batch and layer normalisation, composed from recorded primitives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep import ops
from gradstep.errors import ShapeError
from gradstep.tensor import Tensor

from ._common import _const, _input, _param


def batch_norm(
    input: Any,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over all dimensions but the channel dimension 1.

    In training the batch mean and biased variance normalise the input and the running
    arrays (if given) are updated in place: ``running = (1 - momentum) * running +
    momentum * batch_stat`` with the unbiased batch variance, as PyTorch. Otherwise the
    running statistics are used.

    Shape: ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` -> same.
    """
    ref = weight if weight is not None else running_mean
    x = _input(input, None if ref is None else ref.dtype, "batch_norm")
    xd = x._data
    if xd.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, ...), got {xd.shape}")
    c = xd.shape[1]
    axes = (0,) + tuple(range(2, xd.ndim))
    bshape = (1, c) + (1,) * (xd.ndim - 2)
    for name, arr in (("running_mean", running_mean), ("running_var", running_var)):
        if arr is not None and arr.shape != (c,):
            raise ShapeError(
                f"batch_norm: {name} must have shape ({c},), got {arr.shape} for input {xd.shape}"
            )
    if training or running_mean is None or running_var is None:
        count = xd.size // max(c, 1)
        if count <= 1 and training:
            raise ShapeError(
                f"batch_norm: expected more than 1 value per channel when training, "
                f"got input {xd.shape}"
            )
        mean = ops.mean(x, axes, True)
        centered = ops.sub(x, mean)
        var = ops.mean(ops.mul(centered, centered), axes, True)
        if training and running_mean is not None and running_var is not None:
            m = float(momentum)
            bm = mean._data.reshape(c)
            bv = var._data.reshape(c) * (count / (count - 1))
            running_mean *= 1 - m
            running_mean += (m * bm).astype(running_mean.dtype, copy=False)
            running_var *= 1 - m
            running_var += (m * bv).astype(running_var.dtype, copy=False)
        y = ops.div(centered, ops.sqrt(ops.add(var, eps)))
    else:
        rm = running_mean.reshape(bshape).astype(xd.dtype, copy=False)
        inv = (1.0 / np.sqrt(running_var.reshape(bshape) + eps)).astype(xd.dtype, copy=False)
        y = ops.mul(ops.sub(x, _const(rm)), _const(inv))
    wt, bt = _param(weight, xd.dtype), _param(bias, xd.dtype)
    if wt is not None:
        y = ops.mul(y, ops.reshape(wt, bshape))
    if bt is not None:
        y = ops.add(y, ops.reshape(bt, bshape))
    return y


def layer_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions (biased variance).

    Shape: ``(*, *normalized_shape)`` -> same.
    """
    x = _input(input, None if weight is None else weight.dtype, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    xd = x._data
    if xd.shape[xd.ndim - len(shape) :] != shape or len(shape) > xd.ndim:
        raise ShapeError(
            f"layer_norm: expected input whose trailing dimensions are {shape}, got {xd.shape}"
        )
    axes = tuple(range(xd.ndim - len(shape), xd.ndim))
    mean = ops.mean(x, axes, True)
    centered = ops.sub(x, mean)
    var = ops.mean(ops.mul(centered, centered), axes, True)
    y = ops.div(centered, ops.sqrt(ops.add(var, eps)))
    wt, bt = _param(weight, xd.dtype), _param(bias, xd.dtype)
    if wt is not None:
        y = ops.mul(y, wt)
    if bt is not None:
        y = ops.add(y, bt)
    return y
