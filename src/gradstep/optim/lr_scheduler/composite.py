"""Schedulers made of schedulers: one after another, or all at once."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from gradstep.optim.optimizer import Optimizer

from .base import LRScheduler, _check_optimizer, _plain
from .plateau import ReduceLROnPlateau

__all__ = ["SequentialLR", "ChainedScheduler"]


def _check_members(name: str, schedulers: Sequence[Any], optimizer: Any) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{name}: expects at least one scheduler, got none")
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{name}: scheduler {i} is a ReduceLROnPlateau, which needs a metric in "
                "step() and cannot be combined"
            )
        if not isinstance(s, LRScheduler):
            raise TypeError(
                f"{name}: scheduler {i} is a {type(s).__name__}, expected an LRScheduler"
            )
        if s.optimizer is not optimizer:
            raise ValueError(f"{name}: scheduler {i} belongs to a different optimizer")


class _Composite(LRScheduler):
    _schedulers: list[LRScheduler]

    def _not_saved(self) -> tuple[str, ...]:
        return ("optimizer", "_schedulers")

    def state_dict(self) -> dict[str, Any]:
        out = {k: _plain(v) for k, v in self.__dict__.items() if k not in self._not_saved()}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for s, sd in zip(self._schedulers, state_dict["_schedulers"]):
            s.load_state_dict(sd)


class SequentialLR(_Composite):
    """Run ``schedulers`` one after another, switching at the ``milestones`` epochs (at a
    switch the next scheduler starts from its epoch 0, in closed form where it has one).

    Args:
        optimizer: the optimizer every scheduler belongs to.
        schedulers: the schedulers (already built on ``optimizer``).
        milestones: ``len(schedulers) - 1`` increasing epochs.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(
        self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        _check_members(name, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"{name}: expects len(schedulers) - 1 = {len(schedulers) - 1} milestones, "
                f"got {len(milestones)}"
            )
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo_initial_steps(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def _undo_initial_steps(self, sched: LRScheduler) -> None:
        """Take back the initial step each (nested) scheduler made when it was built."""
        members = getattr(sched, "_schedulers", None)
        if members is not None:
            for s in members:
                self._undo_initial_steps(s)
        elif sched is not self:
            sched.last_epoch -= 1

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (``epoch`` is not supported: TypeError)."""
        if epoch is not None:
            raise TypeError("SequentialLR.step: takes no epoch")
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            s._update_lr(0)
        else:
            s.step()
        self._last_lr = s.get_last_lr()


class ChainedScheduler(_Composite):
    """Step every scheduler in ``schedulers`` at each :meth:`step`, in order, so that their
    changes of the rate compose (e.g. a warm-up times a decay).

    Args:
        schedulers: the schedulers (all on one optimizer).
        optimizer: that optimizer (default: the first scheduler's).
    """

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        name = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name}: expects at least one scheduler, got none")
        optimizer = optimizer if optimizer is not None else schedulers[0].optimizer
        _check_optimizer(name, optimizer)
        _check_members(name, schedulers, optimizer)
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Step every scheduler once (``epoch`` is not supported: TypeError)."""
        if epoch is not None:
            raise TypeError("ChainedScheduler.step: takes no epoch")
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
