"""Adagrad."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import check_compat_flags
from gradstep.optim._kernels import axpy, elementwise
from gradstep.optim.optimizer import Alloc, Optimizer, _check_nonneg

__all__ = ["Adagrad", "adagrad_update"]


def adagrad_update(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    *,
    step: int,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One Adagrad step on arrays, in place.

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`t` = ``step`` (1 on the
    first step), :math:`S` = ``state_sum``:

    .. math::

        g \leftarrow g + \lambda p,\qquad
        \tilde\eta = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}},\qquad
        S \leftarrow S + g^2,\qquad
        p \leftarrow p - \tilde\eta\, \frac{g}{\sqrt{S} + \epsilon}

    PyTorch's formulation (:math:`\epsilon` outside the square root; ``S`` starts at
    ``initial_accumulator_value``). Duchi, Hazan & Singer (2011), "Adaptive Subgradient
    Methods for Online Learning and Stochastic Optimization", JMLR 12.
    """
    t0, t1 = work if work is not None else (np.empty_like(param), np.empty_like(param))
    g = grad
    if maximize:
        np.negative(grad, out=t0)
        g = t0
    if weight_decay != 0:
        if g is grad:
            np.copyto(t0, grad)
            g = t0
        axpy(weight_decay, param, g)
    clr = lr / (1 + (step - 1) * lr_decay)
    np.multiply(g, g, out=t1)
    np.add(state_sum, t1, out=state_sum)
    np.sqrt(state_sum, out=t1)
    np.add(t1, eps, out=t1)
    np.divide(g, t1, out=t1)
    axpy(-clr, t1, param)


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al. 2011); PyTorch semantics exactly.

    See :func:`adagrad_update` for the update rule (coupled L2 weight decay).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0).
        lr_decay: learning-rate decay per step (>= 0).
        weight_decay: L2 coefficient (>= 0).
        initial_accumulator_value: starting value of the sum of squares (>= 0).
        eps: added to the denominator (>= 0).
        maximize: ascend the objective instead.
        foreach, differentiable, fused: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` and ``fused`` ignored, ``differentiable`` only False;
            see :func:`gradstep.optim._common.check_compat_flags`).
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step``, ``sum`` (created at construction, as PyTorch).

    Note: a parameter group's own ``initial_accumulator_value`` is honoured here; PyTorch
    starts every group's ``sum`` at the constructor's value.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, differentiable=differentiable,
                           foreach=foreach, fused=fused)
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
        )
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        self._init_group_state(self.param_groups[-1])
        if self._flat is not None:
            self.flatten()  # move the new state into the flat buffers

    def _init_group_state(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if p not in self.state:
                self.state[p] = {
                    "step": 0,
                    "sum": np.full_like(p._data, group["initial_accumulator_value"]),
                }

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _check_nonneg(name, k, group[k])

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = alloc("sum", group["initial_accumulator_value"])
        state["step"] += 1
        hyper = dict(
            step=state["step"], lr=group["lr"], lr_decay=group["lr_decay"],
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
        )

        def kernel(p, g, s, work):  # type: ignore[no-untyped-def]
            adagrad_update(p, g, s, work=work, **hyper)

        elementwise(kernel, [param, grad, state["sum"]], 2)
