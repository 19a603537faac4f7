"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import (
    begin_step,
    check_adam_group,
    check_compat_flags,
    effective_grad,
    lerp_,
)
from gradstep.optim._kernels import elementwise
from gradstep.optim.optimizer import Alloc, Optimizer

__all__ = ["Adamax", "adamax_update"]


def adamax_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_inf: np.ndarray,
    *,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One Adamax step on arrays, in place (``param``, ``exp_avg``, ``exp_inf``).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`t` = ``step`` (1 on the
    first step), :math:`m` = ``exp_avg``, :math:`u` = ``exp_inf``:

    .. math::

        g &\leftarrow g + \lambda p \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g \\
        u &\leftarrow \max(\beta_2 u,\ |g| + \epsilon) \\
        p &\leftarrow p - \frac{\eta}{1-\beta_1^t}\, \frac{m}{u}

    PyTorch's formulation (:math:`\epsilon` inside the maximum; coupled L2 weight decay; the
    first moment in PyTorch's momentum convention, learning rate outside it). Kingma & Ba
    (2015), "Adam: A Method for Stochastic Optimization", ICLR, section 7.1.

    Args:
        work: two optional scratch arrays like ``param``.
    """
    t0, t1 = work if work is not None else (np.empty_like(param), np.empty_like(param))
    g = effective_grad(grad, param, t0, t1, maximize=maximize, weight_decay=weight_decay)
    lerp_(exp_avg, g, 1.0 - beta1, t1)
    np.multiply(exp_inf, beta2, out=exp_inf)
    np.abs(g, out=t1)
    np.add(t1, eps, out=t1)
    np.maximum(exp_inf, t1, out=exp_inf)
    clr = lr / (1.0 - beta1**step)
    np.divide(exp_avg, exp_inf, out=t1)
    np.multiply(t1, -clr, out=t1)
    np.add(param, t1, out=param)


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba 2015, section 7.1); PyTorch semantics (``torch.optim.Adamax``).

    See :func:`adamax_update` for the update rule (coupled L2 weight decay).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0, default 2e-3).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to ``|g|`` inside the maximum (>= 0).
        weight_decay: L2 coefficient (>= 0).
        foreach, capturable, differentiable: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` ignored; the other two only False).
        maximize: ascend the objective instead.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_inf``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(type(self).__name__, group)

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        begin_step(state, alloc, {"exp_avg": 0.0, "exp_inf": 0.0})
        beta1, beta2 = group["betas"]
        hyper = dict(step=state["step"], lr=group["lr"], beta1=beta1, beta2=beta2,
                     eps=group["eps"], weight_decay=group["weight_decay"],
                     maximize=group["maximize"])

        def kernel(p, g, m, u, work):  # type: ignore[no-untyped-def]
            adamax_update(p, g, m, u, work=work, **hyper)

        elementwise(kernel, [param, grad, state["exp_avg"], state["exp_inf"]], 2)
