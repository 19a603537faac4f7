"""Adam and AdamW."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import check_adam_group, check_compat_flags
from gradstep.optim._kernels import axpy, elementwise, run_fused, scal
from gradstep.optim.flat import FlatSegment
from gradstep.optim.optimizer import Alloc, Optimizer

__all__ = ["Adam", "AdamW", "adam_update"]

_MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")  # the state arrays, in order


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None,
    *,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    r"""One Adam / AdamW step on arrays, in place (``param`` and the moments are updated).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`t` = ``step`` (already
    incremented: 1 on the first step), :math:`\eta` = ``lr``, :math:`\lambda` =
    ``weight_decay``, :math:`m` = ``exp_avg``, :math:`v` = ``exp_avg_sq``:

    .. math::

        \text{Adam (coupled L2):}\quad g &\leftarrow g + \lambda p \qquad
        \text{AdamW (decoupled):}\quad p \leftarrow (1 - \eta\lambda)\, p \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g,\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat v &= \max(\hat v_{\text{prev}}, v) \text{ if amsgrad else } v \\
        p &\leftarrow p - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon}

    This is PyTorch's formulation: :math:`\epsilon` is added to the bias-corrected
    :math:`\sqrt{\hat v}`; the AMSGrad maximum is taken over the raw (not bias-corrected)
    second moments. Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", ICLR;
    Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", ICLR (AdamW);
    Reddi et al. (2018), "On the Convergence of Adam and Beyond", ICLR (AMSGrad).

    Args:
        max_exp_avg_sq: running maximum of ``exp_avg_sq`` (amsgrad only).
        work: two optional scratch arrays like ``param``.
    """
    t0, t1 = work if work is not None else (np.empty_like(param), np.empty_like(param))
    g = grad
    if maximize:
        np.negative(grad, out=t0)
        g = t0
    if weight_decay != 0:
        if decoupled_weight_decay:
            scal(1.0 - lr * weight_decay, param)
        else:
            if g is grad:
                np.copyto(t0, grad)
                g = t0
            axpy(weight_decay, param, g)
    # m <- m + (1 - beta1) (g - m)   (lerp, as PyTorch)
    np.subtract(g, exp_avg, out=t1)
    axpy(1.0 - beta1, t1, exp_avg)
    # v <- beta2 v + (1 - beta2) g^2
    scal(beta2, exp_avg_sq)
    np.multiply(g, g, out=t1)
    axpy(1.0 - beta2, t1, exp_avg_sq)
    bias_correction1 = 1.0 - beta1**step
    bias_correction2 = 1.0 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    v = exp_avg_sq
    if amsgrad and max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    np.sqrt(v, out=t1)
    np.divide(t1, bias_correction2_sqrt, out=t1)
    np.add(t1, eps, out=t1)
    np.divide(exp_avg, t1, out=t1)
    axpy(-step_size, t1, param)


def _adam_fused(
    param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None, *, step: int, lr: float, beta1: float, beta2: float,
    eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
    decoupled_weight_decay: bool,
) -> bool:
    """:func:`adam_update` by the fused C kernel; False (nothing done) when it cannot run."""
    ams = bool(amsgrad) and max_exp_avg_sq is not None
    wd_mode = 0 if weight_decay == 0 else (2 if decoupled_weight_decay else 1)
    flags = int(bool(maximize)) | (wd_mode << 1) | (int(ams) << 3)
    # the scalars exactly as adam_update hands them to NumPy
    step_size = lr / (1.0 - beta1**step)
    scalars = (
        1.0 - beta1, beta2, 1.0 - beta2, (1.0 - beta2**step) ** 0.5, eps, -step_size,
        weight_decay, 1.0 - lr * weight_decay,
    )
    return run_fused(
        "adam", (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if ams else None), scalars,
        flags,
    )


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015), with optional AMSGrad; PyTorch semantics exactly.

    See :func:`adam_update` for the update rule. ``weight_decay`` is coupled L2 (added to
    the gradient) unless ``decoupled_weight_decay=True`` (then this is AdamW).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: (>= 0).
        amsgrad: use the running maximum of the second moment.
        maximize: ascend the objective instead.
        decoupled_weight_decay: decay the weights directly (AdamW).
        foreach, capturable, differentiable, fused: PyTorch's implementation flags, accepted
            for compatibility (``foreach`` and ``fused`` ignored, the other two only False;
            see :func:`gradstep.optim._common.check_compat_flags`).
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``
    (amsgrad).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
        flat: bool = False,
    ) -> None:
        check_compat_flags(type(self).__name__, capturable=capturable,
                           differentiable=differentiable, foreach=foreach, fused=fused)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(type(self).__name__, group)

    def _steady_segment(self, seg: FlatSegment) -> bool:
        """The segment's update when the general path would only run the fused kernel and
        count the step: every parameter's state holds exactly the moment buffers (and the
        AMSGrad maximum when on) and one integer step, the same for all. False (nothing
        done) otherwise, or when the fused kernel cannot run."""
        group = self.param_groups[seg.group]
        amsgrad = group["amsgrad"]
        keys = 4 if amsgrad else 3
        state = self.state
        step = None
        for p in seg.params:
            st = state.get(p)
            if st is None or len(st) != keys:
                return False
            k = st.get("step")
            if type(k) is not int or (step is not None and k != step):
                return False
            step = k
            for name in _MOMENTS[:keys - 1]:
                if type(st.get(name)) is not np.ndarray:
                    return False
        arrays = seg.state
        m, v, vmax = arrays.get("exp_avg"), arrays.get("exp_avg_sq"), arrays.get("max_exp_avg_sq")
        if m is None or v is None or (amsgrad and vmax is None) or step is None:
            return False
        beta1, beta2 = group["betas"]
        if not _adam_fused(
            seg._data, seg._grad, m, v, vmax, step=step + 1, lr=group["lr"], beta1=beta1,
            beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            amsgrad=amsgrad, maximize=group["maximize"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        ):
            return False
        for p in seg.params:
            state[p]["step"] = step + 1
        return True

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = alloc("exp_avg", 0.0)
            state["exp_avg_sq"] = alloc("exp_avg_sq", 0.0)
        amsgrad = group["amsgrad"]
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = alloc("max_exp_avg_sq", 0.0)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        hyper = dict(
            step=state["step"], lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], amsgrad=amsgrad, maximize=group["maximize"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )

        if _adam_fused(
            param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
            **hyper,
        ):
            return

        def kernel(p, g, m, v, vmax, work):  # type: ignore[no-untyped-def]
            adam_update(p, g, m, v, vmax, work=work, **hyper)

        elementwise(
            kernel,
            [param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq")], 2,
        )


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, ``p <- (1 - lr*weight_decay) p`` before the
    Adam step (Loshchilov & Hutter 2019); PyTorch semantics (default ``weight_decay=1e-2``).

    See :class:`Adam` and :func:`adam_update`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        flat: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
            capturable=capturable, differentiable=differentiable, fused=fused,
            decoupled_weight_decay=True, flat=flat,
        )

    def _check_group(self, group: dict[str, Any]) -> None:
        group["decoupled_weight_decay"] = True
        super()._check_group(group)
