"""Functional forms of the layers, activations and losses (``gradstep.nn.functional``).

The convolution, pooling, linear, embedding and loss primitives here are fused: each
computes its forward with a few vectorised NumPy calls (strided views and one matrix
product per layer, no Python loops over pixels or samples) and its gradient in one
backward closure. They are registered in :data:`gradstep.ops.PRIMITIVES`.

Arguments follow ``torch.nn.functional`` (``dim`` rather than ``axis``), so a PyTorch
model ports by changing the import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gradstep import ops
from gradstep.errors import ShapeError
from gradstep.ops import primitive
from gradstep.tensor import Tensor

__all__ = [
    "linear",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "flatten",
    "dropout",
    "batch_norm",
    "layer_norm",
    "embedding",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "gelu",
    "softmax",
    "log_softmax",
    "silu",
    "softplus",
    "elu",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

_make = Tensor._make
_REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------ helpers
def _const(x: Any) -> Tensor:
    """A non-tracked tensor wrapping ``x`` as is."""
    t = Tensor.__new__(Tensor)
    t._data = x
    t._grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    return t


def _input(x: Any, dtype: Any, op: str) -> Tensor:
    """Tensors pass through; arrays and lists become constant tensors of ``dtype`` (None:
    gradstep's default rule)."""
    if isinstance(x, Tensor):
        return x
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{op}: cannot convert input of type {type(x).__name__}: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: input must be numeric, got dtype {arr.dtype}")
    if dtype is None:  # gradstep's rule: float64 stays float64, the rest becomes float32
        dtype = np.float64 if arr.dtype == np.float64 else np.float32
    return _const(arr.astype(dtype, copy=False))


def _param(x: Any, dtype: Any = None) -> Tensor | None:
    if x is None or isinstance(x, Tensor):
        return x
    return _const(np.asarray(x, dtype=dtype))


def _weight(x: Any, op: str) -> Tensor:
    """A layer's (required) weight as a tensor."""
    w = _param(x)
    if w is None:
        raise TypeError(f"{op}: weight is required, got None")
    return w


def _pair(v: Any, name: str, op: str, minimum: int = 1) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        out = (int(v), int(v))
    elif (
        isinstance(v, (tuple, list))
        and len(v) == 2
        and all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v)
    ):
        out = (int(v[0]), int(v[1]))
    else:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    if min(out) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {v!r}")
    return out


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_4d(xd: np.ndarray, op: str) -> None:
    if xd.ndim != 4:
        raise ShapeError(f"{op}: expected input of shape (N, C, H, W), got shape {xd.shape}")


def _window_slices(
    xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, ho: int, wo: int
) -> list[np.ndarray]:
    """The kh*kw strided views ``xp[..., i*dh + sh*a, j*dw + sw*b]`` of shape (..., ho, wo)."""
    out = []
    for i in range(kh):
        for j in range(kw):
            r, c = i * dh, j * dw
            out.append(xp[..., r : r + sh * (ho - 1) + 1 : sh, c : c + sw * (wo - 1) + 1 : sw])
    return out


def _pad(xd: np.ndarray, pads: tuple[int, int, int, int], value: float) -> np.ndarray:
    pt, pb, pl, pr = pads
    if not (pt or pb or pl or pr):
        return xd
    n, c, h, w = xd.shape
    xp = np.full((n, c, h + pt + pb, w + pl + pr), value, dtype=xd.dtype)
    xp[:, :, pt : pt + h, pl : pl + w] = xd
    return xp


# ------------------------------------------------------------------- linear
def _matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a.T @ b`` for ``a`` (k, m) and ``b`` (k, n), added into ``out`` (m, n) when given."""
    # one example (k == 1): an outer product as one broadcast multiply; a K=1 GEMM costs
    # several times more
    prod = np.multiply(a.T, b) if a.shape[0] == 1 else a.T @ b
    if out is None:
        return prod  # type: ignore[no-any-return]
    out += prod
    return out


@primitive
def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias``.

    Shape: input ``(*, in_features)``, weight ``(out_features, in_features)``,
    bias ``(out_features,)`` -> ``(*, out_features)``.
    """
    w = _weight(weight, "linear")
    x = _input(input, w._data.dtype, "linear")
    b = _param(bias, w._data.dtype)
    xd, wd = x._data, w._data
    if wd.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got {wd.shape}")
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"linear: expected input of shape (*, {wd.shape[1]}) (in_features={wd.shape[1]}), "
            f"got input of shape {xd.shape}"
        )
    nout, nin = wd.shape
    out = (xd.reshape(-1, nin) @ wd.T).reshape(xd.shape[:-1] + (nout,))
    if b is not None:
        if b._data.shape != (nout,):
            raise ShapeError(f"linear: bias must have shape ({nout},), got {b._data.shape}")
        out += b._data

    def backward(g: np.ndarray) -> tuple[Any, ...]:
        g2 = np.ascontiguousarray(g.reshape(-1, nout))
        gx = (g2 @ wd).reshape(xd.shape) if x.requires_grad else None
        gw = None
        if w.requires_grad:
            x2 = xd.reshape(-1, nin)
            wg = w._grad
            if w._backward is not None:  # the weight is itself computed: the engine routes it
                gw = _matmul_tn(g2, x2)
            elif wg is None:  # a leaf without a gradient yet: this product is its gradient
                w._grad = _matmul_tn(g2, x2)
            elif (
                wg.shape == wd.shape
                and wg.dtype == wd.dtype
                and wg.flags.c_contiguous
                and wg.flags.writeable
            ):
                # accumulate straight into the leaf's gradient (e.g. a flat optimizer buffer)
                _matmul_tn(g2, x2, out=wg)
            else:
                gw = _matmul_tn(g2, x2)
        if b is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if b.requires_grad else None)

    parents = (x, w) if b is None else (x, w, b)
    return _make(out, parents, backward)


# -------------------------------------------------------------- convolution
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
    input: Any,  # noqa: A002
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


# ------------------------------------------------------------------ pooling
def _pool_geometry(
    xd: np.ndarray, kernel_size: Any, stride: Any, padding: Any, dilation: Any, op: str
) -> tuple[int, int, int, int, int, int, int, int, int, int]:
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
    if h + 2 * ph < ekh or w + 2 * pw < ekw:
        raise ShapeError(
            f"{op}: input of spatial size {h}x{w} (padded {h + 2 * ph}x{w + 2 * pw}) is smaller "
            f"than the kernel {kh}x{kw}; input shape {xd.shape}"
        )
    ho = (h + 2 * ph - ekh) // sh + 1
    wo = (w + 2 * pw - ekw) // sw + 1
    return kh, kw, sh, sw, ph, pw, dh, dw, ho, wo


@primitive
def max_pool2d(
    input: Any,  # noqa: A002
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """Max over sliding windows (``stride`` defaults to ``kernel_size``; padding is -inf).

    Forward: ``np.maximum`` over the kh*kw strided views; backward: the gradient goes to
    the first maximum of each window (row-major), as in PyTorch.

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``.
    """
    if ceil_mode:
        raise NotImplementedError("max_pool2d: ceil_mode=True is not supported")
    x = _input(input, None, "max_pool2d")
    xd = x._data
    kh, kw, sh, sw, ph, pw, dh, dw, ho, wo = _pool_geometry(
        xd, kernel_size, stride, padding, dilation, "max_pool2d"
    )
    xp = _pad(xd, (ph, ph, pw, pw), -np.inf)
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


@primitive
def avg_pool2d(
    input: Any,  # noqa: A002
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over sliding windows (``stride`` defaults to ``kernel_size``; zero padding).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``.
    """
    if ceil_mode:
        raise NotImplementedError("avg_pool2d: ceil_mode=True is not supported")
    x = _input(input, None, "avg_pool2d")
    xd = x._data
    kh, kw, sh, sw, ph, pw, _, _, ho, wo = _pool_geometry(
        xd, kernel_size, stride, padding, 1, "avg_pool2d"
    )
    xp = _pad(xd, (ph, ph, pw, pw), 0.0)
    slices = _window_slices(xp, kh, kw, sh, sw, 1, 1, ho, wo)
    out = slices[0].copy()
    for s in slices[1:]:
        out += s
    div: Any
    if divisor_override is not None:
        if int(divisor_override) <= 0:
            raise ValueError(
                f"avg_pool2d: divisor_override must be positive, got {divisor_override}"
            )
        div = xd.dtype.type(divisor_override)
    elif count_include_pad or (ph == 0 and pw == 0):
        div = xd.dtype.type(kh * kw)
    else:
        h, w = xd.shape[2], xd.shape[3]
        mask = np.zeros((h + 2 * ph, w + 2 * pw), dtype=xd.dtype)
        mask[ph : ph + h, pw : pw + w] = 1
        div = sum(_window_slices(mask, kh, kw, sh, sw, 1, 1, ho, wo))
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


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
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


def flatten(input: Any, start_dim: int = 1, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Merge dimensions ``start_dim..end_dim`` (default: all but the batch dimension)."""
    return ops.flatten(input, start_dim, end_dim)


# ---------------------------------------------------------- regularisation
def dropout(
    input: Any,  # noqa: A002
    p: float = 0.5,
    training: bool = True,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Identity when ``training`` is False or ``p == 0``. In training the mask is drawn from
    ``generator`` (required).

    Shape: any -> same.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _input(input, None, "dropout")
    if not training or p == 0.0:
        return x
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            "dropout: in training mode a numpy.random.Generator is required as generator=, "
            f"got {type(generator).__name__}"
        )
    dt = x._data.dtype
    if p == 1.0:
        return ops.mul(x, _const(np.zeros(x._data.shape, dtype=dt)))
    u = generator.random(x._data.shape, dtype=np.float64 if dt == np.float64 else np.float32)
    mask = (u >= p).astype(dt)
    mask *= dt.type(1.0 / (1.0 - p))
    return ops.mul(x, _const(mask))


# ------------------------------------------------------------ normalisation
def batch_norm(
    input: Any,  # noqa: A002
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over all dimensions but the channel dimension 1.

    In training the batch mean and biased variance normalise the input and the running
    arrays (if given) are updated in place: ``running = (1 - momentum) * running +
    momentum * batch_stat`` with the unbiased batch variance, as PyTorch. Otherwise the
    running statistics are used.

    Shape: ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` -> same.
    """
    ref = weight if weight is not None else running_mean
    x = _input(input, None if ref is None else ref.dtype, "batch_norm")
    xd = x._data
    if xd.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, ...), got {xd.shape}")
    c = xd.shape[1]
    axes = (0,) + tuple(range(2, xd.ndim))
    bshape = (1, c) + (1,) * (xd.ndim - 2)
    for name, arr in (("running_mean", running_mean), ("running_var", running_var)):
        if arr is not None and arr.shape != (c,):
            raise ShapeError(
                f"batch_norm: {name} must have shape ({c},), got {arr.shape} for input {xd.shape}"
            )
    if training or running_mean is None or running_var is None:
        count = xd.size // max(c, 1)
        if count <= 1 and training:
            raise ShapeError(
                f"batch_norm: expected more than 1 value per channel when training, "
                f"got input {xd.shape}"
            )
        mean = ops.mean(x, axes, True)
        centered = ops.sub(x, mean)
        var = ops.mean(ops.mul(centered, centered), axes, True)
        if training and running_mean is not None and running_var is not None:
            m = float(momentum)
            bm = mean._data.reshape(c)
            bv = var._data.reshape(c) * (count / (count - 1))
            running_mean *= 1 - m
            running_mean += (m * bm).astype(running_mean.dtype, copy=False)
            running_var *= 1 - m
            running_var += (m * bv).astype(running_var.dtype, copy=False)
        y = ops.div(centered, ops.sqrt(ops.add(var, eps)))
    else:
        rm = running_mean.reshape(bshape).astype(xd.dtype, copy=False)
        inv = (1.0 / np.sqrt(running_var.reshape(bshape) + eps)).astype(xd.dtype, copy=False)
        y = ops.mul(ops.sub(x, _const(rm)), _const(inv))
    wt, bt = _param(weight, xd.dtype), _param(bias, xd.dtype)
    if wt is not None:
        y = ops.mul(y, ops.reshape(wt, bshape))
    if bt is not None:
        y = ops.add(y, ops.reshape(bt, bshape))
    return y


def layer_norm(
    input: Any,  # noqa: A002
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions (biased variance).

    Shape: ``(*, *normalized_shape)`` -> same.
    """
    x = _input(input, None if weight is None else weight.dtype, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    xd = x._data
    if xd.shape[xd.ndim - len(shape) :] != shape or len(shape) > xd.ndim:
        raise ShapeError(
            f"layer_norm: expected input whose trailing dimensions are {shape}, got {xd.shape}"
        )
    axes = tuple(range(xd.ndim - len(shape), xd.ndim))
    mean = ops.mean(x, axes, True)
    centered = ops.sub(x, mean)
    var = ops.mean(ops.mul(centered, centered), axes, True)
    y = ops.div(centered, ops.sqrt(ops.add(var, eps)))
    wt, bt = _param(weight, xd.dtype), _param(bias, xd.dtype)
    if wt is not None:
        y = ops.mul(y, wt)
    if bt is not None:
        y = ops.add(y, bt)
    return y


# ---------------------------------------------------------------- embedding
def _int_array(values: Any, op: str, what: str) -> np.ndarray:
    """Integer array from ints or whole-number floats; ValueError naming non-integers."""
    arr = np.asarray(values._data if isinstance(values, Tensor) else values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        raise ValueError(f"{op}: {what} must be integers, got booleans")
    if arr.dtype.kind == "f":
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))] if arr.size else arr
        if bad.size:
            shown = np.unique(bad)[:8].tolist()
            raise ValueError(
                f"{op}: {what} must be integers, got non-integer values {shown} (dtype {arr.dtype})"
            )
        return arr.astype(np.int64)
    raise ValueError(f"{op}: {what} must be integers, got dtype {arr.dtype}")


@primitive
def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` picked by integer ``input``; ``padding_idx``'s row gets no gradient.

    Shape: input ``(*)`` integers, weight ``(num_embeddings, dim)`` -> ``(*, dim)``.
    """
    w = _weight(weight, "embedding")
    wd = w._data
    if wd.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, dim), got {wd.shape}")
    idx = _int_array(input, "embedding", "indices")
    nemb = wd.shape[0]
    bad = idx[(idx < 0) | (idx >= nemb)]
    if bad.size:
        raise ValueError(
            f"embedding: indices must be in [0, {nemb}), "
            f"got out-of-range values {np.unique(bad)[:8].tolist()}"
        )
    if padding_idx is not None and padding_idx < 0:
        padding_idx += nemb
    out = wd[idx]

    def backward(g: np.ndarray) -> tuple[Any]:
        gw = np.zeros(wd.shape, dtype=g.dtype)
        np.add.at(gw, idx.reshape(-1), g.reshape(-1, wd.shape[1]))
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)

    return _make(out, (w,), backward)


# -------------------------------------------------------------- activations
def relu(input: Any) -> Tensor:  # noqa: A002
    """``max(x, 0)``. Shape: any -> same."""
    return ops.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """``x`` if positive else ``negative_slope * x``. Shape: any -> same."""
    return ops.leaky_relu(input, negative_slope)


def tanh(input: Any) -> Tensor:  # noqa: A002
    """Hyperbolic tangent. Shape: any -> same."""
    return ops.tanh(input)


def sigmoid(input: Any) -> Tensor:  # noqa: A002
    """Logistic function. Shape: any -> same."""
    return ops.sigmoid(input)


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002
    """Gaussian error linear unit (exact erf form or ``approximate='tanh'``). Shape: any -> same."""
    return ops.gelu(input, approximate)


def softmax(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    """Softmax along ``dim``. Shape: any -> same."""
    return ops.softmax(input, dim)


def log_softmax(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    """Log-softmax along ``dim`` (stable). Shape: any -> same."""
    return ops.log_softmax(input, dim)


def silu(input: Any) -> Tensor:  # noqa: A002
    """``x * sigmoid(x)``. Shape: any -> same."""
    return ops.mul(input, ops.sigmoid(input))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold`` (as PyTorch).

    Shape: any -> same.
    """
    x = _input(input, None, "softplus")
    bx = ops.mul(x, beta)
    soft = ops.div(
        ops.add(ops.relu(bx), ops.log(ops.add(ops.exp(ops.neg(ops.abs(bx))), 1.0))), beta
    )
    return ops.where(bx._data > threshold, x, soft)


def elu(input: Any, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``x`` if positive else ``alpha * (exp(x) - 1)``. Shape: any -> same."""
    x = _input(input, None, "elu")
    neg = ops.mul(ops.sub(ops.exp(ops.minimum(x, 0.0)), 1.0), alpha)
    return ops.where(x._data > 0, x, neg)


# -------------------------------------------------------------------- losses
def _reduce_array(per: np.ndarray, reduction: str) -> np.ndarray:
    """Per-element losses reduced as ``reduction`` asks, in their own dtype."""
    if reduction == "none":
        return per
    total = per.sum() / (per.size if reduction == "mean" else 1)
    return np.asarray(total, dtype=per.dtype)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _target(target: Any, like: Tensor, op: str) -> Tensor:
    """Float target of the input's shape (arrays are cast to the input's dtype)."""
    if isinstance(target, Tensor):
        t = target
    else:
        t = _const(np.asarray(target, dtype=like._data.dtype))
    if t._data.shape != like._data.shape:
        raise ShapeError(
            f"{op}: target shape {t._data.shape} differs from input shape {like._data.shape}"
        )
    return t


@primitive
def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``(x - y)^2``, one fused op (gradient ``2 (x - y)`` scaled by the
    reduction; the target gets the negative when it requires grad).

    Shape: input and target ``(*)`` (same shape); output scalar, or ``(*)`` for ``"none"``.
    """
    _check_reduction(reduction, "mse_loss")
    x = _input(input, None, "mse_loss")
    t = _target(target, x, "mse_loss")
    dt = x._data.dtype
    d = x._data - t._data
    sq = d * d
    n = sq.size
    out = sq if reduction == "none" else np.asarray(
        sq.sum() / (n if reduction == "mean" else 1), dtype=dt
    )

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        if reduction == "mean":
            gx = d * (2 * g / n).astype(dt, copy=False)
        else:
            gx = d * (2 * g).astype(dt, copy=False)
        return gx, (-gx if t.requires_grad else None)

    return _make(out, (x, t), backward)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error ``|x - y|``. Shape: input and target ``(*)`` (same shape)."""
    _check_reduction(reduction, "l1_loss")
    x = _input(input, None, "l1_loss")
    return _reduce(ops.abs(ops.sub(x, _target(target, x, "l1_loss"))), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:  # noqa: A002
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``, with ``d = x - y``.

    Shape: input and target ``(*)`` (same shape).
    """
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x = _input(input, None, "huber_loss")
    d = ops.sub(x, _target(target, x, "huber_loss"))
    ad = ops.abs(d)
    quad = ops.mul(ops.mul(d, d), 0.5)
    lin = ops.mul(ops.sub(ad, 0.5 * delta), delta)
    return _reduce(ops.where(ad._data < delta, quad, lin), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:  # noqa: A002
    """Huber loss divided by ``beta`` (``beta=0`` is the L1 loss). Shape: same as input."""
    if beta == 0:
        return l1_loss(input, target, reduction)
    return ops.div(huber_loss(input, target, reduction, beta), beta)


def _class_dim_flat(xd: np.ndarray, op: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """(M, C) view/copy with the class dimension last, and the per-sample shape."""
    if xd.ndim == 1:
        return xd.reshape(1, -1), ()
    if xd.ndim < 1:
        raise ShapeError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got {xd.shape}")
    c = xd.shape[1]
    sample_shape = (xd.shape[0],) + xd.shape[2:]
    if xd.ndim == 2:
        return xd, sample_shape
    return np.moveaxis(xd, 1, -1).reshape(-1, c), sample_shape


def _unflat_grad(gm: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) == 1:
        return gm.reshape(shape)
    if len(shape) == 2:
        return gm
    moved = (shape[0],) + shape[2:] + (shape[1],)
    return np.moveaxis(gm.reshape(moved), -1, 1)


def _class_weights(
    target: Any, xd: np.ndarray, weight: Any, ignore_index: int, label_smoothing: float, op: str
) -> tuple[np.ndarray, float, np.ndarray | None, bool]:
    """Effective per-class target weights q (M, C) with loss_i = -sum_c q_ic * logp_ic.

    Returns (q, mean denominator, probability targets (M, C) or None, is_prob).
    """
    xm, sample_shape = _class_dim_flat(xd, op)
    m, c = xm.shape
    dt = xd.dtype
    w = None
    if weight is not None:
        w = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=dt)
        if w.shape != (c,):
            raise ShapeError(f"{op}: weight must have shape ({c},) (one per class), got {w.shape}")
    tdata = target._data if isinstance(target, Tensor) else np.asarray(target)
    if (
        tdata.shape == xd.shape
        and tdata.dtype.kind == "f"
        and xd.ndim >= 1
        and op == "cross_entropy"
    ):
        # class probabilities
        tm, _ = _class_dim_flat(tdata.astype(dt, copy=False), op)
        if label_smoothing > 0:
            tm = tm * (1 - label_smoothing) + label_smoothing / c
        q = tm * w if w is not None else tm
        return np.asarray(q, dtype=dt), float(m), tm, True
    if tdata.shape != sample_shape:
        raise ShapeError(
            f"{op}: for input of shape {xd.shape} the target must have shape {sample_shape} "
            f"(class indices)"
            + (" or the input's shape (class probabilities)" if op == "cross_entropy" else "")
            + f", got {tdata.shape}"
        )
    t = _int_array(tdata, op, "class-index targets").reshape(-1)
    valid = t != ignore_index
    bad = t[valid & ((t < 0) | (t >= c))]
    if bad.size:
        raise ValueError(
            f"{op}: class-index targets must be in [0, {c}) (or ignore_index={ignore_index}), "
            f"got out-of-range values {np.unique(bad)[:8].tolist()}"
        )
    tv = np.where(valid, t, 0)
    wy = (w[tv] if w is not None else np.ones(m, dtype=dt)) * valid
    q = np.zeros((m, c), dtype=dt)
    q[np.arange(m), tv] = (1 - label_smoothing) * wy
    if label_smoothing > 0:
        smooth = (label_smoothing / c) * (w if w is not None else np.ones(c, dtype=dt))
        q += smooth[None, :] * valid[:, None].astype(dt)
    return q, float(wy.sum()), None, False


def _loss_out(
    per: np.ndarray, reduction: str, denom: float, sample_shape: tuple[int, ...], dt: Any
) -> tuple[np.ndarray, Any]:
    """Reduced loss and the gradient scale (callable on g) for per-sample losses ``per``."""
    if reduction == "none":
        return per.reshape(sample_shape).astype(dt, copy=False), None
    total = per.sum(dtype=np.float64)
    if reduction == "sum":
        return np.asarray(total, dtype=dt), None
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / denom, dtype=dt), denom


def _grad_scale(g: np.ndarray, reduction: str, denom: Any, m: int) -> Any:
    if reduction == "none":
        return g.reshape(m, 1)
    if reduction == "sum":
        return g
    return g / denom


def _cross_entropy_indices(
    x: Tensor, target: np.ndarray, ignore_index: int, reduction: str
) -> Tensor | None:
    """The common case of :func:`cross_entropy`: (N, C) logits and N integer class indices,
    no weights, no smoothing, no ignored targets; None when any target is ``ignore_index``
    (the general path handles it). Same values as the general path, fewer passes."""
    xd = x._data
    m, c = xd.shape
    t = target.astype(np.intp, copy=False)
    if m:
        lo, hi = int(t.min()), int(t.max())
        if lo == ignore_index or hi == ignore_index or (t == ignore_index).any():
            return None
        if lo < 0 or hi >= c:
            bad = np.unique(t[(t < 0) | (t >= c)])[:8].tolist()
            raise ValueError(
                f"cross_entropy: class-index targets must be in [0, {c}) (or "
                f"ignore_index={ignore_index}), got out-of-range values {bad}"
            )
    rows = np.arange(m)
    shifted = xd - xd.max(axis=1, keepdims=True)
    ex = np.exp(shifted)
    se = ex.sum(axis=1, keepdims=True)
    per = np.log(se[:, 0]) - shifted[rows, t]
    denom = float(m)
    out, _ = _loss_out(per, reduction, denom, (m,), xd.dtype)

    def backward(g: np.ndarray) -> tuple[Any]:
        gm = ex / se
        gm[rows, t] -= 1
        gm *= _grad_scale(g, reduction, denom, m)
        return (gm,)

    return _make(out, (x,), backward)


@primitive
def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy from logits, fused with the log-softmax (finite for logits of any size).

    ``target`` holds class indices (integers, or whole-number floats since gradstep
    tensors are float by default), or class probabilities of the input's shape (float).
    With ``weight`` the mean divides by the summed weights of the non-ignored targets, as
    PyTorch; ``label_smoothing`` mixes in the uniform distribution.

    Shape: input ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; target ``(N)``, ``()`` or
    ``(N, d1, ...)`` of indices, or the input's shape of probabilities; output: scalar, or
    the target's sample shape when ``reduction='none'``.

    Raises:
        ValueError: non-integer or out-of-range class indices (naming them), bad reduction.
        ShapeError: target or weight shapes that do not fit.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _input(input, None, "cross_entropy")
    xd = x._data
    if xd.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class dimension, got a scalar")
    if (
        xd.ndim == 2
        and weight is None
        and label_smoothing == 0.0
        and reduction != "none"
        and not isinstance(target, Tensor)
        and isinstance(target, np.ndarray)
        and target.dtype.kind in "iu"
        and target.shape == (xd.shape[0],)
    ):
        fast = _cross_entropy_indices(x, target, ignore_index, reduction)
        if fast is not None:
            return fast
    q, denom, tm, is_prob = _class_weights(
        target, xd, weight, ignore_index, label_smoothing, "cross_entropy"
    )
    xm, sample_shape = _class_dim_flat(xd, "cross_entropy")
    mx = xm.max(axis=1, keepdims=True)
    shifted = xm - mx
    ex = np.exp(shifted)
    se = ex.sum(axis=1, keepdims=True)
    logp = shifted - np.log(se)
    per = -np.einsum("mc,mc->m", q, logp)
    out, _ = _loss_out(per, reduction, denom, sample_shape, xd.dtype)
    m = xm.shape[0]
    tt = target if (is_prob and isinstance(target, Tensor) and target.requires_grad) else None

    def backward(g: np.ndarray) -> tuple[Any, ...]:
        scale = _grad_scale(g, reduction, denom, m)
        gx = None
        if x.requires_grad:
            prob = ex / se
            gm = prob * q.sum(axis=1, keepdims=True) - q
            gm *= scale
            gx = _unflat_grad(gm, xd.shape)
        if tt is None:
            return (gx,)
        wv = (
            np.ones(xm.shape[1], dtype=xd.dtype)
            if weight is None
            else np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=xd.dtype)
        )
        gt = -(1 - label_smoothing) * wv * logp * scale
        return gx, _unflat_grad(gt, xd.shape)

    parents = (x,) if tt is None else (x, tt)
    return _make(out, parents, backward)


@primitive
def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities ``input``.

    Shape: input ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; target ``(N)``, ``()`` or
    ``(N, d1, ...)``; output scalar, or the target's shape when ``reduction='none'``.
    """
    _check_reduction(reduction, "nll_loss")
    x = _input(input, None, "nll_loss")
    xd = x._data
    if xd.ndim == 0:
        raise ShapeError("nll_loss: input must have a class dimension, got a scalar")
    q, denom, _, _ = _class_weights(target, xd, weight, ignore_index, 0.0, "nll_loss")
    xm, sample_shape = _class_dim_flat(xd, "nll_loss")
    per = -np.einsum("mc,mc->m", q, xm)
    out, _ = _loss_out(per, reduction, denom, sample_shape, xd.dtype)
    m = xm.shape[0]

    def backward(g: np.ndarray) -> tuple[Any]:
        return (_unflat_grad(-q * _grad_scale(g, reduction, denom, m), xd.shape),)

    return _make(out, (x,), backward)


def _bce_weight(
    weight: Any, shape: tuple[int, ...], dt: Any, op: str, name: str
) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=dt)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ShapeError(
            f"{op}: {name} of shape {w.shape} does not broadcast to input {shape}"
        ) from None
    return w


@primitive
def binary_cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] (logs clamped at -100 as PyTorch).

    Shape: input and target ``(*)`` (same shape); output scalar or ``(*)``.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    x = _input(input, None, "binary_cross_entropy")
    xd = x._data
    dt = xd.dtype
    y = _target(target, x, "binary_cross_entropy")._data.astype(dt, copy=False)
    if xd.size and (np.any(xd < 0) or np.any(xd > 1) or np.any(np.isnan(xd))):
        raise ValueError("binary_cross_entropy: all input values must be probabilities in [0, 1]")
    w = _bce_weight(weight, xd.shape, dt, "binary_cross_entropy", "weight")
    with np.errstate(divide="ignore"):
        lx = np.maximum(np.log(xd), -100)
        l1x = np.maximum(np.log1p(-xd), -100)
    per = -(y * lx + (1 - y) * l1x)
    if w is not None:
        per = per * w
    out = _reduce_array(np.asarray(per, dtype=dt), reduction)

    def backward(g: np.ndarray) -> tuple[Any]:
        gx = (xd - y) / np.maximum((1 - xd) * xd, dt.type(1e-12))
        if w is not None:
            gx = gx * w
        gx = gx * (g / xd.size if reduction == "mean" else g)
        return (gx,)

    return _make(out, (x,), backward)


@primitive
def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy fused: ``(1-y) x + (1 + (pw-1) y) softplus(-x)``, stable.

    ``pos_weight`` (broadcast along the last, class, dimension) weighs positive examples.

    Shape: input and target ``(*)`` (same shape); output scalar or ``(*)``.
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    op = "binary_cross_entropy_with_logits"
    x = _input(input, None, op)
    xd = x._data
    dt = xd.dtype
    y = _target(target, x, op)._data.astype(dt, copy=False)
    w = _bce_weight(weight, xd.shape, dt, op, "weight")
    pw = _bce_weight(pos_weight, xd.shape, dt, op, "pos_weight")
    sp = np.log1p(np.exp(-np.abs(xd))) + np.maximum(-xd, 0)  # softplus(-x)
    lw = None if pw is None else 1 + (pw - 1) * y
    per = (1 - y) * xd + (sp if lw is None else lw * sp)
    if w is not None:
        per = per * w
    out = _reduce_array(np.asarray(per, dtype=dt), reduction)

    def backward(g: np.ndarray) -> tuple[Any]:
        sig = ops._sigmoid(xd)
        gx = sig - y if lw is None else (1 - y) + lw * (sig - 1)
        if w is not None:
            gx = gx * w
        gx = gx * (g / xd.size if reduction == "mean" else g)
        return (gx,)

    return _make(out, (x,), backward)
