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
The layer converters live in :mod:`gradstep._onnx_layers`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gradstep._atomic import atomic_write_bytes
from gradstep._onnx_layers import (
    CONVERTERS,
    SUPPORTED_LAYERS,
    OnnxExportError,
    _Ctx,
    _Graph,
)

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
    data = getattr(example_input, "_data", example_input)
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


Standardize = tuple[np.ndarray, np.ndarray, tuple[int, ...]]


def _preprocess(graph: _Graph, value: str, x: np.ndarray,
                standardize: Standardize) -> tuple[str, np.ndarray]:
    """Nodes for ``((x - mean) / std).reshape(batch, *model_shape)``; the value name and
    the example as the first layer sees it."""
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
    return value, first


def _convert_layers(model: Any, layers: list[tuple[str, Any]], graph: _Graph, value: str,
                    first: np.ndarray) -> tuple[str, np.ndarray]:
    """Run the example through the layers in eval mode, converting each; the output value
    name and the example output. Training modes are restored afterwards."""
    from gradstep.tensor import Tensor, no_grad

    was_training = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    try:
        if hasattr(model, "eval"):
            model.eval()
        with no_grad():
            t: Any = Tensor(first) if first.dtype.kind == "f" else first
            for name, layer in layers:
                shape = tuple(np.shape(getattr(t, "_data", t)))
                value = CONVERTERS[type(layer).__name__](_Ctx(graph, name, value, shape), layer)
                t = layer(t)
    finally:
        for m, mode in was_training:
            object.__setattr__(m, "training", mode)
    out = np.asarray(getattr(t, "_data", t))
    if out.ndim == 0:
        raise OnnxExportError("export_onnx: the model returns a scalar; a batch is expected")
    return value, out


def _model_proto(onnx: Any, graph: _Graph, name: str, inputs: tuple[str, np.ndarray],
                 outputs: tuple[str, np.ndarray]) -> Any:
    """The ONNX model around the finished graph; batch dimensions are dynamic."""

    def vinfo(value: str, arr: np.ndarray) -> Any:
        elem = onnx.helper.np_dtype_to_tensor_dtype(
            np.dtype(np.float32) if arr.dtype.kind == "f" else np.dtype(np.int64)
        )
        dims: list[Any] = ["batch", *(int(d) for d in arr.shape[1:])]
        return onnx.helper.make_tensor_value_info(value, elem, dims)

    g = onnx.helper.make_graph(
        graph.nodes, name, [vinfo(*inputs)], [vinfo(*outputs)], initializer=graph.initializers
    )
    return onnx.helper.make_model(
        g,
        producer_name="gradstep",
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )


def _name_output(onnx: Any, graph: _Graph, value: str, input_name: str,
                 output_name: str) -> None:
    """Make ``output_name`` the graph's output (renaming the last node's, or an Identity)."""
    if value == input_name or not graph.nodes or graph.nodes[-1].output[0] != value:
        graph.nodes.append(
            onnx.helper.make_node("Identity", [value], [output_name], name="Identity:output")
        )
    else:
        graph.nodes[-1].output[0] = output_name


def _export(
    model: Any,
    path: PathLike,
    example_input: Any,
    *,
    input_name: str = "input",
    output_name: str = "output",
    check: bool = True,
    standardize: Standardize | None = None,
    output_affine: tuple[float, float] | None = None,
) -> Path:
    """:func:`export_onnx`, optionally with the CLI's preprocessing folded into the graph.

    ``standardize = (mean, std, model_shape)``: the graph takes raw examples and computes
    ``((x - mean) / std).reshape(batch, *model_shape)`` before the first layer.
    ``output_affine = (scale, shift)``: the graph returns ``output * scale + shift``.
    """
    onnx = _import_onnx()
    layers = list(_layers(model))
    x = _as_example(example_input)
    graph = _Graph(onnx)
    graph._names.update((input_name, output_name))
    value, first = input_name, x
    if standardize is not None:
        value, first = _preprocess(graph, value, x, standardize)
    value, out = _convert_layers(model, layers, graph, value, first)
    if output_affine is not None:
        scale, shift = output_affine
        value = graph.node("Mul", [value, graph.const("postprocess.scale", scale)], "scaled")
        value = graph.node("Add", [value, graph.const("postprocess.shift", shift)], "prediction")
    _name_output(onnx, graph, value, input_name, output_name)
    proto = _model_proto(onnx, graph, type(model).__name__, (input_name, x), (output_name, out))
    if check:
        onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(path, proto.SerializeToString())  # OSError names path, not the temp file
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
    loaded (:func:`gradstep.load_checkpoint`).

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
    from gradstep.checkpoint import load_checkpoint
    from gradstep.errors import CheckpointError

    ck = load_checkpoint(checkpoint)
    where = os.fspath(checkpoint)
    if ck.model is None:
        raise CheckpointError(
            f"export: checkpoint {where!r} records no model config, so the model cannot be "
            "rebuilt; use gradstep.export_onnx(model, path, example) instead"
        )
    pre = _preprocess_record(ck.meta) if preprocess else None
    if pre is not None:
        return _export_preprocessed(ck.model, path, pre, where, input_shape)
    shape = _input_shape(ck, where, input_shape)
    first = next(iter(_layers(ck.model)), ("", None))[1]
    dtype = np.int64 if type(first).__name__ == "Embedding" else np.float32
    return export_onnx(ck.model, path, np.zeros((1, *shape), dtype=dtype))


def _export_preprocessed(model: Any, path: PathLike, pre: dict[str, Any], where: str,
                         input_shape: Any) -> Path:
    """Export with the ``gradstep train`` preprocessing record folded into the graph."""
    from gradstep.errors import CheckpointError, ConfigError

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
        raise CheckpointError(f"export: {where!r}: malformed preprocessing record: {exc}") from None
    affine = None
    if pre.get("task") == "regression":
        affine = (float(pre.get("y_std", 1.0)), float(pre.get("y_mean", 0.0)))
    return _export(model, path, np.zeros((1, *raw), np.float32),
                   standardize=(mean, std, model_shape), output_affine=affine)


def _input_shape(ck: Any, where: str, input_shape: Any) -> tuple[int, ...]:
    """The per-example shape of the network's input: given, recorded or inferred."""
    from gradstep.errors import ConfigError

    shape: tuple[int, ...] | None
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if not shape or any(d <= 0 for d in shape):
            raise ConfigError(
                f"export: input shape must be positive integers, got {tuple(input_shape)}"
            )
        return shape
    recorded = _preprocess_record(ck.meta)
    shape = (
        _shape_in(ck.meta)
        or (tuple(int(d) for d in recorded["model_shape"]) if recorded else None)
        or infer_input_shape(ck.model)
    )
    if shape is None:
        raise ConfigError(
            f"export: the input shape of the model in {where!r} is not recorded and cannot "
            "be inferred from its first layer; pass it, e.g. --input-shape 1,28,28"
        )
    return shape


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
