"""Numerical faults stop training with NonFiniteError naming the step and the parameter (or
are skipped when asked), and the last good checkpoint stays intact and finite:

* an exploding learning rate (set to 1e30 at the start of epoch 2);
* a NaN introduced into the data (at the start of epoch 2);
* a gradient that overflows float32 while the loss is still finite.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradstep
from gradstep import models, optim
from gradstep.callbacks import Callback, ModelCheckpoint
from gradstep.errors import NonFiniteError
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
         x: np.ndarray | None = None, lr: float = 1e-3) -> tuple[Any, Any]:
    xs, y = _regression()
    x = xs if x is None else x
    model = _linear()
    ds = gradstep.data.ArrayDataset(x, y)
    history = fit(model, ds, loss="mse", optimizer=optim.SGD(model.parameters(), lr=lr),
                  epochs=3, batch_size=1, shuffle=False, verbose=0, on_nonfinite=on_nonfinite,
                  callbacks=[ModelCheckpoint(tmp_path, save_best=False), fault])
    return model, history


def _assert_last_good_checkpoint(tmp_path: Path, before: bytes | None = None) -> None:
    last = tmp_path / "last.safetensors"
    ck = gradstep.load(last, build=False)
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
    with pytest.raises(NonFiniteError) as info:
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
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(NonFiniteError) as info:
        _run(tmp_path, _Both(snap, AtEpoch(1, huge)), x=x.copy(), lr=0.0)
    err = info.value
    msg = str(err)
    assert "non-finite gradient" in msg and "epoch 2, step 26" in msg, msg
    assert err.parameter == "1.weight" and "'1.weight'" in msg  # type: ignore[attr-defined]
    _assert_last_good_checkpoint(tmp_path, snap.bytes)


def test_gradient_overflow_is_skipped_when_asked(tmp_path: Path) -> None:
    x, _ = _regression()

    def huge(trainer: Any) -> None:
        trainer.loader.dataset.x[5] = [1e21, 0, 0, 0, 0, 0]

    with np.errstate(over="ignore", invalid="ignore"):
        model, history = _run(tmp_path, AtEpoch(1, huge), x=x.copy(), lr=0.0,
                              on_nonfinite="skip")
    assert history["skipped"][1] == 1.0
    assert all(np.isfinite(p._data).all() for p in model.parameters())


class _Both(Callback):
    def __init__(self, *cbs: Callback) -> None:
        self.cbs = cbs

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        for cb in self.cbs:
            cb.on_epoch_begin(trainer, epoch)
