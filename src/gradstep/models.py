"""Model builders for the ``gradstep`` command, and reconstruction from a saved config.

Specs (the ``--model`` option):

* ``linear``: one :class:`~gradstep.nn.Linear` layer (softmax / linear regression).
* ``mlp`` or ``mlp:256,128``: fully connected layers of the given widths with ReLU
  between them (default ``256,128``); ``mlp:512,256:dropout=0.2`` adds dropout after each
  hidden activation.
* ``cnn`` or ``cnn:32,64``: for images ``(C, H, W)``: per width, a 3x3 convolution (padding
  1), ReLU and 2x2 max pooling, then a 128-unit hidden layer and the output layer.

Every builder takes an explicit ``numpy.random.Generator`` (or a seed) for the initial
weights. Models are :class:`~gradstep.nn.Sequential` stacks of registered layers, so
``model.to_config()`` describes them and :func:`from_config` rebuilds them (without
weights) from a checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradstep import nn
from gradstep.errors import ConfigError

__all__ = ["build", "from_config", "parse_spec", "mlp", "cnn", "linear"]


def _gen(generator: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(0 if generator is None else generator)


def linear(
    in_features: int, out_features: int, *, generator: Any = None, dtype: Any = None
) -> nn.Module:
    """One affine layer. Shape: ``(N, *) -> (N, out_features)`` (input flattened)."""
    g = _gen(generator)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_features, out_features, generator=g, dtype=dtype)
    )


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    dropout: float = 0.0,
    generator: Any = None,
    dtype: Any = None,
) -> nn.Module:
    """Fully connected ReLU network. Shape: ``(N, *) -> (N, out_features)`` (input flattened).

    Args:
        in_features: size of a flattened input example.
        hidden: widths of the hidden layers.
        out_features: outputs (classes, or 1 for regression).
        dropout: dropout probability after each hidden activation (0: none).
        generator: Generator or seed for the initial weights (and dropout masks).
    """
    g = _gen(generator)
    layers: list[nn.Module] = [nn.Flatten()]
    prev = in_features
    for i, h in enumerate(hidden):
        layers += [nn.Linear(prev, h, generator=g, dtype=dtype), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout, seed=int(g.integers(2**31)) + i))
        prev = h
    layers.append(nn.Linear(prev, out_features, generator=g, dtype=dtype))
    return nn.Sequential(*layers)


def cnn(
    input_shape: Sequence[int],
    out_features: int,
    channels: Sequence[int] = (32, 64),
    hidden: int = 128,
    *,
    generator: Any = None,
    dtype: Any = None,
) -> nn.Module:
    """Small convolutional network. Shape: ``(N, C, H, W) -> (N, out_features)``.

    Per entry of ``channels``: Conv2d(3x3, padding 1), ReLU, MaxPool2d(2); then Flatten,
    Linear(hidden), ReLU, Linear(out_features).
    """
    if len(input_shape) != 3:
        raise ConfigError(
            f"cnn: expected image input (C, H, W), got example shape {tuple(input_shape)}"
        )
    g = _gen(generator)
    c, h, w = (int(s) for s in input_shape)
    layers: list[nn.Module] = []
    for ch in channels:
        layers += [nn.Conv2d(c, ch, 3, padding=1, generator=g, dtype=dtype), nn.ReLU()]
        if h >= 2 and w >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = ch
    layers += [
        nn.Flatten(),
        nn.Linear(c * h * w, hidden, generator=g, dtype=dtype),
        nn.ReLU(),
        nn.Linear(hidden, out_features, generator=g, dtype=dtype),
    ]
    return nn.Sequential(*layers)


def parse_spec(spec: str) -> tuple[str, list[int], dict[str, float]]:
    """``"mlp:256,128:dropout=0.2"`` -> ``("mlp", [256, 128], {"dropout": 0.2})``.

    Raises:
        ConfigError: unknown kind, bad widths or options.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"--model: expected e.g. mlp:256,128, cnn or linear, got {spec!r}")
    parts = spec.strip().lower().split(":")
    kind = parts[0]
    if kind not in ("mlp", "cnn", "linear"):
        raise ConfigError(
            f"--model: unknown model {parts[0]!r}; expected mlp[:W1,W2,...], "
            "cnn[:C1,C2,...] or linear"
        )
    widths: list[int] = []
    opts: dict[str, float] = {}
    for part in parts[1:]:
        if "=" in part:
            key, _, val = part.partition("=")
            if key != "dropout":
                raise ConfigError(f"--model: unknown option {key!r} in {spec!r} (known: dropout)")
            try:
                p = float(val)
            except ValueError:
                raise ConfigError(f"--model: dropout must be a number, got {val!r}") from None
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"--model: dropout must be in [0, 1), got {p}")
            opts[key] = p
            continue
        if kind == "linear":
            raise ConfigError(f"--model: linear takes no widths, got {spec!r}")
        try:
            widths = [int(w) for w in part.split(",") if w.strip()]
        except ValueError:
            raise ConfigError(f"--model: widths must be positive integers, got {part!r}") from None
        if not widths or any(w <= 0 for w in widths):
            raise ConfigError(f"--model: widths must be positive integers, got {part!r}")
    if kind == "mlp" and not widths and ":" not in spec:
        widths = [256, 128]
    if kind == "cnn" and not widths:
        widths = [32, 64]
    return kind, widths, opts


def build(
    spec: str,
    input_shape: Sequence[int],
    out_features: int,
    *,
    generator: Any = None,
    dtype: Any = None,
) -> nn.Module:
    """Build a model from a spec string (see the module docstring).

    Args:
        spec: ``linear``, ``mlp[:W1,W2,...][:dropout=P]`` or ``cnn[:C1,C2,...]``.
        input_shape: shape of one input example, e.g. ``(64,)`` or ``(1, 28, 28)``.
        out_features: number of outputs.
        generator: Generator or seed for the initial weights.

    Raises:
        ConfigError: bad spec, or a cnn for non-image input.
    """
    kind, widths, opts = parse_spec(spec)
    d = int(math.prod(input_shape))
    if kind == "linear":
        return linear(d, out_features, generator=generator, dtype=dtype)
    if kind == "mlp":
        return mlp(
            d,
            widths,
            out_features,
            dropout=opts.get("dropout", 0.0),
            generator=generator,
            dtype=dtype,
        )
    return cnn(input_shape, out_features, widths, generator=generator, dtype=dtype)


def from_config(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a model (fresh weights) from ``model.to_config()`` as stored in a checkpoint.

    Raises:
        CheckpointError: unknown layer type or bad arguments.
    """
    return nn.module_from_config(config)
