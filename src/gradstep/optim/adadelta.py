"""Adadelta."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import begin_step, check_compat_flags, effective_grad
from gradstep.optim._kernels import elementwise
from gradstep.optim.optimizer import Alloc, Optimizer, _check_nonneg

__all__ = ["Adadelta", "adadelta_update"]


def adadelta_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    acc_delta: np.ndarray,
    *,
    lr: float,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One Adadelta step on arrays, in place (``param``, ``square_avg``, ``acc_delta``).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`\lambda` =
    ``weight_decay``, :math:`v` = ``square_avg``, :math:`u` = ``acc_delta``:

    .. math::

        g &\leftarrow g + \lambda p \\
        v &\leftarrow \rho v + (1-\rho) g^2 \\
        \Delta &= \frac{\sqrt{u + \epsilon}}{\sqrt{v + \epsilon}}\, g \\
        u &\leftarrow \rho u + (1-\rho) \Delta^2 \\
        p &\leftarrow p - \eta\, \Delta

    PyTorch's formulation: :math:`\epsilon` inside both square roots, a learning rate
    :math:`\eta` (1.0 by default; Zeiler's original has none), coupled L2 weight decay, no
    momentum. Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701.

    Args:
        work: three optional scratch arrays like ``param``.
    """
    t0, t1, t2 = work if work is not None else tuple(np.empty_like(param) for _ in range(3))
    g = effective_grad(grad, param, t0, t1, maximize=maximize, weight_decay=weight_decay)
    np.multiply(square_avg, rho, out=square_avg)
    np.multiply(g, g, out=t1)
    np.multiply(t1, 1.0 - rho, out=t1)
    np.add(square_avg, t1, out=square_avg)
    np.add(square_avg, eps, out=t1)
    np.sqrt(t1, out=t1)  # std
    np.add(acc_delta, eps, out=t2)
    np.sqrt(t2, out=t2)
    np.divide(t2, t1, out=t2)
    np.multiply(t2, g, out=t2)  # delta
    np.multiply(acc_delta, rho, out=acc_delta)
    np.multiply(t2, t2, out=t1)
    np.multiply(t1, 1.0 - rho, out=t1)
    np.add(acc_delta, t1, out=acc_delta)
    np.multiply(t2, -lr, out=t2)
    np.add(param, t2, out=param)


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler 2012); PyTorch semantics (``torch.optim.Adadelta``).

    See :func:`adadelta_update` for the update rule (coupled L2 weight decay; no momentum
    buffer: the two running averages play that role).

    Args:
        params: parameters or parameter groups.
        lr: coefficient :math:`\eta` that scales the step (>= 0, default 1.0).
        rho: decay of the running averages, in [0, 1].
        eps: added inside the square roots (>= 0).
        weight_decay: L2 coefficient (>= 0).
        foreach, capturable, differentiable: PyTorch's implementation flags, accepted for
            compatibility (see :func:`gradstep.optim._common.check_compat_flags`).
        maximize: ascend the objective instead.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``square_avg``, ``acc_delta``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for k in ("lr", "rho", "eps", "weight_decay"):
            _check_nonneg(name, k, group[k])
        if not float(group["rho"]) <= 1.0:
            raise ValueError(f"{name}: rho must be in [0, 1], got {group['rho']!r}")

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        begin_step(state, alloc, {"square_avg": 0.0, "acc_delta": 0.0})
        hyper = dict(lr=group["lr"], rho=group["rho"], eps=group["eps"],
                     weight_decay=group["weight_decay"], maximize=group["maximize"])

        def kernel(p, g, v, u, work):  # type: ignore[no-untyped-def]
            adadelta_update(p, g, v, u, work=work, **hyper)

        elementwise(kernel, [param, grad, state["square_avg"], state["acc_delta"]], 3)
