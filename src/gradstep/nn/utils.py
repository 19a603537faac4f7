"""Gradient clipping and flat-vector helpers for parameters (PyTorch semantics).

These functions see only parameters (tensors with ``._data`` and ``._grad``) and work in
place on the gradients, so they also work on the views of a flat gradient buffer
(``Optimizer.flatten``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.errors import NonFiniteError
from gradstep.tensor import Tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
]


def _as_params(name: str, parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(
            f"{name}: parameters must be a tensor or an iterable of tensors, "
            f"got {type(parameters).__name__}"
        ) from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"{name}: parameter {i} is a {type(p).__name__}, expected a gradstep.Tensor"
            )
    return params


def _norm(g: np.ndarray, p: float) -> float:
    if p == 2.0:
        flat = g.reshape(-1)
        return math.sqrt(float(np.dot(flat, flat)))
    if math.isinf(p):
        return float(np.max(np.abs(g))) if g.size else 0.0
    if p == 1.0:
        return float(np.add.reduce(np.abs(g), axis=None))
    return float(np.sum(np.abs(g) ** p) ** (1.0 / p))


def get_total_norm(grads: Iterable[np.ndarray], norm_type: float = 2.0) -> float:
    """The ``norm_type``-norm of all arrays together, as if concatenated (a Python float)."""
    p = float(norm_type)
    norms = [_norm(g, p) for g in grads]
    if not norms:
        return 0.0
    if math.isinf(p):
        return max(norms)
    return _norm(np.asarray(norms, dtype=np.float64), p)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    r"""Scale the gradients in place so that their joint norm is at most ``max_norm``.

    The total norm :math:`\|g\|` is taken over all gradients together (parameters without a
    gradient are skipped); every gradient is multiplied by
    :math:`\min(1, \text{max\_norm} / (\|g\| + 10^{-6}))`, as PyTorch does.

    Args:
        parameters: a tensor or an iterable of tensors.
        max_norm: the largest allowed norm (>= 0).
        norm_type: the p of the p-norm (> 0), or ``float("inf")``.
        error_if_nonfinite: raise when the total norm is NaN or infinite (the gradients are
            then left untouched).

    Returns:
        The total norm before clipping, as a Python float (PyTorch returns a tensor).

    Raises:
        NonFiniteError: ``error_if_nonfinite`` and the norm is NaN or infinite.
        ValueError: ``max_norm < 0`` or ``norm_type <= 0``.
    """
    params = _as_params("clip_grad_norm_", parameters)
    max_norm = float(max_norm)
    p = float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm!r}")
    if not p > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type!r}")
    grads = [q._grad for q in params if q._grad is not None]
    if not grads:
        return 0.0
    total = get_total_norm(grads, p)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise NonFiniteError(
                f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total}; "
                "pass error_if_nonfinite=False to clip anyway"
            )
    coef = min(max_norm / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    for g in grads:
        np.multiply(g, coef, out=g)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient in place to ``[-clip_value, clip_value]``.

    Raises:
        ValueError: ``clip_value < 0``.
    """
    params = _as_params("clip_grad_value_", parameters)
    c = float(clip_value)
    if not c >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for q in params:
        if q._grad is not None:
            np.clip(q._grad, -c, c, out=q._grad)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters' values concatenated into one 1-D tensor (a copy, without graph)."""
    params = _as_params("parameters_to_vector", parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return Tensor(np.concatenate([q._data.reshape(-1) for q in params]))


def vector_to_parameters(vec: Any, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data, in place.

    Raises:
        ValueError: ``vec`` is not 1-D or its length differs from the parameters' total size.
    """
    params = _as_params("vector_to_parameters", parameters)
    v = np.asarray(vec._data if isinstance(vec, Tensor) else vec)
    total = sum(int(q._data.size) for q in params)
    if v.ndim != 1 or v.size != total:
        raise ValueError(
            f"vector_to_parameters: expected a 1-D vector of {total} values, got shape {v.shape}"
        )
    pos = 0
    for q in params:
        n = int(q._data.size)
        q._data[...] = v[pos : pos + n].reshape(q._data.shape)
        pos += n
