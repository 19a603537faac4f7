"""Finite-difference gradient checker (public).

:func:`gradcheck` compares the gradients the engine computes with central finite
differences, in float64. The function's output is reduced to a scalar with fixed
random weights ``v`` (so every output element matters), then:

* for small inputs, every input element is perturbed: ``(f(x + eps e_i) - f(x - eps e_i)) / 2eps``
  against the analytic ``v^T J e_i``;
* for large inputs, the comparison runs along random unit directions ``d``:
  ``(f(x + eps d) - f(x - eps d)) / 2eps`` against ``<grad, d>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradstep.errors import GradcheckError
from gradstep.tensor import Tensor, enable_grad

__all__ = ["gradcheck"]

_FULL_LIMIT = 512  # input elements up to which every element is perturbed


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    seed: int = 0,
    n_directions: int = 8,
) -> bool:
    """Check ``fn``'s gradients with respect to ``inputs`` against central differences.

    Args:
        fn: maps the input tensors to a tensor (of any shape).
        inputs: tensors or arrays; each is copied to float64. Those that are tensors
            with ``requires_grad=False`` are treated as constants; arrays are checked.
        eps: finite-difference step.
        atol, rtol: the check passes where ``|analytic - numeric| <= atol + rtol * |numeric|``.
        seed: seed of the output weights and directions.
        n_directions: random directions used for inputs larger than 512 elements.

    Returns:
        True when every checked gradient agrees.

    Raises:
        GradcheckError: naming the input, the worst element, and its analytic and numeric values.
    """
    rng = np.random.default_rng(seed)
    xs: list[Tensor] = []
    check: list[bool] = []
    for x in inputs:
        if isinstance(x, Tensor):
            xs.append(Tensor(np.array(x._data, dtype=np.float64), requires_grad=x.requires_grad))
            check.append(x.requires_grad)
        else:
            xs.append(Tensor(np.array(x, dtype=np.float64), requires_grad=True))
            check.append(True)
    if not any(check):
        raise ValueError("gradcheck: no input requires grad")

    with enable_grad():
        out0 = fn(*xs)
    if not isinstance(out0, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out0).__name__}")
    v = rng.standard_normal(out0.shape)

    def scalar() -> float:
        with enable_grad():
            out = fn(*xs)
        return float(np.sum(np.asarray(out._data, dtype=np.float64) * v))

    for x in xs:
        x._grad = None
    if out0.requires_grad:
        out0.backward(v.astype(out0.dtype))

    for k, (x, c) in enumerate(zip(xs, check)):
        if not c:
            continue
        g = x._grad
        analytic = np.zeros_like(x._data) if g is None else np.asarray(g, dtype=np.float64)
        flat = x._data.reshape(-1)
        if x._data.size <= _FULL_LIMIT:
            numeric = np.empty(x._data.size)
            for i in range(x._data.size):
                old = flat[i]
                flat[i] = old + eps
                fp = scalar()
                flat[i] = old - eps
                fm = scalar()
                flat[i] = old
                numeric[i] = (fp - fm) / (2 * eps)
            a = analytic.reshape(-1)
            err = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
            bad = int(np.argmax(err))
            if err[bad] > 0 or not np.all(np.isfinite(a)):
                if not np.all(np.isfinite(a)):
                    bad = int(np.argmax(~np.isfinite(a)))
                idx = np.unravel_index(bad, x._data.shape) if x._data.ndim else ()
                raise GradcheckError(
                    f"gradcheck: input {k} (shape {x._data.shape}) "
                    f"element {tuple(int(i) for i in idx)}: "
                    f"analytic {a[bad]!r} vs numeric {numeric[bad]!r} "
                    f"(atol={atol}, rtol={rtol})"
                )
        else:
            base = flat.copy()
            for j in range(n_directions):
                d = rng.standard_normal(x._data.size)
                d /= np.linalg.norm(d)
                flat[:] = base + eps * d
                fp = scalar()
                flat[:] = base - eps * d
                fm = scalar()
                flat[:] = base
                numeric_d = (fp - fm) / (2 * eps)
                analytic_d = float(analytic.reshape(-1) @ d)
                if not abs(analytic_d - numeric_d) <= atol + rtol * abs(numeric_d):
                    raise GradcheckError(
                        f"gradcheck: input {k} (shape {x._data.shape}) along random direction {j}: "
                        f"analytic {analytic_d!r} vs numeric {numeric_d!r} "
                        f"(atol={atol}, rtol={rtol})"
                    )
    return True
