"""Callbacks for :func:`gradstep.fit`: early stopping, checkpoints, CSV logs, LR schedules.

A callback subclasses :class:`Callback` and overrides any of its hooks. Every hook gets
the :class:`~gradstep.train.Trainer` running the loop (``trainer.model``,
``trainer.optimizer``, ``trainer.epoch``, ``trainer.step``, ``trainer.history``,
``trainer.stop_training``...). Hooks, in order::

    on_train_begin(trainer)
      on_epoch_begin(trainer, epoch)
        on_step_begin(trainer, step)         # before the forward passes of a step
        on_after_backward(trainer, step)     # backward passes done; before any check
        on_before_step(trainer)              # loss checked, gradients ready; before the
                                             # gradient check, clipping and the update
        on_batch_end(trainer, step, logs)    # after each optimizer step (or skipped step)
      on_epoch_end(trainer, epoch, logs)     # logs: loss, metrics, val_*, lr, time
    on_train_end(trainer, logs)

``epoch`` is 0-based in hooks (``logs``/printing say ``epoch + 1``); ``step`` in
``on_step_begin``/``on_after_backward`` is the :class:`~gradstep.train.StepState` of the
step (its batches, summed loss and normaliser, the seed of its backward passes), which
those hooks may change: that is how data parallelism sums a step over processes. Only
callbacks that override a per-step hook are called per step, so the others cost nothing
per step. A callback with state that must survive a resume implements
``state_dict()``/``load_state_dict()``; it is stored in the trainer's checkpoints.
Callbacks that write files do so only when ``trainer.is_main`` (rank 0 of a
data-parallel run).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gradstep.train import StepState, Trainer

__all__ = [
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "CSVLogger",
    "LRSchedulerCallback",
    "LambdaCallback",
]


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch (after a resume has been restored)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Called at the start of each epoch (0-based ``epoch``)."""

    def on_step_begin(self, trainer: Trainer, step: StepState) -> None:
        """Called before the forward passes of an optimizer step."""

    def on_after_backward(self, trainer: Trainer, step: StepState) -> None:
        """Called after the backward passes of a step, before its loss and gradients are
        checked (also after a non-finite loss, with ``step.finite`` False)."""

    def on_before_step(self, trainer: Trainer) -> None:
        """Called when the gradients of a step are complete, before clipping and the update."""

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """Called after each optimizer step; ``step`` counts steps from 1, ``logs`` has
        ``loss`` (mean over the step's examples), ``lr`` and ``size`` (examples)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called at the end of each epoch with its loss, metrics, validation results, lr."""

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        """Called once when training ends (normally, by early stopping, or on an error)."""

    def state_dict(self) -> dict[str, Any]:
        """State to store in checkpoints (JSON-able values and arrays)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(s in monitor for s in ("acc", "auc", "f1")) else "min"


def _unvalidated_epoch(monitor: str, logs: dict[str, Any], trainer: Any) -> bool:
    """Whether ``monitor`` is a validation metric of a run that validates, missing on this
    epoch because the run validates only every k epochs (``fit(eval_every=k)``)."""
    return (monitor.startswith("val_") and monitor not in logs
            and getattr(trainer, "val", None) is not None)


def _monitored(monitor: str, logs: dict[str, Any]) -> float | None:
    """The monitored value; a ``val_*`` key falls back to the training metric in a run
    without validation data."""
    key = monitor
    if key not in logs and key.startswith("val_"):
        key = key[4:]
    v = logs.get(key)
    return None if v is None else float(v)


def _better(mode: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop training when a monitored value has stopped improving.

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` (default) or ``"val_accuracy"``.
            When it is missing (no validation data), ``"val_"`` is dropped (``"loss"``).
        patience: epochs without improvement before stopping.
        min_delta: smallest change that counts as an improvement.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies, min otherwise).
        restore_best_weights: at the end, copy back the weights of the best epoch.

    Attributes:
        best: best value seen; ``best_epoch``: its 0-based epoch; ``stopped_epoch``: the
        epoch after which training stopped (None if it did not).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.mode = _mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_weights: dict[str, np.ndarray] | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if _unvalidated_epoch(self.monitor, logs, trainer):
            return  # fit(eval_every=k): nothing to compare on this epoch; patience waits
        value = _monitored(self.monitor, logs)
        if value is None:
            raise KeyError(
                f"EarlyStopping: monitored value {self.monitor!r} is not in the epoch logs "
                f"(available: {sorted(logs)})"
            )
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            trainer.model.load_state_dict(self._best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))


class ModelCheckpoint(Callback):
    """Write resumable checkpoints: the last epoch and the best one.

    Files (in ``dirpath``): ``last.safetensors`` after every epoch (``save_last``) and
    ``best.safetensors`` whenever ``monitor`` improves (``save_best``). Each is a full
    training state (model, optimizer, scheduler, loader position, history), written
    atomically, so ``fit(..., resume=dirpath / "last.safetensors")`` continues exactly.
    When training stops on a non-finite loss, the files of the last good epoch remain.

    Args:
        dirpath: directory (created if missing).
        monitor: epoch-log key deciding "best" (``"val_loss"``; falls back to ``"loss"``
            without validation data).
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_best: write ``best.safetensors``.
        save_last: write ``last.safetensors``.
        every: write ``last`` only every ``every`` epochs (the final epoch always).
    """

    def __init__(
        self,
        dirpath: str | os.PathLike[str],
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best: bool = True,
        save_last: bool = True,
        every: int = 1,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"ModelCheckpoint: every must be an int >= 1, got {every!r}")
        self.dirpath = Path(dirpath)
        self.monitor = monitor
        self.mode = _mode(monitor, mode)
        self.save_best = save_best
        self.save_last = save_last
        self.every = every
        self.best: float | None = None
        self.best_path: Path | None = None
        self.last_path: Path | None = None

    @property
    def last_good(self) -> Path | None:
        """The most recent file written (for error messages)."""
        return self.last_path or self.best_path

    def on_train_begin(self, trainer: Trainer) -> None:
        if trainer.is_main:
            self.dirpath.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if not trainer.is_main:
            return
        value = None if _unvalidated_epoch(self.monitor, logs, trainer) \
            else _monitored(self.monitor, logs)
        if self.save_best and value is not None and _better(self.mode, value, self.best):
            self.best = float(value)
            self.best_path = trainer.save(self.dirpath / "best.safetensors")
        final = epoch + 1 >= trainer.epochs or trainer.stop_training
        if self.save_last and ((epoch + 1) % self.every == 0 or final):
            self.last_path = trainer.save(self.dirpath / "last.safetensors")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")


class CSVLogger(Callback):
    """Write one CSV row per epoch (epoch, loss, metrics, val_*, lr, time).

    Args:
        path: the CSV file. A fresh run truncates it; a resumed run appends.
        separator: field separator.
    """

    def __init__(self, path: str | os.PathLike[str], separator: str = ",") -> None:
        self.path = Path(path)
        self.separator = separator
        self._keys: list[str] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        if not trainer.is_main:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if trainer.resumed and self.path.exists():
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self._keys = header[1:] if header else None
        else:
            self.path.write_text("")
            self._keys = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if not trainer.is_main:
            return
        if self._keys is None:
            self._keys = list(logs)
            with open(self.path, "w", newline="") as f:
                csv.writer(f, delimiter=self.separator).writerow(["epoch", *self._keys])
        row = [str(epoch + 1)] + [_fmt(logs.get(k)) for k in self._keys]
        with open(self.path, "a", newline="") as f:
            csv.writer(f, delimiter=self.separator).writerow(row)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler per epoch or per optimizer step.

    ``fit(..., scheduler=s)`` installs one of these (``interval="epoch"`` unless
    ``scheduler_interval="step"``); use it directly for a second schedule.

    Args:
        scheduler: object with ``step()`` (PyTorch-like; a scheduler whose class name
            contains ``Plateau`` gets ``step(value)`` of ``monitor`` at each epoch end).
        interval: ``"epoch"`` or ``"step"``.
        monitor: epoch-log key passed to plateau schedulers (default ``"val_loss"``,
            falling back to ``"loss"``).
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str = "val_loss") -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(
                f"LRSchedulerCallback: interval must be 'epoch' or 'step', got {interval!r}"
            )
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError(
                f"scheduler: expected an object with step(), got {type(scheduler).__name__}"
            )
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor
        self.plateau = "plateau" in type(scheduler).__name__.lower()
        if self.plateau and interval == "step":
            raise ValueError("LRSchedulerCallback: a plateau scheduler steps per epoch")
        if interval == "epoch":
            # leave on_batch_end un-overridden so that it costs nothing per step
            self.on_batch_end = Callback.on_batch_end.__get__(self)  # type: ignore[method-assign]

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        if self.interval == "step" and not logs.get("skipped"):
            self.scheduler.step()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.interval != "epoch":
            return
        if self.plateau:
            key = self.monitor if self.monitor in logs else self.monitor.removeprefix("val_")
            self.scheduler.step(logs[key])
        else:
            self.scheduler.step()


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda t, e, logs: ...)``."""

    def __init__(self, **hooks: Any) -> None:
        allowed = {
            "on_train_begin",
            "on_epoch_begin",
            "on_step_begin",
            "on_after_backward",
            "on_before_step",
            "on_batch_end",
            "on_epoch_end",
            "on_train_end",
        }
        for name, fn in hooks.items():
            if name not in allowed:
                raise TypeError(
                    f"LambdaCallback: unknown hook {name!r}; expected {sorted(allowed)}"
                )
            setattr(self, name, fn)
