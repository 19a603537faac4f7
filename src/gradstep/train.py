"""Training: :func:`fit`, :func:`evaluate`, :func:`predict`, :class:`History`, :class:`Trainer`.

:func:`fit` runs the epoch loop of a :class:`Trainer`::

    for each epoch:
        for each group of `accumulate` batches:       # one optimizer step
            for each batch: forward, summed loss, backward(scale = 1 / examples in group)
            on_before_step hooks (e.g. gradient all-reduce)
            check the loss and the gradients are finite; clip the gradient norm;
            optimizer.step(); zero_grad()
            on_batch_end hooks (per-step scheduler)
        validation, epoch logs, on_epoch_end hooks (per-epoch scheduler, checkpoints,
        early stopping)

Exact gradient accumulation: the loss of every batch is computed with ``reduction="sum"``
and backpropagated with the seed gradient ``1 / n`` where ``n`` is the number of examples
in the whole accumulation group (also for a short last group), so ``accumulate=k`` with
batch ``b`` takes exactly the step of one batch of ``k * b``.

Non-finite guard: the loss of every batch is checked (``float(loss)`` is computed anyway
for the history). Gradients are checked once per step, before the update, with one
reduction per gradient array (one per dtype when the optimizer keeps a flat gradient
buffer): ``np.isfinite(np.vdot(g, g))``. A NaN or Inf anywhere makes it non-finite; a
non-finite result from finite values (overflow) is then ruled out exactly with
``np.isfinite(g).all()``, so the check never misfires and costs one pass over the
gradients. On a non-finite loss or gradient, ``on_nonfinite="raise"`` (default) stops
with :class:`gradstep.NonFiniteError` naming the epoch, step and parameter, before the
bad update is applied (so checkpoints of earlier epochs stay the last good ones);
``"skip"`` drops that step (zeroes its gradients, no update) and counts it in the history.

Resuming: ``fit(..., resume=path)`` restores the model, optimizer, scheduler, the data
loader's generator and position, Generators held by the model (e.g. dropout), callback
state and the history, then continues; ``epochs`` is the total number of epochs, so the
same command resumes an interrupted run to completion, bit-identically.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradstep import checkpoint as _checkpoint
from gradstep import metrics as _metrics
from gradstep.callbacks import (
    Callback,
    LRSchedulerCallback,
    ModelCheckpoint,
)
from gradstep.data import ArrayDataset, DataLoader
from gradstep.errors import CheckpointError, NonFiniteError, TrainingInterrupted
from gradstep.tensor import Tensor, no_grad

__all__ = ["fit", "evaluate", "predict", "History", "Trainer", "resolve_loss"]

TRAINER_STATE_VERSION = 1


# ------------------------------------------------------------------------------ history


class History:
    """What :func:`fit` records.

    Attributes:
        epoch: 1-based numbers of the completed epochs.
        history: per-epoch values, key -> list: ``loss``, each metric (``accuracy``...),
            ``val_loss`` and ``val_<metric>`` with validation data, ``lr`` (the rate of the
            epoch's last step, before a per-epoch scheduler steps), ``time`` (seconds),
            ``samples_per_s``, ``skipped`` (steps dropped by the non-finite guard).
        steps: per optimizer step: ``loss`` (mean over the step's examples) and ``lr``
            (the rate the step used).
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.steps: dict[str, list[float]] = {"loss": [], "lr": []}

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self) -> list[str]:
        return list(self.history)

    def append_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        n = len(self.epoch)
        self.epoch.append(epoch)
        for k, v in logs.items():
            col = self.history.setdefault(k, [math.nan] * n)
            col.append(float(v))
        for col in self.history.values():
            if len(col) < n + 1:
                col.append(math.nan)

    @property
    def last(self) -> dict[str, float]:
        """The logs of the last epoch."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": list(self.epoch),
            "history": {k: list(v) for k, v in self.history.items()},
            "steps": {k: list(v) for k, v in self.steps.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.epoch = [int(e) for e in d.get("epoch", [])]
        h.history = {k: [float(x) for x in v] for k, v in d.get("history", {}).items()}
        h.steps = {
            "loss": [], "lr": [],
            **{k: [float(x) for x in v] for k, v in d.get("steps", {}).items()},
        }
        if any(len(v) != len(h.epoch) for v in h.history.values()) or any(
            len(v) != len(h.steps["loss"]) for v in h.steps.values()
        ):
            raise ValueError("History.from_dict: columns of different lengths")
        return h

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the history as JSON (NaN written as null)."""

        def clean(v: list[float]) -> list[float | None]:
            return [x if math.isfinite(x) else None for x in v]

        d = {
            "epoch": self.epoch,
            "history": {k: clean(v) for k, v in self.history.items()},
            "steps": {k: clean(v) for k, v in self.steps.items()},
        }
        Path(path).write_text(json.dumps(d, indent=1) + "\n")

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write one row per epoch: ``epoch`` then every per-epoch key."""
        keys = list(self.history)
        lines = [",".join(["epoch", *keys])]
        for i, e in enumerate(self.epoch):
            lines.append(",".join([str(e)] + [repr(self.history[k][i]) for k in keys]))
        Path(path).write_text("\n".join(lines) + "\n")

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# ------------------------------------------------------------------------ inputs


def _as_loader(data: Any, batch_size: Any, shuffle: bool, seed: int, what: str) -> Any:
    """A DataLoader for ``data``: a DataLoader, a dataset or an ``(x, y)`` tuple."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"{what}: expected an (x, y) tuple, got a tuple of {len(data)}")
        data = ArrayDataset(*data)
    elif isinstance(data, np.ndarray):
        raise TypeError(f"{what}: expected (x, y), a dataset or a DataLoader, got a bare array")
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise TypeError(
            f"{what}: expected an (x, y) tuple, an ArrayDataset or a DataLoader, "
            f"got {type(data).__name__}"
        )
    return DataLoader(
        data, batch_size=batch_size, shuffle=shuffle, generator=np.random.default_rng(seed)
    )


def _split_batch(batch: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(f"{what}: batches must be (x, y) pairs; the data has no targets")


def resolve_loss(loss: Any) -> tuple[str, Callable[[Any, Any], Tensor], bool]:
    """Turn ``loss`` into ``(name, summed_loss_fn, exact)``.

    ``loss`` may be a name (``"cross_entropy"``, ``"mse"``, ``"bce_with_logits"``, ``"l1"``),
    a loss module with a ``reduction`` attribute (a copy with ``reduction="sum"`` is used),
    a function with a ``reduction`` keyword (called with ``reduction="sum"``), or any
    other callable returning the *mean* loss (then multiplied by the batch size: the sum
    up to rounding, so accumulation is exact only to rounding: ``exact`` is False).
    """
    if isinstance(loss, str):
        from gradstep import nn

        names = {
            "cross_entropy": "CrossEntropyLoss",
            "ce": "CrossEntropyLoss",
            "crossentropy": "CrossEntropyLoss",
            "mse": "MSELoss",
            "l2": "MSELoss",
            "l1": "L1Loss",
            "mae": "L1Loss",
            "bce_with_logits": "BCEWithLogitsLoss",
            "bce": "BCEWithLogitsLoss",
        }
        cls_name = names.get(loss.lower().replace("-", "_"))
        if cls_name is None or not hasattr(nn, cls_name):
            raise ValueError(
                f"loss: unknown loss {loss!r}; expected one of cross_entropy, mse, l1, "
                "bce_with_logits, a loss module or a callable"
            )
        loss = getattr(nn, cls_name)()
    name = getattr(loss, "__name__", type(loss).__name__)
    if hasattr(loss, "reduction") and callable(loss):
        summed = copy.copy(loss)
        try:
            summed.reduction = "sum"
        except AttributeError:
            object.__setattr__(summed, "reduction", "sum")
        return type(loss).__name__, summed, True
    if callable(loss):
        try:
            params = inspect.signature(loss).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "reduction" in params:

            def summed_fn(out: Any, y: Any, _f: Any = loss) -> Tensor:
                return _f(out, y, reduction="sum")  # type: ignore[no-any-return]

            return name, summed_fn, True

        def mean_times_n(out: Any, y: Any, _f: Any = loss) -> Tensor:
            return _f(out, y) * float(len(y))  # type: ignore[no-any-return]

        return name, mean_times_n, False
    raise TypeError(
        f"loss: expected a name, a loss module or a callable, got {type(loss).__name__}"
    )


def _default_metrics(loss_name: str) -> list[str]:
    n = loss_name.lower()
    if any(s in n for s in ("cross", "entropy", "nll", "bce")):
        return ["accuracy"]
    if any(s in n for s in ("mse", "l1", "mae", "huber")):
        return ["mae"]
    return []


def _resolve_metrics(metrics: Any, loss_name: str) -> list[tuple[str, Callable[[Any, Any], float]]]:
    if metrics is None:
        metrics = _default_metrics(loss_name)
    elif isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    out = []
    for m in metrics:
        name, fn = _metrics.get(m)
        if fn is _metrics.accuracy:
            fn = _metrics.correct_count  # integer count per batch: exact and cheap
        out.append((name, fn))
    return out


def _prep_target(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fit regression targets to the output: ``(N,)`` -> ``(N, 1)``, output dtype."""
    if y.dtype.kind == "f":
        if out.ndim == 2 and y.ndim == 1 and out.shape[1] == 1:
            y = y.reshape(-1, 1)
        if y.dtype != out.dtype:
            y = y.astype(out.dtype)
    return y


class _MetricSums:
    """Streaming sums of the loss and metrics over an epoch (weighted by batch size)."""

    __slots__ = ("loss", "n", "values", "fns")

    def __init__(self, fns: Sequence[tuple[str, Callable[[Any, Any], float]]]) -> None:
        self.fns = fns
        self.loss = 0.0
        self.n = 0
        self.values = [0.0] * len(fns)

    def add(self, loss_sum: float, out: np.ndarray, y: np.ndarray) -> None:
        n = len(y)
        self.loss += loss_sum
        self.n += n
        vals = self.values
        for i, (_, fn) in enumerate(self.fns):
            if fn is _metrics.correct_count:
                vals[i] += fn(out, y)
            else:
                vals[i] += fn(out, y) * n

    def result(self, prefix: str = "") -> dict[str, float]:
        n = max(self.n, 1)
        out = {prefix + "loss": self.loss / n}
        for (name, _), v in zip(self.fns, self.values):
            out[prefix + name] = v / n
        return out

    def state(self) -> dict[str, Any]:
        return {"loss": self.loss, "n": self.n, "values": list(self.values)}

    def load(self, s: dict[str, Any]) -> None:
        self.loss, self.n = float(s["loss"]), int(s["n"])
        values = [float(v) for v in s["values"]]
        if len(values) != len(self.fns):
            raise ValueError(f"metric sums: {len(values)} values for {len(self.fns)} metrics")
        self.values = values


# ------------------------------------------------------------------------ evaluation


def _batches(data: Any, batch_size: int) -> Iterator[Any]:
    if isinstance(data, DataLoader):
        yield from data
        return
    if isinstance(data, tuple):
        x, y = data
        n = len(x)
        if len(y) != n:
            raise ValueError(f"evaluate: x has {n} rows but y has {len(y)}")
        for s in range(0, n, batch_size):
            yield x[s : s + batch_size], y[s : s + batch_size]
        return
    n = len(data)
    for s in range(0, n, batch_size):
        yield data[np.arange(s, min(s + batch_size, n))]


class _EvalMode:
    """Put a model in eval mode and no-grad, restoring its previous mode afterwards."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.nograd = no_grad()

    def __enter__(self) -> None:
        self.was_training = getattr(self.model, "training", False)
        if hasattr(self.model, "eval"):
            self.model.eval()
        self.nograd.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.nograd.__exit__(*exc)
        if self.was_training and hasattr(self.model, "train"):
            self.model.train()


def evaluate(
    model: Any,
    data: Any,
    *,
    loss: Any = "cross_entropy",
    metrics: Any = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data`` (eval mode, no gradients).

    Args:
        model: a module (called on a batch of inputs).
        data: ``(x, y)`` arrays, an ArrayDataset or a DataLoader.
        loss: as for :func:`fit` (None: metrics only).
        metrics: metric names/callables; default from the loss (accuracy for
            classification losses, MAE for regression).
        batch_size: examples per forward pass (when ``data`` is not a DataLoader).

    Returns:
        ``{"loss": ..., "<metric>": ...}`` averaged over every example.
    """
    if loss is None:
        loss_name, loss_fn = "", None
    else:
        loss_name, loss_fn, _ = resolve_loss(loss)
    return _evaluate(model, data, loss_fn, _resolve_metrics(metrics, loss_name), batch_size)


def _evaluate(
    model: Any,
    data: Any,
    loss_fn: Callable[[Any, Any], Tensor] | None,
    fns: Sequence[tuple[str, Callable[[Any, Any], float]]],
    batch_size: int,
) -> dict[str, float]:
    sums = _MetricSums(fns)
    with _EvalMode(model):
        for batch in _batches(data, batch_size):
            xb, yb = _split_batch(batch, "evaluate")
            out = model(Tensor(xb) if not isinstance(xb, Tensor) else xb)
            od = out._data
            yb = _prep_target(od, np.asarray(yb))
            ls = float(loss_fn(out, yb)._data) if loss_fn is not None else 0.0
            sums.add(ls, od, yb)
    res = sums.result()
    if loss_fn is None:
        del res["loss"]
    return res


def predict(model: Any, x: Any, *, batch_size: int = 1024) -> np.ndarray:
    """Model outputs (e.g. logits) for inputs ``x``, in eval mode without gradients.

    Args:
        model: a module.
        x: an input array (N, ...), an ``(x, y)`` tuple, a dataset or a DataLoader
            (targets are ignored).
        batch_size: examples per forward pass.

    Returns:
        The outputs of every example, concatenated along the first axis.
    """
    outs: list[np.ndarray] = []
    if isinstance(x, Tensor):
        x = x._data
    with _EvalMode(model):
        if isinstance(x, np.ndarray):
            it: Iterable[Any] = (x[s : s + batch_size] for s in range(0, len(x), batch_size))
        else:
            it = (b[0] if isinstance(b, (tuple, list)) else b for b in _batches(x, batch_size))
        for xb in it:
            outs.append(np.asarray(model(Tensor(xb))._data))
    if not outs:
        raise ValueError("predict: no input examples")
    return np.concatenate(outs, axis=0)


# ------------------------------------------------------------------------------ trainer


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


class _Progress:
    """tqdm bar (when wanted and available) or one plain line per epoch."""

    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose = verbose
        self.epochs = epochs
        self.bar: Any = None
        self.tqdm: Any = None
        self.plain = verbose >= 2
        if verbose == 1:
            try:
                is_tty = sys.stderr.isatty()
            except (AttributeError, ValueError):
                is_tty = False
            if is_tty:
                try:
                    from tqdm.auto import tqdm

                    self.tqdm = tqdm
                except ImportError:
                    pass
            self.plain = self.tqdm is None
        self._last = 0.0

    def epoch_begin(self, epoch: int, steps: int, initial: int) -> None:
        if self.tqdm is not None:
            self.bar = self.tqdm(
                total=steps,
                initial=initial,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="step",
                leave=True,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            self._last = time.perf_counter()

    def step(self, sums: _MetricSums, t0: float) -> None:
        bar = self.bar
        if bar is None:
            return
        bar.update(1)
        now = time.perf_counter()
        if now - self._last > 0.25:
            self._last = now
            bar.set_postfix_str(_short(sums.result(), sums.n / max(now - t0, 1e-9)), refresh=False)

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        line = _epoch_line(epoch, self.epochs, logs)
        if self.bar is not None:
            self.bar.set_postfix_str(_short(logs, logs.get("samples_per_s", 0.0)), refresh=False)
            self.bar.close()
            self.bar = None
            if any(k.startswith("val_") for k in logs):
                print("  " + line, file=sys.stderr, flush=True)
        elif self.plain and self.verbose:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(logs: dict[str, float], rate: float) -> str:
    parts = [f"loss={logs.get('loss', math.nan):.4f}"]
    if "accuracy" in logs:
        parts.append(f"acc={logs['accuracy']:.4f}")
    parts.append(f"{rate:,.0f} ex/s")
    return " ".join(parts)


def _epoch_line(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    parts = [f"epoch {epoch + 1}/{epochs}"]
    for k, v in logs.items():
        if k in ("time", "samples_per_s", "skipped"):
            continue
        parts.append(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}")
    if logs.get("skipped"):
        parts.append(f"skipped {int(logs['skipped'])}")
    parts.append(f"{logs.get('samples_per_s', 0):,.0f} ex/s")
    parts.append(f"{logs.get('time', 0):.1f}s")
    return "  ".join(parts)


class Trainer:
    """The state of a :func:`fit` run; callbacks receive it.

    Attributes:
        model, optimizer, scheduler, loader (training DataLoader), val (validation data).
        epochs: total number of epochs; epoch: current epoch (0-based); step: optimizer
        steps taken so far; history: the :class:`History`; stop_training: set True to
        stop after the current epoch; is_main: whether this process prints and writes
        files (rank 0 of a data-parallel run); resumed: whether the run was restored.
    """

    def __init__(
        self,
        model: Any,
        loader: Any,
        *,
        loss: Any,
        optimizer: Any,
        epochs: int,
        val: Any = None,
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
        callbacks: Sequence[Callback] = (),
        metrics: Any = None,
        grad_clip: float | None = None,
        accumulate: int = 1,
        on_nonfinite: str = "raise",
        verbose: int = 1,
        val_batch_size: int = 1024,
    ) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
        if (
            isinstance(accumulate, bool)
            or not isinstance(accumulate, (int, np.integer))
            or accumulate < 1
        ):
            raise ValueError(f"fit: accumulate must be an int >= 1, got {accumulate!r}")
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ValueError(f"fit: grad_clip must be a number > 0 or None, got {grad_clip!r}")
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"fit: on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        if optimizer is None or not callable(getattr(optimizer, "step", None)):
            raise TypeError(
                f"fit: optimizer must have step() and zero_grad(), got {type(optimizer).__name__}"
            )
        self.model = model
        self.loader = loader
        self.val = val
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.epochs = int(epochs)
        self.accumulate = int(accumulate)
        self.grad_clip = grad_clip
        self.on_nonfinite = on_nonfinite
        self.verbose = int(verbose)
        self.val_batch_size = val_batch_size
        self.loss_name, self.loss_fn, self.exact = resolve_loss(loss)
        self.metric_fns = _resolve_metrics(metrics, self.loss_name)
        cbs = list(callbacks)
        if scheduler is not None:
            cbs.insert(0, LRSchedulerCallback(scheduler, interval=scheduler_interval))
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"fit: callbacks must be Callback instances, got {type(cb).__name__}"
                )
        self.callbacks = cbs
        self._batch_cbs = [cb for cb in cbs if _overrides(cb, "on_batch_end")]
        self._step_cbs = [cb for cb in cbs if _overrides(cb, "on_before_step")]
        self.history = History()
        self.epoch = 0
        self.step = 0
        self.stop_training = False
        self.is_main = True
        self.resumed = False
        self._sums = _MetricSums(self.metric_fns)
        self._epoch_time = 0.0
        self._skipped = 0
        self._mid_epoch = False
        # loader epoch when this epoch's batches began: a checkpoint taken after the last
        # batch but before the epoch's end (per-step saves, Ctrl-C) must not redo the epoch
        self._loader_epoch: Any = None
        self._batches_done = False
        self._interrupted = False  # Ctrl-C seen: stop after the current step
        self.meta: dict[str, Any] = {}  # extra values written into every checkpoint
        self.parallel: Any = None  # gradstep.distributed.DataParallel when running on K ranks
        self._params = [p for p in _parameters(model, optimizer)]
        self._names = {id(p): n for n, p in getattr(model, "named_parameters", lambda: [])()}

    # ------------------------------------------------------------------ state
    @property
    def lr(self) -> float:
        groups = getattr(self.optimizer, "param_groups", None)
        if groups:
            return float(groups[0].get("lr", math.nan))
        return float(getattr(self.optimizer, "lr", math.nan))

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
                "sums": self._sums.state(),
                "time": self._epoch_time,
                "skipped": self._skipped,
                "batches_done": self._loader_epoch is not None
                and getattr(self.loader, "epoch", None) != self._loader_epoch,
            },
            "generators": {
                k: g.bit_generator.state for k, g in _model_generators(self.model).items()
            },
            "callbacks": [cb.state_dict() for cb in self.callbacks],
        }
        if hasattr(self.loader, "state_dict"):
            state["loader"] = self.loader.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
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
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.history = History.from_dict(state.get("history", {}))
        run = state.get("running", {})
        if run:
            self._sums.load(run["sums"])
            self._epoch_time = float(run.get("time", 0.0))
            self._skipped = int(run.get("skipped", 0))
            self._batches_done = bool(run.get("batches_done", False))
        gens = _model_generators(self.model)
        for k, s in state.get("generators", {}).items():
            if k not in gens:
                raise CheckpointError(f"fit(resume=...): the model has no generator {k!r}")
            gens[k].bit_generator.state = s
        cstates = state.get("callbacks", [])
        if len(cstates) == len(self.callbacks):
            for cb, s in zip(self.callbacks, cstates):
                cb.load_state_dict(s)
        if "loader" in state:
            if not hasattr(self.loader, "load_state_dict"):
                raise CheckpointError(
                    "fit(resume=...): the training data cannot restore a loader position"
                )
            loader_state = state["loader"]
            if self.parallel is not None:
                loader_state = self.parallel.loader_state(loader_state)
            try:
                self.loader.load_state_dict(loader_state)
            except ValueError as exc:
                raise CheckpointError(f"fit(resume=...): {exc}") from None
            self._mid_epoch = (
                int(state["loader"].get("batch_index", 0)) > 0 or self._batches_done
            )
        self.resumed = True

    def save(self, path: str | os.PathLike[str], **meta: Any) -> Path:
        """Write a resumable checkpoint (model, optimizer, scheduler, trainer state)."""
        return _checkpoint.save(
            path, self.model, self.optimizer, self.scheduler, trainer=self.state_dict(),
            **{**self.meta, **meta},
        )

    def restore(self, path: str | os.PathLike[str]) -> _checkpoint.Checkpoint:
        """Load a checkpoint written by :meth:`save` into this trainer's objects."""
        ck = _checkpoint.load(path, self.model, self.optimizer, self.scheduler, build=False)
        if "trainer" not in ck.meta:
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r}: holds no training state "
                "(written by gradstep.save, not by fit); cannot resume"
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

    # ------------------------------------------------------------- guarding
    def _grads(self) -> list[np.ndarray]:
        flat = getattr(self.optimizer, "flat", None) or getattr(self.optimizer, "_flat", None)
        grads = getattr(flat, "grads", None)
        if isinstance(grads, dict) and grads:
            return list(grads.values())
        return [p._grad for p in self._params if p._grad is not None]

    def _grads_finite(self) -> bool:
        # vdot (BLAS dot, no floating-point warnings): NaN/Inf anywhere makes it non-finite;
        # an overflow of finite values is ruled out by the exact check.
        for g in self._grads():
            if not np.isfinite(np.vdot(g, g)) and not np.isfinite(g).all():
                return False
        return True

    def _bad_parameter(self, what: str) -> str:
        for p in self._params:
            arr = p._grad if what == "grad" else p._data
            if arr is not None and not np.isfinite(arr).all():
                return self._names.get(id(p), f"<parameter of shape {p._data.shape}>")
        return ""

    def _nonfinite(self, kind: str, value: float) -> None:
        """Handle a non-finite loss (kind 'loss') or gradient (kind 'grad')."""
        if self.on_nonfinite == "skip":
            self._skipped += 1
            return
        bad_grad = self._bad_parameter("grad")
        bad_param = self._bad_parameter("data")
        where = f"epoch {self.epoch + 1}, step {self.step + 1}"
        if kind == "loss":
            msg = f"non-finite loss ({value}) at {where}"
            if bad_param:
                msg += f"; parameter {bad_param!r} holds non-finite values"
            else:
                mags = [(float(np.abs(p._data).max(initial=0.0)), p) for p in self._params]
                mag, big = max(mags, key=lambda m: m[0]) if mags else (0.0, None)
                if big is not None and mag > 1e15:  # finite weights that blew up (exploding lr)
                    bad_param = self._names.get(id(big), f"<parameter of shape {big._data.shape}>")
                    msg += (f"; parameter {bad_param!r} diverged (largest |value| {mag:.3g}): "
                            "lower the learning rate or clip gradients")
                else:
                    msg += "; parameters are finite (the batch or the loss produced it)"
        else:
            msg = f"non-finite gradient at {where}: parameter {bad_grad!r} (loss {value:.6g})"
        ck = [cb.last_good for cb in self.callbacks if isinstance(cb, ModelCheckpoint)]
        good = [os.fspath(p) for p in ck if p is not None]
        msg += "; the update was not applied"
        if good:
            msg += f"; the last good checkpoint is {good[0]!r}"
        msg += " (fit(..., on_nonfinite='skip') skips such steps)"
        raise NonFiniteError(msg, self.epoch + 1, self.step + 1, bad_grad or bad_param)

    # ---------------------------------------------------------------- step
    def train_step(self, group: list[tuple[np.ndarray, np.ndarray]]) -> float:
        """One optimizer step over a group of batches; returns the mean loss (nan if skipped).

        Data parallel (``self.parallel``, see :func:`gradstep.distributed.attach`): the
        summed losses are backpropagated with seed 1 and ``parallel.end_step`` all-reduces
        the running sums and the gradients (divided by the global example count); a
        non-finite loss on any rank poisons every rank's gradients, so the gradient check
        below stops or skips the same step everywhere.
        """
        total = 0
        for xb, _ in group:
            total += len(xb)
        dp = self.parallel
        seed = None
        loss_total = 0.0
        ok = True
        model, loss_fn, sums = self.model, self.loss_fn, self._sums
        if dp is not None:
            dp.begin_step(sums)
        for xb, yb in group:
            out = model(Tensor(xb))
            od = out._data
            yb = _prep_target(od, yb)
            loss = loss_fn(out, yb)
            lv = float(loss._data)
            if not math.isfinite(lv):
                ok = False
                if dp is None:
                    self._nonfinite("loss", lv)
                break
            if seed is None or seed.dtype != loss._data.dtype:
                seed = np.asarray(1.0 if dp is not None else 1.0 / total, dtype=loss._data.dtype)
            loss.backward(seed)
            loss_total += lv
            sums.add(lv, od, yb)
        if dp is not None:
            loss_total, total = dp.end_step(sums, ok)
            ok = True  # a bad rank poisoned the gradients: the check below sees it everywhere
        mean = loss_total / max(total, 1)
        if ok:
            for cb in self._step_cbs:
                cb.on_before_step(self)
            if not self._grads_finite():
                ok = False
                self._nonfinite("grad", mean)
        if ok:
            if self.grad_clip is not None:
                from gradstep.nn.utils import clip_grad_norm_

                clip_grad_norm_(self._params, self.grad_clip)
            lr = self.lr
            self.optimizer.step()
        else:
            lr = self.lr
            mean = math.nan
        self.optimizer.zero_grad()
        self.step += 1
        steps = self.history.steps
        steps["loss"].append(mean)
        steps["lr"].append(lr)
        if self._batch_cbs:
            logs = {"loss": mean, "lr": lr, "size": float(total), "skipped": float(not ok)}
            for cb in self._batch_cbs:
                cb.on_batch_end(self, self.step, logs)
        return mean

    def _groups(self, it: Iterator[Any]) -> Iterator[list[tuple[np.ndarray, np.ndarray]]]:
        k = self.accumulate
        group: list[tuple[np.ndarray, np.ndarray]] = []
        for batch in it:
            xb, yb = _split_batch(batch, "fit")
            group.append((xb, yb))
            if len(group) == k:
                yield group
                group = []
        if group:
            yield group

    # ---------------------------------------------------------------- Ctrl-C
    def _install_sigint(self) -> Callable[[], None]:
        """Defer Ctrl-C to the end of the current step (a second Ctrl-C stops at once), so
        the interruption checkpoint is never taken mid-update. Only in the main thread of a
        single-process run whose SIGINT handler is Python's default."""
        import signal
        import threading

        if (
            threading.current_thread() is not threading.main_thread()
            or getattr(self, "parallel", None) is not None
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
        path = None
        dirs = [cb.dirpath for cb in self.callbacks if isinstance(cb, ModelCheckpoint)]
        if dirs and self.is_main:
            path = self.save(Path(dirs[0]) / "last.safetensors")
        where = f"after step {self.step} (epoch {self.epoch + 1}/{self.epochs})"
        msg = (f"training interrupted {where}; resumable checkpoint written to {path}; "
               f"resume with fit(..., resume={os.fspath(path)!r})" if path is not None else
               f"training interrupted {where}; no checkpoint written (no ModelCheckpoint)")
        raise TrainingInterrupted(msg, path, self.epoch, self.step)

    # ---------------------------------------------------------------- loop
    def run(self) -> History:
        model = self.model
        progress = _Progress(self.verbose if self.is_main else 0, self.epochs)
        logs: dict[str, Any] = {}
        restore_sigint = self._install_sigint()
        try:
            for cb in self.callbacks:
                cb.on_train_begin(self)
            self.optimizer.zero_grad()
            while self.epoch < self.epochs and not self.stop_training:
                epoch = self.epoch
                mid_epoch, self._mid_epoch = self._mid_epoch, False
                if not mid_epoch:
                    self._sums = _MetricSums(self.metric_fns)
                    self._epoch_time = 0.0
                    self._skipped = 0
                for cb in self.callbacks:
                    cb.on_epoch_begin(self, epoch)
                if hasattr(model, "train"):
                    model.train()
                steps_total = (
                    -(-len(self.loader) // self.accumulate)
                    if hasattr(self.loader, "__len__")
                    else None
                )
                start_batch = (
                    self.loader.state_dict()["batch_index"]
                    if mid_epoch and hasattr(self.loader, "state_dict")
                    else 0
                )
                progress.epoch_begin(epoch, steps_total or 0, start_batch // self.accumulate)
                t0 = time.perf_counter() - self._epoch_time
                if not (mid_epoch and self._batches_done):
                    batches = iter(self.loader)
                    self._loader_epoch = getattr(self.loader, "epoch", None)
                    for group in self._groups(batches):
                        self.train_step(group)
                        progress.step(self._sums, t0)
                        self._check_interrupt()
                self._loader_epoch, self._batches_done = None, False
                self._epoch_time = time.perf_counter() - t0
                logs = self._sums.result()
                if self.val is not None:
                    val = _evaluate(
                        model, self.val, self.loss_fn, self.metric_fns, self.val_batch_size
                    )
                    logs.update({f"val_{k}": v for k, v in val.items()})
                logs["lr"] = self.lr
                logs["time"] = self._epoch_time
                logs["samples_per_s"] = self._sums.n / max(self._epoch_time, 1e-9)
                if self._skipped or "skipped" in self.history:
                    logs["skipped"] = float(self._skipped)
                self.history.append_epoch(epoch + 1, logs)
                self._sums = _MetricSums(self.metric_fns)  # the epoch is complete
                self._epoch_time = 0.0
                self._skipped = 0
                self.epoch = epoch + 1
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                progress.epoch_end(epoch, logs)
                self._check_interrupt()
        finally:
            restore_sigint()
            progress.close()
            for cb in self.callbacks:
                cb.on_train_end(self, logs)
        return self.history


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


def fit(
    model: Any,
    train: Any,
    *,
    loss: Any = "cross_entropy",
    optimizer: Any,
    epochs: int,
    batch_size: int | str | None = 32,
    val: Any = None,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    callbacks: Sequence[Callback] = (),
    metrics: Any = None,
    grad_clip: float | None = None,
    accumulate: int = 1,
    seed: int = 0,
    resume: str | os.PathLike[str] | None = None,
    on_nonfinite: str = "raise",
    shuffle: bool = True,
    verbose: int = 1,
    track: str | None = None,
) -> History:
    """Train ``model`` by gradient descent and return its :class:`History`.

    Args:
        model: a module: ``model(x)`` gives the output a loss compares with ``y``.
        train: training data: ``(x, y)`` arrays, an ArrayDataset, or a DataLoader (used
            as is: ``batch_size``, ``shuffle`` and ``seed`` then do not apply).
        loss: ``"cross_entropy"`` (default), ``"mse"``, ``"l1"``, ``"bce_with_logits"``,
            a loss module or a loss function (see :func:`resolve_loss`).
        optimizer: a gradstep optimizer over the model's parameters.
        epochs: total number of epochs (a resumed run continues up to it).
        batch_size: ``1`` (per-example SGD), ``N`` (mini-batch) or ``"full"``/None
            (full batch); the gradient is the mean over the batch.
        val: validation data (like ``train``), evaluated after every epoch (``val_*`` logs).
        scheduler: learning-rate scheduler stepped every epoch, or every optimizer step
            with ``scheduler_interval="step"``; ``ReduceLROnPlateau``-like schedulers get
            the validation loss.
        callbacks: :class:`~gradstep.callbacks.Callback` instances.
        metrics: names or callables (default: accuracy for classification losses, MAE
            for regression losses).
        grad_clip: clip the global gradient norm to this value before each step.
        accumulate: batches per optimizer step (exact: the step equals one batch of
            ``accumulate * batch_size`` examples, also for a short last group).
        seed: seeds the loader's Generator when ``fit`` builds the loader.
        resume: checkpoint written by a ModelCheckpoint / ``Trainer.save`` to continue.
        on_nonfinite: ``"raise"`` (NonFiniteError) or ``"skip"`` the offending step.
        shuffle: reshuffle the training data every epoch (when ``fit`` builds the loader).
        verbose: 0 silent; 1 a progress bar when stderr is a terminal and tqdm is
            installed, else one line per epoch; 2 one line per epoch.
        track: ``"layers"`` records every parameter's gradient norm, weight norm and
            update/weight ratio at every step in ``history.layers`` (see
            :class:`gradstep.viz.layers.LayerTracker`).

    Returns:
        The :class:`History` (also with the epochs before a resume).

    Raises:
        NonFiniteError: a NaN/Inf loss or gradient (unless ``on_nonfinite="skip"``).
        CheckpointError: ``resume`` is missing, corrupt or does not fit.
    """
    loader = _as_loader(train, batch_size, shuffle, seed, "fit: train")
    if track is not None:
        from gradstep.viz.layers import make_tracker

        callbacks = [*callbacks, make_tracker(track)]
    trainer = Trainer(
        model,
        loader,
        loss=loss,
        optimizer=optimizer,
        epochs=epochs,
        val=val,
        scheduler=scheduler,
        scheduler_interval=scheduler_interval,
        callbacks=callbacks,
        metrics=metrics,
        grad_clip=grad_clip,
        accumulate=accumulate,
        on_nonfinite=on_nonfinite,
        verbose=verbose,
    )
    from gradstep import distributed

    trainer.parallel = distributed.attach(trainer)  # None unless launched by mpiexec
    if resume is not None:
        trainer.restore(resume)
    return trainer.run()
