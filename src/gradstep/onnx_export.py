"""Export a trained network to ONNX (optional extra: ``pip install "gradstep[onnx]"``).

:func:`export_onnx` walks a model built from gradstep's standard layers, ``Sequential``
containers included (nested ones too), and writes the equivalent ONNX graph in its
inference (eval) form: ``Dropout`` disappears, ``BatchNorm`` uses its running statistics.
The graph is built with ``onnx.helper``, checked with ``onnx.checker`` (full check, with
shape inference) and written atomically. The first (batch) dimension of the input and
the output is dynamic (``"batch"``); the other dimensions are those of the example input.

Supported layers (PyTorch semantics, ONNX opset 17):

=========================  =====================================================
gradstep layer             ONNX
=========================  =====================================================
Linear                     Gemm (2-D input) or MatMul + Add
Conv2d                     Conv (zero padding, ``"same"``/``"valid"`` too)
BatchNorm1d / BatchNorm2d  BatchNormalization (running statistics)
LayerNorm                  LayerNormalization
Embedding                  Gather (int64 input)
MaxPool2d / AvgPool2d      MaxPool / AveragePool
AdaptiveAvgPool2d          GlobalAveragePool, AveragePool or two MatMuls
Flatten                    Flatten or Reshape
Dropout, Identity          nothing (identity at inference)
activations                Relu, Sigmoid, Tanh, LeakyRelu, Elu, Softplus, Softmax,
                           LogSoftmax; GELU and SiLU as small subgraphs
=========================  =====================================================

Any other module (a custom ``Module`` subclass, including one that merely contains
supported layers) raises :class:`OnnxExportError` naming it and its position, because
its ``forward`` may do anything: wrap its layers in a ``Sequential`` to export them.

``import gradstep`` never imports ``onnx``: it is imported when :func:`export_onnx` runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.errors import GradstepError

__all__ = [
    "export_onnx",
    "export_checkpoint",
    "infer_input_shape",
    "OnnxExportError",
    "SUPPORTED_LAYERS",
    "OPSET",
]

OPSET = 17
"""ONNX operator set the graphs use (LayerNormalization needs 17)."""

IR_VERSION = 8
"""ONNX IR version written (the one that goes with opset 17, read by every onnxruntime >= 1.13)."""

PathLike = str | os.PathLike[str]


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
    data = getattr(v, "data", v)
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


# ---------------------------------------------------------------------------- walking


def _is_gradstep_layer(m: Any, name: str) -> bool:
    """``type(m)`` is the class ``gradstep.nn.<name>`` itself (not a user subclass)."""
    from gradstep import nn

    cls = getattr(nn, name, None)
    return cls is not None and type(m) is cls


def _layers(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, leaf layer) in execution order, descending into Sequentials."""
    if _is_gradstep_layer(model, "Sequential"):
        for key in model._keys:
            yield from _layers(model.__dict__[key], f"{prefix}.{key}" if prefix else key)
        return
    name = type(model).__name__
    if name in CONVERTERS and _is_gradstep_layer(model, name):
        yield prefix, model
        return
    where = f"layer {prefix!r}" if prefix else "the model"
    hint = ""
    from gradstep import nn

    if any(
        isinstance(model, c)
        for c in (getattr(nn, n, None) for n in SUPPORTED_LAYERS)
        if isinstance(c, type)
    ):
        hint = " (a subclass of a standard layer may change forward(); use the layer itself)"
    raise OnnxExportError(
        f"export_onnx: {where} is a {name}, which cannot be exported to ONNX{hint}; "
        f"supported: Sequential (nested too) of {', '.join(CONVERTERS)}. Custom modules "
        "are not supported because their forward() is arbitrary Python: build the network "
        "as a Sequential of standard layers"
    )


def _as_example(example_input: Any) -> np.ndarray:
    data = getattr(example_input, "data", example_input)
    if hasattr(data, "detach") and hasattr(data, "cpu"):
        data = data.detach().cpu().numpy()
    arr = np.asarray(data)
    if arr.ndim == 0:
        raise OnnxExportError(
            "export_onnx: example_input must have a batch dimension, got a 0-d value"
        )
    if arr.dtype.kind == "f":
        return arr.astype(np.float32, copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    raise OnnxExportError(
        f"export_onnx: example_input must be a float or integer array, got dtype {arr.dtype}"
    )


def _write_atomic(path: PathLike, payload: bytes) -> None:
    target = Path(os.fspath(path))
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = ""
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'export_onnx needs the onnx package: pip install "gradstep[onnx]"'
        ) from exc
    return onnx


def export_onnx(
    model: Any,
    path: PathLike,
    example_input: Any,
    *,
    input_name: str = "input",
    output_name: str = "output",
    check: bool = True,
) -> Path:
    """Export ``model`` (in its eval form) to an ONNX file with a dynamic batch dimension.

    The model is walked layer by layer (``Sequential`` containers, nested too); each
    layer runs once on the example so that every converter knows its input's shape, and
    becomes one or a few ONNX nodes whose initializers are named after the state-dict
    keys (``0.weight``, ``features.1.running_mean``, ...). The model's training mode is
    restored afterwards.

    Args:
        model: a ``gradstep.nn.Sequential`` (or a single standard layer).
        path: the ``.onnx`` file to write (atomically; its directory must exist).
        example_input: an array or Tensor shaped like one batch, e.g. ``(N, 1, 28, 28)``;
            float input is exported as float32, integer input (for ``Embedding``) as int64.
            Its first dimension becomes the dynamic ``"batch"`` dimension.
        input_name: name of the graph input.
        output_name: name of the graph output.
        check: run ``onnx.checker.check_model(full_check=True)`` on the graph.

    Returns:
        The path written.

    Raises:
        OnnxExportError: a layer (named by its position and class) cannot be exported.
        ImportError: the ``onnx`` package is not installed.
        onnx.checker.ValidationError: the graph failed the checker (a bug in gradstep).

    Shape:
        ``(batch, *example_input.shape[1:]) -> (batch, *output.shape[1:])``.
    """
    return _export(
        model,
        path,
        example_input,
        input_name=input_name,
        output_name=output_name,
        check=check,
    )


def _export(
    model: Any,
    path: PathLike,
    example_input: Any,
    *,
    input_name: str = "input",
    output_name: str = "output",
    check: bool = True,
    standardize: tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None = None,
    output_affine: tuple[float, float] | None = None,
) -> Path:
    """:func:`export_onnx`, optionally with the CLI's preprocessing folded into the graph.

    ``standardize = (mean, std, model_shape)``: the graph takes raw examples and computes
    ``((x - mean) / std).reshape(batch, *model_shape)`` before the first layer.
    ``output_affine = (scale, shift)``: the graph returns ``output * scale + shift``.
    """
    onnx = _import_onnx()
    from gradstep.tensor import Tensor, no_grad

    layers = list(_layers(model))
    x = _as_example(example_input)
    graph = _Graph(onnx)
    graph._names.update((input_name, output_name))
    value = input_name
    first = x
    if standardize is not None:
        mean, std, model_shape = standardize
        mean = np.asarray(mean, np.float32)
        std = np.asarray(std, np.float32)
        value = graph.node("Sub", [value, graph.const("preprocess.mean", mean)], "centered")
        value = graph.node("Div", [value, graph.const("preprocess.std", std)], "standardized")
        first = ((x.astype(np.float32) - mean) / std).astype(np.float32)
        if tuple(first.shape[1:]) != tuple(model_shape):
            target = np.array([-1, *model_shape], np.int64)
            value = graph.node(
                "Reshape", [value, graph.const("preprocess.shape", target, np.int64)], "model_input"
            )
            first = first.reshape((len(first), *model_shape))
    was_training = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    try:
        if hasattr(model, "eval"):
            model.eval()
        with no_grad():
            t: Any = Tensor(first) if first.dtype.kind == "f" else first
            for name, layer in layers:
                shape = tuple(np.shape(getattr(t, "data", t)))
                value = CONVERTERS[type(layer).__name__](_Ctx(graph, name, value, shape), layer)
                t = layer(t)
    finally:
        for m, mode in was_training:
            object.__setattr__(m, "training", mode)
    out = np.asarray(getattr(t, "data", t))
    if out.ndim == 0:
        raise OnnxExportError("export_onnx: the model returns a scalar; a batch is expected")

    if output_affine is not None:
        scale, shift = output_affine
        value = graph.node("Mul", [value, graph.const("postprocess.scale", scale)], "scaled")
        value = graph.node("Add", [value, graph.const("postprocess.shift", shift)], "prediction")
    if value == input_name or not graph.nodes or graph.nodes[-1].output[0] != value:
        graph.nodes.append(
            onnx.helper.make_node("Identity", [value], [output_name], name="Identity:output")
        )
    else:
        graph.nodes[-1].output[0] = output_name

    def vinfo(name: str, arr: np.ndarray) -> Any:
        elem = onnx.helper.np_dtype_to_tensor_dtype(
            np.dtype(np.float32) if arr.dtype.kind == "f" else np.dtype(np.int64)
        )
        dims: list[Any] = ["batch", *(int(d) for d in arr.shape[1:])]
        return onnx.helper.make_tensor_value_info(name, elem, dims)

    g = onnx.helper.make_graph(
        graph.nodes,
        type(model).__name__,
        [vinfo(input_name, x)],
        [vinfo(output_name, out)],
        initializer=graph.initializers,
    )
    proto = onnx.helper.make_model(
        g,
        producer_name="gradstep",
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    if check:
        onnx.checker.check_model(proto, full_check=True)
    _write_atomic(path, proto.SerializeToString())
    return Path(os.fspath(path))


# ----------------------------------------------------------------------- checkpoints

_SHAPE_KEYS = ("input_shape", "example_shape")


def _shape_in(obj: Any, depth: int = 0) -> tuple[int, ...] | None:
    """A recorded per-example input shape inside a checkpoint's metadata, if any."""
    if not isinstance(obj, dict) or depth > 3:
        return None
    for key in _SHAPE_KEYS:
        v = obj.get(key)
        if isinstance(v, (list, tuple)) and v and all(isinstance(d, int) and d > 0 for d in v):
            return tuple(int(d) for d in v)
    for v in obj.values():
        found = _shape_in(v, depth + 1)
        if found is not None:
            return found
    return None


def infer_input_shape(model: Any) -> tuple[int, ...] | None:
    """Per-example input shape implied by the model's first layer, when it is unambiguous.

    A network whose first layer with weights is a ``Linear`` (after any ``Flatten``,
    ``Dropout`` or ``Identity``) takes ``(in_features,)``; anything else (a ``Conv2d``
    whose spatial size is unknown, an ``Embedding`` whose sequence length is unknown)
    gives None.
    """
    for _, layer in _layers(model):
        name = type(layer).__name__
        if name == "Linear":
            return (int(layer.in_features),)
        if name in ("Flatten", "Dropout", "Identity"):
            continue
        return None
    return None


def _preprocess_record(meta: Any) -> dict[str, Any] | None:
    """The ``gradstep train`` preprocessing record of a checkpoint, when complete."""
    pre = meta.get("preprocess") if isinstance(meta, dict) else None
    if not isinstance(pre, dict) or not {"mean", "std", "raw_shape", "model_shape"} <= set(pre):
        return None
    return pre


def export_checkpoint(
    checkpoint: PathLike,
    path: PathLike,
    *,
    input_shape: tuple[int, ...] | list[int] | None = None,
    preprocess: bool = True,
) -> Path:
    """Export the model of a gradstep checkpoint (e.g. written by ``gradstep train``) to ONNX.

    The model is rebuilt from the config recorded in the checkpoint and its weights are
    loaded (:func:`gradstep.load`).

    A checkpoint written by ``gradstep train`` records how raw examples were standardised
    and reshaped for the model; with ``preprocess`` (the default) that is folded into the
    graph, so the ONNX model takes raw examples of the data set's shape (as
    ``gradstep predict`` does) and, for regression, returns values in the target's units.
    Otherwise the graph takes what the network itself takes; the shape of one example is
    then the ``input_shape`` argument, an ``input_shape`` recorded in the metadata, the
    ``model_shape`` of the preprocessing record, or the one the first layer implies
    (``Linear``: ``(in_features,)``), in that order.

    Args:
        checkpoint: the ``.safetensors`` checkpoint.
        path: the ``.onnx`` file to write.
        input_shape: shape of one example without the batch dimension, e.g. ``(1, 28, 28)``
            (the network's input; not allowed together with folded preprocessing).
        preprocess: fold the recorded preprocessing into the graph.

    Returns:
        The path written.

    Raises:
        CheckpointError: the checkpoint is unreadable or records no model config.
        ConfigError: the input shape is unknown (pass ``input_shape``) or invalid.
        OnnxExportError: the model holds a layer that cannot be exported.
    """
    from gradstep.checkpoint import load
    from gradstep.errors import CheckpointError, ConfigError

    ck = load(checkpoint)
    where = os.fspath(checkpoint)
    if ck.model is None:
        raise CheckpointError(
            f"export: checkpoint {where!r} records no model config, so the model cannot be "
            "rebuilt; use gradstep.export_onnx(model, path, example) instead"
        )
    model = ck.model
    pre = _preprocess_record(ck.meta) if preprocess else None
    if pre is not None:
        if input_shape is not None:
            raise ConfigError(
                f"export: {where!r} records its input preprocessing, so the input shape is "
                "the data set's; pass --no-preprocess to give the network's input shape"
            )
        try:
            raw = tuple(int(d) for d in pre["raw_shape"])
            model_shape = tuple(int(d) for d in pre["model_shape"])
            mean = np.asarray(pre["mean"], np.float32).reshape(raw)
            std = np.asarray(pre["std"], np.float32).reshape(raw)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"export: {where!r}: malformed preprocessing record: {exc}"
            ) from None
        affine = None
        if pre.get("task") == "regression":
            affine = (float(pre.get("y_std", 1.0)), float(pre.get("y_mean", 0.0)))
        return _export(
            model,
            path,
            np.zeros((1, *raw), np.float32),
            standardize=(mean, std, model_shape),
            output_affine=affine,
        )
    shape: tuple[int, ...] | None
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if not shape or any(d <= 0 for d in shape):
            raise ConfigError(
                f"export: input shape must be positive integers, got {tuple(input_shape)}"
            )
    else:
        recorded = _preprocess_record(ck.meta)
        shape = (
            _shape_in(ck.meta)
            or (tuple(int(d) for d in recorded["model_shape"]) if recorded else None)
            or infer_input_shape(model)
        )
    if shape is None:
        raise ConfigError(
            f"export: the input shape of the model in {where!r} is not recorded and cannot "
            "be inferred from its first layer; pass it, e.g. --input-shape 1,28,28"
        )
    first = next(iter(_layers(model)), ("", None))[1]
    dtype = np.int64 if type(first).__name__ == "Embedding" else np.float32
    return export_onnx(model, path, np.zeros((1, *shape), dtype=dtype))


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1,28,28"`` (or ``"1x28x28"``) -> ``(1, 28, 28)``: the ``--input-shape`` option.

    Raises:
        ConfigError: not a list of positive integers.
    """
    from gradstep.errors import ConfigError

    parts = re.split(r"\s*[,x]\s*", text.strip())
    ok = all(p.isascii() and p.isdigit() for p in parts)
    shape = tuple(int(p) for p in parts) if ok else ()
    if not shape or any(d <= 0 for d in shape):
        raise ConfigError(
            f"--input-shape: expected positive integers such as 1,28,28, got {text!r}"
        )
    return shape
