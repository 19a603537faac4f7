"""The training step and the epoch loop: :class:`Trainer` and :func:`fit`."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gradstep.callbacks import Callback
from gradstep.errors import DivergenceError
from gradstep.jit._loss_backward import TRACE
from gradstep.nn.utils import clip_grad_norm_
from gradstep.optim import _kernels as _optk
from gradstep.tensor import Tensor, no_grad
from gradstep.train.evaluate import as_input, as_loader, evaluate_sums, prep_target, split_batch
from gradstep.train.guard import last_good_checkpoint, nonfinite_message
from gradstep.train.history import History
from gradstep.train.plugins import fit_plugins
from gradstep.train.progress import Progress
from gradstep.train.step import StepState
from gradstep.train.trainer import TrainerState

__all__ = ["Trainer", "fit"]

Batch = tuple[Any, Any]


class Trainer(TrainerState):
    """Runs the loop of :func:`fit`; callbacks receive it (see :class:`TrainerState`)."""

    # ------------------------------------------------------------- guarding
    def _grads(self) -> list[np.ndarray]:
        flat = getattr(self.optimizer, "flat", None)
        grads = getattr(flat, "grads", None)
        if isinstance(grads, dict) and grads:
            return list(grads.values())
        return [p._grad for p in self._params if p._grad is not None]

    def _grads_finite(self, grads: list[np.ndarray] | None = None) -> bool:
        # one vectorized pass over the exponent bits (gradstep._fused), else a NumPy sum
        # (not a BLAS dot, which wakes idle BLAS threads): NaN/Inf anywhere makes it
        # non-finite; an overflow of finite values is ruled out by the exact check
        fused = _optk._FUSED_MOD if _optk._FUSED_ON[0] else None
        for g in self._grads() if grads is None else grads:
            ok = fused.all_finite(g) if fused is not None else None
            if ok is None:
                ok = math.isfinite(np.add.reduce(g, axis=None)) or bool(np.isfinite(g).all())
            if not ok:
                return False
        return True

    def _diverged(self, message: str, parameter: str = "", loss: float | None = None,
                  reference: float | None = None, hint: str = "") -> DivergenceError:
        good = last_good_checkpoint(self.callbacks)
        msg = message + "; the update was not applied"
        if good:
            msg += f"; the last good checkpoint is {good!r}"
        return DivergenceError(msg + hint, self.epoch + 1, self.step + 1, parameter or None,
                               loss=loss, reference=reference, checkpoint=good)

    def _nonfinite(self, kind: str, value: float) -> None:
        """A non-finite loss (kind 'loss') or gradient ('grad'): skip the step or raise."""
        if self.on_nonfinite == "skip":
            self._skipped += 1
            return
        where = f"epoch {self.epoch + 1}, step {self.step + 1}"
        msg, bad = nonfinite_message(kind, value, where, self._params, self._names)
        raise self._diverged(msg, bad, loss=value if kind == "loss" else None,
                             hint=" (fit(..., on_nonfinite='skip') skips such steps)")

    def _check_loss(self, step: StepState) -> bool:
        """Whether the step's loss allows the update (raises on divergence)."""
        mean = step.loss
        if not math.isfinite(mean):
            self._nonfinite("loss", step.bad_loss if not step.finite else mean)
            return False
        ref = self.guard.reference
        if self.guard.observe(mean, step.baseline):
            raise self._diverged(
                f"the loss diverged at epoch {self.epoch + 1}, step {self.step + 1}: "
                f"{mean:.6g} is more than max_loss_ratio={self.guard.ratio:g} times the "
                f"reference loss {ref:.6g} (lower the learning rate, scale the inputs, or "
                "pass max_loss_ratio=None)", loss=mean, reference=ref)
        return True

    # ---------------------------------------------------------------- step
    def _forward_backward(self, step: StepState) -> None:
        """Forward and backward passes of every batch of the step (summed losses, seeded
        with ``1 / divisor`` of the group unless a hook set ``step.backward_scale``).

        The gradients of the previous step are reset first. The first batch of a step runs
        through the compiled plan when there is one (a plan writes the gradients instead of
        adding to them, so a flat optimizer's buffer needs no zero-fill first); its first
        call per signature is traced; the other batches of a group run eagerly (they add)."""
        norms: list[float] = []
        first = 0
        fb = self.compiled if self.guard.reference is not None else None
        if fb is not None:
            done = self._compiled_first(fb, step, norms)
            if done is False:
                return
            first = 1 if done else 0
        else:
            self._reset_grads()
        for i in range(first, len(step.batches)):
            xb, yb = step.batches[i]
            if not self._eager_batch(step, i, as_input(xb), yb, norms)[0]:
                return

    def _reset_grads(self, flat_plan: bool = False) -> None:
        """``optimizer.zero_grad()`` when the last step's gradients are still there (not
        when a plan is about to overwrite a flat optimizer's buffer: ``flat_plan``)."""
        if self._grads_stale:
            if flat_plan and getattr(self.optimizer, "flat", None) is not None:
                return
            self.optimizer.zero_grad()
            self._grads_stale = False

    def _compiled_first(self, fb: Any, step: StepState, norms: list[float]) -> bool | None:
        """The first batch through the compiled pass: True when done, False when its loss
        was not finite (the step stops), None when it was not run (eager runs it)."""
        xb, yb = step.batches[0]
        x = as_input(xb)
        y_raw = yb._data if isinstance(yb, Tensor) else np.asarray(yb)
        key = fb.key(x._data, y_raw)
        plan = fb.lookup(key)
        if plan is None:
            self._reset_grads()
            return None
        if plan is TRACE:
            self._reset_grads()
            rec = fb.recorder()
            with rec:
                ok, y, loss = self._eager_batch(step, 0, x, yb, norms)
            fb.finish(key, rec.record, x, y, loss, ok)
            return ok
        self._reset_grads(flat_plan=True)
        y = prep_target(plan.out, y_raw)
        red = self.loss
        if len(step.batches) == 1 and step.backward_scale is None and red.kind != "class":
            # an element-wise loss's normaliser depends on the shape only: one seed per plan
            cached = fb.seeds.get(key)
            if cached is None:
                norm = red.normaliser(y, plan.out.ndim)
                d = red.divisor(norm)
                cached = fb.seeds[key] = (norm, np.asarray(1.0 / d if d else 0.0,
                                                           dtype=plan.out.dtype), d)
            norms[:] = [cached[0]]
            step.normaliser = cached[0]
            seed = cached[1]
        else:
            seed = self._seed(step, 0, plan.out, y, norms)
        r = plan.forward_backward(x._data, y, seed)
        if r is None:  # the plan declined these values (nothing computed)
            self._reset_grads()
            return None
        self._grads_stale = True
        fb.replays += 1
        loss, od = r
        if len(step.batches) == 1 and step.backward_scale is None and key not in fb.seeds:
            # a class loss's normaliser counts the targets not ignored, and the plan takes
            # no ignored targets: for this signature it depends on the shape only
            fb.seeds[key] = (norms[0], seed, self.loss.divisor(norms[0]))
        lv = float(loss)
        if not math.isfinite(lv):
            step.finite, step.bad_loss = False, lv
            return False
        step.sums.add(lv, norms[0], od, y)
        return True

    def _seed(self, step: StepState, i: int, od: np.ndarray, y: np.ndarray,
              norms: list[float]) -> np.ndarray:
        """The backward seed of batch ``i`` (on the first batch: the group's normaliser and,
        on the run's first step, the guard's baseline)."""
        red = self.loss
        if i == 0:  # the group's normaliser, from every batch's targets
            norms[:] = [red.normaliser(y, od.ndim)]
            for b in step.batches[1:]:
                norms.append(red.normaliser(prep_target(od, b[1]), od.ndim))
            step.normaliser = norms[0] if len(norms) == 1 else sum(norms)
            if self.guard.reference is None:
                self._baseline(step, od, y)
        d = red.divisor(step.normaliser)
        scale = step.backward_scale if step.backward_scale is not None else (
            1.0 / d if d else 0.0)
        return np.asarray(scale, dtype=od.dtype)

    def _eager_batch(self, step: StepState, i: int, x: Tensor, yb: Any,
                     norms: list[float]) -> tuple[bool, Any, Any]:
        """Batch ``i`` eagerly: (whether its loss was finite, the target array, the loss)."""
        out = self.model(x)
        od = out._data
        y = prep_target(od, yb)
        seed = self._seed(step, i, od, y, norms)
        loss = self.loss.summed(out, y)
        lv = float(loss._data)
        if not math.isfinite(lv):
            step.finite, step.bad_loss = False, lv
            return False, y, loss
        loss.backward(seed.astype(loss._data.dtype, copy=False))
        step.sums.add(lv, norms[i], od, y)
        return True, y, loss

    def _baseline(self, step: StepState, od: np.ndarray, y: np.ndarray) -> None:
        """The loss of an all-zero output on this batch (the guard's scale of the loss)."""
        try:
            with no_grad():
                zero = float(self.loss.summed(Tensor(np.zeros_like(od)), y)._data)
        except Exception:
            return
        step.baseline_sum = zero
        step.baseline_norm = self.loss.normaliser(y, od.ndim)
        step.has_baseline = True

    def _apply(self) -> bool:
        """Gradient hooks, finite check, clipping and the update; whether it was applied."""
        for cb in self._hooked["on_before_step"]:
            cb.on_before_step(self)
        if not self._grads_finite():
            self._nonfinite("grad", math.nan)
            return False
        if self.grad_clip is not None:
            clip_grad_norm_(self._params, self.grad_clip)
        self.optimizer.step()
        return True

    def train_step(self, group: list[Batch]) -> float:
        """One optimizer step over a group of batches; returns its loss (nan if skipped).

        The loss is the loss object's value on the whole group, and the gradient is its
        gradient (see :mod:`gradstep.train.reduction`).
        """
        step = StepState(group, self.new_sums())
        for cb in self._hooked["on_step_begin"]:
            cb.on_step_begin(self, step)
        # overflow in the passes or the update is caught by the checks (this step's or the
        # next one's), which report it instead of NumPy's warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._forward_backward(step)
            for cb in self._hooked["on_after_backward"]:
                cb.on_after_backward(self, step)
            lr = self.lr
            ok = self._check_loss(step) and self._apply()
        return self._record(step, ok, lr)

    def _record(self, step: StepState, ok: bool, lr: float) -> float:
        """The end of a step: the epoch's sums, the history and ``on_batch_end``."""
        mean = step.loss if ok else math.nan
        if ok:
            self.sums.merge(step.sums)
        self._grads_stale = True  # reset when the next step begins
        self.step += 1
        self.history.steps["loss"].append(mean)
        self.history.steps["lr"].append(lr)
        if self._hooked["on_batch_end"]:
            self._batch_end(mean, lr, step.sums.n, ok)
        return mean

    def _batch_end(self, mean: float, lr: float, size: int, ok: bool) -> None:
        """``on_batch_end`` of every callback, with NumPy's floating-point settings of the
        caller (not the step's silenced ones)."""
        logs = {"loss": mean, "lr": lr, "size": float(size), "skipped": float(not ok)}
        err = self._outer_err
        if err is None:
            for cb in self._hooked["on_batch_end"]:
                cb.on_batch_end(self, self.step, logs)
            return
        with np.errstate(**err):
            for cb in self._hooked["on_batch_end"]:
                cb.on_batch_end(self, self.step, logs)

    # ------------------------------------------------------------ fast steps
    def _fast(self) -> bool:
        """Whether the epoch's steps may take :meth:`_fast_step`: one batch per step, no
        hooks inside the step (``on_batch_end`` after it is fine), no clipping, compiled
        passes (what :meth:`train_step` then does beyond the replay is only its checks and
        records, which the fast step repeats inline)."""
        h = self._hooked
        return (self.compiled is not None and self.accumulate == 1 and self.grad_clip is None
                and not (h["on_step_begin"] or h["on_after_backward"] or h["on_before_step"]))

    def _fast_epoch(self, batches: Iterator[Any], progress: Progress, t0: float) -> None:
        """The batches of an epoch, each through :meth:`_fast_step` or else
        :meth:`train_step` (the same results: the fast step is that step, inlined)."""
        # a flat optimizer's gradient buffers stay the same arrays (no step hook can
        # re-flatten it): looked up once
        grads = getattr(getattr(self.optimizer, "flat", None), "grads", None)
        self._flat_grads = list(grads.values()) if isinstance(grads, dict) and grads else None
        self._outer_err = np.geterr()  # what on_batch_end runs under
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                bar = progress.bar is not None
                for batch in batches:
                    if not self._fast_step(batch):
                        self.train_step([split_batch(batch, "fit")])
                    if bar:
                        progress.step(self.sums, t0)
                    if self._interrupted:
                        self._check_interrupt()
        finally:
            self._outer_err = None

    def _fast_step(self, batch: Any) -> bool:
        """One replayed step of one batch with the checks of :meth:`train_step` inline;
        False (nothing done) when the batch needs the general step: no replayable plan,
        no cached seed yet, or not a plain ``(x, y)`` pair of arrays or Tensors."""
        fb = self.compiled
        if self.guard.reference is None or type(batch) not in (tuple, list) \
                or len(batch) != 2:
            return False
        xb, yb = batch
        x = xb._data if isinstance(xb, Tensor) else xb
        y_raw = yb._data if isinstance(yb, Tensor) else yb
        if type(x) is not np.ndarray or type(y_raw) is not np.ndarray:
            return False
        key = fb.key(x, y_raw)  # type: ignore[union-attr]
        cached = fb.seeds.get(key)  # type: ignore[union-attr]
        if cached is None:
            return False
        plan = fb.lookup(key)  # type: ignore[union-attr]
        if plan is None or plan is TRACE:
            return False
        y = prep_target(plan.out, y_raw)
        if self._flat_grads is None:  # a flat optimizer's buffer is overwritten by the plan
            self._reset_grads(flat_plan=True)
        norm, seed, d = cached
        r = plan.forward_backward(x, y, seed)
        if r is None:  # the plan declined these values (nothing computed)
            return False
        self._grads_stale = True
        fb.replays += 1  # type: ignore[union-attr]
        loss, od = r
        lv = 0.0 + float(loss)  # as the step's sums hold it (0.0 + -0.0 is 0.0)
        lr = self.lr
        mean = lv / d if d else math.nan
        ref = self.guard.reference
        ratio = self.guard.ratio
        if not (math.isfinite(mean) and ref > 0 and (ratio is None or mean <= ratio * ref)
                and self._grads_finite(self._flat_grads)):
            # something to report, skip or update: train_step's own checks, on these sums
            step = StepState([(xb, yb)], self.new_sums())
            step.normaliser = norm
            if math.isfinite(lv):
                step.sums.add(lv, norm, od, y)
            else:
                step.finite, step.bad_loss = False, lv
            ok = self._check_loss(step) and self._apply()
            self._record(step, ok, lr)
            return True
        self.optimizer.step()
        sums = self.sums
        sums.loss += lv
        sums.norm += norm
        sums.add_metrics(od, y)
        self.step += 1
        steps = self.history.steps
        steps["loss"].append(mean)
        steps["lr"].append(lr)
        if self._hooked["on_batch_end"]:
            self._batch_end(mean, lr, len(y) if y.ndim else 1, True)
        return True

    def _groups(self, it: Iterator[Any]) -> Iterator[list[Batch]]:
        k = self.accumulate
        if k == 1:
            for batch in it:
                yield [split_batch(batch, "fit")]
            return
        group: list[Batch] = []
        for batch in it:
            group.append(split_batch(batch, "fit"))
            if len(group) == k:
                yield group
                group = []
        if group:
            yield group

    # ---------------------------------------------------------------- loop
    def _begin_epoch(self, progress: Progress) -> tuple[bool, float]:
        mid_epoch, self._mid_epoch = self._mid_epoch, False
        if not mid_epoch:
            self.sums = self.new_sums()
            self._epoch_time = 0.0
            self._skipped = 0
        for cb in self.callbacks:
            cb.on_epoch_begin(self, self.epoch)
        if hasattr(self.model, "train"):
            self.model.train()
        n = -(-len(self.loader) // self.accumulate) if hasattr(self.loader, "__len__") else 0
        start = (self.loader.state_dict()["batch_index"]
                 if mid_epoch and hasattr(self.loader, "state_dict") else 0)
        progress.epoch_begin(self.epoch, n, start // self.accumulate)
        return mid_epoch, time.perf_counter() - self._epoch_time

    def _validate(self) -> dict[str, float]:
        last = self.epoch + 1 >= self.epochs
        if self.val is None or not ((self.epoch + 1) % self.eval_every == 0 or last):
            return {}
        val, _ = evaluate_sums(self.model, self.val, self.loss, self.metric_fns,
                               self.val_batch_size)
        return {f"val_{k}": v for k, v in val.items()}

    def _end_epoch(self, t0: float, progress: Progress) -> dict[str, Any]:
        epoch = self.epoch
        self._loader_epoch, self._batches_done = None, False
        self._epoch_time = time.perf_counter() - t0
        logs: dict[str, Any] = self.sums.result()
        logs.update(self._validate())
        logs["lr"] = self.lr
        logs["time"] = self._epoch_time
        logs["samples_per_s"] = self.sums.n / max(self._epoch_time, 1e-9)
        if self._skipped or "skipped" in self.history:
            logs["skipped"] = float(self._skipped)
        self.history.append_epoch(epoch + 1, logs)
        self.sums = self.new_sums()  # the epoch is complete
        self._epoch_time = 0.0
        self._skipped = 0
        self.epoch = epoch + 1
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)
        progress.epoch_end(epoch, logs)
        return logs

    def run(self) -> History:
        """Train until ``epochs`` (or ``stop_training``); returns the history."""
        progress = Progress(self.verbose if self.is_main else 0, self.epochs)
        logs: dict[str, Any] = {}
        restore_sigint = self._install_sigint()
        try:
            for cb in self.callbacks:
                cb.on_train_begin(self)
            self.optimizer.zero_grad()
            self._grads_stale = False
            while self.epoch < self.epochs and not self.stop_training:
                mid_epoch, t0 = self._begin_epoch(progress)
                if not (mid_epoch and self._batches_done):
                    batches = iter(self.loader)
                    self._loader_epoch = getattr(self.loader, "epoch", None)
                    if self._fast():
                        self._fast_epoch(batches, progress, t0)
                    else:
                        for group in self._groups(batches):
                            self.train_step(group)
                            progress.step(self.sums, t0)
                            self._check_interrupt()
                logs = self._end_epoch(t0, progress)
                self._check_interrupt()
            self._reset_grads()  # as after every step before: fit leaves no gradients behind
        finally:
            restore_sigint()
            progress.close()
            for cb in self.callbacks:
                cb.on_train_end(self, logs)
        return self.history


def fit(
    model: Any,
    train: Any,
    *,
    loss: Any = "cross_entropy",
    optimizer: Any,
    epochs: int,
    batch_size: int | str | None = 32,
    val: Any = None,
    eval_every: int = 1,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    callbacks: Sequence[Callback] = (),
    metrics: Any = None,
    grad_clip: float | None = None,
    accumulate: int = 1,
    seed: int = 0,
    resume: str | os.PathLike[str] | None = None,
    on_nonfinite: str = "raise",
    max_loss_ratio: float | None = 1e4,
    shuffle: bool = True,
    verbose: int = 1,
    compile: bool = True,
) -> History:
    """Train ``model`` by gradient descent and return its :class:`History`.

    **The loss fit minimises is exactly the loss object's.** Each optimizer step takes
    ``accumulate`` batches (one by default). Every batch's loss is computed summed over its
    elements (``reduction="sum"``) together with the loss's own normaliser ``D_b``: the
    number of elements for element-wise losses (``MSELoss`` on ``(N, 10)`` targets:
    ``N * 10``; ``BCEWithLogitsLoss`` on multi-label targets likewise), the summed class
    weights of the non-ignored targets for ``CrossEntropyLoss``/``NLLLoss`` with class
    indices (the count of non-ignored targets without ``weight``; label smoothing keeps
    that normaliser, as PyTorch), the number of samples for class-probability targets. The
    step's loss is ``sum_b S_b / sum_b D_b`` and its gradient is backpropagated with that
    divisor as the seed, which is the value and gradient of the loss object on the
    concatenated group: ``accumulate=k`` equals one batch of ``k * b`` examples, also for
    a short last group. ``reduction="sum"``: the group's summed loss (divisor 1).
    ``reduction="none"``: the mean of the per-element values (``loss(out, y).mean()``). A
    callable without a ``reduction`` keyword is taken to return the mean over the batch's
    examples (groups weight batch means by their example counts). Epoch and validation
    losses follow the same rule over all their batches. A group whose normaliser is 0
    (every target ignored) has loss 0/0 = NaN, as the loss object, and the non-finite
    guard handles it.

    **Divergence guard.** A non-finite loss or gradient stops training with
    :class:`~gradstep.errors.DivergenceError` (a NonFiniteError) naming the epoch, the step,
    the parameter and the last good checkpoint a ModelCheckpoint wrote, before the bad
    update is applied (``on_nonfinite="skip"`` drops such steps instead). So does a finite
    step loss above ``max_loss_ratio`` times the reference loss: the larger of the first
    step's loss and the loss of an all-zero output on the first batch (uniform
    probabilities for logits, zero predictions for regression), which keeps the rule
    meaningful for losses that start near 0 (while the reference is exactly 0, later
    losses replace it). NumPy's floating-point warnings inside a step (passes, step hooks,
    update) are silenced: these checks report the outcome instead.

    Args:
        model: a module: ``model(x)`` gives the output a loss compares with ``y``.
        train: training data: ``(x, y)`` arrays, an ArrayDataset, or a DataLoader (used
            as is: ``batch_size``, ``shuffle`` and ``seed`` then do not apply). Batches
            may hold arrays or Tensors.
        loss: ``"cross_entropy"`` (default), ``"mse"``, ``"l1"``, ``"bce_with_logits"``,
            a loss module or a loss function (see :func:`resolve_loss`).
        optimizer: a gradstep optimizer over the model's parameters.
        epochs: total number of epochs (a resumed run continues up to it).
        batch_size: ``1`` (per-example SGD), ``N`` (mini-batch) or ``"full"``/None
            (full batch).
        val: validation data (like ``train``), evaluated every ``eval_every`` epochs and
            after the last one (``val_*`` logs; NaN in the other epochs).
        eval_every: validate every this many epochs.
        scheduler: learning-rate scheduler stepped every epoch, or every optimizer step
            with ``scheduler_interval="step"``; ``ReduceLROnPlateau``-like schedulers get
            the validation loss.
        callbacks: :class:`~gradstep.callbacks.Callback` instances (e.g.
            :class:`gradstep.viz.layers.LayerTracker` for per-layer statistics).
        metrics: names or callables (default: accuracy for classification losses, MAE
            for regression losses).
        grad_clip: clip the global gradient norm to this value before each step.
        accumulate: batches per optimizer step (exact, see above).
        seed: seeds the loader's Generator when ``fit`` builds the loader.
        resume: checkpoint written by a ModelCheckpoint / ``Trainer.save`` to continue.
        on_nonfinite: ``"raise"`` (DivergenceError) or ``"skip"`` the offending step.
        max_loss_ratio: the divergence ratio (default 1e4); None disables that test.
        shuffle: reshuffle the training data every epoch (when ``fit`` builds the loader).
        verbose: 0 silent; 1 a progress bar when stderr is a terminal and tqdm is
            installed, else one line per epoch; 2 one line per epoch.
        compile: run each step's forward and backward pass through a compiled plan
            (:mod:`gradstep.jit`: traced once per batch shape, replayed in preallocated
            buffers, bit-identical to eager). Models and losses without compiled kernels,
            and steps a plan cannot replay exactly, run eagerly by themselves; ``False``
            always runs eagerly. ``Trainer.compiled.explain()`` tells which ran how.

    Returns:
        The :class:`History` (also with the epochs before a resume).

    Raises:
        DivergenceError: a NaN/Inf loss or gradient (unless ``on_nonfinite="skip"``) or a
            loss past ``max_loss_ratio`` times the reference.
        CheckpointError: ``resume`` is missing, corrupt or does not fit.
    """
    loader = as_loader(train, batch_size, shuffle, seed, "fit: train")
    trainer = Trainer(
        model, loader, loss=loss, optimizer=optimizer, epochs=epochs, val=val,
        scheduler=scheduler, scheduler_interval=scheduler_interval, callbacks=callbacks,
        metrics=metrics, grad_clip=grad_clip, accumulate=accumulate,
        on_nonfinite=on_nonfinite, verbose=verbose, eval_every=eval_every,
        max_loss_ratio=max_loss_ratio, compile=compile,
    )
    for plugin in fit_plugins().values():
        cb = plugin(trainer)
        if cb is not None:
            trainer.add_callback(cb, plugin=True)
    if resume is not None:
        trainer.restore(resume)
    return trainer.run()
