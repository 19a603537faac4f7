"""The state of a :func:`~gradstep.train.fit` run: :class:`TrainerState` (what callbacks
read, what checkpoints hold, Ctrl-C handling). The step and the epoch loop are in
:mod:`gradstep.train.loop`."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradstep import checkpoint as _checkpoint
from gradstep.callbacks import Callback, LRSchedulerCallback, ModelCheckpoint
from gradstep.errors import CheckpointError, TrainingInterrupted
from gradstep.jit._loss_backward import LossBackward
from gradstep.tensor import Tensor
from gradstep.train.evaluate import RunningSums, resolve_metrics
from gradstep.train.guard import LossGuard
from gradstep.train.history import History
from gradstep.train.reduction import resolve_loss

__all__ = ["TrainerState"]

TRAINER_STATE_VERSION = 1

_HOOKS = ("on_step_begin", "on_after_backward", "on_before_step", "on_batch_end")


def _overrides(cb: Any, hook: str) -> bool:
    m = getattr(cb, hook)
    return getattr(m, "__func__", m) is not getattr(Callback, hook)


def _model_generators(model: Any) -> dict[str, np.random.Generator]:
    """Generators held by the model's modules (dropout...), by ``module.attribute`` name."""
    gens: dict[str, np.random.Generator] = {}
    named = model.named_modules() if hasattr(model, "named_modules") else [("", model)]
    for mname, m in named:
        for attr, v in vars(m).items():
            if isinstance(v, np.random.Generator):
                gens[f"{mname}.{attr}" if mname else attr] = v
    return gens


def _parameters(model: Any, optimizer: Any) -> list[Any]:
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        ps: list[Any] = []
        seen: set[int] = set()
        for g in groups:
            for p in g["params"]:
                if id(p) not in seen:
                    seen.add(id(p))
                    ps.append(p)
        if ps and isinstance(ps[0], Tensor):
            return ps
    return list(model.parameters())


def _is_int(v: Any, lo: int) -> bool:
    return bool(not isinstance(v, bool) and isinstance(v, (int, np.integer)) and v >= lo)


def _check_args(epochs: Any, accumulate: Any, grad_clip: Any, on_nonfinite: Any,
                optimizer: Any, eval_every: Any) -> None:
    if not _is_int(epochs, 0):
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if not _is_int(accumulate, 1):
        raise ValueError(f"fit: accumulate must be an int >= 1, got {accumulate!r}")
    if not _is_int(eval_every, 1):
        raise ValueError(f"fit: eval_every must be an int >= 1, got {eval_every!r}")
    if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
        raise ValueError(f"fit: grad_clip must be a number > 0 or None, got {grad_clip!r}")
    if on_nonfinite not in ("raise", "skip"):
        raise ValueError(f"fit: on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
    if optimizer is None or not callable(getattr(optimizer, "step", None)):
        raise TypeError(
            f"fit: optimizer must have step() and zero_grad(), got {type(optimizer).__name__}"
        )


class TrainerState:
    """The state of a :func:`~gradstep.train.fit` run; callbacks receive it.

    Attributes:
        model, optimizer, scheduler, loader (training DataLoader), val (validation data).
        loss: the :class:`~gradstep.train.reduction.LossReduction` being minimised.
        epochs: total number of epochs; epoch: current epoch (0-based); step: optimizer
        steps taken so far; history: the :class:`History`; stop_training: set True to
        stop after the current epoch; is_main: whether this process prints and writes
        files (a data-parallel plug-in sets it False on all but one process); resumed:
        whether the run was restored; handle_sigint: whether Ctrl-C is deferred to the
        end of the step (a plug-in that runs several processes turns it off); sums: the
        running sums of the epoch; meta: extra values written into every checkpoint;
        compiled: the :class:`~gradstep.jit.LossBackward` running the forward and backward
        passes (None with ``compile=False``; its ``explain()`` says which batch signatures
        are replayed and why others run eagerly).
    """

    def __init__(
        self, model: Any, loader: Any, *, loss: Any, optimizer: Any, epochs: int,
        val: Any = None, scheduler: Any = None, scheduler_interval: str = "epoch",
        callbacks: Sequence[Callback] = (), metrics: Any = None,
        grad_clip: float | None = None, accumulate: int = 1, on_nonfinite: str = "raise",
        verbose: int = 1, val_batch_size: int = 1024, eval_every: int = 1,
        max_loss_ratio: float | None = 1e4, compile: bool = True,
    ) -> None:
        _check_args(epochs, accumulate, grad_clip, on_nonfinite, optimizer, eval_every)
        if not isinstance(compile, bool):
            raise TypeError(f"fit: compile must be True or False, got {compile!r}")
        self.model, self.loader, self.val = model, loader, val
        self.optimizer, self.scheduler = optimizer, scheduler
        self.epochs, self.accumulate = int(epochs), int(accumulate)
        self.grad_clip, self.on_nonfinite = grad_clip, on_nonfinite
        self.verbose, self.val_batch_size = int(verbose), val_batch_size
        self.eval_every = int(eval_every)
        self.loss = resolve_loss(loss)
        self.loss_name = self.loss.name
        self.metric_fns = resolve_metrics(metrics, self.loss_name)
        self.guard = LossGuard(max_loss_ratio)
        cbs = list(callbacks)
        if scheduler is not None:
            cbs.insert(0, LRSchedulerCallback(scheduler, interval=scheduler_interval))
        self.callbacks: list[Callback] = []
        self._hooked: dict[str, list[Callback]] = {h: [] for h in _HOOKS}
        self._plugin_ids: set[int] = set()
        for cb in cbs:
            self.add_callback(cb)
        self.history = History()
        self.epoch = 0
        self.step = 0
        self.stop_training = False
        self.is_main = True
        self.resumed = False
        self.handle_sigint = True
        self.sums = self.new_sums()
        self._epoch_time = 0.0
        self._skipped = 0
        self._mid_epoch = False
        # loader epoch when this epoch's batches began: a checkpoint taken after the last
        # batch but before the epoch's end (per-step saves, Ctrl-C) must not redo the epoch
        self._loader_epoch: Any = None
        self._batches_done = False
        self._interrupted = False  # Ctrl-C seen: stop after the current step
        self._grads_stale = False  # the last step's gradients await zero_grad()
        self._flat_grads: list[np.ndarray] | None = None  # a flat optimizer's, per epoch
        self._outer_err: Any = None  # NumPy's error settings around fast steps (geterr)
        self.meta: dict[str, Any] = {}
        self._params = list(_parameters(model, optimizer))
        # the compiled forward and backward pass (gradstep.jit), or None with compile=False
        self.compiled: LossBackward | None = (
            LossBackward(model, self.loss.summed)
            if compile and hasattr(model, "modules") else None
        )
        self._names = {id(p): n for n, p in getattr(model, "named_parameters", lambda: [])()}

    # ------------------------------------------------------------------ callbacks
    def add_callback(self, cb: Callback, *, plugin: bool = False) -> None:
        """Append a callback (``plugin=True``: added by a fit plug-in; its state is not
        stored in checkpoints, since the plug-in recreates it)."""
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be Callback instances, got {type(cb).__name__}")
        self.callbacks.append(cb)
        if plugin:
            self._plugin_ids.add(id(cb))
        for h in _HOOKS:
            if _overrides(cb, h):
                self._hooked[h].append(cb)

    def new_sums(self) -> RunningSums:
        return RunningSums(self.metric_fns, self.loss.divisor)

    @property
    def lr(self) -> float:
        groups = getattr(self.optimizer, "param_groups", None)
        if groups:
            return float(groups[0].get("lr", math.nan))
        return float(getattr(self.optimizer, "lr", math.nan))

    def _user_callbacks(self) -> list[Callback]:
        return [cb for cb in self.callbacks if id(cb) not in self._plugin_ids]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Loop position and bookkeeping (JSON-able + arrays): everything but the model,
        optimizer and scheduler, which :meth:`save` stores beside it."""
        state: dict[str, Any] = {
            "version": TRAINER_STATE_VERSION,
            "epoch": self.epoch,
            "step": self.step,
            "epochs": self.epochs,
            "accumulate": self.accumulate,
            "history": self.history.to_dict(),
            "running": {
                "sums": self.sums.state(),
                "time": self._epoch_time,
                "skipped": self._skipped,
                "batches_done": self._loader_epoch is not None
                and getattr(self.loader, "epoch", None) != self._loader_epoch,
            },
            "loss_reference": self.guard.state(),
            "generators": {
                k: g.bit_generator.state for k, g in _model_generators(self.model).items()
            },
            "callbacks": [cb.state_dict() for cb in self._user_callbacks()],
        }
        if hasattr(self.loader, "state_dict"):
            state["loader"] = self.loader.state_dict()
        return state

    def _check_state(self, state: Any) -> None:
        if not isinstance(state, dict) or state.get("version") != TRAINER_STATE_VERSION:
            raise CheckpointError(
                "fit(resume=...): the checkpoint holds no trainer state of "
                f"version {TRAINER_STATE_VERSION}"
            )
        if state.get("accumulate", 1) != self.accumulate:
            raise CheckpointError(
                f"fit(resume=...): checkpoint was trained with accumulate={state.get('accumulate')}"
                f", this run has accumulate={self.accumulate}"
            )
        for key in ("epoch", "step"):
            v = state.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise CheckpointError(f"fit(resume=...): trainer {key} must be an int >= 0, "
                                      f"got {v!r}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state)
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.history = History.from_dict(state.get("history", {}))
        self.guard.load(state.get("loss_reference"))
        run = state.get("running", {})
        if run:
            self.sums.load(run["sums"])
            self._epoch_time = float(run.get("time", 0.0))
            self._skipped = int(run.get("skipped", 0))
            self._batches_done = bool(run.get("batches_done", False))
        gens = _model_generators(self.model)
        for k, s in state.get("generators", {}).items():
            if k not in gens:
                raise CheckpointError(f"fit(resume=...): the model has no generator {k!r}")
            gens[k].bit_generator.state = s
        cstates = state.get("callbacks", [])
        users = self._user_callbacks()
        if len(cstates) == len(users):
            for cb, s in zip(users, cstates):
                cb.load_state_dict(s)
        if "loader" in state:
            self._load_loader(state["loader"])
        self.resumed = True

    def _load_loader(self, saved: dict[str, Any]) -> None:
        if not hasattr(self.loader, "load_state_dict"):
            raise CheckpointError(
                "fit(resume=...): the training data cannot restore a loader position"
            )
        loader_state = dict(saved)
        # the shard is this process's, not the run's: a checkpoint written by one process of
        # a K-process run resumes on every process of a K-process run
        own: dict[str, Any] = self.loader.state_dict() if hasattr(self.loader, "state_dict") \
            else {}
        mine = own.get("shard")
        theirs = loader_state.get("shard")
        if isinstance(mine, list) and isinstance(theirs, list) and len(theirs) == 2 \
                and len(mine) == 2 and theirs[1] == mine[1]:
            loader_state["shard"] = mine
        try:
            self.loader.load_state_dict(loader_state)
        except ValueError as exc:
            raise CheckpointError(f"fit(resume=...): {exc}") from None
        self._mid_epoch = int(saved.get("batch_index", 0)) > 0 or self._batches_done

    def save(self, path: str | os.PathLike[str], **meta: Any) -> Path:
        """Write a resumable checkpoint (model, optimizer, scheduler, trainer state)."""
        return _checkpoint.save_checkpoint(
            path, self.model, self.optimizer, self.scheduler, trainer=self.state_dict(),
            **{**self.meta, **meta},
        )

    def restore(self, path: str | os.PathLike[str]) -> _checkpoint.Checkpoint:
        """Load a checkpoint written by :meth:`save` into this trainer's objects."""
        ck = _checkpoint.load_checkpoint(
            path, self.model, self.optimizer, self.scheduler, build=False
        )
        if "trainer" not in ck.meta:
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r}: holds no training state "
                "(written by gradstep.save_checkpoint, not by fit); cannot resume"
            )
        try:
            self.load_state_dict(ck.meta["trainer"])
        except CheckpointError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r}: malformed training state "
                f"({type(exc).__name__}: {exc})"
            ) from None
        return ck

    # ---------------------------------------------------------------- Ctrl-C
    def _install_sigint(self) -> Callable[[], None]:
        """Defer Ctrl-C to the end of the current step (a second Ctrl-C stops at once), so
        the interruption checkpoint is never taken mid-update. Only in the main thread, when
        ``handle_sigint`` and the SIGINT handler is Python's default."""
        import signal
        import threading

        if (
            threading.current_thread() is not threading.main_thread()
            or not self.handle_sigint
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            return lambda: None

        def handler(signum: int, frame: Any) -> None:
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True

        signal.signal(signal.SIGINT, handler)

        def restore() -> None:
            signal.signal(signal.SIGINT, signal.default_int_handler)

        return restore

    def _check_interrupt(self) -> None:
        """After Ctrl-C: write ``last.safetensors`` in the first ModelCheckpoint's folder and
        raise :class:`~gradstep.errors.TrainingInterrupted`."""
        if not self._interrupted:
            return
        self._interrupted = False
        if self._grads_stale:
            self.optimizer.zero_grad()
            self._grads_stale = False
        path = None
        dirs = [cb.dirpath for cb in self.callbacks if isinstance(cb, ModelCheckpoint)]
        if dirs and self.is_main:
            path = self.save(Path(dirs[0]) / "last.safetensors")
        where = f"after step {self.step} (epoch {self.epoch + 1}/{self.epochs})"
        msg = (f"training interrupted {where}; resumable checkpoint written to {path}; "
               f"resume with fit(..., resume={os.fspath(path)!r})" if path is not None else
               f"training interrupted {where}; no checkpoint written (no ModelCheckpoint)")
        raise TrainingInterrupted(msg, path, self.epoch, self.step)
