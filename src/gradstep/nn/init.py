"""Parameter initialisation (``gradstep.nn.init``), following ``torch.nn.init``.

Every function fills a tensor (or ndarray) in place and returns it. Randomness comes
only from the ``generator`` argument (a ``gradstep.Generator`` or ``numpy.random.Generator``);
when it is None the draws come from gradstep's default generator, so ``gradstep.manual_seed``
makes them reproducible, as in PyTorch.
Values are drawn in float64 and cast to the tensor's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradstep import _random
from gradstep.tensor import Tensor

__all__ = [
    "DEFAULT_SEED",
    "calculate_gain",
    "uniform_",
    "normal_",
    "zeros_",
    "ones_",
    "constant_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "trunc_normal_",
    "eye_",
    "default_generator",
]

DEFAULT_SEED = 0
"""Seed of the generator used when ``generator`` is None."""


def default_generator(*key: int) -> np.random.Generator:
    """A fresh generator seeded with ``(DEFAULT_SEED, *key)`` (same key, same stream)."""
    return np.random.default_rng([DEFAULT_SEED, *(int(k) for k in key)])


def _gen(generator: Any, op: str) -> np.random.Generator:
    # None: gradstep's default generator (seeded by gradstep.manual_seed), as PyTorch
    return _random.numpy_generator(generator, op)


def _arr(tensor: Any, op: str) -> np.ndarray:
    arr = tensor._data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: expected a Tensor or ndarray, got {type(tensor).__name__}")
    return arr


def _fill(tensor: Any, values: np.ndarray | float) -> Any:
    arr = _arr(tensor, "init")
    arr[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table).

    linear/conv*/sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2))
    (slope ``param``, default 0.01); selu: 3/4.
    """
    linear_fns = (
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
    )
    if nonlinearity in linear_fns:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(arr: np.ndarray, op: str) -> tuple[int, int]:
    if arr.ndim < 2:
        raise ValueError(
            f"{op}: fan in and fan out need at least 2 dimensions, got shape {arr.shape}"
        )
    receptive = math.prod(arr.shape[2:]) if arr.ndim > 2 else 1
    return arr.shape[1] * receptive, arr.shape[0] * receptive


def uniform_(
    tensor: Any, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Fill with samples of U(a, b)."""
    arr = _arr(tensor, "uniform_")
    return _fill(tensor, _gen(generator, "uniform_").uniform(a, b, arr.shape))


def normal_(
    tensor: Any, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Fill with samples of N(mean, std^2)."""
    arr = _arr(tensor, "normal_")
    return _fill(tensor, _gen(generator, "normal_").normal(mean, std, arr.shape))


def trunc_normal_(
    tensor: Any,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: np.random.Generator | None = None,
) -> Any:
    """Fill with N(mean, std^2) samples redrawn until they fall in [a, b]."""
    arr = _arr(tensor, "trunc_normal_")
    gen = _gen(generator, "trunc_normal_")
    vals = gen.normal(mean, std, arr.shape)
    bad = (vals < a) | (vals > b)
    while np.any(bad):
        vals[bad] = gen.normal(mean, std, int(bad.sum()))
        bad = (vals < a) | (vals > b)
    return _fill(tensor, vals)


def zeros_(tensor: Any) -> Any:
    """Fill with 0."""
    return _fill(tensor, 0.0)


def ones_(tensor: Any) -> Any:
    """Fill with 1."""
    return _fill(tensor, 1.0)


def constant_(tensor: Any, val: float) -> Any:
    """Fill with ``val``."""
    return _fill(tensor, val)


def eye_(tensor: Any) -> Any:
    """Fill a 2-D tensor with the identity."""
    arr = _arr(tensor, "eye_")
    if arr.ndim != 2:
        raise ValueError(f"eye_: needs a 2-D tensor, got shape {arr.shape}")
    return _fill(tensor, np.eye(*arr.shape))


def xavier_uniform_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot)."""
    fan_in, fan_out = _fans(_arr(tensor, "xavier_uniform_"), "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (Glorot)."""
    fan_in, fan_out = _fans(_arr(tensor, "xavier_normal_"), "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(arr: np.ndarray, a: float, mode: str, nonlinearity: str, op: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(arr, op)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{op}: cannot initialise a tensor with zero fan ({arr.shape})")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Any,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Any:
    """U(-b, b) with ``b = gain * sqrt(3 / fan)`` (He); ``a`` is the leaky-ReLU slope."""
    std = _kaiming_std(_arr(tensor, "kaiming_uniform_"), a, mode, nonlinearity, "kaiming_uniform_")
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Any,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Any:
    """N(0, std^2) with ``std = gain / sqrt(fan)`` (He)."""
    std = _kaiming_std(_arr(tensor, "kaiming_normal_"), a, mode, nonlinearity, "kaiming_normal_")
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """A (semi-)orthogonal matrix (trailing dimensions flattened), scaled by ``gain``.

    QR of a Gaussian matrix with the signs of R's diagonal folded into Q, as PyTorch.
    """
    arr = _arr(tensor, "orthogonal_")
    if arr.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dimensions, got shape {arr.shape}")
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _gen(generator, "orthogonal_").standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(arr.shape))
