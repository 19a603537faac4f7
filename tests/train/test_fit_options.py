"""fit(eval_every=...), History.best, evaluate's loss warnings, fit plug-ins, Tensor batches."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from gradstep import models, nn, optim
from gradstep.callbacks import Callback
from gradstep.errors import LossWarning
from gradstep.tensor import Tensor
from gradstep.train import (
    History,
    evaluate,
    fit,
    fit_plugins,
    register_fit_plugin,
    unregister_fit_plugin,
)


def _blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((3, 5))[y] * 3 + rng.standard_normal((n, 5))).astype(np.float32)
    return x, y


def _model() -> Any:
    return models.mlp(5, [8], 3, generator=1)


def test_history_best() -> None:
    h = History()
    for e, (acc, loss) in enumerate([(0.5, 2.0), (math.nan, math.nan), (0.9, 1.0), (0.9, 0.5),
                                     (0.7, 3.0)], start=1):
        h.append_epoch(e, {"val_accuracy": acc, "val_loss": loss})
    assert h.best("val_accuracy", mode="max") == (3, 0.9)  # earliest of a tie
    assert h.best("val_accuracy") == (3, 0.9)  # auto: max for accuracies
    assert h.best("val_loss") == (4, 0.5)
    assert h.best("val_accuracy", mode="min") == (1, 0.5)  # NaN epochs skipped
    with pytest.raises(KeyError, match="val_f1"):
        h.best("val_f1")
    with pytest.raises(ValueError, match="mode"):
        h.best("val_loss", mode="lowest")
    empty = History()
    empty.append_epoch(1, {"val_loss": math.nan})
    with pytest.raises(ValueError, match="finite"):
        empty.best("val_loss")


def test_eval_every_validates_every_k_epochs_and_at_the_last() -> None:
    x, y = _blobs()
    m = _model()
    h = fit(m, (x, y), optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=7, eval_every=3,
            val=(x[:20], y[:20]), verbose=0)
    evaluated = [e for e, v in zip(h.epoch, h["val_loss"]) if math.isfinite(v)]
    assert evaluated == [3, 6, 7]
    assert all(math.isfinite(v) for v in h["loss"])
    best_epoch, best = h.best("val_accuracy", mode="max")
    assert best_epoch in evaluated and best == max(h["val_accuracy"][e - 1] for e in evaluated)
    res = evaluate(m, (x[:20], y[:20]))
    assert h["val_loss"][-1] == pytest.approx(res["loss"], rel=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_eval_every_must_be_a_positive_int(bad: Any) -> None:
    x, y = _blobs()
    m = _model()
    with pytest.raises(ValueError, match="eval_every"):
        fit(m, (x, y), optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=1, eval_every=bad,
            verbose=0)


def test_evaluate_flags_absurd_and_non_finite_losses() -> None:
    x, y = _blobs()
    m = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy model: no warning at all
        evaluate(m, (x, y))
    for p in m.parameters():
        p._data *= 1e4  # logits of order 1e9: cross-entropy ~1e9 >> 1e4 * log(3)
    with pytest.warns(LossWarning, match="all-zero output"):
        res = evaluate(m, (x, y))
    assert math.isfinite(res["loss"]) and res["loss"] > 1e4 * math.log(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(m, (x, y), max_loss_ratio=None)  # off: only non-finite values warn
    m[1].weight._data[0, 0] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate(m, (x, y))
    assert math.isnan(res["loss"])
    assert [w.category for w in caught] == [LossWarning]  # no NumPy RuntimeWarning leaks


def test_a_fit_plugin_adds_a_callback_to_every_run() -> None:
    seen: list[int] = []

    class Count(Callback):
        def on_step_begin(self, trainer: Any, step: Any) -> None:
            seen.append(len(step.batches))

    def plugin(trainer: Any) -> Callback | None:
        return Count() if trainer.accumulate == 2 else None

    register_fit_plugin("test-count", plugin)
    try:
        assert "test-count" in fit_plugins()
        x, y = _blobs(20)
        m = _model()
        fit(m, (x, y), optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=1, batch_size=4,
            accumulate=2, verbose=0)
        assert seen == [2, 2, 1]
        fit(m, (x, y), optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=1, verbose=0)
        assert seen == [2, 2, 1]  # the plug-in declined the second run
    finally:
        unregister_fit_plugin("test-count")
    assert "test-count" not in fit_plugins()
    with pytest.raises(TypeError, match="callable"):
        register_fit_plugin("bad", 3)  # type: ignore[arg-type]


def test_fit_accepts_batches_of_tensors() -> None:
    x, y = _blobs(12)

    class TensorData:
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: Any) -> tuple[Tensor, Tensor]:
            return Tensor(x[i]), Tensor(y[i])

    m1, m2 = _model(), _model()
    fit(m1, TensorData(), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(m1.parameters(),
        lr=0.1), epochs=2, batch_size=4, shuffle=False, verbose=0)
    fit(m2, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(m2.parameters(), lr=0.1),
        epochs=2, batch_size=4, shuffle=False, verbose=0)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p._data, q._data)  # the same arithmetic on both paths


def test_checkpoint_and_early_stopping_skip_epochs_without_validation(tmp_path) -> None:
    """With eval_every=k the epochs without validation have no val_loss: ModelCheckpoint must
    not judge them by the training loss, nor EarlyStopping count them against patience."""
    from gradstep.callbacks import EarlyStopping, ModelCheckpoint

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = models.mlp(4, [8], 2, generator=0)
    seen: list[tuple[int, float | None]] = []

    class Spy(ModelCheckpoint):
        def on_epoch_end(self, trainer, epoch, logs):
            before = self.best
            super().on_epoch_end(trainer, epoch, logs)
            seen.append((epoch, None if self.best == before else self.best))

    stop = EarlyStopping(monitor="val_loss", patience=0)
    hist = fit(model, (x, y), loss="cross_entropy",
                  optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=4, batch_size=16,
                  val=(x, y), eval_every=2, callbacks=[Spy(tmp_path, save_last=False), stop],
                  verbose=0)
    val = hist["val_loss"]
    # epochs 1 and 3 (0-based 0, 2) have no validation: best never changes there
    assert seen[0] == (0, None) and seen[2][1] is None
    assert seen[1][1] == pytest.approx(val[1])
    assert stop.stopped_epoch is None or stop.stopped_epoch % 2 == 1
