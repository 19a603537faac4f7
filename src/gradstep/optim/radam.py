"""RAdam: Adam with a rectified adaptive learning rate."""

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

__all__ = ["RAdam", "radam_update", "radam_rectification"]


def radam_rectification(beta2: float, step: int) -> float | None:
    r"""The variance rectification :math:`r_t` of step :math:`t`, or None while the
    approximated SMA length :math:`\rho_t \le 5` (then the step is plain momentum SGD).

    .. math::

        \rho_\infty = \frac{2}{1-\beta_2} - 1,\quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},\quad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
    """
    bias_correction2 = 1.0 - beta2**step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2**step) / bias_correction2
    if not rho_t > 5.0:
        return None
    return float(
        ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    )


def radam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One RAdam step on arrays, in place (``param``, ``exp_avg``, ``exp_avg_sq``).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`t` = ``step`` (1 on the
    first step), :math:`m` = ``exp_avg``, :math:`v` = ``exp_avg_sq``, :math:`r_t` from
    :func:`radam_rectification`:

    .. math::

        \text{coupled L2:}\quad g &\leftarrow g + \lambda p \qquad
        \text{decoupled:}\quad p \leftarrow (1 - \eta\lambda)\, p \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g,\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\qquad \hat m = m / (1-\beta_1^t) \\
        \rho_t > 5:\quad p &\leftarrow p - \eta\, \hat m\,
            \frac{\sqrt{1-\beta_2^t}}{\sqrt{v} + \epsilon}\, r_t
        \qquad \text{else}\quad p \leftarrow p - \eta\, \hat m

    PyTorch's formulation (:math:`\epsilon` added to :math:`\sqrt v` before the bias
    correction; threshold 5). Liu et al. (2020), "On the Variance of the Adaptive Learning
    Rate and Beyond", ICLR.

    Args:
        work: three optional scratch arrays like ``param``.
    """
    t0, t1, t2 = work if work is not None else tuple(np.empty_like(param) for _ in range(3))
    if weight_decay != 0 and decoupled_weight_decay:
        np.multiply(param, 1.0 - lr * weight_decay, out=param)
        weight_decay = 0.0
    g = effective_grad(grad, param, t0, t1, maximize=maximize, weight_decay=weight_decay)
    lerp_(exp_avg, g, 1.0 - beta1, t1)
    np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    np.multiply(g, g, out=t1)
    np.multiply(t1, 1.0 - beta2, out=t1)
    np.add(exp_avg_sq, t1, out=exp_avg_sq)
    np.divide(exp_avg, 1.0 - beta1**step, out=t1)
    np.multiply(t1, lr, out=t1)
    rect = radam_rectification(beta2, step)
    if rect is not None:
        np.sqrt(exp_avg_sq, out=t2)
        np.add(t2, eps, out=t2)
        np.divide((1.0 - beta2**step) ** 0.5, t2, out=t2)
        np.multiply(t1, t2, out=t1)
        np.multiply(t1, rect, out=t1)
    np.subtract(param, t1, out=param)


class RAdam(Optimizer):
    r"""RAdam (Liu et al. 2020); PyTorch semantics (``torch.optim.RAdam``).

    See :func:`radam_update` for the update rule. ``weight_decay`` is coupled L2 unless
    ``decoupled_weight_decay=True`` (then ``p <- (1 - lr*wd) p`` first, as AdamW).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0, default 1e-3).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: (>= 0).
        decoupled_weight_decay: decay the weights directly (RAdamW).
        foreach, capturable, differentiable: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` ignored; the other two only False).
        maximize: ascend the objective instead.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(type(self).__name__, group)

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        begin_step(state, alloc, {"exp_avg": 0.0, "exp_avg_sq": 0.0})
        beta1, beta2 = group["betas"]
        hyper = dict(
            step=state["step"], lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"],
        )

        def kernel(p, g, m, v, work):  # type: ignore[no-untyped-def]
            radam_update(p, g, m, v, work=work, **hyper)

        elementwise(kernel, [param, grad, state["exp_avg"], state["exp_avg_sq"]], 3)
