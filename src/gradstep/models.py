"""Model builders for the ``gradstep`` command, and reconstruction from a saved config.

Specs (the ``--model`` option):

* ``linear``: one :class:`~gradstep.nn.Linear` layer (softmax / linear regression).
* ``mlp`` or ``mlp:256,128``: fully connected layers of the given widths with an
  activation (``activation=``: ReLU by default, sigmoid or tanh) between them (default
  ``256,128``); ``mlp:512,256:dropout=0.2`` adds dropout after each hidden activation.
* ``cnn`` or ``cnn:32,64``: for images ``(C, H, W)``: per width, a 3x3 convolution (padding
  1), ReLU and 2x2 max pooling, then a 128-unit hidden layer and the output layer.

Every builder takes an explicit ``numpy.random.Generator`` (or a seed) for the initial
weights, and ``init=`` chooses how the fully connected layers are initialised (see
:data:`INITS`). Models are :class:`~gradstep.nn.Sequential` stacks of registered layers, so
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

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "build",
    "cnn",
    "from_config",
    "initialize",
    "linear",
    "mlp",
    "parse_spec",
]

#: Hidden-layer activations by name.
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}

#: Initialisations of weights and biases (``Linear`` and ``Conv2d`` layers) by name:
#:
#: * ``default``: the layers' own (PyTorch's: uniform, bound 1/sqrt(fan_in)).
#: * ``normal``: weights and biases N(0, 1) (Nielsen, ch. 1).
#: * ``normal-scaled``: weights N(0, 1/fan_in), biases N(0, 1) (Nielsen, ch. 3).
#: * ``xavier``: weights Glorot-uniform (``nn.init.xavier_uniform_``), biases 0.
#: * ``he``: weights He-normal for ReLU (``nn.init.kaiming_normal_``), biases 0.
INITS = ("default", "normal", "normal-scaled", "xavier", "he")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def initialize(model: nn.Module, init: str, *, generator: Any = None) -> nn.Module:
    """Re-initialise the weights and biases of ``model``'s Linear/Conv2d layers in place.

    Args:
        model: any module.
        init: one of :data:`INITS` (``"default"`` leaves the model unchanged).
        generator: Generator or seed.

    Returns:
        ``model``.
    """
    _check_choice("init", init, INITS)
    if init == "default":
        return model
    g = _gen(generator)
    for layer in model.modules():
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            continue
        w, b = layer.weight, getattr(layer, "bias", None)
        fan_in = int(math.prod(w.shape[1:]))
        if init == "normal":
            nn.init.normal_(w, 0.0, 1.0, generator=g)
        elif init == "normal-scaled":
            nn.init.normal_(w, 0.0, 1.0 / math.sqrt(fan_in), generator=g)
        elif init == "xavier":
            nn.init.xavier_uniform_(w, generator=g)
        else:
            nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
        if b is not None:
            if init in ("normal", "normal-scaled"):
                nn.init.normal_(b, 0.0, 1.0, generator=g)
            else:
                nn.init.zeros_(b)
    return model


def _gen(generator: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(0 if generator is None else generator)


def linear(
    in_features: int,
    out_features: int,
    *,
    init: str = "default",
    generator: Any = None,
    dtype: Any = None,
) -> nn.Module:
    """One affine layer. Shape: ``(N, *) -> (N, out_features)`` (input flattened).

    Args:
        init: one of :data:`INITS`.
    """
    _check_choice("init", init, INITS)
    g = _gen(generator)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(in_features, out_features, generator=g, dtype=dtype)
    )
    return initialize(model, init, generator=g)


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    dropout: float = 0.0,
    activation: str = "relu",
    init: str = "default",
    generator: Any = None,
    dtype: Any = None,
) -> nn.Module:
    """Fully connected network. Shape: ``(N, *) -> (N, out_features)`` (input flattened).

    Args:
        in_features: size of a flattened input example.
        hidden: widths of the hidden layers.
        out_features: outputs (classes, or 1 for regression).
        dropout: dropout probability after each hidden activation (0: none).
        activation: hidden activation, one of :data:`ACTIVATIONS` (``relu``, ``sigmoid``,
            ``tanh``).
        init: initialisation, one of :data:`INITS`.
        generator: Generator or seed for the initial weights (and dropout masks).
    """
    _check_choice("activation", activation, tuple(ACTIVATIONS))
    _check_choice("init", init, INITS)
    g = _gen(generator)
    layers: list[nn.Module] = [nn.Flatten()]
    prev = in_features
    for i, h in enumerate(hidden):
        layers += [nn.Linear(prev, h, generator=g, dtype=dtype), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout, seed=int(g.integers(2**31)) + i))
        prev = h
    layers.append(nn.Linear(prev, out_features, generator=g, dtype=dtype))
    return initialize(nn.Sequential(*layers), init, generator=g)


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
    activation: str = "relu",
    init: str = "default",
    output_activation: str | None = None,
    generator: Any = None,
    dtype: Any = None,
) -> nn.Module:
    """Build a model from a spec string (see the module docstring).

    Args:
        spec: ``linear``, ``mlp[:W1,W2,...][:dropout=P]`` or ``cnn[:C1,C2,...]``.
        input_shape: shape of one input example, e.g. ``(64,)`` or ``(1, 28, 28)``.
        out_features: number of outputs.
        activation: hidden activation of an ``mlp`` (:data:`ACTIVATIONS`); a ``cnn`` uses
            ReLU, a ``linear`` model has none.
        init: initialisation (:data:`INITS`).
        output_activation: a name of :data:`ACTIVATIONS` appended after the output layer
            (e.g. ``"sigmoid"`` for the quadratic cost on one-hot targets), or None.
        generator: Generator or seed for the initial weights.

    Raises:
        ConfigError: bad spec or option, or a cnn for non-image input.
    """
    kind, widths, opts = parse_spec(spec)
    _check_choice("activation", activation, tuple(ACTIVATIONS))
    if output_activation is not None:
        _check_choice("output_activation", output_activation, tuple(ACTIVATIONS))
    g = _gen(generator)
    d = int(math.prod(input_shape))
    if kind == "linear":
        model = linear(d, out_features, init=init, generator=g, dtype=dtype)
    elif kind == "mlp":
        model = mlp(d, widths, out_features, dropout=opts.get("dropout", 0.0),
                    activation=activation, init=init, generator=g, dtype=dtype)
    else:
        model = initialize(cnn(input_shape, out_features, widths, generator=g, dtype=dtype),
                           init, generator=g)
    if output_activation is not None:
        model = nn.Sequential(*model.children(), ACTIVATIONS[output_activation]())
    return model


def from_config(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a model (fresh weights) from ``model.to_config()`` as stored in a checkpoint.

    Raises:
        CheckpointError: unknown layer type or bad arguments.
    """
    return nn.module_from_config(config)


# ------------------------------------------------------------------ classification costs
def _one_hot(input: Any, target: Any) -> Any:
    """``target`` as a tensor shaped like ``input``: integer class indices are one-hot."""
    from gradstep.tensor import Tensor

    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    dtype = input._data.dtype
    if t.dtype.kind in "iu" and t.ndim == 1:
        c = input.shape[1]
        if t.size and (t.min() < 0 or t.max() >= c):
            raise ValueError(
                f"target: class indices must lie in [0, {c}), got [{t.min()}, {t.max()}]"
            )
        hot = np.zeros((len(t), c), dtype=dtype)
        hot[np.arange(len(t)), t] = 1
        return Tensor(hot)
    if t.shape != tuple(input.shape):
        raise ValueError(
            f"target: expected class indices (N,) or an array of shape {tuple(input.shape)}, "
            f"got shape {t.shape}"
        )
    return Tensor(t.astype(dtype, copy=False))


def _reduce(total: Any, n: int, reduction: str) -> Any:
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / float(max(n, 1))
    raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")


def quadratic_cost(input: Any, target: Any, reduction: str = "mean") -> Any:
    """The quadratic cost of Nielsen's book: ``1/(2N) sum_x ||a(x) - y(x)||^2``.

    Per example, half the squared error summed over the outputs; ``reduction="mean"``
    averages over the N examples (not over the N*C elements as ``nn.MSELoss`` does, so it
    equals ``nn.MSELoss()(a, y) * C / 2`` and the book's learning rates carry over);
    ``"sum"`` sums over the examples.

    Shape: input ``(N, C)``; target ``(N,)`` class indices (one-hot encoded here) or
    ``(N, C)``; output a scalar.
    """
    t = _one_hot(input, target)
    d = input - t
    return _reduce((d * d).sum() * 0.5, input.shape[0], reduction)


def one_hot_bce(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Nielsen's cross-entropy cost for sigmoid outputs, from the logits ``input``.

    ``-1/N sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]`` with ``a = sigmoid(input)``:
    binary cross-entropy summed over the C outputs and averaged over the N examples
    (``nn.BCEWithLogitsLoss()`` averages over all N*C elements instead: this is C times it).

    Shape: input ``(N, C)``; target ``(N,)`` class indices or ``(N, C)``; output a scalar.
    """
    from gradstep.nn import functional as F

    t = _one_hot(input, target)
    total = F.binary_cross_entropy_with_logits(input, t, reduction="sum")
    return _reduce(total, input.shape[0], reduction)


def _per_example_mean(fn: Any) -> Any:
    """``fn`` as fit's "mean over the batch's examples" callable (no ``reduction`` keyword,
    so fit weights each batch by its number of examples: exact also with accumulation)."""

    def loss(input: Any, target: Any) -> Any:
        return fn(input, target)

    loss.__name__ = fn.__name__
    return loss


#: ``gradstep train --loss`` names -> (loss for fit, output activation of the model).
CLASSIFICATION_LOSSES: dict[str, tuple[Any, str | None]] = {
    "cross-entropy": ("cross_entropy", None),
    "mse": (_per_example_mean(quadratic_cost), "sigmoid"),
    "bce": (_per_example_mean(one_hot_bce), None),
}
