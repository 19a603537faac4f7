"""gradstep: neural networks trained by gradient descent, on NumPy.

The public API is re-exported here; see the README for a tour.
"""

from __future__ import annotations

from gradstep import callbacks, data, datasets, metrics, models, nn, ops, optim
from gradstep.checkpoint import Checkpoint, load, save
from gradstep.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    GradcheckError,
    GradError,
    GradstepError,
    NonFiniteError,
    ShapeError,
)
from gradstep.gradcheck import gradcheck
from gradstep.interop import load_weights, save_weights
from gradstep.onnx_export import export_onnx
from gradstep.ops import (
    abs,
    add,
    broadcast_to,
    cat,
    clamp,
    clip,
    concatenate,
    div,
    exp,
    flatten,
    gelu,
    getitem,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from gradstep.tensor import (
    Tensor,
    arange,
    as_tensor,
    enable_grad,
    full,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    set_grad_enabled,
    tensor,
    zeros,
    zeros_like,
)
from gradstep.train import History, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "History", "callbacks", "evaluate", "fit", "metrics", "models", "predict",
    "data", "datasets", "optim",
    "Checkpoint", "load", "save",
    "save_weights", "load_weights", "export_onnx",
    "CheckpointError", "ConfigError", "DataError", "GradcheckError", "GradError",
    "GradstepError", "NonFiniteError", "ShapeError", "Tensor", "abs", "add", "arange",
    "as_tensor", "broadcast_to", "cat", "clamp", "clip", "concatenate", "div",
    "enable_grad", "exp", "flatten", "full", "gelu", "getitem", "gradcheck",
    "is_grad_enabled", "leaky_relu", "log", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "nn", "no_grad", "ones", "ones_like",
    "ops", "permute", "pow", "rand", "randn", "relu", "reshape", "set_grad_enabled",
    "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub", "sum", "tanh", "tensor",
    "transpose", "unsqueeze", "var", "where", "zeros", "zeros_like",
]
