"""Replay kernels for 2-D convolution, pooling and batch normalisation.

As the kernels of :mod:`gradstep.jit._kernels`, each one repeats the NumPy calls of the
eager op (``gradstep.nn.functional.conv``, ``pooling``, ``normalization`` and, for batch
normalisation, the backward closures of the recorded primitives in the order the autograd
engine runs them) on operands of the same shapes, dtypes and memory layouts, writing into
buffers allocated once, so that a replay is bit-identical to eager:

* :class:`Conv2dK`: im2col copy of the strided window view into a fixed ``cols`` buffer
  (through a zero-bordered padded buffer when padded), one batched ``matmul``; backward:
  the weight gradient as eager's per-sample GEMMs summed over the batch, the col2im
  accumulation over the kh*kw window positions into a zeroed buffer, the bias gradient as
  eager's matrix-vector product summed over the batch.
* :class:`MaxPool2dK`, :class:`AvgPool2dK`: ``np.maximum`` / sums over the window views of
  a ``-inf`` / zero bordered buffer, eager's first-maximum mask chain in backward.
* :class:`BatchNormK`: the batch statistics path (mean, centred, biased variance, the
  running-statistics update with ``momentum`` or the cumulative average, ``num_batches_tracked``)
  and the running-statistics path of eval mode, with or without the affine parameters.
* :class:`AdaptiveAvgPool2dK`: eager's two averaging matrix products.

Reductions depend on the memory layout of their operand, so a kernel whose backward reduces
the incoming gradient (or feeds it to ``matmul``) works on the layout eager's gradient has:
a C-contiguous copy, except where the next layer is one of these kernels, whose input
gradients are the same strided views as eager's (``keep_layout``, set by the plan).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gradstep.jit._kernels import Kernel, grad_buffer
from gradstep.nn.functional._common import _pair, _window_slices
from gradstep.nn.functional.conv import _conv_padding
from gradstep.nn.functional.pooling import _adaptive_matrix, _avg_divisor, _pool_geometry

__all__ = ["Conv2dK", "MaxPool2dK", "AvgPool2dK", "BatchNormK", "AdaptiveAvgPool2dK"]


def _unsupported(msg: str) -> Exception:
    from gradstep.jit._plan import Unsupported  # the plan module imports this one

    return Unsupported(msg)


def _same_dtype(name: str, dt: np.dtype, *arrays: Any) -> None:
    for a in arrays:
        if a is not None and a.dtype != dt:
            raise _unsupported(f"{name} with parameters or statistics of dtype {a.dtype} on an "
                               f"input of dtype {dt}")


def _leaf(name: str, *params: Any) -> None:
    for p in params:
        if p is not None and p._backward is not None:
            raise _unsupported(f"{name}'s weight or bias is a computed tensor, not a leaf")


class _Layout:
    """The incoming gradient in eager's layout (see the module docstring)."""

    keep_layout = False
    gbuf: np.ndarray | None = None

    def _g(self, g: np.ndarray) -> np.ndarray:
        if self.keep_layout or g.flags.c_contiguous:
            return g
        if self.gbuf is None or self.gbuf.shape != g.shape:
            self.gbuf = np.empty(g.shape, dtype=g.dtype)
        np.copyto(self.gbuf, g)
        return self.gbuf


class Conv2dK(_Layout, Kernel):
    """Eager's ``conv2d`` (4-D input) with its im2col and col2im in fixed buffers."""

    strided_grad = True  # the input gradient is eager's (possibly strided) view
    keeps_out = False
    internal = 0

    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype, own: dict[int, Any]):
        w, b = m.weight, m.bias
        if len(shape) != 4:
            raise _unsupported(f"Conv2d on a {len(shape)}-D input (only (N, C, H, W) compiled)")
        _same_dtype("Conv2d", dt, w._data, None if b is None else b._data)
        _leaf("Conv2d", w, b)
        wd = w._data
        n, c, h, wid = shape
        o, cg, kh, kw = wd.shape
        groups = m.groups
        if c != cg * groups or o % groups or (b is not None and b._data.shape != (o,)):
            raise _unsupported("Conv2d whose weight does not fit its input")
        sh, sw = _pair(m.stride, "stride", "conv2d")
        dh, dw = _pair(m.dilation, "dilation", "conv2d")
        pt, pb, pl, pr = _conv_padding(m.padding, kh, kw, dh, dw, (sh, sw))
        hp, wp = h + pt + pb, wid + pl + pr
        ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        ho, wo = (hp - ekh) // sh + 1, (wp - ekw) // sw + 1
        self.w, self.b, self.own = w, b, own
        self.params = (w,) if b is None else (w, b)
        self.geom = (n, c, kh, kw, ho, wo, sh, sw, dh, dw)
        self.G, self.og, self.k, self.P, self.o = groups, o // groups, cg * kh * kw, ho * wo, o
        self.padded = bool(pt or pb or pl or pr)
        xp_shape = (n, c, hp, wp)
        if self.padded:
            self.xp = np.zeros(xp_shape, dtype=dt)  # the border stays zero
            self.xin = self.xp[:, :, pt : pt + h, pl : pl + wid]
            self.view = self._view(self.xp)
        self.vx: Any = None  # the unpadded input the cached view is of
        self.cols = np.empty((n, groups, self.k, self.P), dtype=dt)
        self.cols6 = self.cols.reshape(n, c, kh, kw, ho, wo)
        self.out4 = np.empty((n, groups, self.og, self.P), dtype=dt)
        self.out = self.out4.reshape(n, o, ho, wo)
        self.gwn = np.empty((n, groups, self.k, self.og), dtype=dt)
        self.gwt = np.empty((groups, self.k, self.og), dtype=dt)
        self.gcols = np.empty((n, groups, self.k, self.P), dtype=dt)
        gcols6 = self.gcols.reshape(n, c, kh, kw, ho, wo)
        self.gxp = np.empty(xp_shape, dtype=dt)
        self.gx = self.gxp[:, :, pt : pt + h, pl : pl + wid]
        slices = _window_slices(self.gxp, kh, kw, sh, sw, dh, dw, ho, wo)
        self.pairs = [(sl, gcols6[:, :, i // kw, i % kw]) for i, sl in enumerate(slices)]
        self.ones = np.ones(self.P, dtype=dt)
        self.gbn = np.empty((n, o), dtype=dt)

    def _view(self, xp: np.ndarray) -> np.ndarray:
        n, c, kh, kw, ho, wo, sh, sw, dh, dw = self.geom
        s0, s1, s2, s3 = xp.strides
        return as_strided(xp, (n, c, kh, kw, ho, wo),
                          (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw), writeable=False)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        if self.padded:
            np.copyto(self.xin, x)
            view = self.view
        else:
            if x is not self.vx:
                self.vx, self.vview = x, self._view(x)
            view = self.vview
        np.copyto(self.cols6, view)  # eager's im2col: view.reshape(...) copies (C order)
        wg = self.w._data.reshape(self.G, self.og, self.k)
        np.matmul(wg, self.cols, out=self.out4)
        out = self.out
        if self.b is not None:
            np.add(out, self.b._data.reshape(1, self.o, 1, 1), out=out)
        return out

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        g = self._g(g)
        n = self.geom[0]
        gr = g.reshape(n, self.G, self.og, self.P)
        w, b = self.w, self.b
        if w.requires_grad:
            np.matmul(self.cols, gr.swapaxes(-1, -2), out=self.gwn)
            np.add.reduce(self.gwn, axis=0, out=self.gwt)
            gw = grad_buffer(w, self.own)
            np.copyto(gw.reshape(self.G, self.og, self.k), self.gwt.transpose(0, 2, 1))
        gx = None
        if need:
            wg = w._data.reshape(self.G, self.og, self.k)
            np.matmul(wg.transpose(0, 2, 1), gr, out=self.gcols)
            self.gxp.fill(0)
            for sl, gc in self.pairs:
                np.add(sl, gc, out=sl)
            gx = self.gx
        if b is not None and b.requires_grad:
            np.matmul(g.reshape(n, self.o, self.P), self.ones, out=self.gbn)
            np.add.reduce(self.gbn, axis=0, out=grad_buffer(b, self.own))
        return gx


def _pool_shape(shape: tuple[int, ...], name: str) -> None:
    if len(shape) != 4:
        raise _unsupported(f"{name} on a {len(shape)}-D input (only (N, C, H, W) compiled)")


class _PoolBase(_Layout, Kernel):
    strided_grad = True
    internal = 0
    fill: float = 0.0

    def _setup(self, shape: tuple[int, ...], dt: np.dtype, geo: Any) -> None:
        kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, eh, ew = geo
        n, c, h, w = shape
        self.geo = geo
        self.padded = bool(ph or pw or eh or ew)
        xp_shape = (n, c, h + 2 * ph + eh, w + 2 * pw + ew)
        if self.padded:
            self.xp = np.full(xp_shape, self.fill, dtype=dt)
            self.xin = self.xp[:, :, ph : ph + h, pw : pw + w]
            self.slices = self._slices(self.xp)
        self.vx: Any = None
        self.out = np.empty((n, c, ho, wo), dtype=dt)
        self.gxp = np.empty(xp_shape, dtype=dt)
        self.gslices = self._slices(self.gxp)
        self.gx = self.gxp[:, :, ph : ph + h, pw : pw + w]

    def _slices(self, a: np.ndarray) -> list[np.ndarray]:
        kh, kw, sh, sw, _, _, dh, dw, ho, wo, _, _ = self.geo
        return _window_slices(a, kh, kw, sh, sw, dh, dw, ho, wo)

    def _in(self, x: np.ndarray) -> list[np.ndarray]:
        if self.padded:
            np.copyto(self.xin, x)
            return self.slices
        if x is not self.vx:
            self.vx, self.vslices = x, self._slices(x)
        return self.vslices


class MaxPool2dK(_PoolBase):
    """Eager's ``max_pool2d``: running maximum over the window views; backward to the
    first maximum of each window."""

    keeps_out = True  # backward compares the windows with the output
    fill = -np.inf

    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype):
        _pool_shape(shape, "MaxPool2d")
        probe = np.broadcast_to(np.zeros((), dtype=dt), shape)
        geo = _pool_geometry(probe, m.kernel_size, m.stride, m.padding, m.dilation,
                             m.ceil_mode, "max_pool2d")
        self._setup(shape, dt, geo)
        kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, eh, ew = geo
        ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        self.disjoint = sh >= ekh and sw >= ekw
        self.tiles = (self.disjoint and sh == ekh and sw == ekw and dh == 1 and dw == 1
                      and ph == 0 and pw == 0)
        self.rest = [self.gxp[:, :, ho * sh :, :], self.gxp[:, :, :, wo * sw :]]
        oshape = self.out.shape
        self.taken = np.empty(oshape, dtype=bool)
        self.m = np.empty(oshape, dtype=bool)
        self.nt = np.empty(oshape, dtype=bool)
        self.t = np.empty(oshape, dtype=dt)
        self.cur: list[np.ndarray] = []

    def fwd(self, x: np.ndarray) -> np.ndarray:
        sl = self.cur = self._in(x)
        out = self.out
        if len(sl) == 1:
            np.copyto(out, sl[0])
        else:
            np.maximum(sl[0], sl[1], out=out)
            for s in sl[2:]:
                np.maximum(out, s, out=out)
        return out

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        if not need:
            return None
        if self.tiles:
            for r in self.rest:
                r.fill(0)
        else:
            self.gxp.fill(0)
        out, taken, m, nt = self.out, self.taken, self.m, self.nt
        first = True
        for s, gs in zip(self.cur, self.gslices):
            if first:
                mm = np.equal(s, out, out=taken)
                first = False
            else:
                mm = np.equal(s, out, out=m)
                np.logical_not(taken, out=nt)
                np.logical_and(mm, nt, out=mm)
                np.logical_or(taken, mm, out=taken)
            if self.disjoint:
                np.multiply(g, mm, out=gs)
            else:
                np.add(gs, np.multiply(g, mm, out=self.t), out=gs)
        return self.gx


class AvgPool2dK(_PoolBase):
    """Eager's ``avg_pool2d``: the window sums divided by eager's divisor."""

    keeps_out = False
    fill = 0.0

    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype):
        _pool_shape(shape, "AvgPool2d")
        probe = np.broadcast_to(np.zeros((), dtype=dt), shape)
        geo = _pool_geometry(probe, m.kernel_size, m.stride, m.padding, 1, m.ceil_mode,
                             "avg_pool2d")
        self._setup(shape, dt, geo)
        self.div = _avg_divisor(probe, geo, m.count_include_pad, m.divisor_override)
        self.gd = np.empty(self.out.shape, dtype=dt)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        sl = self._in(x)
        out = self.out
        np.copyto(out, sl[0])
        for s in sl[1:]:
            np.add(out, s, out=out)
        np.divide(out, self.div, out=out)
        return out

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        if not need:
            return None
        gd = np.divide(g, self.div, out=self.gd)
        self.gxp.fill(0)
        for gs in self.gslices:
            np.add(gs, gd, out=gs)
        return self.gx


class BatchNormK(_Layout, Kernel):
    """Eager's ``BatchNorm1d/2d`` forward (module and ``F.batch_norm``) and the backward
    closures of its recorded primitives, in the engine's order.

    Batch statistics (training, or eval without running statistics): ``mean``, ``sub``,
    ``mul``, ``mean``, ``add(eps)``, ``sqrt``, ``div``; in training with running statistics
    ``num_batches_tracked`` is incremented and the running mean and (unbiased) variance are
    updated as eager does. Eval with running statistics: ``(x - rm) * inv``. Then the
    affine ``* weight`` and ``+ bias`` when present.
    """

    strided_grad = False  # the input gradient is a fresh C-contiguous array, as eager's

    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype, own: dict[int, Any],
                 x_req: bool, out_req: bool):
        name = type(m).__name__
        if len(shape) not in m._dims or shape[1] != m.num_features:
            raise _unsupported(f"{name} on an input of shape {shape}")
        w, b = m.weight, m.bias
        track = m.track_running_stats
        self.update = m.training and track
        self.batch = m.training or not track
        rm, rv = (m.running_mean, m.running_var) if (not m.training or track) else (None, None)
        if not self.batch and (rm is None or rv is None):
            raise _unsupported(f"{name} in eval mode without running statistics arrays")
        if self.batch and not self.update:
            rm = rv = None
        _same_dtype(name, dt, None if w is None else w._data, None if b is None else b._data,
                    rm, rv)
        _leaf(name, w, b)
        c = shape[1]
        nd = len(shape)
        self.m, self.w, self.b, self.own = m, w, b, own
        self.params = tuple(p for p in (w, b) if p is not None)
        self.rm: Any = rm
        self.rv: Any = rv
        self.nbt: Any = m.num_batches_tracked if self.update else None
        self.axes = (0,) + tuple(range(2, nd))
        self.bshape = bshape = (1, c) + (1,) * (nd - 2)
        self.ub = tuple(i for i, s in enumerate(bshape) if s == 1 and shape[i] != 1)
        count = 1
        for ax in self.axes:
            count *= shape[ax]
        self.count = count
        self.cnt = np.asarray(count, dtype=dt)
        self.ratio = count / (count - 1) if count > 1 else 0.0
        self.eps = m.eps
        e = lambda s: np.empty(s, dtype=dt)  # noqa: E731
        self.mean, self.var, self.q, self.q2 = e(bshape), e(bshape), e(bshape), e(bshape)
        self.gq, self.gm = e(bshape), e(bshape)
        self.cen, self.yhat, self.t, self.gc = e(shape), e(shape), e(shape), e(shape)
        self.tc = e((c,))
        self.y2 = e(shape) if w is not None else None
        self.outb = e(shape) if b is not None else None
        self.gy = e(shape) if w is not None else None
        self.keeps_out = w is None and b is None and self.batch
        # eager's graph nodes inside the layer (all but its output), for the plan's check
        nodes = (7 if self.batch else 2) if x_req else 0
        r = x_req
        for p in (w, b):
            if p is not None:
                nodes += int(p.requires_grad)
                r = r or p.requires_grad
                nodes += int(r)
        self.internal = nodes - int(out_req)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        axes, mean, var, cen = self.axes, self.mean, self.var, self.cen
        if self.batch:
            np.add.reduce(x, axis=axes, keepdims=True, out=mean)
            np.divide(mean, self.cnt, out=mean)
            np.subtract(x, mean, out=cen)
            sq = np.multiply(cen, cen, out=self.t)
            np.add.reduce(sq, axis=axes, keepdims=True, out=var)
            np.divide(var, self.cnt, out=var)
            if self.update:
                nbt = self.nbt
                nbt[...] += 1
                mom = self.m.momentum
                f = 1.0 / float(nbt) if mom is None else float(mom)
                rm, rv, tc = self.rm, self.rv, self.tc
                c = rm.shape[0]
                np.multiply(rm, 1 - f, out=rm)
                np.add(rm, np.multiply(f, mean.reshape(c), out=tc), out=rm)
                bv = np.multiply(var.reshape(c), self.ratio, out=tc)
                np.multiply(rv, 1 - f, out=rv)
                np.add(rv, np.multiply(f, bv, out=tc), out=rv)
            q = np.add(var, self.eps, out=self.q)
            np.sqrt(q, out=q)
            y = np.divide(cen, q, out=self.yhat)
        else:
            bshape = self.bshape
            q = np.add(self.rv.reshape(bshape), self.eps, out=self.q)
            np.sqrt(q, out=q)
            inv = np.divide(1.0, q, out=self.q2)
            np.subtract(x, self.rm.reshape(bshape), out=cen)
            y = np.multiply(cen, inv, out=self.yhat)
        if self.w is not None:
            y = np.multiply(y, self.w._data.reshape(self.bshape), out=self.y2)
        if self.b is not None:
            y = np.add(y, self.b._data.reshape(self.bshape), out=self.outb)
        return y

    def _reduce(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """The engine's un-broadcast of a full-shape gradient to the per-channel shape."""
        if self.ub:
            return np.add.reduce(src, axis=self.ub, keepdims=True, out=dst)
        np.copyto(dst, src)
        return dst

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        g = self._g(g)
        w, b, bshape, t = self.w, self.b, self.bshape, self.t
        if b is not None and b.requires_grad:
            self._reduce(g, grad_buffer(b, self.own).reshape(bshape))
        if w is not None:
            if w.requires_grad:
                np.multiply(g, self.yhat, out=t)
                self._reduce(t, grad_buffer(w, self.own).reshape(bshape))
            if need:
                g = np.multiply(g, w._data.reshape(bshape), out=self.gy)
        if not need:
            return None
        gc = self.gc
        if not self.batch:
            return np.multiply(g, self.q2, out=gc)
        q, gq, gm, cen = self.q, self.gq, self.gm, self.cen
        np.divide(g, q, out=gc)  # div: the centred input's first gradient
        np.negative(g, out=t)
        np.multiply(t, self.yhat, out=t)
        np.divide(t, q, out=t)
        self._reduce(t, gq)  # div: the gradient of the standard deviation
        np.divide(gq, np.multiply(2, q, out=self.q2), out=gq)  # sqrt
        np.divide(gq, self.count, out=gq)  # add(eps), then mean's broadcast / count
        p = np.multiply(gq, cen, out=t)  # mul(centred, centred): both operands' gradients
        np.add(gc, p, out=gc)
        np.add(gc, p, out=gc)
        np.negative(gc, out=t)  # sub(x, mean): the mean's gradient
        self._reduce(t, gm)
        np.divide(gm, self.count, out=gm)
        return np.add(gc, gm, out=gc)


class AdaptiveAvgPool2dK(_Layout, Kernel):
    """Eager's ``adaptive_avg_pool2d``: ``P_h @ x`` then ``@ P_w.T`` (each when the size
    changes), backward through the same matrix products."""

    strided_grad = False
    keeps_out = False

    def __init__(self, m: Any, shape: tuple[int, ...], dt: np.dtype, out_shape: tuple[int, ...]):
        if len(shape) != 4 or len(out_shape) != 4:
            raise _unsupported(f"AdaptiveAvgPool2d on a {len(shape)}-D input "
                               "(only (N, C, H, W) compiled)")
        n, c, h, w = shape
        oh, ow = out_shape[2], out_shape[3]
        self.ph = _adaptive_matrix(h, oh, dt) if oh != h else None
        self.pwt = (np.ascontiguousarray(_adaptive_matrix(w, ow, dt).T) if ow != w else None)
        self.internal = 1 if (self.ph is not None and self.pwt is not None) else 0
        self.o1 = np.empty((n, c, oh, w), dtype=dt) if self.ph is not None else None
        self.out = np.empty((n, c, oh, ow), dtype=dt)
        self.g1 = np.empty((n, c, oh, w), dtype=dt) if self.pwt is not None else None
        self.gx = np.empty(shape, dtype=dt)

    def fwd(self, x: np.ndarray) -> np.ndarray:
        if self.ph is not None:
            x = np.matmul(self.ph, x, out=self.o1 if self.pwt is not None else self.out)
        if self.pwt is not None:
            x = np.matmul(x, self.pwt, out=self.out)
        return x

    def bwd(self, g: np.ndarray, need: bool) -> np.ndarray | None:
        if not need:
            return None
        g = self._g(g)
        if self.pwt is not None:
            g = np.matmul(g, np.swapaxes(self.pwt, -1, -2),
                          out=self.g1 if self.ph is not None else self.gx)
        if self.ph is not None:
            g = np.matmul(np.swapaxes(self.ph, -1, -2), g, out=self.gx)
        return g
