"""Pooling: max, average and adaptive average over 2-D windows."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gradstep import ops
from gradstep.errors import ShapeError
from gradstep.ops import primitive
from gradstep.tensor import Tensor

from ._common import _check_4d, _const, _input, _make, _pad, _pair, _window_slices


class _Geometry(NamedTuple):
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    ho: int
    wo: int
    eh: int  # extra rows below the bottom padding that ceil_mode's last windows reach
    ew: int  # extra columns right of the right padding


def _out_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size for an input of ``n``, effective kernel ``k``."""
    o = (n + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input
        o -= 1  # or its left padding
    return o


def _pool_geometry(
    xd: np.ndarray,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    op: str,
) -> _Geometry:
    _check_4d(xd, op)
    kh, kw = _pair(kernel_size, "kernel_size", op)
    sh, sw = _pair(kernel_size if stride is None else stride, "stride", op)
    ph, pw = _pair(padding, "padding", op, minimum=0)
    dh, dw = _pair(dilation, "dilation", op)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"{op}: padding should be at most half the kernel size, got padding {padding!r} "
            f"for kernel {kernel_size!r}"
        )
    h, w = xd.shape[2], xd.shape[3]
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    ho = _out_size(h, ekh, sh, ph, bool(ceil_mode))
    wo = _out_size(w, ekw, sw, pw, bool(ceil_mode))
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"{op}: input of spatial size {h}x{w} (padded {h + 2 * ph}x{w + 2 * pw}) is smaller "
            f"than the kernel {kh}x{kw}; input shape {xd.shape}"
        )
    eh = max(0, (ho - 1) * sh + ekh - (h + 2 * ph))
    ew = max(0, (wo - 1) * sw + ekw - (w + 2 * pw))
    return _Geometry(kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, eh, ew)


@primitive
def max_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """Max over sliding windows (``stride`` defaults to ``kernel_size``; padding is -inf).

    Forward: ``np.maximum`` over the kh*kw strided views; backward: the gradient goes to
    the first maximum of each window (row-major), as in PyTorch. With ``ceil_mode`` the
    output size rounds up, so the last windows may reach past the padded input, as long as
    they start inside the input or its left padding (PyTorch's rule).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``.
    """
    x = _input(input, None, "max_pool2d")
    xd = x._data
    kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, eh, ew = _pool_geometry(
        xd, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d"
    )
    xp = _pad(xd, (ph, ph + eh, pw, pw + ew), -np.inf)
    slices = _window_slices(xp, kh, kw, sh, sw, dh, dw, ho, wo)
    if len(slices) == 1:
        out = slices[0].copy()
    else:
        out = np.maximum(slices[0], slices[1])
        for s in slices[2:]:
            np.maximum(out, s, out=out)
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    disjoint = sh >= ekh and sw >= ekw

    tiles = disjoint and sh == ekh and sw == ekw and dh == 1 and dw == 1 and ph == 0 and pw == 0

    def backward(g: np.ndarray) -> tuple[Any]:
        if tiles:  # every covered element is written once: skip zero-filling all but the rest
            gxp = np.empty(xp.shape, dtype=g.dtype)
            gxp[:, :, ho * sh :, :] = 0
            gxp[:, :, :, wo * sw :] = 0
        else:
            gxp = np.zeros(xp.shape, dtype=g.dtype)
        gslices = _window_slices(gxp, kh, kw, sh, sw, dh, dw, ho, wo)
        taken = None  # positions in row-major order: ties go to the first maximum (PyTorch)
        for s, gs in zip(slices, gslices):
            m = np.equal(s, out)
            if taken is None:
                taken = m
            else:
                np.logical_and(m, ~taken, out=m)
                np.logical_or(taken, m, out=taken)
            if disjoint:
                np.multiply(g, m, out=gs)
            else:
                gs += g * m
        h, w = xd.shape[2], xd.shape[3]
        return (gxp[:, :, ph : ph + h, pw : pw + w],)

    return _make(out, (x,), backward)


def _avg_divisor(
    xd: np.ndarray, geo: _Geometry, count_include_pad: bool, divisor_override: int | None
) -> Any:
    """What each window's sum is divided by: a scalar, or an (ho, wo) array of counts."""
    if divisor_override is not None:
        if int(divisor_override) <= 0:
            raise ValueError(
                f"avg_pool2d: divisor_override must be positive, got {divisor_override}"
            )
        return xd.dtype.type(divisor_override)
    kh, kw, sh, sw, ph, pw, _, _, ho, wo, eh, ew = geo
    if not (eh or ew) and (count_include_pad or (ph == 0 and pw == 0)):
        return xd.dtype.type(kh * kw)
    # count the window positions that lie in the padded input (count_include_pad) or in the
    # input itself; the region ceil_mode adds past the padding never counts (PyTorch)
    h, w = xd.shape[2], xd.shape[3]
    mask = np.zeros((h + 2 * ph + eh, w + 2 * pw + ew), dtype=xd.dtype)
    if count_include_pad:
        mask[: h + 2 * ph, : w + 2 * pw] = 1
    else:
        mask[ph : ph + h, pw : pw + w] = 1
    return sum(_window_slices(mask, kh, kw, sh, sw, 1, 1, ho, wo))


@primitive
def avg_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over sliding windows (``stride`` defaults to ``kernel_size``; zero padding).

    With ``count_include_pad`` the divisor counts the zero padding of each window; the part
    of a ``ceil_mode`` window that reaches past the padded input is never counted.

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``.
    """
    x = _input(input, None, "avg_pool2d")
    xd = x._data
    geo = _pool_geometry(xd, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    kh, kw, sh, sw, ph, pw, _, _, ho, wo, eh, ew = geo
    xp = _pad(xd, (ph, ph + eh, pw, pw + ew), 0.0)
    slices = _window_slices(xp, kh, kw, sh, sw, 1, 1, ho, wo)
    out = slices[0].copy()
    for s in slices[1:]:
        out += s
    div = _avg_divisor(xd, geo, count_include_pad, divisor_override)
    out /= div

    def backward(g: np.ndarray) -> tuple[Any]:
        gd = g / div
        gxp = np.zeros(xp.shape, dtype=g.dtype)
        for gs in _window_slices(gxp, kh, kw, sh, sw, 1, 1, ho, wo):
            gs += gd
        h, w = xd.shape[2], xd.shape[3]
        return (gxp[:, :, ph : ph + h, pw : pw + w],)

    return _make(out, (x,), backward)


def _adaptive_matrix(n_in: int, n_out: int, dtype: Any) -> np.ndarray:
    """(n_out, n_in) averaging matrix with PyTorch's bins [floor(i*n/o), ceil((i+1)*n/o))."""
    m = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):
        lo = (i * n_in) // n_out
        hi = -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """Average over ``output_size`` adaptive bins (PyTorch's bin edges).

    Computed as two small matrix products ``P_h @ x @ P_w.T``.

    Shape: ``(N, C, H, W) -> (N, C, out_h, out_w)``; ``None`` in ``output_size`` keeps that size.
    """
    x = _input(input, None, "adaptive_avg_pool2d")
    xd = x._data
    if xd.ndim not in (3, 4):
        raise ShapeError(f"adaptive_avg_pool2d: expected (N, C, H, W) or (C, H, W), got {xd.shape}")
    h, w = xd.shape[-2], xd.shape[-1]
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(
                f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}"
            )
        oh, ow = output_size
    else:
        oh = ow = output_size
    oh = h if oh is None else int(oh)
    ow = w if ow is None else int(ow)
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r}")
    if h == 0 or w == 0:
        raise ShapeError(f"adaptive_avg_pool2d: empty spatial input {xd.shape}")
    out = x
    if oh != h:
        out = ops.matmul(_const(_adaptive_matrix(h, oh, xd.dtype)), out)
    if ow != w:
        out = ops.matmul(out, _const(np.ascontiguousarray(_adaptive_matrix(w, ow, xd.dtype).T)))
    return out
