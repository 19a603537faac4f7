"""2-D convolution (im2col through a strided view, one batched matrix product)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gradstep.errors import ShapeError
from gradstep.ops import primitive
from gradstep.tensor import Tensor

from ._common import _check_4d, _input, _make, _pad, _pair, _param, _weight, _window_slices


def _conv_padding(
    padding: Any, kh: int, kw: int, dh: int, dw: int, stride: tuple[int, int]
) -> tuple[int, int, int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"conv2d: padding='same' needs stride 1, got stride {stride}")
            th, tw = dh * (kh - 1), dw * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(
            f"conv2d: padding must be 'same', 'valid', an int or a pair, got {padding!r}"
        )
    ph, pw = _pair(padding, "padding", "conv2d", minimum=0)
    return (ph, ph, pw, pw)


@primitive
def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` (zero padding).

    Computed as im2col through a strided view, then one batched matrix product; the
    backward is one matrix product for each of the input and weight gradients, and a
    col2im that accumulates over the kh*kw kernel positions.

    Shape: input ``(N, C_in, H, W)``, weight ``(C_out, C_in / groups, kh, kw)``,
    bias ``(C_out,)`` -> ``(N, C_out, H_out, W_out)`` with
    ``H_out = (H + pad_top + pad_bottom - dilation*(kh-1) - 1) // stride + 1``.
    """
    w = _weight(weight, "conv2d")
    x = _input(input, w._data.dtype, "conv2d")
    b = _param(bias, w._data.dtype)
    xd, wd = x._data, w._data
    _check_4d(xd, "conv2d")
    if wd.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (C_out, C_in/groups, kh, kw), got {wd.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    n, c, h, wid = xd.shape
    o, cg, kh, kw = wd.shape
    if c != cg * groups:
        raise ShapeError(
            f"conv2d: expected input with {cg * groups} channels "
            f"(weight {wd.shape}, groups={groups}), "
            f"got input of shape {xd.shape} with {c} channels"
        )
    if o % groups:
        raise ShapeError(f"conv2d: out_channels {o} is not divisible by groups={groups}")
    if b is not None and b._data.shape != (o,):
        raise ShapeError(f"conv2d: bias must have shape ({o},), got {b._data.shape}")
    sh, sw = _pair(stride, "stride", "conv2d")
    dh, dw = _pair(dilation, "dilation", "conv2d")
    pads = _conv_padding(padding, kh, kw, dh, dw, (sh, sw))
    pt, pb, pl, pr = pads
    hp, wp = h + pt + pb, wid + pl + pr
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if hp < ekh or wp < ekw:
        raise ShapeError(
            f"conv2d: input of spatial size {h}x{wid} (padded {hp}x{wp}) is smaller than the "
            f"kernel {kh}x{kw} (dilated {ekh}x{ekw}); input shape {xd.shape}"
        )
    ho, wo = (hp - ekh) // sh + 1, (wp - ekw) // sw + 1
    xp = _pad(xd, pads, 0.0)
    s0, s1, s2, s3 = xp.strides
    view = as_strided(
        xp, (n, c, kh, kw, ho, wo), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw), writeable=False
    )
    k = cg * kh * kw
    og = o // groups
    cols = view.reshape(n, groups, k, ho * wo)  # im2col (a copy unless the kernel is 1x1)
    wg = wd.reshape(groups, og, k)
    out = np.matmul(wg, cols).reshape(n, o, ho, wo)
    if b is not None:
        out += b._data.reshape(1, o, 1, 1)

    def backward(g: np.ndarray) -> tuple[Any, ...]:
        gr = g.reshape(n, groups, og, ho * wo)
        gx = gw = gb = None
        if w.requires_grad:
            # N small GEMMs (K x P) @ (P x Og) summed over the batch: several times faster
            # with OpenBLAS than one GEMM reducing over N*P (tensordot), and than (Og x P) @ (P x K)
            gwt = np.matmul(cols, gr.swapaxes(-1, -2)).sum(axis=0)
            gw = gwt.transpose(0, 2, 1).reshape(wd.shape)
        if x.requires_grad:
            gcols = np.matmul(wg.transpose(0, 2, 1), gr).reshape(n, c, kh, kw, ho, wo)
            gxp = np.zeros(xp.shape, dtype=g.dtype)
            for idx, sl in enumerate(_window_slices(gxp, kh, kw, sh, sw, dh, dw, ho, wo)):
                sl += gcols[:, :, idx // kw, idx % kw]
            gx = gxp[:, :, pt : pt + h, pl : pl + wid]
        if b is not None and b.requires_grad:  # a matrix-vector product beats sum(axis=(0, 2, 3))
            gb = (g.reshape(n, o, ho * wo) @ np.ones(ho * wo, dtype=g.dtype)).sum(axis=0)
        if b is None:
            return gx, gw
        return gx, gw, gb

    parents = (x, w) if b is None else (x, w, b)
    return _make(out, parents, backward)
