"""RMSprop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import check_compat_flags
from gradstep.optim._kernels import axpy, elementwise, scal
from gradstep.optim.optimizer import Alloc, Optimizer, _check_nonneg

__all__ = ["RMSprop", "rmsprop_update"]


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One RMSprop step on arrays, in place.

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`\lambda` = ``weight_decay``,
    :math:`s` = ``square_avg``, :math:`\bar g` = ``grad_avg``, :math:`b` = ``momentum_buffer``:

    .. math::

        g &\leftarrow g + \lambda p,\qquad s \leftarrow \alpha s + (1-\alpha) g^2 \\
        \bar g &\leftarrow \alpha \bar g + (1-\alpha) g,\quad
            a = \sqrt{s - \bar g^2} + \epsilon \ \text{(centered)}
            \quad\text{else}\quad a = \sqrt{s} + \epsilon \\
        \mu > 0:\ b &\leftarrow \mu b + g / a,\ p \leftarrow p - \eta b
            \qquad \mu = 0:\ p \leftarrow p - \eta\, g / a

    PyTorch's formulation (:math:`\epsilon` outside the square root; momentum buffer
    starting at zero, learning rate outside it). Tieleman & Hinton (2012), "Lecture 6.5 -
    RMSprop", COURSERA: Neural Networks for Machine Learning; centered variant: Graves
    (2013), "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850.

    Args:
        grad_avg: running mean of the gradient (centered only).
        momentum_buffer: (momentum > 0 only).
        work: two optional scratch arrays like ``param``.
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
    scal(alpha, square_avg)
    np.multiply(g, g, out=t1)
    axpy(1.0 - alpha, t1, square_avg)
    if centered and grad_avg is not None:
        np.subtract(g, grad_avg, out=t1)
        axpy(1.0 - alpha, t1, grad_avg)
        np.multiply(grad_avg, grad_avg, out=t1)
        np.subtract(square_avg, t1, out=t1)
        np.sqrt(t1, out=t1)
    else:
        np.sqrt(square_avg, out=t1)
    np.add(t1, eps, out=t1)
    np.divide(g, t1, out=t1)
    if momentum > 0 and momentum_buffer is not None:
        scal(momentum, momentum_buffer)
        axpy(1.0, t1, momentum_buffer)
        axpy(-lr, momentum_buffer, param)
    else:
        axpy(-lr, t1, param)


class RMSprop(Optimizer):
    r"""RMSprop, optionally centered and with momentum; PyTorch semantics exactly.

    See :func:`rmsprop_update` for the update rule (coupled L2 weight decay; momentum in the
    PyTorch form, learning rate outside the buffer).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0).
        alpha: smoothing constant (>= 0).
        eps: added to the denominator (>= 0).
        weight_decay: L2 coefficient (>= 0).
        momentum: (>= 0).
        centered: normalise by the estimated variance of the gradient.
        maximize: ascend the objective instead.
        capturable, foreach, differentiable: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` ignored, the other two only False; see
            :func:`gradstep.optim._common.check_compat_flags`).
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach)
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, maximize=maximize,
        )
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for k in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            _check_nonneg(name, k, group[k])

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        if "step" not in state:
            state["step"] = 0
            state["square_avg"] = alloc("square_avg", 0.0)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = alloc("momentum_buffer", 0.0)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = alloc("grad_avg", 0.0)
        state["step"] += 1
        hyper = dict(
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=group["momentum"],
            centered=group["centered"], maximize=group["maximize"],
        )

        def kernel(p, g, sq, ga, buf, work):  # type: ignore[no-untyped-def]
            rmsprop_update(p, g, sq, ga, buf, work=work, **hyper)

        elementwise(kernel, [
            param, grad, state["square_avg"], state.get("grad_avg") if group["centered"] else None,
            state.get("momentum_buffer") if group["momentum"] > 0 else None,
        ], 2)
