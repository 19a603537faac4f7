"""Numerical faults stop training with NonFiniteError naming the step and the parameter (or
are skipped when asked), and the last good checkpoint stays intact and finite:

* an exploding learning rate (set to 1e30 at the start of epoch 2);
* a NaN introduced into the data (at the start of epoch 2);
* a gradient that overflows float32 while the loss is still finite;
* a finite loss that runs away (past ``max_loss_ratio`` times its reference).

No floating-point warning reaches the terminal: the checks report the outcome.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradstep
from gradstep import models, optim
from gradstep.callbacks import Callback, ModelCheckpoint
from gradstep.errors import DivergenceError, NonFiniteError
from gradstep.train import fit

STEPS = 20  # examples per epoch, batch size 1


class AtEpoch(Callback):
    """Run ``fn(trainer)`` at the start of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int, fn: Any) -> None:
        self.epoch, self.fn = epoch, fn

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        if epoch == self.epoch:
            self.fn(trainer)


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS, 6)).astype(np.float32)
    return x, (x @ np.arange(1, 7, dtype=np.float32)) / 10


def _linear() -> Any:
    model: Any = models.linear(6, 1, generator=np.random.default_rng(1))
    model[1].weight._data[...] = 1e-3  # small weights: the overflow test needs a finite loss
    model[1].bias._data[...] = 0.0
    return model


def _run(tmp_path: Path, fault: Callback, *, on_nonfinite: str = "raise",
         x: np.ndarray | None = None, lr: float = 1e-3,
         max_loss_ratio: float | None = 1e4) -> tuple[Any, Any]:
    xs, y = _regression()
    x = xs if x is None else x
    model = _linear()
    ds = gradstep.data.ArrayDataset(x, y)
    history = fit(model, ds, loss="mse", optimizer=optim.SGD(model.parameters(), lr=lr),
                  epochs=3, batch_size=1, shuffle=False, verbose=0, on_nonfinite=on_nonfinite,
                  max_loss_ratio=max_loss_ratio,
                  callbacks=[ModelCheckpoint(tmp_path, save_best=False), fault])
    return model, history


def _assert_last_good_checkpoint(tmp_path: Path, before: bytes | None = None) -> None:
    last = tmp_path / "last.safetensors"
    ck = gradstep.load_checkpoint(last, build=False)
    assert ck.meta["trainer"]["epoch"] == 1  # written at the end of epoch 1, the last good one
    assert all(np.isfinite(v).all() for v in ck.model_state.values())
    if before is not None:
        assert last.read_bytes() == before


class Snapshot(Callback):
    """Remember the bytes of last.safetensors when the faulty epoch begins."""

    def __init__(self, tmp_path: Path) -> None:
        self.path, self.bytes = tmp_path / "last.safetensors", b""

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        if epoch == 1:
            self.bytes = self.path.read_bytes()


def test_exploding_learning_rate_stops_with_nonfinite_error(tmp_path: Path) -> None:
    def explode(trainer: Any) -> None:
        for g in trainer.optimizer.param_groups:
            g["lr"] = 1e30

    snap = Snapshot(tmp_path)
    with warnings.catch_warnings(), pytest.raises(NonFiniteError) as info:
        warnings.simplefilter("error")  # the overflowing update prints no NumPy warning
        _run(tmp_path, _Both(snap, AtEpoch(1, explode)))
    err = info.value
    msg = str(err)
    assert "epoch 2" in msg and f"step {err.step}" in msg  # type: ignore[attr-defined]
    assert STEPS < err.step <= 2 * STEPS + 1  # type: ignore[attr-defined]
    assert err.parameter in ("1.weight", "1.bias"), msg  # type: ignore[attr-defined]
    assert repr(err.parameter) in msg  # type: ignore[attr-defined]
    assert "last.safetensors" in msg  # points at the last good checkpoint
    _assert_last_good_checkpoint(tmp_path, snap.bytes)


def test_nan_in_data_stops_naming_the_step(tmp_path: Path) -> None:
    x, _ = _regression()

    def poison(trainer: Any) -> None:
        trainer.loader.dataset.x[7, 2] = np.nan  # row 7: step 20 + 8 with shuffle off

    snap = Snapshot(tmp_path)
    with pytest.raises(NonFiniteError) as info:
        _run(tmp_path, _Both(snap, AtEpoch(1, poison)), x=x.copy())
    err = info.value
    assert err.step == STEPS + 8 and "epoch 2, step 28" in str(err)  # type: ignore[attr-defined]
    assert "non-finite loss" in str(err) and "parameters are finite" in str(err)
    _assert_last_good_checkpoint(tmp_path, snap.bytes)


def test_nan_in_data_is_skipped_when_asked(tmp_path: Path) -> None:
    x, _ = _regression()

    def poison(trainer: Any) -> None:
        trainer.loader.dataset.x[7, 2] = np.nan

    model, history = _run(tmp_path, AtEpoch(1, poison), x=x.copy(), on_nonfinite="skip")
    assert history["skipped"][1:] == [1.0, 1.0]  # the NaN row, once per epoch after epoch 1
    assert sum(math.isnan(v) for v in history.steps["loss"]) == 2
    assert all(np.isfinite(p._data).all() for p in model.parameters())


def test_float32_gradient_overflow_with_finite_loss(tmp_path: Path) -> None:
    """Row 5 of epoch 2 is [1e21, 0, ...]: with weights 1e-3 the prediction is 1e18 and the
    loss 1e36 (finite in float32), but dL/dw0 = 2 * 1e18 * 1e21 = 2e39 overflows float32."""
    x, _ = _regression()

    def huge(trainer: Any) -> None:
        trainer.loader.dataset.x[5] = [1e21, 0, 0, 0, 0, 0]
        trainer.model[1].weight._data[...] = 1e-3
        trainer.model[1].bias._data[...] = 0.0

    snap = Snapshot(tmp_path)
    # the loss 1e36 is also past max_loss_ratio: switch that test off to reach the gradient
    with warnings.catch_warnings(), pytest.raises(NonFiniteError) as info:
        warnings.simplefilter("error")  # no floating-point warning leaks
        _run(tmp_path, _Both(snap, AtEpoch(1, huge)), x=x.copy(), lr=0.0, max_loss_ratio=None)
    err = info.value
    msg = str(err)
    assert "non-finite gradient" in msg and "epoch 2, step 26" in msg, msg
    assert err.parameter == "1.weight" and "'1.weight'" in msg  # type: ignore[attr-defined]
    _assert_last_good_checkpoint(tmp_path, snap.bytes)


def test_gradient_overflow_is_skipped_when_asked(tmp_path: Path) -> None:
    x, _ = _regression()

    def huge(trainer: Any) -> None:
        trainer.loader.dataset.x[5] = [1e21, 0, 0, 0, 0, 0]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, history = _run(tmp_path, AtEpoch(1, huge), x=x.copy(), lr=0.0,
                              on_nonfinite="skip", max_loss_ratio=None)
    assert history["skipped"][1] == 1.0
    assert all(np.isfinite(p._data).all() for p in model.parameters())


class _Both(Callback):
    def __init__(self, *cbs: Callback) -> None:
        self.cbs = cbs

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        for cb in self.cbs:
            cb.on_epoch_begin(trainer, epoch)


# ------------------------------------------------------------------ runaway (finite) losses
def test_runaway_loss_stops_with_divergence_error_naming_step_and_checkpoint(
        tmp_path: Path) -> None:
    """lr 1.0 from epoch 2 on: each per-example step multiplies the error by about
    |1 - 2 ||x||^2| > 1, so the loss grows geometrically but stays finite for many steps;
    the ratio test stops it long before an overflow."""
    def too_fast(trainer: Any) -> None:
        for g in trainer.optimizer.param_groups:
            g["lr"] = 1.0

    snap = Snapshot(tmp_path)
    with warnings.catch_warnings(), pytest.raises(DivergenceError) as info:
        warnings.simplefilter("error")
        _run(tmp_path, _Both(snap, AtEpoch(1, too_fast)))
    err = info.value
    assert isinstance(err, NonFiniteError)
    assert err.loss is not None and err.reference is not None
    assert math.isfinite(err.loss) and err.loss > 1e4 * err.reference
    assert err.epoch == 2 and STEPS < err.step <= 2 * STEPS
    assert f"step {err.step}" in str(err) and "max_loss_ratio" in str(err)
    assert err.checkpoint is not None and err.checkpoint.endswith("last.safetensors")
    assert repr(err.checkpoint) in str(err)
    _assert_last_good_checkpoint(tmp_path, snap.bytes)


def test_max_loss_ratio_none_leaves_only_the_non_finite_check(tmp_path: Path) -> None:
    """The same runaway run completes (finite, huge loss) when the ratio test is off."""
    def too_fast(trainer: Any) -> None:
        for g in trainer.optimizer.param_groups:
            g["lr"] = 1.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, h = _run(tmp_path, AtEpoch(1, too_fast), max_loss_ratio=None)
    assert len(h.epoch) == 3 and math.isfinite(h["loss"][-1])
    assert h["loss"][-1] > 1e4 * h["loss"][0]


def test_a_loss_that_starts_near_zero_is_not_called_divergent(tmp_path: Path) -> None:
    """The model starts at the exact solution (first loss ~1e-15 in float32); a later small
    perturbation raises the loss by many orders of magnitude relative to that, but not
    relative to the zero-output loss (the scale of the targets), so training goes on."""
    x, y = _regression()

    def exact(model: Any) -> None:
        model[1].weight._data[...] = np.arange(1, 7, dtype=np.float32) / 10
        model[1].bias._data[...] = 0.0

    def perturb(trainer: Any) -> None:
        trainer.model[1].bias._data[...] = 0.05

    model = _linear()
    exact(model)
    h = fit(model, (x, y), loss="mse", optimizer=optim.SGD(model.parameters(), lr=1e-3),
            epochs=3, batch_size=1, shuffle=False, verbose=0, callbacks=[AtEpoch(1, perturb)])
    first, later = h.steps["loss"][0], max(h.steps["loss"][STEPS:])
    assert later > 1e4 * max(first, 1e-30)  # a first-loss rule would have stopped this run
    assert len(h.epoch) == 3


def test_loss_guard_reference_rule() -> None:
    from gradstep.train.guard import LossGuard

    g = LossGuard(10.0)
    assert not g.observe(0.5, baseline=2.0) and g.reference == 2.0  # max(first, baseline)
    assert not g.observe(19.0) and g.observe(21.0)
    z = LossGuard(10.0)
    assert not z.observe(0.0, baseline=0.0) and z.reference == 0.0
    assert not z.observe(3.0) and z.reference == 3.0  # a zero reference is replaced
    assert not LossGuard(None).observe(1.0) and not LossGuard(None).observe(1e300)
    with pytest.raises(ValueError, match="max_loss_ratio"):
        LossGuard(0.5)
