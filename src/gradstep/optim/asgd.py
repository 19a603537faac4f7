"""ASGD: averaged stochastic gradient descent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import begin_step, check_compat_flags, effective_grad
from gradstep.optim._kernels import elementwise
from gradstep.optim.optimizer import Alloc, Optimizer, _check_nonneg

__all__ = ["ASGD", "asgd_update"]


def asgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    ax: np.ndarray,
    *,
    eta: float,
    mu: float,
    lambd: float = 1e-4,
    weight_decay: float = 0.0,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One ASGD step on arrays, in place (``param`` and the average ``ax``).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`\eta_t` = ``eta`` and
    :math:`\mu_t` = ``mu`` (the step size and averaging weight of this step, see
    :class:`ASGD`), :math:`\bar p` = ``ax``:

    .. math::

        g &\leftarrow g + \lambda_{wd}\, p \\
        p &\leftarrow (1 - \lambda\,\eta_t)\, p - \eta_t\, g \\
        \bar p &\leftarrow \bar p + \mu_t\,(p - \bar p) \quad (\bar p \leftarrow p
            \text{ while } \mu_t = 1)

    PyTorch's formulation (``lambd`` :math:`\lambda` decays the weights in proportion to the
    step size; ``weight_decay`` is a separate coupled L2 term). The average :math:`\bar p`
    is kept in the state and does not feed back into the parameters. Polyak & Juditsky
    (1992), "Acceleration of Stochastic Approximation by Averaging", SIAM J. Control Optim.
    30(4); Bottou (2012), "Stochastic Gradient Descent Tricks".

    Args:
        work: two optional scratch arrays like ``param``.
    """
    t0, t1 = work if work is not None else (np.empty_like(param), np.empty_like(param))
    g = effective_grad(grad, param, t0, t1, maximize=maximize, weight_decay=weight_decay)
    np.multiply(param, 1.0 - lambd * eta, out=param)
    np.multiply(g, -eta, out=t1)
    np.add(param, t1, out=param)
    if mu != 1:
        np.subtract(param, ax, out=t1)
        np.multiply(t1, mu, out=t1)
        np.add(ax, t1, out=ax)
    else:
        np.copyto(ax, param)


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky 1992); PyTorch semantics (``torch.optim.ASGD``).

    See :func:`asgd_update` for the update of one step. The step size and the averaging
    weight follow PyTorch's schedule: the first step uses :math:`\eta_1 = ` ``lr``; after
    step :math:`t`,

    .. math::

        \eta_{t+1} = \frac{\text{lr}}{(1 + \lambda\,\text{lr}\,t)^\alpha},\qquad
        \mu_{t+1} = \frac{1}{\max(1,\ t - t_0)}

    (``lr`` as it is at that step), so averaging starts after ``t0`` steps. No momentum;
    ``weight_decay`` is coupled L2.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0, default 1e-2).
        lambd: decay term :math:`\lambda` (>= 0, default 1e-4).
        alpha: power :math:`\alpha` of the step-size decay (>= 0, default 0.75).
        t0: the step after which averaging starts (>= 0, default 1e6).
        weight_decay: L2 coefficient (>= 0).
        foreach, differentiable, capturable: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` ignored; the other two only False).
        maximize: ascend the objective instead.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``eta`` (float), ``mu`` (float), ``ax`` (the
    running average of the parameter). PyTorch keeps ``eta`` and ``mu`` as scalar tensors
    of its default dtype (float32 unless ``torch.set_default_dtype(torch.float64)``);
    gradstep keeps them as Python floats, which is what PyTorch computes with a float64
    default dtype.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        *,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for k in ("lr", "lambd", "alpha", "t0", "weight_decay"):
            _check_nonneg(name, k, group[k])

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        begin_step(state, alloc, {"ax": 0.0}, {"eta": float(group["lr"]), "mu": 1.0})
        hyper = dict(eta=state["eta"], mu=state["mu"], lambd=group["lambd"],
                     weight_decay=group["weight_decay"], maximize=group["maximize"])

        def kernel(p, g, ax, work):  # type: ignore[no-untyped-def]
            asgd_update(p, g, ax, work=work, **hyper)

        elementwise(kernel, [param, grad, state["ax"]], 2)
        lr, step = group["lr"], state["step"]
        state["eta"] = lr / ((1 + group["lambd"] * lr * step) ** group["alpha"])
        state["mu"] = 1 / max(1, step - group["t0"])
