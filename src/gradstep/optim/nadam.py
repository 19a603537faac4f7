"""NAdam: Adam with Nesterov momentum."""

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

__all__ = ["NAdam", "nadam_update", "nadam_momentum"]


def nadam_momentum(beta1: float, momentum_decay: float, step: int) -> float:
    r"""The momentum schedule :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\,\psi})`."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


def nadam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    step: int,
    mu_product: float,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One NAdam step on arrays, in place (``param``, ``exp_avg``, ``exp_avg_sq``).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`t` = ``step`` (1 on the
    first step), :math:`\psi` = ``momentum_decay``, :math:`\mu_t` =
    :func:`nadam_momentum`, :math:`\Pi_t = \prod_{i \le t} \mu_i` = ``mu_product``
    (already including :math:`\mu_t`), :math:`m` = ``exp_avg``, :math:`v` = ``exp_avg_sq``:

    .. math::

        \text{coupled L2:}\quad g &\leftarrow g + \lambda p \qquad
        \text{decoupled:}\quad p \leftarrow (1 - \eta\lambda)\, p \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g,\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        d &= \sqrt{v / (1-\beta_2^t)} + \epsilon \\
        p &\leftarrow p - \eta\,\frac{1-\mu_t}{1-\Pi_t}\,\frac{g}{d}
             - \eta\,\frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m}{d}

    PyTorch's formulation (the Nesterov look-ahead mixes the current gradient and the next
    step's momentum; :math:`\epsilon` outside the square root). Dozat (2016),
    "Incorporating Nesterov Momentum into Adam", ICLR workshop; decoupled weight decay:
    Loshchilov & Hutter (2019) (PyTorch's ``decoupled_weight_decay=True``, "NAdamW").

    Args:
        work: three optional scratch arrays like ``param``.
    """
    t0, t1, t2 = work if work is not None else tuple(np.empty_like(param) for _ in range(3))
    if weight_decay != 0 and decoupled_weight_decay:
        np.multiply(param, 1.0 - lr * weight_decay, out=param)
        weight_decay = 0.0
    g = effective_grad(grad, param, t0, t1, maximize=maximize, weight_decay=weight_decay)
    mu = nadam_momentum(beta1, momentum_decay, step)
    mu_next = nadam_momentum(beta1, momentum_decay, step + 1)
    lerp_(exp_avg, g, 1.0 - beta1, t1)
    np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    np.multiply(g, g, out=t1)
    np.multiply(t1, 1.0 - beta2, out=t1)
    np.add(exp_avg_sq, t1, out=exp_avg_sq)
    np.divide(exp_avg_sq, 1.0 - beta2**step, out=t1)
    np.sqrt(t1, out=t1)
    np.add(t1, eps, out=t1)  # denominator
    np.divide(g, t1, out=t2)
    np.multiply(t2, -lr * (1.0 - mu) / (1.0 - mu_product), out=t2)
    np.add(param, t2, out=param)
    np.divide(exp_avg, t1, out=t2)
    np.multiply(t2, (-lr * mu_next) / (1.0 - mu_product * mu_next), out=t2)
    np.add(param, t2, out=param)


class NAdam(Optimizer):
    r"""NAdam (Dozat 2016); PyTorch semantics (``torch.optim.NAdam``).

    See :func:`nadam_update` for the update rule. ``weight_decay`` is coupled L2 unless
    ``decoupled_weight_decay=True`` (then ``p <- (1 - lr*wd) p`` first, as AdamW).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0, default 2e-3).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: (>= 0).
        momentum_decay: :math:`\psi` of the momentum schedule (>= 0, default 4e-3).
        decoupled_weight_decay: decay the weights directly (NAdamW).
        foreach, capturable, differentiable: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` ignored; the other two only False).
        maximize: ascend the objective instead.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``mu_product`` (float), ``exp_avg``,
    ``exp_avg_sq``. PyTorch keeps ``mu_product`` as a scalar tensor of its default dtype
    (float32 unless ``torch.set_default_dtype(torch.float64)``); gradstep keeps it as a
    Python float, which is what PyTorch computes with a float64 default dtype.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
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
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(type(self).__name__, group, nonneg=("momentum_decay",))

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        begin_step(state, alloc, {"exp_avg": 0.0, "exp_avg_sq": 0.0}, {"mu_product": 1.0})
        beta1, beta2 = group["betas"]
        state["mu_product"] = state["mu_product"] * nadam_momentum(
            beta1, group["momentum_decay"], state["step"]
        )
        hyper = dict(
            step=state["step"], mu_product=state["mu_product"], lr=group["lr"], beta1=beta1,
            beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"],
        )

        def kernel(p, g, m, v, work):  # type: ignore[no-untyped-def]
            nadam_update(p, g, m, v, work=work, **hyper)

        elementwise(kernel, [param, grad, state["exp_avg"], state["exp_avg_sq"]], 3)
