"""Replay kernels: one per supported layer or loss, working in preallocated buffers.

Each kernel repeats the NumPy calls of the eager op in the same order on the same operand
types, with ``out=`` buffers, so that its results are bit-identical to eager by
construction (a test compares the parameters after N steps). Forward buffers are owned by
the kernel; the gradient of its input is written into the incoming gradient's buffer where
the shapes allow (in place), and parameter gradients straight into the parameters'
gradient buffers (no zeroing pass: a plan only exists for steps whose gradients were fresh).

Fused passes: when the C extension ``gradstep._fused`` is built and the optimizers' fused
switch is on (``GRADSTEP_FUSED``, :func:`gradstep.optim._kernels.set_fused_enabled`), the
activation, bias and loss kernels of float32/float64 steps replace runs of elementwise NumPy
calls by one C pass doing the same operations in the same order (one rounding each), so the
results are the same bits; a pass returns False on arrays it does not take (not
C-contiguous, say) and the NumPy calls run instead. exp, tanh, log, matmul and the
reductions always stay NumPy calls.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from gradstep.nn.functional.regularization import dropout_mask
from gradstep.optim import _kernels as _optk
from gradstep.tensor import Tensor

__all__ = ["Kernel", "LinearK", "ReLUK", "TanhK", "SigmoidK", "DropoutK", "ReshapeK",
           "IdentityK", "MSEK", "CrossEntropyK", "grad_buffer"]


def _held_by_dict_only() -> int:
    d = {0: np.empty(1)}
    g = d[0]
    return sys.getrefcount(g)


_DICT_ONLY = _held_by_dict_only()  # the count of an array held by a dict and one local name


def grad_buffer(p: Tensor, own: dict[int, np.ndarray]) -> np.ndarray:
    """The array to write ``p``'s gradient into: its current gradient buffer when it fits,
    else one the plan owns (installed as ``p._grad``).

    After ``zero_grad()`` (gradients set to None) the plan's own buffer is reused only when
    nothing outside the plan still holds it: a gradient kept from an earlier step (as
    ``p.grad``) is never overwritten, as in eager, where every step's gradient is new.
    """
    g = p._grad
    if g is None or g.shape != p._data.shape or g.dtype != p._data.dtype or not (
        g.flags.writeable
    ):
        g = own.get(id(p))
        if g is None or sys.getrefcount(g) > _DICT_ONLY:
            g = own[id(p)] = np.empty_like(p._data)
        p._grad = g
    return g


_ON = _optk._FUSED_ON  # the fused switch shared with the optimizers (a one-item list)


def _fused_mod(dt: np.dtype) -> Any:
    """The C extension when it can run kernels of dtype ``dt`` (else None)."""
    return _optk._FUSED_MOD if np.dtype(dt) in _optk._FUSED_DTYPES else None


class Kernel:
    """A layer's forward and backward on fixed shapes. ``fwd`` returns the output buffer;
    ``bwd`` returns the input's gradient (or None when ``need`` is False)."""

    params: tuple[Tensor, ...] = ()

    def fwd(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        raise NotImplementedError


class LinearK(Kernel):
    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype, own: dict[int, Any]):
        self.w, self.b = m.weight, m.bias
        self.params = (self.w,) if self.b is None else (self.w, self.b)
        n, nout = shape[0], self.w._data.shape[0]
        self.out = np.empty((n, nout), dtype=dt)
        self.gx = np.empty(shape, dtype=dt)
        self.one = n == 1
        self.own = own
        self.x: np.ndarray = self.out
        self.F = _fused_mod(dt)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        out = np.matmul(x, self.w._data.T, out=self.out)
        b = self.b
        if b is not None:
            F = self.F
            if F is None or not _ON[0] or not F.bias(out, b._data, False):
                out += b._data
        return out

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        w, b = self.w, self.b
        if w.requires_grad:
            gw = grad_buffer(w, self.own)
            if self.one:  # as eager: an outer product as a broadcast multiply
                np.multiply(g.T, self.x, out=gw)
            else:
                np.matmul(g.T, self.x, out=gw)
        if b is not None and b.requires_grad:
            gb = grad_buffer(b, self.own)
            F = self.F
            if F is None or not _ON[0] or not F.bias_grad(g, gb):
                np.add.reduce(g, axis=0, out=gb)
        if not need:
            return None
        return np.matmul(g, w._data, out=self.gx)


class ReLUK(Kernel):
    """``max(x, 0)``; backward ``g * (out > 0)`` (in place in ``g``)."""

    def __init__(self, shape: tuple[int, ...], dt: np.dtype, inplace: bool):
        self.out = None if inplace else np.empty(shape, dtype=dt)
        self.mask = np.empty(shape, dtype=bool)
        self.o: np.ndarray = self.mask
        self.F = _fused_mod(dt)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        o = x if self.out is None else self.out
        F = self.F
        if F is None or not _ON[0] or not F.relu(x, o):
            np.maximum(x, 0, out=o)
        self.o = o
        return o

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        F = self.F
        if F is not None and _ON[0] and F.relu_bwd(g, self.o):
            return g
        np.greater(self.o, 0, out=self.mask)
        return np.multiply(g, self.mask, out=g)


class TanhK(Kernel):
    """``tanh(x)``; backward ``g * (1 - out * out)``."""

    def __init__(self, shape: tuple[int, ...], dt: np.dtype, inplace: bool):
        self.out = None if inplace else np.empty(shape, dtype=dt)
        self.t = np.empty(shape, dtype=dt)
        self.o: np.ndarray = self.t
        self.F = _fused_mod(dt)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        self.o = np.tanh(x, out=x if self.out is None else self.out)
        return self.o

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        F = self.F
        if F is not None and _ON[0] and F.tanh_bwd(g, self.o):
            return g
        t = np.multiply(self.o, self.o, out=self.t)
        np.subtract(1, t, out=t)
        return np.multiply(g, t, out=g)


class SigmoidK(Kernel):
    """The stable logistic of eager (``exp(-|x|)`` and a select); backward
    ``g * out * (1 - out)``."""

    def __init__(self, shape: tuple[int, ...], dt: np.dtype, inplace: bool):
        self.out = np.empty(shape, dtype=dt)
        self.e = np.empty(shape, dtype=dt)
        self.d = np.empty(shape, dtype=dt)
        self.pos = np.empty(shape, dtype=bool)
        self.F = _fused_mod(dt)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        e, d, out = self.e, self.d, self.out
        F = self.F
        if F is not None and _ON[0] and F.neg_abs(x, e):
            np.exp(e, out=e)
            if F.sigmoid_sel(x, e, out):
                return out
        else:
            np.abs(x, out=e)
            np.negative(e, out=e)
            np.exp(e, out=e)
        np.add(1, e, out=d)
        np.divide(e, d, out=out)  # e / (1 + e) where x < 0
        np.divide(1, d, out=d)  # 1 / (1 + e) where x >= 0
        np.greater_equal(x, 0, out=self.pos)
        np.copyto(out, d, where=self.pos)
        return out

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        F = self.F
        if F is not None and _ON[0] and F.sigmoid_bwd(g, self.out):
            return g
        t = np.multiply(g, self.out, out=self.e)
        s = np.subtract(1, self.out, out=self.d)
        return np.multiply(t, s, out=g)


class DropoutK(Kernel):
    """``x * mask`` with the mask drawn from the layer's generator as eager draws it."""

    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype):
        self.m, self.shape, self.dt = m, shape, dt
        self.out = np.empty(shape, dtype=dt)
        self.mask = self.out

    def fwd(self, x: np.ndarray) -> np.ndarray:
        self.mask = dropout_mask(self.m.generator, self.shape, self.dt, self.m.p)
        return np.multiply(x, self.mask, out=self.out)

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        return np.multiply(g, self.mask, out=g)


class ReshapeK(Kernel):
    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
        self.in_shape, self.out_shape = in_shape, out_shape

    def fwd(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(self.out_shape)

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        return g.reshape(self.in_shape)


class IdentityK(Kernel):
    def fwd(self, x: np.ndarray) -> np.ndarray:
        return x

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        return g


class MSEK:
    """Fused mean squared error of eager's ``mse_loss``: value and input gradient."""

    def __init__(self, reduction: str, shape: tuple[int, ...], dt: np.dtype):
        self.mean = reduction == "mean"
        self.dt = dt
        self.d = np.empty(shape, dtype=dt)
        self.sq = np.empty(shape, dtype=dt)
        self.t = np.empty(shape, dtype=dt)
        self.n = int(np.prod(shape))
        one = np.ones((), dtype=dt)  # the engine's seed gradient
        self.scale = (2 * one / self.n if self.mean else 2 * one).astype(dt, copy=False)
        self.F = _fused_mod(dt)
        self._seed: Any = None  # the last seed array and its scale (fit reuses one seed)
        self._seed_scale: Any = None

    def run(self, x: np.ndarray, target: np.ndarray,
            seed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Loss value and input gradient; ``seed`` is the gradient of the objective with
        respect to the loss (None: 1), scaled exactly as eager's backward scales it."""
        if target.dtype != self.dt:
            np.copyto(self.t, target, casting="unsafe")
            target = self.t
        if seed is None:
            scale = self.scale
        elif seed is self._seed:
            scale = self._seed_scale
        else:
            if self.mean:
                scale = (2 * seed / self.n).astype(self.dt, copy=False)
            else:
                scale = (2 * seed).astype(self.dt, copy=False)
            self._seed, self._seed_scale = seed, scale
        F, d, sq = self.F, self.d, self.sq
        if F is not None and _ON[0] and F.mse(x, target, d, sq, float(scale)):
            # d = x - target; sq = d * d; d *= scale in one pass (the sum stays NumPy's)
            return np.asarray(sq.sum() / (self.n if self.mean else 1), dtype=self.dt), d
        np.subtract(x, target, out=d)
        np.multiply(d, d, out=sq)
        loss = np.asarray(sq.sum() / (self.n if self.mean else 1), dtype=self.dt)
        return loss, np.multiply(d, scale, out=d)


class CrossEntropyK:
    """Eager's fast cross-entropy path (N x C logits, N class indices, no weights)."""

    def __init__(self, reduction: str, shape: tuple[int, ...], dt: np.dtype):
        m, c = shape
        self.mean, self.dt, self.m, self.c = reduction == "mean", dt, m, c
        self.mx = np.empty((m, 1), dtype=dt)
        self.sh = np.empty(shape, dtype=dt)
        self.ex = np.empty(shape, dtype=dt)
        self.se = np.empty((m, 1), dtype=dt)
        self.rows = np.arange(m)
        self.denom = float(m)
        self.scale = np.ones((), dtype=dt) / self.denom
        self.F = _fused_mod(dt)

    def targets(self, target: np.ndarray, ignore_index: int) -> np.ndarray | None:
        """The targets as indices; None when the eager fast path would not take them."""
        t = target.astype(np.intp, copy=False)
        if self.m:
            lo, hi = int(t.min()), int(t.max())
            if lo <= ignore_index <= hi and (t == ignore_index).any():
                return None
            if lo < 0 or hi >= self.c:
                return None  # eager raises the error
        return t

    def run(self, x: np.ndarray, t: np.ndarray,
            seed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Loss value and logit gradient (``seed`` as in :meth:`MSEK.run`)."""
        np.maximum.reduce(x, axis=1, keepdims=True, out=self.mx)
        sh = np.subtract(x, self.mx, out=self.sh)
        ex = np.exp(sh, out=self.ex)
        se = np.add.reduce(ex, axis=1, keepdims=True, out=self.se)
        per = np.log(se[:, 0]) - sh[self.rows, t]
        total = per.sum(dtype=np.float64)
        if self.mean:
            if self.m:
                loss = np.asarray(total / self.denom, dtype=self.dt)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    loss = np.asarray(total / self.denom, dtype=self.dt)
        else:
            loss = np.asarray(total, dtype=self.dt)
        F = self.F
        if F is not None and _ON[0]:
            # ex / se, minus 1 at the targets, times the scale, in one pass over the rows
            if seed is not None:
                sc: float | None = float(seed / self.denom if self.mean else seed)
            else:
                sc = float(self.scale) if self.mean else None
            if F.ce_grad(ex, se, t, sc):
                return loss, ex
        gm = np.divide(ex, se, out=ex)
        gm[self.rows, t] -= 1
        if seed is not None:  # eager's scale: seed / N ('mean') or the seed ('sum')
            gm *= seed / self.denom if self.mean else seed
        elif self.mean:
            gm *= self.scale
        return loss, gm
