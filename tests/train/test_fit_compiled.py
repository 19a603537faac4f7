"""fit(compile=True), the default: the forward and backward passes replay a compiled plan,
and every run equals the eager run (compile=False) bit for bit; what a plan cannot replay
runs eagerly, with the reason in ``Trainer.compiled``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, optim
from gradstep.callbacks import Callback


class Grab(Callback):
    """Keeps the trainer (to read ``trainer.compiled`` after the run)."""

    trainer: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        self.trainer = trainer


def _model(dt: Any, act: Any = nn.ReLU, dropout: float = 0.0, last_act: bool = False) -> Any:
    g = np.random.default_rng(0)
    layers: list[Any] = [nn.Linear(6, 8, generator=g, dtype=dt), act()]
    if dropout:
        layers.append(nn.Dropout(dropout, generator=np.random.default_rng(5)))
    layers += [nn.Linear(8, 5, generator=g, dtype=dt), act(), nn.Linear(5, 3, generator=g, dtype=dt)]
    if last_act:
        layers.append(act())
    return nn.Sequential(*layers)


def _data(dt: Any, loss: str, n: int = 45) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(1)
    x = r.standard_normal((n, 6)).astype(dt)
    y = r.integers(0, 3, n)
    if loss != "ce":
        y = np.eye(3, dtype=dt)[y]
    return x, y


def _fit(compile: bool, dt: Any = np.float32, loss: str = "ce", opt: str = "sgd",
         epochs: int = 3, model_kw: dict[str, Any] | None = None, **kw: Any) -> tuple[Any, ...]:
    model = _model(dt, **(model_kw or {}))
    ps = list(model.parameters())
    lr = 0.01 if loss.endswith("_sum") else 0.1
    o: Any = {
        "sgd": lambda: optim.SGD(ps, lr=lr, momentum=0.9),
        "nesterov_flat": lambda: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True, flat=True),
        "adam": lambda: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    }[opt]()
    lossf: Any = {"ce": "cross_entropy", "mse": "mse",
                  "mse_sum": nn.MSELoss(reduction="sum"),
                  "ce_sum": nn.CrossEntropyLoss(reduction="sum")}[loss]
    grab = Grab()
    x, y = _data(dt, "ce" if loss.startswith("ce") else "mse")
    hist = gs.fit(model, (x, y), loss=lossf, optimizer=o, epochs=epochs, verbose=0,
                  compile=compile, callbacks=[grab, *kw.pop("callbacks", [])], **kw)
    return [p._data.copy() for p in ps], hist, grab.trainer


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b))


CASES = [
    (dt, loss, opt)
    for dt in (np.float32, np.float64)
    for loss in ("ce", "mse", "mse_sum", "ce_sum")
    for opt in ("sgd", "nesterov_flat", "adam")
]


@pytest.mark.parametrize("dt,loss,opt", CASES)
def test_fit_compiled_equals_eager_bit_for_bit(dt: Any, loss: str, opt: str) -> None:
    # batch 8 of 45 examples: a short last batch (a second signature) every epoch
    p_c, h_c, t_c = _fit(True, dt, loss, opt, batch_size=8)
    p_e, h_e, t_e = _fit(False, dt, loss, opt, batch_size=8)
    assert t_e.compiled is None
    c = t_c.compiled
    assert c.traces == 2 and not c.reasons  # one trace per batch shape (8 and 5)
    assert c.replays == 3 * 6 - 1 - 2  # every step but the first (eager) and the traces
    assert _same(p_c, p_e)
    assert h_c.steps["loss"] == h_e.steps["loss"]
    for k in ("loss", "accuracy", "mae"):
        if k in h_e:
            assert h_c[k] == h_e[k]


@pytest.mark.parametrize("kw", [
    dict(model_kw=dict(act=nn.Sigmoid, last_act=True), loss="mse"),
    dict(model_kw=dict(act=nn.Tanh)),
    dict(model_kw=dict(dropout=0.3)),
    dict(accumulate=2),
    dict(accumulate=3, batch_size=4),
    dict(grad_clip=0.05),
    dict(batch_size=1, epochs=1),
    dict(batch_size="full", epochs=6),
])
def test_fit_compiled_options_equal_eager(kw: dict[str, Any]) -> None:
    kw = dict(kw)
    kw.setdefault("batch_size", 8)
    loss = kw.pop("loss", "ce")
    a = _fit(True, np.float64, loss, **dict(kw))
    b = _fit(False, np.float64, loss, **dict(kw))
    assert _same(a[0], b[0])
    assert a[1].steps["loss"] == b[1].steps["loss"]
    assert a[2].compiled.replays > 0 and not a[2].compiled.reasons


def test_fit_compiled_with_a_step_scheduler_and_eval_data() -> None:
    def run(compile: bool) -> tuple[Any, ...]:
        model = _model(np.float32, dropout=0.2)
        o = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)
        x, y = _data(np.float32, "ce")
        grab = Grab()
        h = gs.fit(model, (x, y), optimizer=o, epochs=3, batch_size=8, val=(x[:20], y[:20]),
                   scheduler=sched, scheduler_interval="step", verbose=0, compile=compile,
                   callbacks=[grab])
        return [p._data.copy() for p in model.parameters()], h, grab.trainer

    a, b = run(True), run(False)
    assert _same(a[0], b[0])
    assert a[1]["val_loss"] == b[1]["val_loss"]
    # validation switches the model to eval() and back: the train-mode plans stay in use
    assert a[2].compiled.traces == 2 and a[2].compiled.replays == 15


def test_fit_compile_false_never_traces() -> None:
    _, _, t = _fit(False)
    assert t.compiled is None


def test_fit_compile_must_be_a_bool() -> None:
    model = _model(np.float32)
    with pytest.raises(TypeError, match="compile must be True or False"):
        gs.fit(model, _data(np.float32, "ce"), optimizer=optim.SGD(model.parameters(), lr=0.1),
               epochs=1, verbose=0, compile="yes")  # type: ignore[arg-type]


class Custom(nn.Module):
    """A container whose forward branches on a flag of its own and adds an op of its own."""

    def __init__(self, extra_op: bool = False) -> None:
        super().__init__()
        g = np.random.default_rng(0)
        self.a = nn.Linear(6, 4, generator=g)
        self.b = nn.Linear(4, 3, generator=g)
        self.act = nn.ReLU()
        self.skip_b = False
        self.extra_op = extra_op

    def forward(self, x: Any) -> Any:
        h = self.a(x).relu() if self.extra_op else self.act(self.a(x))
        return h[:, :3] if self.skip_b else self.b(h)


def test_model_with_ops_outside_layers_runs_eagerly_with_a_reason() -> None:
    def run(compile: bool) -> tuple[Any, ...]:
        model = Custom(extra_op=True)
        o = optim.SGD(model.parameters(), lr=0.1)
        grab = Grab()
        gs.fit(model, _data(np.float32, "ce"), optimizer=o, epochs=2, batch_size=8, verbose=0,
               compile=compile, callbacks=[grab])
        return [p._data.copy() for p in model.parameters()], grab.trainer

    a, b = run(True), run(False)
    assert _same(a[0], b[0])
    c = a[1].compiled
    assert c.replays == 0 and len(c.reasons) == 2  # both batch shapes
    assert "eager: Linear is not fed by the previous layer's output" in c.explain()


class SkipAfter(Callback):
    def __init__(self, model: Custom, step: int) -> None:
        self.model, self.at = model, step

    def on_batch_end(self, trainer: Any, step: int, logs: Any) -> None:
        if step == self.at:
            self.model.skip_b = True


def test_a_container_setting_change_retraces() -> None:
    # Custom's forward reads self.skip_b: after it changes, a stale plan would still run b
    def run(compile: bool) -> tuple[Any, ...]:
        model = Custom()
        o = optim.SGD(model.parameters(), lr=0.1)
        grab = Grab()
        h = gs.fit(model, _data(np.float32, "ce", n=48), optimizer=o, epochs=2, batch_size=8,
                   verbose=0, compile=compile, callbacks=[grab, SkipAfter(model, 5)])
        return [p._data.copy() for p in model.parameters()], h, grab.trainer

    a, b = run(True), run(False)
    assert _same(a[0], b[0])
    assert a[1].steps["loss"] == b[1].steps["loss"]
    c = a[2].compiled
    assert c.traces == 2  # once before the change, once after (then eager: the slice)
    assert c.replays == 3


class KeepGrads(Callback):
    """Keeps every step's gradient tensors (as a user plotting gradient noise would)."""

    def __init__(self) -> None:
        self.kept: list[tuple[Any, np.ndarray]] = []

    def on_before_step(self, trainer: Any) -> None:
        g = trainer.model[0].weight.grad
        self.kept.append((g, g._data.copy()))


def test_kept_gradients_are_never_overwritten_by_a_later_step() -> None:
    keep = KeepGrads()
    _fit(True, epochs=2, batch_size=8, callbacks=[keep])
    assert len(keep.kept) == 12
    for g, copy in keep.kept:
        assert np.array_equal(g._data, copy)


def test_a_nonfinite_loss_during_the_trace_is_reported_and_retraced() -> None:
    model = _model(np.float64)
    x, y = _data(np.float64, "ce", n=40)
    x[8] = np.nan  # the second batch: the one that would be traced
    grab = Grab()
    h = gs.fit(model, (x, y), optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
               batch_size=8, verbose=0, on_nonfinite="skip", shuffle=False, callbacks=[grab])
    assert np.isnan(h.steps["loss"][1]) and np.isfinite(h.steps["loss"][2:]).all()
    c = grab.trainer.compiled
    assert c.traces == 2 and c.replays == 2 and not c.reasons


def test_nonfinite_loss_in_a_replayed_step_raises_divergence() -> None:
    model = _model(np.float64)
    x, y = _data(np.float64, "ce", n=40)
    x[33] = np.inf  # the fifth batch, replayed
    with pytest.raises(gs.errors.DivergenceError, match="step 5"):
        gs.fit(model, (x, y), optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
               batch_size=8, verbose=0, shuffle=False)


@pytest.mark.parametrize("opt", ["sgd", "nesterov_flat"])
@pytest.mark.parametrize("accumulate", [1, 2])
def test_batches_the_plan_declines_run_eagerly_on_reset_gradients(opt: str,
                                                                  accumulate: int) -> None:
    # an ignored target sends a batch to cross_entropy's general path, which the plan does
    # not replay: that batch runs eagerly, after the last step's gradients were reset
    def run(compile: bool) -> tuple[Any, ...]:
        model = _model(np.float64)
        ps = list(model.parameters())
        o = (optim.SGD(ps, lr=0.1, momentum=0.9) if opt == "sgd" else
             optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, flat=True))
        x, y = _data(np.float64, "ce", n=48)
        y[[20, 21, 40]] = -100
        grab = Grab()
        h = gs.fit(model, (x, y), optimizer=o, epochs=2, batch_size=8, verbose=0,
                   accumulate=accumulate, shuffle=False, compile=compile, callbacks=[grab])
        return [p._data.copy() for p in ps], h, grab.trainer

    a, b = run(True), run(False)
    assert _same(a[0], b[0])
    assert a[1].steps["loss"] == b[1].steps["loss"]
    assert a[2].compiled.replays > 0


def test_gradients_are_reset_when_fit_returns() -> None:
    for opt in ("sgd", "nesterov_flat"):
        _, _, t = _fit(True, opt=opt, batch_size=8)
        for p in t.model.parameters():
            assert p.grad is None or not p.grad._data.any()
