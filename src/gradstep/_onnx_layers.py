"""ONNX graph building for :mod:`gradstep.onnx_export`: one converter per gradstep layer.

Each converter receives a :class:`_Ctx` (the graph under construction, the layer's dotted
name, the name of its input value and the example input's shape at that layer) and the
layer, adds the equivalent ONNX nodes (PyTorch semantics, opset 17) and returns the name of
its output value. Initializers are named after the layer's state-dict keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradstep.errors import GradstepError

__all__ = ["OnnxExportError", "CONVERTERS", "SUPPORTED_LAYERS", "Converter"]


class OnnxExportError(GradstepError, TypeError):
    """A model (or one of its layers) cannot be exported to ONNX; the message names it."""


# ------------------------------------------------------------------------ graph builder


class _Graph:
    """Accumulates nodes and initializers; hands out unique value names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()
        self._counter = 0

    def fresh(self, hint: str) -> str:
        base = hint or "v"
        name = base
        while name in self._names:
            self._counter += 1
            name = f"{base}_{self._counter}"
        self._names.add(name)
        return name

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        arr = np.require(np.asarray(value, dtype=dtype), requirements="C")
        unique = self.fresh(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, unique))
        return unique

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=f"{op}:{out}", **attrs))
        return out


class _Ctx:
    """What a layer converter sees: the graph, the layer's dotted name and the input."""

    def __init__(self, graph: _Graph, name: str, x: str, shape: tuple[int, ...]) -> None:
        self.g = graph
        self.name = name
        self.x = x
        self.shape = shape  # the example input's shape at this layer (batch first)

    def key(self, leaf: str) -> str:
        return f"{self.name}.{leaf}" if self.name else leaf

    def fail(self, module: Any, why: str) -> OnnxExportError:
        return OnnxExportError(
            f"export_onnx: layer {self.name or '<model>'!r} ({type(module).__name__}) "
            f"cannot be exported: {why}"
        )


def _param(m: Any, attr: str) -> np.ndarray | None:
    v = getattr(m, attr, None)
    if v is None:
        return None
    data = getattr(v, "_data", v)
    return np.asarray(data, dtype=np.float32)


def _pair(v: Any, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(a) for a in v)
    if len(t) == 1:
        return (t[0], t[0])
    if len(t) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {v!r}")
    return (t[0], t[1])


# ------------------------------------------------------------------------- converters

Converter = Callable[[_Ctx, Any], str]


def _linear(c: _Ctx, m: Any) -> str:
    w = _param(m, "weight")
    b = _param(m, "bias")
    if w is None:
        raise c.fail(m, "it has no weight")
    if len(c.shape) == 2:
        inputs = [c.x, c.g.const(c.key("weight"), w)]
        if b is not None:
            inputs.append(c.g.const(c.key("bias"), b))
        return c.g.node("Gemm", inputs, c.key("out"), transB=1)
    y = c.g.node("MatMul", [c.x, c.g.const(c.key("weight_t"), w.T)], c.key("matmul"))
    if b is None:
        return y
    return c.g.node("Add", [y, c.g.const(c.key("bias"), b)], c.key("out"))


def _conv2d(c: _Ctx, m: Any) -> str:
    mode = getattr(m, "padding_mode", "zeros")
    if mode != "zeros":
        raise c.fail(m, f"padding_mode {mode!r} (only 'zeros' is supported)")
    w = _param(m, "weight")
    if w is None or w.ndim != 4:
        raise c.fail(m, "expected a 4-D weight (out_channels, in_channels/groups, kH, kW)")
    kh, kw = int(w.shape[2]), int(w.shape[3])
    stride = _pair(getattr(m, "stride", 1), "stride")
    dil = _pair(getattr(m, "dilation", 1), "dilation")
    padding = getattr(m, "padding", 0)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0, 0, 0, 0]
        elif padding == "same":
            th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
            pads = [th // 2, tw // 2, th - th // 2, tw - tw // 2]  # extra on the end, as PyTorch
        else:
            raise c.fail(m, f"padding {padding!r}")
    else:
        ph, pw = _pair(padding, "padding")
        pads = [ph, pw, ph, pw]
    inputs = [c.x, c.g.const(c.key("weight"), w)]
    b = _param(m, "bias")
    if b is not None:
        inputs.append(c.g.const(c.key("bias"), b))
    return c.g.node(
        "Conv",
        inputs,
        c.key("out"),
        kernel_shape=[kh, kw],
        strides=list(stride),
        dilations=list(dil),
        pads=pads,
        group=int(getattr(m, "groups", 1)),
    )


def _batchnorm(c: _Ctx, m: Any) -> str:
    mean = getattr(m, "running_mean", None)
    var = getattr(m, "running_var", None)
    if mean is None or var is None:
        raise c.fail(
            m, "it has no running statistics (track_running_stats=False uses batch statistics)"
        )
    mean = np.asarray(mean, dtype=np.float32)
    var = np.asarray(var, dtype=np.float32)
    n = mean.shape[0]
    w = _param(m, "weight")
    b = _param(m, "bias")
    scale = w if w is not None else np.ones(n, np.float32)
    bias = b if b is not None else np.zeros(n, np.float32)
    return c.g.node(
        "BatchNormalization",
        [
            c.x,
            c.g.const(c.key("weight"), scale),
            c.g.const(c.key("bias"), bias),
            c.g.const(c.key("running_mean"), mean),
            c.g.const(c.key("running_var"), var),
        ],
        c.key("out"),
        epsilon=float(getattr(m, "eps", 1e-5)),
    )


def _layernorm(c: _Ctx, m: Any) -> str:
    shape = getattr(m, "normalized_shape", None)
    if shape is None:
        raise c.fail(m, "it has no normalized_shape")
    shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    w = _param(m, "weight")
    b = _param(m, "bias")
    scale = w if w is not None else np.ones(shape, np.float32)
    bias = b if b is not None else np.zeros(shape, np.float32)
    return c.g.node(
        "LayerNormalization",
        [c.x, c.g.const(c.key("weight"), scale), c.g.const(c.key("bias"), bias)],
        c.key("out"),
        axis=-len(shape),
        epsilon=float(getattr(m, "eps", 1e-5)),
    )


def _embedding(c: _Ctx, m: Any) -> str:
    if getattr(m, "max_norm", None) is not None:
        raise c.fail(m, "max_norm renormalises the table during forward")
    w = _param(m, "weight")
    if w is None:
        raise c.fail(m, "it has no weight")
    return c.g.node("Gather", [c.g.const(c.key("weight"), w), c.x], c.key("out"), axis=0)


def _pool_args(c: _Ctx, m: Any) -> dict[str, Any]:
    k = _pair(m.kernel_size, "kernel_size")
    s = getattr(m, "stride", None)
    stride = k if s is None or (not isinstance(s, int) and len(s) == 0) else _pair(s, "stride")
    ph, pw = _pair(getattr(m, "padding", 0), "padding")
    return {
        "kernel_shape": list(k),
        "strides": list(stride),
        "pads": [ph, pw, ph, pw],
        "ceil_mode": int(bool(getattr(m, "ceil_mode", False))),
    }


def _maxpool2d(c: _Ctx, m: Any) -> str:
    if getattr(m, "return_indices", False):
        raise c.fail(m, "return_indices=True")
    args = _pool_args(c, m)
    args["dilations"] = list(_pair(getattr(m, "dilation", 1), "dilation"))
    return c.g.node("MaxPool", [c.x], c.key("out"), **args)


def _avgpool2d(c: _Ctx, m: Any) -> str:
    if getattr(m, "divisor_override", None) is not None:
        raise c.fail(m, "divisor_override")
    args = _pool_args(c, m)
    args["count_include_pad"] = int(bool(getattr(m, "count_include_pad", True)))
    return c.g.node("AveragePool", [c.x], c.key("out"), **args)


def _adaptive_avgpool2d(c: _Ctx, m: Any) -> str:
    h, w = c.shape[-2], c.shape[-1]
    size = getattr(m, "output_size", None)
    oh, ow = (
        (None, None) if size is None else ((size, size) if isinstance(size, int) else tuple(size))
    )
    oh = h if oh is None else int(oh)
    ow = w if ow is None else int(ow)
    if (oh, ow) == (1, 1):
        return c.g.node("GlobalAveragePool", [c.x], c.key("out"))
    if h % oh == 0 and w % ow == 0:  # equal windows: one AveragePool
        kh, kw = h // oh, w // ow
        return c.g.node("AveragePool", [c.x], c.key("out"), kernel_shape=[kh, kw], strides=[kh, kw])
    # PyTorch's overlapping bins: P_h @ x @ P_w^T with fixed averaging matrices
    y = c.x
    if oh != h:
        y = c.g.node(
            "MatMul", [c.g.const(c.key("pool_h"), _adaptive_matrix(h, oh)), y], c.key("ph")
        )
    if ow != w:
        y = c.g.node(
            "MatMul", [y, c.g.const(c.key("pool_w"), _adaptive_matrix(w, ow).T)], c.key("pw")
        )
    return y


def _adaptive_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) averaging matrix, bins [floor(i*n/o), ceil((i+1)*n/o)) as PyTorch."""
    m = np.zeros((n_out, n_in), dtype=np.float32)
    for i in range(n_out):
        lo = (i * n_in) // n_out
        hi = -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _flatten(c: _Ctx, m: Any) -> str:
    nd = len(c.shape)
    start = int(getattr(m, "start_dim", 1))
    end = int(getattr(m, "end_dim", -1))
    start = start + nd if start < 0 else start
    end = end + nd if end < 0 else end
    if start == 0:
        raise c.fail(m, "start_dim=0 would merge the dynamic batch dimension")
    if start == 1 and end == nd - 1:  # ONNX Flatten always gives 2-D: only this case
        return c.g.node("Flatten", [c.x], c.key("out"), axis=1)
    target = [0] * start + [-1] + [int(d) for d in c.shape[end + 1 :]]
    shape = c.g.const(c.key("shape"), target, np.int64)
    return c.g.node("Reshape", [c.x, shape], c.key("out"))


def _identity(c: _Ctx, m: Any) -> str:
    return c.x


def _simple(op: str, **fixed: Any) -> Converter:
    def convert(c: _Ctx, m: Any) -> str:
        return c.g.node(op, [c.x], c.key("out"), **fixed)

    return convert


def _leaky_relu(c: _Ctx, m: Any) -> str:
    alpha = float(getattr(m, "negative_slope", 0.01))
    return c.g.node("LeakyRelu", [c.x], c.key("out"), alpha=alpha)


def _elu(c: _Ctx, m: Any) -> str:
    return c.g.node("Elu", [c.x], c.key("out"), alpha=float(getattr(m, "alpha", 1.0)))


def _softplus(c: _Ctx, m: Any) -> str:
    # PyTorch: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold
    beta = float(getattr(m, "beta", 1.0))
    threshold = float(getattr(m, "threshold", 20.0))
    g, x = c.g, c.x
    bx = x if beta == 1.0 else g.node("Mul", [x, g.const(c.key("beta"), beta)], c.key("bx"))
    sp = g.node("Softplus", [bx], c.key("softplus"))
    if beta != 1.0:
        sp = g.node("Div", [sp, g.const(c.key("inv_beta"), beta)], c.key("sp"))
    big = g.node("Greater", [bx, g.const(c.key("threshold"), threshold)], c.key("big"))
    return g.node("Where", [big, x, sp], c.key("out"))


def _axis_op(op: str) -> Converter:
    def convert(c: _Ctx, m: Any) -> str:
        dim = getattr(m, "dim", None)
        if dim is None:  # PyTorch's legacy implicit choice
            dim = 0 if len(c.shape) in (0, 1, 3) else 1
        dim = int(dim)
        return c.g.node(op, [c.x], c.key("out"), axis=dim)

    return convert


def _gelu(c: _Ctx, m: Any) -> str:
    approx = getattr(m, "approximate", "none")
    g, x = c.g, c.x
    if approx in ("none", None, False):
        # 0.5 * x * (1 + erf(x / sqrt(2)))
        t = g.node("Mul", [x, g.const(c.key("inv_sqrt2"), 1.0 / math.sqrt(2.0))], c.key("xs"))
        t = g.node("Erf", [t], c.key("erf"))
    elif approx in ("tanh", True):
        # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
        x3 = g.node("Mul", [x, g.node("Mul", [x, x], c.key("x2"))], c.key("x3"))
        inner = g.node(
            "Add",
            [x, g.node("Mul", [x3, g.const(c.key("k"), 0.044715)], c.key("kx3"))],
            c.key("inner"),
        )
        t = g.node("Mul", [inner, g.const(c.key("s"), math.sqrt(2.0 / math.pi))], c.key("scaled"))
        t = g.node("Tanh", [t], c.key("tanh"))
    else:
        raise c.fail(m, f"approximate={approx!r}")
    t = g.node("Add", [t, g.const(c.key("one"), 1.0)], c.key("onep"))
    t = g.node("Mul", [x, t], c.key("xt"))
    return g.node("Mul", [t, g.const(c.key("half"), 0.5)], c.key("out"))


def _silu(c: _Ctx, m: Any) -> str:
    s = c.g.node("Sigmoid", [c.x], c.key("sigmoid"))
    return c.g.node("Mul", [c.x, s], c.key("out"))


CONVERTERS: dict[str, Converter] = {
    "Linear": _linear,
    "Conv2d": _conv2d,
    "BatchNorm1d": _batchnorm,
    "BatchNorm2d": _batchnorm,
    "LayerNorm": _layernorm,
    "Embedding": _embedding,
    "MaxPool2d": _maxpool2d,
    "AvgPool2d": _avgpool2d,
    "AdaptiveAvgPool2d": _adaptive_avgpool2d,
    "Flatten": _flatten,
    "Dropout": _identity,
    "Identity": _identity,
    "ReLU": _simple("Relu"),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "LeakyReLU": _leaky_relu,
    "ELU": _elu,
    "Softplus": _softplus,
    "GELU": _gelu,
    "SiLU": _silu,
    "Softmax": _axis_op("Softmax"),
    "LogSoftmax": _axis_op("LogSoftmax"),
}
"""gradstep.nn class name -> converter. Only the classes of :mod:`gradstep.nn` itself match."""

SUPPORTED_LAYERS: tuple[str, ...] = ("Sequential", *CONVERTERS)
"""Names of the layers :func:`export_onnx` handles."""
