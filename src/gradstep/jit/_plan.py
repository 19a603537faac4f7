"""From one recorded eager step to a replay plan (or the reason why eager must run).

A plan exists for the step shape ``zero the gradients; loss = loss_module(model(x), y);
loss.backward(); optimizer.step()`` where the model is a chain of supported layers
(``Linear``, ``ReLU``, ``Tanh``, ``Sigmoid``, ``Dropout``, ``Flatten``, ``Identity``,
``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``BatchNorm1d``,
``BatchNorm2d``: :mod:`gradstep.jit._conv_kernels`) and the loss is ``MSELoss`` or
``CrossEntropyLoss`` (class indices), as a module or called as ``F.mse_loss`` /
``F.cross_entropy``. The recorded graph must consist
of exactly those layers' outputs: an op anywhere else (a penalty term, an op on the loss, a
layer type without a kernel) leaves the step to eager, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gradstep import nn
from gradstep.jit import _conv_kernels as CK
from gradstep.jit import _kernels as K
from gradstep.jit._trace import Call, FunctionalLoss, Record, array_of
from gradstep.tensor import Tensor

_ACTS = {nn.ReLU: K.ReLUK, nn.Tanh: K.TanhK, nn.Sigmoid: K.SigmoidK}


class Unsupported(Exception):
    """The recorded step cannot be replayed; the message says why."""


@dataclass
class Plan:
    """A replay of one step for fixed argument shapes and dtypes."""

    kernels: list[K.Kernel]
    loss: Any  # MSEK or CrossEntropyK
    x_arg: int
    y_arg: int
    optimizer: Any
    params: list[Tensor]
    param_data: list[np.ndarray]
    requires: list[bool]
    dropouts: list[tuple[Any, Any]]  # (module, generator) pairs
    returns: Any  # "none", "loss", or a tuple of "loss"/"out"
    ignore_index: int = -100
    configs: tuple[tuple[Any, str, Any], ...] = ()  # (module, attribute, traced value)
    out: Any = None  # an array of the model output's shape and dtype (not the buffer)

    def __post_init__(self) -> None:
        self.bound = tuple(zip(self.params, self.param_data, self.requires))

    def valid(self) -> bool:
        """The parameters, their flags and the modules' settings are those traced."""
        for p, d, r in self.bound:
            if p._data is not d or p.requires_grad is not r:
                return False
        for m, name, v in self.configs:
            now = getattr(m, name, _MISSING)
            if now is not v and (not isinstance(v, _SCALARS) or now != v):
                return False
        return True

    def forward_backward(self, x: np.ndarray, y: np.ndarray, seed: Any = None
                         ) -> tuple[np.ndarray, np.ndarray] | None:
        """Forward, loss and backward on arrays of the traced shapes and dtypes: returns the
        loss (a 0-d array) and the model's output (a buffer of the plan, valid until the next
        call), or None when eager must run this call (nothing was computed then).
        ``seed``: the gradient of the objective with respect to the loss (None: 1)."""
        loss_k = self.loss
        if isinstance(loss_k, K.CrossEntropyK):
            t = loss_k.targets(y, self.ignore_index)
            if t is None:
                return None
            y = t
        if seed is not None and not (type(seed) is np.ndarray and seed.dtype == loss_k.dt):
            seed = np.asarray(seed, dtype=loss_k.dt)  # as backward() converts it
        h = x
        for k in self.kernels:
            h = k.fwd(h)
        loss, g = loss_k.run(h, y, seed)
        kernels = self.kernels
        for i in range(len(kernels) - 1, -1, -1):
            g = kernels[i].bwd(g, i > 0)  # type: ignore[assignment]
        return loss, h

    def run(self, args: tuple[Any, ...]) -> Any:
        """One step; returns NotImplemented when this call must run eagerly."""
        x = array_of(args[self.x_arg])
        y = array_of(args[self.y_arg])
        if x is None or y is None:  # not arrays after all: run this call eagerly
            return NotImplemented
        r = self.forward_backward(x, y)
        if r is None:
            return NotImplemented
        loss, out = r
        out_copy = out.copy() if "out" in self.returns else None
        self.optimizer.step()
        return self._result(loss, out_copy)

    def _result(self, loss: np.ndarray, out: np.ndarray | None) -> Any:
        if self.returns == "none":
            return None
        if self.returns == "loss":
            return _const(loss)
        return tuple(_const(loss) if r == "loss" else _const(out) for r in self.returns)


def explain(plans: dict[Any, Any], label: Any) -> str:
    """One line per traced signature (``label(key)``): replayed, or why it runs eagerly."""
    return "\n".join(
        f"{label(key)}: " + ("replayed" if isinstance(entry, Plan) else f"eager: {entry}")
        for key, entry in plans.items()
    )


_SCALARS = (bool, int, float, str, type(None))


_MISSING = object()


def settings(m: Any) -> list[tuple[Any, str, Any]]:
    """A module's public attributes as traced (``training`` is part of the plan's key):
    compared by value for scalars and by identity otherwise, so that a changed ``p``,
    ``reduction`` or ``inplace``, or a replaced generator, is noticed."""
    return [(m, k, v) for k, v in vars(m).items() if not k.startswith("_") and k != "training"]


def _const(a: Any) -> Tensor:
    t = Tensor.__new__(Tensor)
    t._data = a
    t._grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    return t


def _arg_index(obj: Any, args: tuple[Any, ...], what: str) -> int:
    """Which step argument ``obj`` is (the same object, or a tensor sharing its array)."""
    arr = array_of(obj)
    for i, a in enumerate(args):
        if a is obj or (arr is not None and array_of(a) is arr):
            return i
    raise Unsupported(
        f"the {what} is not one of the step's arguments (it was computed inside the step, "
        "so its values would not change between replays); pass it in as an argument"
    )


def _returns(result: Any, loss: Tensor, out: Any) -> Any:
    if result is None:
        return "none"
    if result is loss:
        return "loss"
    if isinstance(result, tuple) and result:
        kinds = []
        for r in result:
            if r is loss:
                kinds.append("loss")
            elif r is out:
                kinds.append("out")
            else:
                raise Unsupported("the step returns values other than the loss and output")
        return tuple(kinds)
    raise Unsupported(
        f"the step returns {type(result).__name__}; a compiled step may return None, the "
        "loss tensor, or a tuple of the loss and the model output"
    )


def check_record(rec: Record, mode: str = "step") -> None:
    """Raise :class:`Unsupported` unless the record has the one supported step shape
    (``mode="step"``: zero_grad, forward, loss, backward, optimizer step; ``"loss"``:
    forward, loss and a backward seeded with a scalar, nothing else)."""
    if rec.value_reads:
        raise Unsupported(
            f"the step reads tensor values into Python ({', '.join(sorted(set(rec.value_reads)))}"
            "), so its control flow may depend on them"
        )
    if rec.other_calls:
        raise Unsupported(rec.other_calls[0])
    if len(rec.backwards) != 1:
        raise Unsupported(f"the step calls backward {len(rec.backwards)} times (one supported)")
    bw = rec.backwards[0]
    if mode == "loss":
        if rec.steps or rec.zeroed:
            raise Unsupported("the loss function steps an optimizer or zeroes gradients")
        seed = bw.gradient
        if seed is not None and np.ndim(seed._data if isinstance(seed, Tensor) else seed):
            raise Unsupported("backward() is seeded with a non-scalar gradient")
    elif len(rec.steps) != 1 or rec.steps[0][1] != 1:
        raise Unsupported("the step must call optimizer.step() once, after backward()")
    if (mode == "step" and bw.gradient is not None) or bw.kwargs.get("_positional") or len(
        bw.kwargs
    ) > 1:
        raise Unsupported("backward() is called with arguments")
    if (mode == "step" and 0 not in rec.zeroed) or not bw.fresh:
        raise Unsupported(
            "the gradients were not zeroed before backward (they accumulate across calls)"
        )
    if len(rec.calls) < 2:
        raise Unsupported("no model and loss module calls were recorded")


def build(rec: Record, args: tuple[Any, ...], result: Any, mode: str = "step",
          extra_configs: tuple[tuple[Any, str, Any], ...] = ()) -> Plan:
    """The replay plan of a checked record (raises :class:`Unsupported`); ``mode`` as in
    :func:`check_record` (``"loss"``: a plan for :meth:`Plan.forward_backward`, no
    optimizer). ``extra_configs``: more settings the plan's validity depends on."""
    check_record(rec, mode)
    bw = rec.backwards[0]
    *layers, loss_call = rec.calls
    loss = loss_call.out
    if loss is not bw.root or len(loss_call.args) != 2:
        raise Unsupported("backward() is not called on the output of the loss module")
    if not layers or loss_call.args[0] is not layers[-1].out:
        raise Unsupported("the loss is not computed from the model's output")
    x_arg = _arg_index(layers[0].args[0], args, "model input")
    y_arg = _arg_index(loss_call.args[1], args, "target")
    x = array_of(args[x_arg])
    if x is None:
        raise Unsupported("the model input is not an array")
    if isinstance(args[x_arg], Tensor) and args[x_arg].requires_grad:
        raise Unsupported("the model input requires grad")
    kernels, dropouts, out = _chain(layers, x)
    explained = {id(c.out) for c in rec.calls}
    stray = [n for n in bw.nodes if id(n) not in explained]
    if len(stray) != sum(getattr(k, "internal", 0) for k in kernels):  # BatchNorm's own ops
        name = getattr(getattr(stray[0]._backward, "__qualname__", ""), "split", str)(".")[0] \
            if stray else "?"
        raise Unsupported(f"the graph has ops outside the model's layers and the loss ({name})")
    params = [p for k in kernels for p in k.params]
    if {id(p) for p in bw.leaves} - {id(p) for p in params}:
        raise Unsupported("a tensor other than the layers' parameters receives a gradient")
    if len({p._data.dtype for p in params} | {out.dtype}) != 1:
        raise Unsupported("parameters and activations of different dtypes")
    loss_k, ignore = _loss_kernel(loss_call, out, args[y_arg])
    opt = rec.steps[0][0] if mode == "step" else None
    configs = tuple(s for c in rec.calls if not isinstance(c.module, nn.Linear)
                    for s in settings(c.module)) + extra_configs
    returns = _returns(result, loss, layers[-1].out) if mode == "step" else "loss"
    return Plan(kernels, loss_k, x_arg, y_arg, opt, params, [p._data for p in params],
                [p.requires_grad for p in params], dropouts, returns, ignore, configs, out)


def _chain(layers: list[Call], x: np.ndarray) -> tuple[list[K.Kernel], list[Any], np.ndarray]:
    kernels: list[K.Kernel] = []
    dropouts: list[tuple[Any, Any]] = []
    own: dict[int, np.ndarray] = {}
    prev_out: Any = layers[0].args[0]
    shape, dt, owned = x.shape, x.dtype, False
    for c in layers:
        if len(c.args) != 1 or c.args[0] is not prev_out:
            raise Unsupported(
                f"{type(c.module).__name__} is not fed by the previous layer's output "
                "(only a chain of layers is compiled)"
            )
        k = _kernel(c, shape, dt, owned, own)
        if isinstance(k, K.DropoutK):
            dropouts.append((c.module, c.module.generator))
        kernels.append(k)
        od = array_of(c.out)
        if od is None:
            raise Unsupported(f"{type(c.module).__name__} returned {type(c.out).__name__}")
        shape, dt = od.shape, od.dtype
        if not isinstance(k, (K.IdentityK, K.ReshapeK)):  # may the next layer overwrite it?
            owned = not getattr(k, "keeps_out", False)
        prev_out = c.out
    for i, k in enumerate(kernels):  # the input gradient a conv/pool kernel gets is eager's
        nxt = next((n for n in kernels[i + 1:] if not isinstance(n, K.IdentityK)), None)
        if isinstance(k, CK._Layout):
            k.keep_layout = bool(getattr(nxt, "strided_grad", False))
    return kernels, dropouts, np.empty(shape, dtype=dt)


def _kernel(c: Call, shape: tuple[int, ...], dt: np.dtype, owned: bool,
            own: dict[int, np.ndarray]) -> K.Kernel:
    m = c.module
    kind = type(m)
    if c.out is c.args[0]:
        return K.IdentityK()
    if kind is nn.Linear:
        if len(shape) != 2 or m.weight._data.dtype != dt:
            raise Unsupported("Linear on an input that is not (N, features) of its dtype")
        return K.LinearK(m, shape, dt, own)
    if kind in _ACTS:
        if getattr(m, "inplace", False):
            raise Unsupported(f"{kind.__name__}(inplace=True)")
        return _ACTS[kind](shape, dt, owned)  # type: ignore[no-any-return]
    if kind is nn.Dropout and m.training and 0.0 < m.p < 1.0 and not m.inplace:
        return K.DropoutK(m, shape, dt)
    if kind is nn.Flatten:
        od = array_of(c.out)
        if od is None:
            raise Unsupported("Flatten's output is not an array")
        return K.ReshapeK(shape, od.shape)
    if kind is nn.Conv2d:
        return CK.Conv2dK(m, shape, dt, own)
    if kind is nn.MaxPool2d:
        return CK.MaxPool2dK(m, shape, dt)
    if kind is nn.AvgPool2d:
        return CK.AvgPool2dK(m, shape, dt)
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        x = c.args[0]
        return CK.BatchNormK(m, shape, dt, own, isinstance(x, Tensor) and x.requires_grad,
                             isinstance(c.out, Tensor) and c.out.requires_grad)
    if kind is nn.AdaptiveAvgPool2d:
        od = array_of(c.out)
        if od is None:
            raise Unsupported("AdaptiveAvgPool2d's output is not an array")
        return CK.AdaptiveAvgPool2dK(m, shape, dt, od.shape)
    raise Unsupported(
        f"{kind.__name__} has no compiled kernel yet (supported: Linear, ReLU, Tanh, Sigmoid, "
        "Dropout, Flatten, Identity, Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, "
        "BatchNorm1d, BatchNorm2d; MSELoss, CrossEntropyLoss)"
    )


def _loss_kernel(c: Call, out: np.ndarray, target: Any) -> tuple[Any, int]:
    m = c.module
    y = array_of(target)
    if y is None or (isinstance(target, Tensor) and target.requires_grad):
        raise Unsupported("the target is not an array or a tensor without grad")
    kind = m.kind if isinstance(m, FunctionalLoss) else type(m).__name__
    if kind in ("MSELoss", "mse_loss"):
        if m.reduction not in ("mean", "sum") or y.shape != out.shape or y.dtype.kind != "f":
            raise Unsupported("MSELoss with reduction='none' or a target of another shape")
        if isinstance(target, Tensor) and y.dtype != out.dtype:
            raise Unsupported("MSELoss with a target tensor of another dtype")
        return K.MSEK(m.reduction, out.shape, out.dtype), -100
    if kind in ("CrossEntropyLoss", "cross_entropy"):
        fast = (
            out.ndim == 2 and m.weight is None and m.label_smoothing == 0.0
            and m.reduction in ("mean", "sum") and y.dtype.kind in "iu"
            and y.shape == (out.shape[0],)
        )
        if not fast:
            raise Unsupported(
                "CrossEntropyLoss other than (N, C) logits with N class indices, no weight, "
                "no label smoothing, reduction 'mean' or 'sum'"
            )
        return K.CrossEntropyK(m.reduction, out.shape, out.dtype), m.ignore_index
    raise Unsupported(f"{kind} has no compiled kernel (MSELoss, CrossEntropyLoss)")
