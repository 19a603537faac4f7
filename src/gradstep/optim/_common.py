"""Small pieces shared by the update rules: the effective gradient, PyTorch's
compatibility flags, and hyperparameter checks on pairs."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep.optim.optimizer import _check_nonneg, _check_unit

__all__ = ["effective_grad", "check_compat_flags", "check_pair", "lerp_", "begin_step"]


def effective_grad(
    grad: np.ndarray, param: np.ndarray, out: np.ndarray, tmp: np.ndarray, *,
    maximize: bool, weight_decay: float,
) -> np.ndarray:
    r"""The gradient an update rule works with: :math:`\pm g + \lambda p` (coupled L2).

    Returns ``grad`` itself when neither ``maximize`` nor ``weight_decay`` changes it,
    else ``out`` holding the result (``tmp`` is scratch). ``grad`` is never modified.
    """
    g = grad
    if maximize:
        np.negative(grad, out=out)
        g = out
    if weight_decay != 0:
        np.multiply(param, weight_decay, out=tmp)
        np.add(g, tmp, out=out)
        g = out
    return g


def begin_step(state: dict[str, Any], alloc: Any, arrays: dict[str, float],
               scalars: dict[str, float] | None = None) -> int:
    """Count one more step of a parameter and return it. On its first step the state gets
    ``step`` = 0, then the ``scalars``, then an array per entry of ``arrays`` filled with
    its value (allocated by ``alloc``, so that flat segments hold it), in that order."""
    if "step" not in state:
        state["step"] = 0
        state.update(scalars or {})
        for key, fill in arrays.items():
            state[key] = alloc(key, fill)
    state["step"] += 1
    return int(state["step"])


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start += weight * (end - start)`` in place (``torch.lerp_`` for ``weight < 0.5``;
    PyTorch's other branch, used for larger weights, differs only in rounding)."""
    np.subtract(end, start, out=tmp)
    np.multiply(tmp, weight, out=tmp)
    np.add(start, tmp, out=start)


def check_compat_flags(name: str, *, capturable: bool = False, differentiable: bool = False,
                       foreach: Any = None, fused: Any = None) -> None:
    """Validate PyTorch's implementation flags, which gradstep accepts for compatibility.

    ``foreach`` and ``fused`` (None or a bool) are ignored: they select how PyTorch batches
    the same update rule over tensors (which changes at most the rounding), never the rule.
    gradstep uses its own fused C kernels whenever they are built (bit-identical to its
    NumPy path). ``capturable`` (CUDA graph capture) and ``differentiable`` (autograd
    through the step) have no meaning for gradstep's NumPy update and are only accepted as
    False.

    Raises:
        TypeError: ``foreach`` or ``fused`` is not None or a bool.
        ValueError: ``capturable`` or ``differentiable`` is true.
    """
    for flag, value in (("foreach", foreach), ("fused", fused)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{name}: {flag} must be None or a bool, got {value!r}")
    for flag, value in (("capturable", capturable), ("differentiable", differentiable)):
        if value:
            raise ValueError(
                f"{name}: {flag}=True is not supported (gradstep steps on NumPy arrays, "
                f"without device graphs or autograd through the update); got {flag}={value!r}"
            )


def check_pair(name: str, key: str, value: Any) -> tuple[float, float]:
    """A pair of numbers (tuple or list of two); returned as a tuple."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name}: {key} must be a pair of numbers, got {value!r}")
    for i, v in enumerate(value):
        _check_nonneg(name, f"{key}[{i}]", v)
    return float(value[0]), float(value[1])


def check_betas(name: str, group: dict[str, Any]) -> None:
    """``group["betas"]`` is a pair in [0, 1) x [0, 1) (stored as a tuple)."""
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
    _check_unit(name, "betas[0]", betas[0])
    _check_unit(name, "betas[1]", betas[1])
    group["betas"] = tuple(betas)


def check_adam_group(name: str, group: dict[str, Any], nonneg: tuple[str, ...] = ()) -> None:
    """The checks every Adam-family group shares: ``lr``, ``eps``, ``weight_decay`` (and the
    keys in ``nonneg``) are non-negative numbers and ``betas`` a pair in [0, 1)."""
    for k in ("lr", "eps", "weight_decay", *nonneg):
        _check_nonneg(name, k, group[k])
    check_betas(name, group)
