"""What the hooks of one optimizer step see: :class:`StepState`."""

from __future__ import annotations

import math
from typing import Any

from gradstep.train.evaluate import RunningSums

__all__ = ["StepState"]


class StepState:
    """One optimizer step over a group of ``accumulate`` batches.

    Passed to :meth:`~gradstep.callbacks.Callback.on_step_begin` (before the forward
    passes) and :meth:`~gradstep.callbacks.Callback.on_after_backward` (after the
    backward passes, before the loss and gradients are checked).

    Attributes:
        batches: the ``(x, y)`` batches of the step.
        sums: the step's :class:`~gradstep.train.evaluate.RunningSums` (summed loss, its
            normaliser, examples, metric sums) of the batches processed.
        normaliser: the summed normaliser of every batch of the group, known after the
            first forward pass.
        backward_scale: the seed of every batch's backward pass (the summed loss is
            backpropagated times this). None: ``1 / divisor`` of the group, so the
            gradients are those of the loss object on the whole group. A hook may set it
            (e.g. to 1, to divide gradients summed over processes later).
        finite: False once a batch's loss was not finite (the step then stops early).
        bad_loss: that non-finite value.
        baseline_sum, baseline_norm: the summed loss of an all-zero output and its
            normaliser, on the first batch of the run's first step (``has_baseline``).
    """

    __slots__ = ("batches", "sums", "normaliser", "backward_scale", "finite", "bad_loss",
                 "baseline_sum", "baseline_norm", "has_baseline")

    def __init__(self, batches: list[tuple[Any, Any]], sums: RunningSums) -> None:
        self.batches = batches
        self.sums = sums
        self.normaliser = 0.0
        self.backward_scale: float | None = None
        self.finite = True
        self.bad_loss = math.nan
        self.baseline_sum = 0.0
        self.baseline_norm = 0.0
        self.has_baseline = False

    @property
    def loss(self) -> float:
        """The loss object's value on the step's examples (nan after a non-finite loss)."""
        return self.sums.mean_loss() if self.finite else math.nan

    @property
    def baseline(self) -> float:
        """The loss of an all-zero output (nan when not computed)."""
        if not self.has_baseline:
            return math.nan
        d = self.sums.divisor(self.baseline_norm)
        return self.baseline_sum / d if d else math.nan
