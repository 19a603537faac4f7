"""gradstep: neural networks trained by gradient descent, on NumPy.

The public API is re-exported here; see the README for a tour.
"""

from __future__ import annotations

from gradstep import (
    callbacks,
    data,
    datasets,
    distributed,  # noqa: F401  (registers the data-parallel fit plug-in)
    metrics,
    models,
    nn,
    ops,
    optim,
    utils,
)
from gradstep.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from gradstep.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DivergenceError,
    GradcheckError,
    GradError,
    GradstepError,
    LossWarning,
    NonFiniteError,
    ShapeError,
)
from gradstep.gradcheck import gradcheck
from gradstep.interop import load_weights, save_weights
from gradstep.jit import compile
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
from gradstep.saving import load, save
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
    "History", "callbacks", "compile", "evaluate", "fit", "metrics", "models", "predict",
    "data", "datasets", "optim", "utils",
    "Checkpoint", "load", "save", "load_checkpoint", "save_checkpoint",
    "save_weights", "load_weights", "export_onnx",
    "CheckpointError", "ConfigError", "DataError", "GradcheckError", "GradError",
    "GradstepError", "NonFiniteError", "DivergenceError", "LossWarning", "ShapeError",
    "Tensor", "abs", "add", "arange",
    "as_tensor", "broadcast_to", "cat", "clamp", "clip", "concatenate", "div",
    "enable_grad", "exp", "flatten", "full", "gelu", "getitem", "gradcheck",
    "is_grad_enabled", "leaky_relu", "log", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "nn", "no_grad", "ones", "ones_like",
    "ops", "permute", "pow", "rand", "randn", "relu", "reshape", "set_grad_enabled",
    "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub", "sum", "tanh", "tensor",
    "transpose", "unsqueeze", "var", "where", "zeros", "zeros_like",
]

# PyTorch's tensor API: dtypes, devices, random numbers, creation and the further ops
from gradstep import accelerator, cuda
from gradstep._creation import (
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full_like,
    is_tensor,
    linspace,
    logspace,
    multinomial,
    normal,
    numel,
    rand_like,
    randint,
    randint_like,
    randn_like,
    randperm,
)
from gradstep._device import device
from gradstep._dtypes import bool as bool
from gradstep._dtypes import (
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from gradstep._dtypes import float as float
from gradstep._dtypes import int as int
from gradstep._random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from gradstep.errors import DeviceError, DimensionError, DTypeError
from gradstep.ops import (
    addmm,
    allclose,
    amax,
    amin,
    argmax,
    argmin,
    bmm,
    ceil,
    chunk,
    clone,
    cos,
    cumsum,
    dot,
    einsum,
    eq,
    equal,
    expand,
    flip,
    floor,
    gather,
    ge,
    gt,
    index_select,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lt,
    masked_fill,
    mm,
    narrow,
    ne,
    norm,
    outer,
    prod,
    remainder,
    repeat,
    roll,
    round,
    rsqrt,
    scatter,
    sign,
    sin,
    split,
    square,
    std,
    t,
    tan,
    tril,
    triu,
    unbind,
)
from gradstep.ops import all as all
from gradstep.ops import any as any
from gradstep.tensor import inference_mode

__all__ += [
    "accelerator",
    "cuda", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full_like", "is_tensor",
    "linspace", "logspace", "multinomial", "normal", "numel", "rand_like", "randint",
    "randint_like", "randn_like", "randperm", "device", "double", "float16", "float32",
    "float64", "get_default_dtype", "half", "int8", "int16", "int32", "int64", "long",
    "set_default_dtype", "short", "uint8", "Generator", "default_generator", "get_rng_state",
    "initial_seed", "manual_seed", "seed", "set_rng_state", "DeviceError", "DimensionError",
    "DTypeError", "addmm", "allclose", "amax", "amin", "argmax", "argmin", "bmm", "ceil",
    "chunk", "clone", "cos", "cumsum", "dot", "einsum", "eq", "equal", "expand", "flip",
    "floor", "gather", "ge", "gt", "index_select", "isclose", "isfinite", "isinf", "isnan",
    "le", "log1p", "logical_and", "logical_not", "logical_or", "lt", "masked_fill", "mm",
    "narrow", "ne", "norm", "outer", "prod", "remainder", "repeat", "roll", "round", "rsqrt",
    "scatter", "sign", "sin", "split", "square", "std", "t", "tan", "tril", "triu", "unbind",
    "inference_mode",
]
