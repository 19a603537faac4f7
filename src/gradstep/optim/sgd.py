"""Stochastic gradient descent with momentum, in both momentum conventions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradstep.optim._common import check_compat_flags
from gradstep.optim._kernels import axpy, elementwise, run_fused, scal
from gradstep.optim._kernels import flush_below as _flush_below
from gradstep.optim.flat import FlatSegment
from gradstep.optim.optimizer import Alloc, Optimizer, _check_nonneg

__all__ = ["SGD", "sgd_update", "MOMENTUM_FORMS"]

MOMENTUM_FORMS = ("pytorch", "sutskever")


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    buf: np.ndarray | None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
    momentum_form: str = "pytorch",
    first: bool = False,
    work: np.ndarray | None = None,
    flush_below: float = 0.0,
) -> None:
    r"""One SGD step on arrays, in place (``param`` and ``buf`` are updated).

    With :math:`g` = ``grad`` (negated when ``maximize``), :math:`\lambda` = ``weight_decay``,
    :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening``, :math:`\eta` = ``lr``,
    :math:`b` = ``buf``, :math:`p` = ``param``:

    .. math::

        d &= g + \lambda p \\
        \text{pytorch:}\quad b &\leftarrow \mu b + (1-\tau) d \quad (b \leftarrow d
            \text{ on the first step}),\qquad
            p \leftarrow p - \eta\,(\text{nesterov} ? d + \mu b : b) \\
        \text{sutskever:}\quad b &\leftarrow \mu b - \eta d \quad (b_0 = 0),\qquad
            p \leftarrow p + (\text{nesterov} ? \mu b - \eta d : b)

    The PyTorch form keeps the learning rate outside the buffer (PyTorch, optax); the
    Sutskever form puts it inside (Sutskever et al. 2013, "On the importance of
    initialization and momentum in deep learning", ICML; Keras, scikit-learn). Both agree
    while ``lr`` is constant; when it changes the buffer of the Sutskever form still carries
    the old rate. Nesterov momentum: Nesterov (1983), in the form of Sutskever et al. (2013).

    Args:
        param, grad: arrays of one shape and dtype (``grad`` is not modified).
        buf: momentum buffer like ``param`` (None when ``momentum == 0``).
        flush_below: when > 0, buffer entries smaller than this in magnitude are set to
            zero after the buffer update (see :class:`SGD`: keeps the buffer out of the
            subnormal range).
        first: this is the buffer's first step (PyTorch form: it is set to ``d``).
        work: optional scratch array like ``param`` (needed for ``maximize``,
            ``weight_decay`` or ``nesterov``; allocated when missing).
    """
    d = grad
    if maximize or weight_decay != 0:
        d = work if work is not None else np.empty_like(param)
        if maximize:
            np.negative(grad, out=d)
        else:
            np.copyto(d, grad)
        if weight_decay != 0:
            axpy(weight_decay, param, d)
    if momentum == 0 or buf is None:
        axpy(-lr, d, param)
        return
    if momentum_form == "sutskever":
        scal(momentum, buf)
        axpy(-lr, d, buf)
        if flush_below > 0:
            _flush_below(buf, flush_below)
        if nesterov:
            axpy(momentum, buf, param)
            axpy(-lr, d, param)
        else:
            axpy(1.0, buf, param)
        return
    if first:
        np.copyto(buf, d)
    else:
        scal(momentum, buf)
        axpy(1.0 - dampening, d, buf)
    if flush_below > 0:
        _flush_below(buf, flush_below)
    if nesterov:
        if d is grad:
            d = work if work is not None else np.empty_like(param)
            np.copyto(d, grad)
        axpy(momentum, buf, d)
        axpy(-lr, d, param)
    else:
        axpy(-lr, buf, param)


def _sgd_fused(
    param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, *, lr: float, momentum: float,
    dampening: float, nesterov: bool, weight_decay: float, maximize: bool, momentum_form: str,
    first: bool, flush_below: float,
) -> bool:
    """:func:`sgd_update` by the fused C kernel; False (nothing done) when it cannot run."""
    if momentum == 0 or buf is None:
        mode, buf = 0, None
    elif momentum_form == "sutskever":
        mode = 3
    else:
        mode = 1 if first else 2
    flags = (
        int(bool(maximize)) | (int(weight_decay != 0) << 1) | (mode << 2)
        | (int(bool(nesterov) and mode != 0) << 4) | (int(flush_below > 0 and mode != 0) << 5)
    )
    # the scalars exactly as sgd_update hands them to NumPy
    return run_fused(
        "sgd", (param, grad, buf), (-lr, momentum, 1.0 - dampening, weight_decay, flush_below),
        flags,
    )


def _flush_threshold(momentum: float, dtype: np.dtype, step: int) -> float:
    """The ``flush_below`` of a parameter's step ``step`` (0.0: no flush this step), see
    :class:`SGD`."""
    if not 0 < momentum < 1 or dtype.kind != "f":
        return 0.0
    every = max(1, min(64, int(26 * math.log(2) / -math.log(momentum))))
    if step % every:
        return 0.0
    return float(np.finfo(dtype).tiny) * 2.0**26


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay.

    PyTorch semantics exactly (``torch.optim.SGD``) in the default ``momentum_form="pytorch"``;
    ``momentum_form="sutskever"`` gives the Keras / scikit-learn convention. See
    :func:`sgd_update` for the update rule. Weight decay is coupled (L2 added to the
    gradient before momentum).

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\eta` (>= 0).
        momentum: :math:`\mu` (>= 0).
        dampening: :math:`\tau` (>= 0; PyTorch form only).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        weight_decay: L2 coefficient :math:`\lambda` (>= 0).
        maximize: ascend the objective instead.
        foreach, differentiable, fused: PyTorch's implementation flags, accepted for
            compatibility (``foreach`` and ``fused`` ignored, ``differentiable`` only False;
            see :func:`gradstep.optim._common.check_compat_flags`).
        momentum_form: ``"pytorch"`` (``b = mu*b + g; p -= lr*b``) or ``"sutskever"``
            (``v = mu*v - lr*g; p += v``).
        flush_subnormals: zero tiny momentum-buffer entries before they become subnormal
            (see below; off by default, a per-group option).
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State per parameter: ``momentum_buffer`` (when ``momentum > 0``), and ``step`` (int)
    when ``flush_subnormals`` is on.

    Subnormals (``flush_subnormals=True``, off by default): a buffer entry whose gradient
    stays zero (a dead ReLU unit) decays geometrically into the subnormal range, where every
    arithmetic operation takes a microcode assist on Intel CPUs (``buf *= 0.9`` over 64 Ki
    subnormal float32: 680 us against 13 us; PyTorch pays the same). With the option on,
    every ``K`` steps of a parameter (``mu**K >= 2**-26``, at most 64; counted by its
    ``step``, which is saved with the state) buffer entries below ``2**26`` times the
    dtype's smallest normal number (``2**-100`` in float32) are set to zero, so no entry
    ever becomes subnormal. This is not PyTorch's arithmetic: such an entry still moves a
    parameter smaller than about ``lr * 2**-76`` (for instance one that is exactly zero), so
    trajectories can differ from PyTorch's in those tiny values; with the option off (the
    default) the buffers are PyTorch's exactly.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
        momentum_form: str = "pytorch",
        flush_subnormals: bool = False,
        flat: bool = False,
    ) -> None:
        name = type(self).__name__
        check_compat_flags(name, differentiable=differentiable, foreach=foreach, fused=fused)
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
            weight_decay=weight_decay, maximize=maximize, momentum_form=momentum_form,
            flush_subnormals=flush_subnormals,
        )
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        group.setdefault("flush_subnormals", False)  # absent from states saved before it
        for k in ("lr", "momentum", "dampening", "weight_decay"):
            _check_nonneg(name, k, group[k])
        form = group["momentum_form"]
        if form not in MOMENTUM_FORMS:
            raise ValueError(f"{name}: momentum_form must be one of {MOMENTUM_FORMS}, got {form!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{name}: nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )
        if form == "sutskever" and group["dampening"] != 0:
            raise ValueError(
                f"{name}: dampening is not defined for momentum_form='sutskever', "
                f"got dampening={group['dampening']!r}"
            )

    def _steady_segment(self, seg: FlatSegment) -> bool:
        """The segment's update when the general path would only run the fused kernel: no
        subnormal flushing, and every parameter's state already in its steady form (empty
        without momentum; just the momentum buffer with it), so no state is created or
        changed. False (nothing done) otherwise, or when the fused kernel cannot run."""
        group = self.param_groups[seg.group]
        if group["flush_subnormals"]:
            return False
        momentum = group["momentum"]
        state = self.state
        buf = None
        if momentum != 0:
            buf = seg.state.get("momentum_buffer")
            if buf is None:
                return False
            for p in seg.params:
                st = state.get(p)
                if st is None or len(st) != 1 or type(st.get("momentum_buffer")) is not np.ndarray:
                    return False
        else:
            for p in seg.params:
                st = state.get(p)
                if st is None or st:
                    return False
        return _sgd_fused(
            seg._data, seg._grad, buf, lr=group["lr"], momentum=momentum,
            dampening=group["dampening"], nesterov=group["nesterov"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
            momentum_form=group["momentum_form"], first=False, flush_below=0.0,
        )

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        momentum = group["momentum"]
        buf = None
        first = False
        sutskever = group["momentum_form"] == "sutskever"
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                first = True
                buf = alloc("momentum_buffer", 0.0 if sutskever else None)
                state["momentum_buffer"] = buf
        flush_below = 0.0
        if group["flush_subnormals"]:
            state["step"] = state.get("step", 0) + 1
            flush_below = _flush_threshold(momentum, param.dtype, state["step"])
        hyper = dict(
            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            nesterov=group["nesterov"], weight_decay=group["weight_decay"],
            maximize=group["maximize"], momentum_form=group["momentum_form"], first=first,
            flush_below=flush_below,
        )

        if _sgd_fused(param, grad, buf, **hyper):
            return

        def kernel(p: np.ndarray, g: np.ndarray, b: np.ndarray | None, work: tuple) -> None:
            sgd_update(p, g, b, work=work[0], **hyper)

        elementwise(kernel, [param, grad, buf], 1)
