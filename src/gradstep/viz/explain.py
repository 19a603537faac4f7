"""One gradient-descent update of a tiny network, printed number by number.

:func:`explain_step` runs the library's real forward pass, backward pass and optimizer step
on a small multilayer perceptron (by default 2-3-1: a sigmoid hidden layer and a linear
output, mean squared error) and records every intermediate value:

1. the inputs and each layer's output (the activations);
2. the loss;
3. walking back from the output layer: the gradient of the loss with respect to each
   layer's output, and each weight's and bias's gradient;
4. for every parameter: ``lr * gradient``, the momentum buffer and the new value.

The backward pass is run layer by layer: each layer is applied to a detached copy of its
input that requires grad, and the gradient arriving at a layer's output is pushed through
that layer alone with ``out.backward(grad)``. That is exactly what the backward engine does
in one go, but it lets the gradient at each layer boundary be shown. The parameter
gradients are the library's, accumulated by its engine, and the update is the real
``optimizer.step()``: every printed number is the library's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradstep.errors import ConfigError

__all__ = ["StepRecord", "Explanation", "tiny_network", "explain_step"]

_ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclass
class StepRecord:
    """Every number of one update step.

    Attributes:
        step: 1-based step number.
        x, y: the inputs and targets.
        activations: ``(layer description, output)`` for each layer, input to output.
        loss: the loss value.
        output_grads: ``(layer description, dL/d(layer output))``, output layer first.
        grads: parameter name -> dL/dparameter (from the engine).
        old: parameter name -> value before the update.
        lr_grad: parameter name -> ``lr * gradient``.
        momentum_buffer: parameter name -> momentum buffer after the update (absent
            without momentum).
        new: parameter name -> value after ``optimizer.step()``.
    """

    step: int
    x: np.ndarray
    y: np.ndarray
    activations: list[tuple[str, np.ndarray]] = field(default_factory=list)
    loss: float = 0.0
    output_grads: list[tuple[str, np.ndarray]] = field(default_factory=list)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    old: dict[str, np.ndarray] = field(default_factory=dict)
    lr_grad: dict[str, np.ndarray] = field(default_factory=dict)
    momentum_buffer: dict[str, np.ndarray] = field(default_factory=dict)
    new: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Explanation:
    """The records of the explained steps plus the settings, printable with :meth:`text`."""

    sizes: tuple[int, ...]
    activation: str
    lr: float
    momentum: float
    nesterov: bool
    steps: list[StepRecord] = field(default_factory=list)

    def text(self, precision: int = 6) -> str:
        """The worked example as plain text."""
        return _render(self, precision)


def tiny_network(
    sizes: Sequence[int] = (2, 3, 1),
    activation: str = "sigmoid",
    generator: np.random.Generator | None = None,
) -> Any:
    """An MLP ``Linear -> activation -> ... -> Linear`` in float64 (a gradstep.nn.Sequential).

    Raises:
        ConfigError: fewer than two sizes, a size below 1, or an unknown activation.
    """
    from gradstep import nn

    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ConfigError(f"explain: sizes must be at least two positive ints, got {sizes!r}")
    act = str(activation).lower()
    if act not in _ACTIVATIONS:
        raise ConfigError(f"explain: activation must be one of {_ACTIVATIONS}, got {activation!r}")
    gen = np.random.default_rng(0) if generator is None else generator
    cls = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[act]
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], generator=gen, dtype=np.float64))
        if i < len(sizes) - 2:
            layers.append(cls())
    return nn.Sequential(*layers)


def _describe(layer: Any, index: int) -> str:
    name = type(layer).__name__
    if name == "Linear":
        return f"layer {index} Linear({layer.in_features}->{layer.out_features})"
    return f"layer {index} {name}"


def explain_step(
    steps: int = 1,
    sizes: Sequence[int] = (2, 3, 1),
    activation: str = "sigmoid",
    lr: float = 0.5,
    momentum: float = 0.9,
    nesterov: bool = False,
    x: Any = None,
    y: Any = None,
    model: Any = None,
    generator: np.random.Generator | None = None,
) -> Explanation:
    """Run ``steps`` real SGD updates of a tiny network and record every number.

    Args:
        steps: how many consecutive updates to record (the momentum buffer starts to
            differ from the gradient on the second).
        sizes: layer widths, input first (default 2-3-1).
        activation: hidden activation, ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
        lr, momentum, nesterov: the :class:`gradstep.optim.SGD` settings (PyTorch form).
        x: inputs ``(N, sizes[0])`` (default ``[[0.5, -1.0, ...]]``, one example).
        y: targets ``(N, sizes[-1])`` (default all ones).
        model: a ``gradstep.nn.Sequential`` to use instead of :func:`tiny_network`.
        generator: initial weights (default ``default_rng(0)``).

    Returns:
        An :class:`Explanation`; ``model`` holds the updated weights afterwards.
    """
    from gradstep import nn
    from gradstep.optim import SGD
    from gradstep.tensor import Tensor

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"explain: steps must be an int >= 1, got {steps!r}")
    if model is None:
        model = tiny_network(sizes, activation, generator)
    layers = list(model)
    sizes_t = tuple(int(s) for s in sizes)
    if x is None:
        x = np.array([[0.5, -1.0, 0.25, 2.0][i % 4] for i in range(sizes_t[0])])[None, :]
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if y is None:
        y = np.ones((x.shape[0], sizes_t[-1]))
    y = np.asarray(y, dtype=np.float64).reshape(x.shape[0], -1)
    names = [n for n, _ in model.named_parameters()]
    params = dict(model.named_parameters())
    try:
        opt = SGD(list(params.values()), lr=lr, momentum=momentum, nesterov=nesterov)
    except ValueError as exc:
        raise ConfigError(f"explain: {exc}") from None
    loss_fn = nn.MSELoss()
    result = Explanation(sizes_t, str(activation).lower(), float(lr), float(momentum), nesterov)
    for k in range(1, steps + 1):
        rec = StepRecord(k, x.copy(), y.copy())
        opt.zero_grad()
        # forward, layer by layer, each layer on a detached leaf copy of its input
        inputs: list[Tensor] = []
        outputs: list[Tensor] = []
        h: Any = Tensor(x)
        for i, layer in enumerate(layers):
            leaf = Tensor(np.array(h._data if isinstance(h, Tensor) else h), requires_grad=True)
            out = layer(leaf)
            inputs.append(leaf)
            outputs.append(out)
            rec.activations.append((_describe(layer, i), np.array(out._data)))
            h = out
        # the loss on a leaf copy of the network output
        pred = Tensor(np.array(outputs[-1]._data), requires_grad=True)
        loss = loss_fn(pred, Tensor(y))
        rec.loss = float(loss.item())
        loss.backward()
        grad = np.array(pred._grad)
        # backward, from the output layer back
        for i in range(len(layers) - 1, -1, -1):
            rec.output_grads.append((_describe(layers[i], i), grad.copy()))
            outputs[i].backward(grad)
            grad = np.array(inputs[i]._grad)
        for n in names:
            p = params[n]
            rec.old[n] = np.array(p._data)
            rec.grads[n] = np.array(p._grad)
            rec.lr_grad[n] = lr * np.array(p._grad)
        opt.step()
        for n in names:
            p = params[n]
            rec.new[n] = np.array(p._data)
            buf = opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                rec.momentum_buffer[n] = np.array(buf)
        result.steps.append(rec)
    return result


# ------------------------------------------------------------------------ rendering
def _fmt(a: np.ndarray, precision: int, indent: int) -> str:
    s = np.array2string(
        np.asarray(a), precision=precision, suppress_small=True, floatmode="fixed",
        max_line_width=max(40, 100 - indent),
    )
    return s.replace("\n", "\n" + " " * indent)


def _line(prefix: str, a: np.ndarray, precision: int) -> str:
    """``prefix`` followed by the array, continuation lines aligned under its first row."""
    return prefix + _fmt(a, precision, len(prefix))


def _formula(desc: str, prev: str, cur: str) -> str:
    if "Linear" in desc:
        return f"{cur} = {prev} @ W^T + b"
    for name, f in (("Sigmoid", "sigmoid"), ("Tanh", "tanh"), ("ReLU", "max(0, ·)")):
        if name in desc:
            return f"{cur} = {f}({prev})"
    return f"{cur} = layer({prev})"


def _backward_formula(desc: str, inp: str, out: str) -> str:
    if "Linear" in desc:
        return (
            f"dL/dW = (dL/d{out})^T @ {inp},  dL/db = sum over examples of dL/d{out},  "
            f"dL/d{inp} = dL/d{out} @ W"
        )
    if "Sigmoid" in desc:
        return f"dL/d{inp} = dL/d{out} * {out} * (1 - {out})"
    if "Tanh" in desc:
        return f"dL/d{inp} = dL/d{out} * (1 - {out}^2)"
    if "ReLU" in desc:
        return f"dL/d{inp} = dL/d{out} * ({inp} > 0)"
    return f"dL/d{inp} by the layer's own backward"


def _render(e: Explanation, precision: int) -> str:
    arch = "-".join(str(s) for s in e.sizes)
    out: list[str] = []
    mom = f", momentum={e.momentum:g}" + (", nesterov" if e.nesterov else "")
    out.append(
        f"Worked example: gradient descent on a {arch} network "
        f"({e.activation} hidden layers, linear output, mean squared error)"
    )
    rule = (
        "w <- w - lr * (g + mu * b)" if e.nesterov else "w <- w - lr * b"
    ) if e.momentum else "w <- w - lr * g"
    out.append(
        f"Optimizer: SGD(lr={e.lr:g}{mom}); momentum buffer b <- mu * b + g "
        f"(b = g on the first step), {rule}"
    )
    out.append("All numbers come from gradstep's own forward, backward and optimizer.step().")
    for rec in e.steps:
        p = precision
        out.append("")
        out.append(f"=== step {rec.step} " + "=" * 60)
        out.append("1. Forward pass (h0 is the input)")
        out.append(_line("   input  h0 = x = ", rec.x, p))
        out.append(_line("   target y      = ", rec.y, p))
        for i, (desc, a) in enumerate(rec.activations):
            out.append(f"   {desc}: {_formula(desc, f'h{i}', f'h{i + 1}')}")
            out.append(_line(f"      h{i + 1} = ", a, p))
        last = f"h{len(rec.activations)}"
        n = rec.y.size
        out.append(f"   loss L = mean(({last} - y)^2) over {n} value(s) = {rec.loss:.{p}f}")
        out.append("")
        out.append("2. Backward pass (chain rule, from the output layer back)")
        out.append(f"   dL/d{last} = 2 * ({last} - y) / {n}")
        for desc, g in rec.output_grads:
            idx = int(desc.split()[1])
            out.append(f"   {desc}")
            out.append(_line(f"      dL/dh{idx + 1} = ", g, p))
            out.append(f"      {_backward_formula(desc, f'h{idx}', f'h{idx + 1}')}")
            for pname in (f"{idx}.weight", f"{idx}.bias"):
                if pname in rec.grads:
                    out.append(_line(f"      dL/d[{pname}] = ", rec.grads[pname], p))
        out.append("")
        out.append("3. Update")
        for pname in rec.grads:
            out.append(f"   {pname}:")
            out.append(_line("      old value       = ", rec.old[pname], p))
            out.append(_line("      gradient g      = ", rec.grads[pname], p))
            out.append(_line("      lr * g          = ", rec.lr_grad[pname], p))
            if pname in rec.momentum_buffer:
                b = rec.momentum_buffer[pname]
                out.append(_line("      momentum buf b  = ", b, p))
                out.append(_line("      lr * b          = ", e.lr * b, p))
            out.append(_line("      new value       = ", rec.new[pname], p))
    return "\n".join(out) + "\n"
