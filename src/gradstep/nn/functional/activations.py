"""Activation functions.

``inplace=True`` (where PyTorch has it) follows PyTorch's rules: the input tensor itself
takes the result and is returned. With gradient recording on, a leaf that requires grad
cannot be modified in place (:class:`~gradstep.errors.GradError`), and a computed tensor
takes the result's place in the graph; otherwise its array is overwritten.
"""

from __future__ import annotations

from typing import Any

from gradstep import ops
from gradstep.tensor import Tensor

from ._common import _in_place, _input


def relu(input: Any, inplace: bool = False) -> Tensor:
    """``max(x, 0)``. Shape: any -> same."""
    if inplace:
        return _in_place(input, ops.relu, "relu")
    return ops.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` if positive else ``negative_slope * x``. Shape: any -> same."""
    if inplace:
        return _in_place(input, lambda t: ops.leaky_relu(t, negative_slope), "leaky_relu")
    return ops.leaky_relu(input, negative_slope)


def tanh(input: Any) -> Tensor:
    """Hyperbolic tangent. Shape: any -> same."""
    return ops.tanh(input)


def sigmoid(input: Any) -> Tensor:
    """Logistic function. Shape: any -> same."""
    return ops.sigmoid(input)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (exact erf form or ``approximate='tanh'``). Shape: any -> same."""
    return ops.gelu(input, approximate)


def softmax(input: Any, dim: int = -1) -> Tensor:
    """Softmax along ``dim``. Shape: any -> same."""
    return ops.softmax(input, dim)


def log_softmax(input: Any, dim: int = -1) -> Tensor:
    """Log-softmax along ``dim`` (stable). Shape: any -> same."""
    return ops.log_softmax(input, dim)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)``. Shape: any -> same."""
    if inplace:
        return _in_place(input, silu, "silu")
    return ops.mul(input, ops.sigmoid(input))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold`` (as PyTorch).

    Shape: any -> same.
    """
    x = _input(input, None, "softplus")
    bx = ops.mul(x, beta)
    soft = ops.div(
        ops.add(ops.relu(bx), ops.log(ops.add(ops.exp(ops.neg(ops.abs(bx))), 1.0))), beta
    )
    return ops.where(bx._data > threshold, x, soft)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` if positive else ``alpha * (exp(x) - 1)``. Shape: any -> same."""
    if inplace:
        return _in_place(input, lambda t: elu(t, alpha), "elu")
    x = _input(input, None, "elu")
    neg = ops.mul(ops.sub(ops.exp(ops.minimum(x, 0.0)), 1.0), alpha)
    return ops.where(x._data > 0, x, neg)
