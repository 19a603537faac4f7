"""Rprop: resilient backpropagation (sign-based steps with per-weight step sizes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import begin_step, check_compat_flags, check_pair
from gradstep.optim._kernels import elementwise
from gradstep.optim.optimizer import Alloc, Optimizer, _check_nonneg

__all__ = ["Rprop", "rprop_update"]


def rprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    prev: np.ndarray,
    step_size: np.ndarray,
    *,
    etaminus: float = 0.5,
    etaplus: float = 1.2,
    step_size_min: float = 1e-6,
    step_size_max: float = 50.0,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One Rprop step on arrays, in place (``param``, ``prev``, ``step_size``).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`g'` = ``prev`` (the
    previous step's gradient, zero at first), :math:`s` = ``step_size``:

    .. math::

        f &= \begin{cases} \eta^+ & g\,g' > 0 \\ \eta^- & g\,g' < 0 \\ 1 & g\,g' = 0
             \end{cases},\qquad
        s \leftarrow \operatorname{clip}(f\,s,\ s_{min},\ s_{max}) \\
        g &\leftarrow 0 \ \text{where}\ g\,g' < 0 \\
        p &\leftarrow p - \operatorname{sign}(g)\, s,\qquad g' \leftarrow g

    PyTorch's formulation (Rprop without weight backtracking, "Rprop-": after a sign change
    the weight stays put and the stored gradient is zeroed, so the next step counts as
    "no sign information"). Riedmiller & Braun (1993), "A Direct Adaptive Method for Faster
    Backpropagation Learning: The RPROP Algorithm", IEEE ICNN. No weight decay, no
    learning rate beyond the initial step size (``lr``).

    Args:
        work: two optional scratch arrays like ``param``.
    """
    t0, t1 = work if work is not None else (np.empty_like(param), np.empty_like(param))
    if maximize:
        np.negative(grad, out=t0)
    else:
        np.copyto(t0, grad)
    g = t0
    np.multiply(g, prev, out=t1)
    np.sign(t1, out=t1)  # -1, 0, 1 (nan stays nan, and so does the step size)
    up, down = t1 > 0, t1 < 0
    np.copyto(t1, 1.0, where=t1 == 0)
    np.copyto(t1, etaplus, where=up)
    np.copyto(t1, etaminus, where=down)
    np.multiply(step_size, t1, out=step_size)
    np.clip(step_size, step_size_min, step_size_max, out=step_size)
    np.copyto(g, 0.0, where=down)
    np.sign(g, out=t1)
    np.multiply(t1, step_size, out=t1)
    np.subtract(param, t1, out=param)
    np.copyto(prev, g)


class Rprop(Optimizer):
    r"""Rprop (Riedmiller & Braun 1993, the "Rprop-" variant); PyTorch semantics
    (``torch.optim.Rprop``).

    See :func:`rprop_update` for the update rule. Only the sign of the gradient is used;
    each weight has its own step size, started at ``lr``. Meant for full-batch training.
    No momentum, no weight decay.

    Args:
        params: parameters or parameter groups.
        lr: initial step size of every weight (>= 0, default 1e-2). Changing ``lr`` later
            (e.g. by a scheduler) has no effect on weights that already have a step size,
            as in PyTorch.
        etas: ``(etaminus, etaplus)`` with ``0 < etaminus < 1 < etaplus``.
        step_sizes: ``(min, max)`` bounds of the step sizes, ``0 <= min <= max``.
        capturable, foreach, differentiable: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` ignored; the other two only False).
        maximize: ascend the objective instead.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``prev``, ``step_size``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach)
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize)
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        _check_nonneg(name, "lr", group["lr"])
        etaminus, etaplus = group["etas"] = check_pair(name, "etas", group["etas"])
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(
                f"{name}: etas must satisfy 0 < etaminus < 1 < etaplus, got {group['etas']!r}"
            )
        lo, hi = group["step_sizes"] = check_pair(name, "step_sizes", group["step_sizes"])
        if not lo <= hi:
            raise ValueError(f"{name}: step_sizes must be (min, max) with min <= max, "
                             f"got {group['step_sizes']!r}")

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        begin_step(state, alloc, {"prev": 0.0, "step_size": group["lr"]})
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        hyper = dict(etaminus=etaminus, etaplus=etaplus, step_size_min=lo, step_size_max=hi,
                     maximize=group["maximize"])

        def kernel(p, g, prev, s, work):  # type: ignore[no-untyped-def]
            rprop_update(p, g, prev, s, work=work, **hyper)

        elementwise(kernel, [param, grad, state["prev"], state["step_size"]], 2)
