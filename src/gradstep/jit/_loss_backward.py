"""The compiled forward-and-backward pass that :func:`~gradstep.train.fit` runs per batch.

``fit`` keeps its own step (the loss guard, gradient hooks, clipping, the optimizer call,
callbacks); what it compiles is the part in between: ``out = model(x)``,
``loss = loss_fn(out, y)`` (the loss summed over the batch) and ``loss.backward(seed)``
with the seed that turns the sum into the loss object's value on the step's batches.
:class:`LossBackward` traces that part on the first call per signature (the shapes and
dtypes of the batch and targets, and every module's ``training`` flag) and replays it
after, with results bit-identical to eager (the same kernels as :mod:`gradstep.jit`).

Guards, beyond those of a compiled step: the plan also depends on every public scalar
setting of every module of the model (a container whose ``forward`` branches on a flag of
its own is re-traced when the flag changes), and a plan is only used on gradients that
``fit`` has just reset (the first batch of a step).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from gradstep.jit._plan import Plan, Unsupported, build, explain, settings
from gradstep.jit._trace import Record, Recorder

__all__ = ["LossBackward"]

_TRACE = object()
_TRAINING = operator.attrgetter("training")


class LossBackward:
    """Compiled ``loss_fn(model(x), y).backward(seed)`` for fixed signatures.

    Attributes:
        reasons: signature -> why that signature runs eagerly.
        traces: how many calls were traced; replays: how many were replayed.
    """

    def __init__(self, model: Any, loss_fn: Any) -> None:
        self.model = model
        self.loss_fn = loss_fn
        mods = list(model.modules()) if hasattr(model, "modules") else [model]
        self._modules = mods
        self._plans: dict[Any, Plan | str] = {}
        self.reasons: dict[Any, str] = {}
        self.traces = 0
        self.replays = 0
        # signature -> (normaliser, backward seed, divisor), for fit
        self.seeds: dict[Any, Any] = {}
        self._configs = tuple(s for m in mods if any(True for _ in m.children())
                              for s in settings(m))

    def key(self, x: np.ndarray, y: np.ndarray) -> Any:
        return (x.shape, x.dtype, y.shape, y.dtype, tuple(map(_TRAINING, self._modules)))

    def lookup(self, key: Any) -> Any:
        """The plan for ``key``; :data:`TRACE` when the call should be traced; None when
        it must run eagerly (a recorded reason)."""
        entry = self._plans.get(key)
        if entry is None:
            return _TRACE
        if isinstance(entry, Plan):
            if entry.valid():
                return entry
            del self._plans[key]  # parameters or settings changed since the trace
            return _TRACE
        return None

    def recorder(self) -> Recorder:
        return Recorder()

    def finish(self, key: Any, record: Record, x: Any, y: Any, loss: Any,
               complete: bool) -> None:
        """Build the plan of a traced call (``complete``: backward ran; otherwise the trace
        is dropped and the next call traces again)."""
        self.traces += 1
        if not complete:
            return
        try:
            plan: Plan | str = build(record, (x, y), loss, mode="loss",
                                     extra_configs=self._configs)
        except Unsupported as exc:
            plan = str(exc)
            self.reasons[key] = plan
        self._plans[key] = plan

    def explain(self) -> str:
        """One line per traced signature: replayed, or why it runs eagerly."""
        return explain(self._plans, lambda key: f"x {key[0]} {key[1]}, y {key[2]} {key[3]}")


TRACE = _TRACE
