"""Recording one eager call of a step function: module calls, backward, optimizer calls.

While a :class:`Recorder` is active, ``Module.__call__``, ``Tensor.backward``, the
optimizers' ``step``/``zero_grad`` and the tensor methods that read values into Python
(``item``, ``bool``, ``float``, ``tolist``, ``numpy``...) are wrapped so that the call is
noted and then performed as usual: the traced call computes exactly what eager does.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradstep.nn import functional as F
from gradstep.nn.module import Module
from gradstep.optim.optimizer import Optimizer
from gradstep.tensor import Tensor

_VALUE_READS = (
    "item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__array__",
)
_LOCK = threading.Lock()  # one trace at a time: the wrappers are installed on the classes


@dataclass
class Call:
    """One call of a module without children (a layer or a loss), or of a functional loss."""

    module: Any
    args: tuple[Any, ...]
    out: Any


class FunctionalLoss:
    """A loss called as a function (``F.mse_loss``, ``F.cross_entropy``), recorded with its
    bound arguments as attributes, in the place a loss module would take."""

    training = True

    def __init__(self, kind: str, bound: dict[str, Any]) -> None:
        self.kind = kind
        for k, v in bound.items():
            if k not in ("input", "target"):
                setattr(self, k, v)


_FUNCTIONAL_LOSSES = ("mse_loss", "cross_entropy")


@dataclass
class Backward:
    """One ``backward`` call: the tensor, its graph, and whether the gradients were fresh."""

    root: Tensor
    gradient: Any
    kwargs: dict[str, Any]
    nodes: list[Tensor]  # computed tensors of the graph, each once
    leaves: list[Tensor]  # tensors that require grad and receive a gradient
    fresh: bool  # every leaf's gradient was None or all zeros before this backward


@dataclass
class Record:
    calls: list[Call] = field(default_factory=list)
    backwards: list[Backward] = field(default_factory=list)
    steps: list[tuple[Optimizer, int]] = field(default_factory=list)  # (optimizer, #backwards)
    value_reads: list[str] = field(default_factory=list)
    other_calls: list[str] = field(default_factory=list)
    zeroed: list[int] = field(default_factory=list)  # #backwards before each zero_grad()


def _graph(root: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    nodes: list[Tensor] = []
    leaves: list[Tensor] = []
    seen = {id(root)}
    stack = [root]
    while stack:
        t = stack.pop()
        if t._backward is None:
            leaves.append(t)
            continue
        nodes.append(t)
        for p in t._parents:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return nodes, leaves


def _subclasses(cls: type) -> list[type]:
    out, todo = [], [cls]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


class Recorder:
    """Context manager recording one call of a step function into :attr:`record`."""

    def __init__(self) -> None:
        self.record = Record()
        self._saved: list[tuple[Any, str, Any]] = []
        self._depth = 0

    def _patch(self, cls: type, name: str, wrapper: Any) -> None:
        self._saved.append((cls, name, cls.__dict__[name]))
        setattr(cls, name, wrapper)

    def __enter__(self) -> Recorder:
        _LOCK.acquire()
        try:
            self._install()
        except BaseException:
            self._restore()
            _LOCK.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()
        _LOCK.release()

    def _restore(self) -> None:
        while self._saved:
            cls, name, orig = self._saved.pop()
            if isinstance(cls, _ModuleAttr):
                setattr(cls.module, name, orig)
            elif orig is _Missing:
                delattr(cls, name)
            else:
                setattr(cls, name, orig)

    def _install(self) -> None:
        rec = self.record
        module_call = Module.__call__

        def call(m: Module, *args: Any, **kwargs: Any) -> Any:
            leaf = not any(True for _ in m.children())
            out = module_call(m, *args, **kwargs)
            if leaf:
                if kwargs:
                    rec.other_calls.append(f"{type(m).__name__} called with keyword arguments")
                if rec.calls and rec.calls[-1].out is out:  # a loss module's functional call
                    rec.calls.pop()
                rec.calls.append(Call(m, args, out))
            return out

        self._patch(Module, "__call__", call)
        for name in _FUNCTIONAL_LOSSES:
            self._patch_functional(name)
        backward = Tensor.__dict__["backward"]

        def traced_backward(t: Tensor, gradient: Any = None, *a: Any, **kw: Any) -> None:
            nodes, leaves = _graph(t) if t.requires_grad else ([], [])
            fresh = all(lf._grad is None or not lf._grad.any() for lf in leaves)
            rec.backwards.append(Backward(t, gradient, dict(kw, _positional=a), nodes, leaves,
                                          fresh))
            backward(t, gradient, *a, **kw)

        self._patch(Tensor, "backward", traced_backward)
        for cls in _subclasses(Optimizer):
            if "step" in cls.__dict__:
                self._patch(cls, "step", self._step_wrapper(cls.__dict__["step"]))
        for cls in _subclasses(Optimizer) + _subclasses(Module):
            if "zero_grad" in cls.__dict__:
                self._patch(cls, "zero_grad", self._zero_wrapper(cls.__dict__["zero_grad"]))
        for name in _VALUE_READS:
            owner = next((c for c in Tensor.__mro__ if name in c.__dict__), None)
            if owner is not None and owner is not object:
                self._patch_value_read(owner, name)

    def _patch_functional(self, name: str) -> None:
        rec = self.record
        orig = getattr(F, name)
        sig = inspect.signature(orig)

        def loss(*args: Any, **kwargs: Any) -> Any:
            out = orig(*args, **kwargs)
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError:
                return out  # the call itself raised or will be reported by the op
            bound.apply_defaults()
            a = bound.arguments
            rec.calls.append(Call(FunctionalLoss(name, a), (a["input"], a["target"]), out))
            return out

        self._saved.append((_ModuleAttr(F), name, orig))
        setattr(F, name, loss)

    def _step_wrapper(self, orig: Any) -> Any:
        rec = self.record

        def step(opt: Optimizer, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                rec.other_calls.append("optimizer.step() called with a closure")
            if self._depth == 0:
                rec.steps.append((opt, len(rec.backwards)))
            self._depth += 1  # what the optimizer does inside is replayed by calling it
            try:
                return orig(opt, *args, **kwargs)
            finally:
                self._depth -= 1

        return step

    def _zero_wrapper(self, orig: Any) -> Any:
        rec = self.record

        def zero_grad(obj: Any, *args: Any, **kwargs: Any) -> Any:
            if self._depth == 0:
                rec.zeroed.append(len(rec.backwards))
            self._depth += 1
            try:
                return orig(obj, *args, **kwargs)
            finally:
                self._depth -= 1

        return zero_grad

    def _patch_value_read(self, owner: type, name: str) -> None:
        orig = owner.__dict__[name]
        reads = self.record.value_reads

        def read(t: Any, *args: Any, **kwargs: Any) -> Any:
            if self._depth == 0:
                reads.append(name)
            return orig(t, *args, **kwargs)

        if owner is Tensor:
            self._patch(Tensor, name, read)
        else:  # defined on a base class: shadow it on Tensor, restore by deleting
            self._saved.append((Tensor, name, _Missing))
            setattr(Tensor, name, read)


class _MissingType:
    pass


class _ModuleAttr:
    """Marks a saved attribute of a module object (not of a class)."""

    def __init__(self, module: Any) -> None:
        self.module = module


_Missing: Any = _MissingType()


def array_of(x: Any) -> np.ndarray | None:
    """The array behind a step argument (a Tensor's array or an ndarray), else None."""
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.ndarray):
        return x
    return None
