"""The scheduler base class and helpers shared by the schedulers."""

from __future__ import annotations

import warnings
from typing import Any

from gradstep.optim.optimizer import Optimizer

__all__ = ["LRScheduler"]

_NOT_SAVED = ("optimizer",)


def _check_optimizer(name: str, optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{name}: optimizer must be a gradstep.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per parameter group: a list/tuple of that length, or one value for all."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name}: expected {n} values (one per parameter group), got {len(value)}"
            )
        return list(value)
    return [value] * n


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


class LRScheduler:
    """Base class: keeps ``base_lrs``, ``last_epoch`` and the last rates.

    Subclasses implement :meth:`get_lr` (the rates of epoch ``last_epoch``, computed
    recursively from the current rates where PyTorch does so) and, where PyTorch has one,
    ``_closed_form_lr`` (used by ``step(epoch)``).

    Args:
        optimizer: the optimizer whose groups' ``lr`` is scheduled.
        last_epoch: index of the last epoch when resuming (-1: start; then every group
            must hold ``initial_lr``).
    """

    _step_count: int
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        self.optimizer = _check_optimizer(name, optimizer)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{name}: last_epoch={last_epoch} resumes a schedule, but parameter group "
                        f"{i} has no 'initial_lr' (load the optimizer's state first)"
                    )
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for ``last_epoch`` (called by :meth:`step`)."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and set every group's ``lr``.

        Args:
            epoch: deprecated in PyTorch and here (a UserWarning): jump to this epoch, using
                the closed form of the schedule where there is one.
        """
        self._step_count += 1
        if epoch is not None:
            warnings.warn(
                f"{type(self).__name__}.step(epoch) is deprecated (as in PyTorch): call step() "
                "once per epoch instead", UserWarning, stacklevel=2,
            )
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates set by the last :meth:`step` (one per group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (and functions), as JSON-able values."""
        return {k: _plain(v) for k, v in self.__dict__.items() if k not in self._not_saved()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        skip = self._not_saved()
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in skip})

    def _not_saved(self) -> tuple[str, ...]:
        return _NOT_SAVED
