"""Compiled training steps: trace one eager call, then replay it in preallocated buffers.

``gradstep.compile(step)`` (a decorator, like ``torch.compile`` or ``jax.jit``) wraps a step
function that zeroes the gradients, computes ``loss = loss_fn(model(x), y)``, calls
``loss.backward()`` and ``optimizer.step()``. On the first call for a given signature
(argument types, shapes and dtypes, and the ``training`` flags of the modules seen) the
step runs eagerly while it is recorded; from that record a *plan* is built: one kernel per
layer with its buffers allocated once, gradients written straight into the parameters'
gradient buffers (no zeroing pass, no graph, no per-op tensors), activations in place, the
loss fused with its gradient, and the optimizer's own ``step()``. Later calls with the same
signature replay the plan; its results are bit-identical to eager (same NumPy calls on the
same operands, in the same order).

Guards (each tested): another shape or dtype, another ``train()``/``eval()`` state, or
parameters replaced since the trace re-trace; a step that reads tensor values into Python
(``item()``, ``bool()``, ...: control flow may depend on them), calls backward or step other
than once, accumulates gradients across calls, or uses a layer without a kernel runs
eagerly, and :attr:`CompiledStep.reasons` says why. What a replay does not repeat: Python
side effects of the step other than its tensor ops and the optimizer step (printing,
counters, a scheduler step inside the step), as with ``jax.jit``. The gradient buffers are
reused between steps (as with ``zero_grad(set_to_none=False)``), and the returned loss is a
tensor outside any graph.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from gradstep.jit._loss_backward import LossBackward
from gradstep.jit._plan import Plan, Unsupported, build, explain
from gradstep.jit._trace import Recorder
from gradstep.nn.module import Module
from gradstep.tensor import Tensor

__all__ = ["compile", "compile_step", "CompiledStep", "LossBackward"]


def _signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
    sig: list[Any] = []
    for a in args:
        if isinstance(a, Tensor):
            sig.append(("T", a._data.shape, a._data.dtype.str, a.requires_grad))
        elif isinstance(a, np.ndarray):
            sig.append(("A", a.shape, a.dtype.str))
        else:
            try:
                hash(a)
            except TypeError:
                sig.append(("?", id(a)))
            else:
                sig.append(("V", type(a), a))
    return tuple(sig)


class CompiledStep:
    """A step function with its plans, one per argument signature and module state.

    Attributes:
        reasons: signature -> why that signature runs eagerly (empty when all replay).
        traces: how many times the step was traced (one per new signature).
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self._plans: dict[Any, Plan | str] = {}
        self._modules: list[Module] = []
        self.reasons: dict[Any, str] = {}
        self.traces = 0
        functools.update_wrapper(self, fn)

    def _key(self, args: tuple[Any, ...]) -> Any:
        return (_signature(args), tuple(m.training for m in self._modules))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:  # keyword arguments are not part of a plan's signature
            return self.fn(*args, **kwargs)
        key = self._key(args)
        entry = self._plans.get(key)
        if isinstance(entry, Plan):
            if entry.valid():
                res = entry.run(args)
                if res is not NotImplemented:
                    return res
                return self.fn(*args)
            del self._plans[key]  # parameters replaced since the trace: trace again
            entry = None
        if entry is None:
            return self._trace(args)
        return self.fn(*args)  # a recorded reason to run eagerly

    def _trace(self, args: tuple[Any, ...]) -> Any:
        self.traces += 1
        with Recorder() as r:
            result = self.fn(*args)
        rec = r.record
        seen = {id(m) for m in self._modules}
        self._modules.extend(c.module for c in rec.calls if id(c.module) not in seen)
        key = self._key(args)
        try:
            plan: Plan | str = build(rec, args, result)
        except Unsupported as exc:
            plan = str(exc)
            self.reasons[key] = plan
        self._plans[key] = plan
        return result

    def explain(self) -> str:
        """One line per traced signature: replayed, or why it runs eagerly."""
        return explain(self._plans, lambda key: key[0])


def compile(fn: Callable[..., Any] | None = None) -> Any:
    """Compile a training step function (usable as ``@compile`` or ``compile(fn)``).

    Args:
        fn: the step, e.g. ``def step(x, y): opt.zero_grad(); loss = loss_fn(model(x), y);
            loss.backward(); opt.step(); return loss``. The batch and target must be its
            arguments (arrays or tensors).

    Returns:
        A :class:`CompiledStep`, called like ``fn``.
    """
    if fn is None:
        return compile
    if not callable(fn):
        raise TypeError(f"compile: expected a callable step function, got {type(fn).__name__}")
    return CompiledStep(fn)


def compile_step(model: Any, loss_fn: Any, optimizer: Any) -> CompiledStep:
    """The compiled standard step ``zero_grad; loss_fn(model(x), y).backward(); step`` as a
    function of ``(x, y)`` returning the loss tensor (what ``fit`` runs per batch)."""

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return CompiledStep(step)
