"""fit's fast step: with one batch per step, no hooks inside the step and no clipping, a
replayed step runs its checks and records inline (``Trainer._fast_step``); every such run
equals the general step (forced by a step hook that does nothing) bit for bit, also when a
loss or a gradient is not finite, when the guard stops the run, when a plan declines a
batch, and with ``on_batch_end`` callbacks (a per-step scheduler)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, optim
from gradstep.callbacks import Callback
from gradstep.data import ArrayDataset, TensorDataset
from gradstep.errors import DivergenceError
from gradstep.train.loop import Trainer


class StepHook(Callback):
    """A do-nothing hook inside the step: its presence makes fit take the general step."""

    def on_before_step(self, trainer: Any) -> None:
        pass


class Logs(Callback):
    """Records what ``on_batch_end`` receives, and NumPy's error settings there."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_batch_end(self, trainer: Any, step: int, logs: Any) -> None:
        self.seen.append((step, dict(logs), np.geterr()))


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool | None]:
    """The outcome of every fast-step attempt (None: it raised)."""
    calls: list[bool | None] = []
    orig = Trainer._fast_step

    def spy(self: Trainer, batch: Any) -> bool:
        calls.append(None)
        done = orig(self, batch)
        calls[-1] = done
        return done

    monkeypatch.setattr(Trainer, "_fast_step", spy)
    return calls


def _run(fast: bool, dt: Any = np.float32, loss: str = "ce", opt: str = "sgd", n: int = 45,
         x: Any = None, y: Any = None, model: Any = None, **kw: Any) -> tuple[Any, ...]:
    g = np.random.default_rng(0)
    if model is None:
        model = nn.Sequential(nn.Linear(6, 8, generator=g, dtype=dt), nn.Sigmoid(),
                              nn.Linear(8, 3, generator=g, dtype=dt))
    ps = list(model.parameters())
    o: Any = {
        "sgd": lambda: optim.SGD(ps, lr=0.1, momentum=0.9),
        "flat": lambda: optim.SGD(ps, lr=0.5, flat=True),
        "adam": lambda: optim.Adam(ps, lr=0.01),
    }[opt]()
    if x is None:
        r = np.random.default_rng(1)
        x = r.standard_normal((n, 6)).astype(dt)
        y = r.integers(0, 3, n)
        if loss == "mse":
            y = np.eye(3, dtype=dt)[y]
    cbs = kw.pop("callbacks", [])
    hist = gs.fit(model, (x, y), loss="cross_entropy" if loss == "ce" else loss, optimizer=o,
                  verbose=0, callbacks=[*cbs, *([] if fast else [StepHook()])], **kw)
    return [p._data.copy() for p in ps], hist


def _same_history(a: Any, b: Any) -> None:
    for k in set(a.steps) | set(b.steps):
        np.testing.assert_array_equal(a.steps[k], b.steps[k], err_msg=k)
    assert a.keys() == b.keys()
    for k in set(a.keys()) - {"time", "samples_per_s"}:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("loss,opt", [("ce", "sgd"), ("mse", "flat"), ("ce", "adam"),
                                      ("mse", "sgd")])
def test_fast_step_equals_general_step(dt: Any, loss: str, opt: str,
                                       fast_calls: list[Any]) -> None:
    # 45 examples in batches of 8: a short last batch (a second plan) every epoch, shuffled
    ref_p, ref_h = _run(False, dt, loss, opt, epochs=3, batch_size=8)
    assert not fast_calls  # the step hook keeps every step general
    p, h = _run(True, dt, loss, opt, epochs=3, batch_size=8,
                val=(np.ones((4, 6), dt), np.zeros(4, int) if loss == "ce" else
                     np.zeros((4, 3), dt)))
    assert all(np.array_equal(u, v) for u, v in zip(p, ref_p))
    _same_history(h, _run(False, dt, loss, opt, epochs=3, batch_size=8,
                          val=(np.ones((4, 6), dt), np.zeros(4, int) if loss == "ce" else
                               np.zeros((4, 3), dt)))[1])
    assert np.array_equal(h.steps["loss"], ref_h.steps["loss"])
    # per signature: the run's first step is eager, then one traced step and one general
    # replay (which caches the backward seed); every later step of it is fast: 3 + 2 + 1
    # general steps of the batch of 8 and of the short batch of 5 out of 18
    assert fast_calls.count(True) == 18 - 5


def test_fast_step_not_taken_with_step_hooks_clipping_or_accumulation(
        fast_calls: list[Any]) -> None:
    _run(True, epochs=1, batch_size=8, grad_clip=1.0)
    _run(True, epochs=1, batch_size=8, accumulate=2)
    _run(True, epochs=1, batch_size=8, compile=False)
    assert not fast_calls
    _run(True, epochs=1, batch_size=8)
    assert True in fast_calls


@pytest.mark.parametrize("on_nonfinite", ["skip", "raise"])
def test_nonfinite_loss_in_a_fast_step(on_nonfinite: str, fast_calls: list[Any]) -> None:
    x = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    x[29, 2] = np.inf  # the fourth batch of 8 has an infinite input: its loss is not finite
    y = np.arange(40) % 3

    def go(fast: bool) -> Any:
        try:
            return _run(fast, x=x, y=y, epochs=2, batch_size=8, shuffle=False,
                        on_nonfinite=on_nonfinite)
        except DivergenceError as exc:
            return exc

    ref, got = go(False), go(True)
    assert fast_calls[:4] == [False, False, False, None if on_nonfinite == "raise" else True]
    if on_nonfinite == "raise":
        assert isinstance(got, DivergenceError) and isinstance(ref, DivergenceError)
        assert str(got) == str(ref) and got.step == 4 and got.epoch == 1
    else:
        assert all(np.array_equal(u, v) for u, v in zip(got[0], ref[0]))
        _same_history(got[1], ref[1])
        assert math.isnan(got[1].steps["loss"][3]) and got[1]["skipped"] == [1.0, 1.0]


def test_nonfinite_gradient_with_a_finite_loss_in_a_fast_step(fast_calls: list[Any]) -> None:
    # -inf into a ReLU that is off gives a finite loss, but the weight gradient 0 * -inf is NaN
    def model() -> Any:
        lin = nn.Linear(2, 3, dtype=np.float64)
        lin.weight.detach().numpy()[...] = 1.0
        lin.bias.detach().numpy()[...] = 0.0
        out = nn.Linear(3, 2, dtype=np.float64)
        out.weight.detach().numpy()[...] = 0.5
        return nn.Sequential(lin, nn.ReLU(), out)

    x = np.ones((12, 2))
    x[9] = [-np.inf, 1.0]  # the fourth batch of 3
    y = np.arange(12) % 2

    def go(fast: bool) -> Any:
        with pytest.raises(DivergenceError) as info:
            _run(fast, dt=np.float64, x=x, y=y, model=model(), epochs=1, batch_size=3,
                 shuffle=False)
        return info.value

    ref, got = go(False), go(True)
    assert fast_calls[-1] is None  # the offending step was a fast one (it raised)
    assert str(got) == str(ref) and "gradient" in str(got) and got.step == 4


def test_runaway_loss_in_a_fast_step_stops_like_the_general_step(
        fast_calls: list[Any]) -> None:
    x = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(40) % 3]
    y[24:32] *= 1e4  # the fourth batch: a loss far above the reference

    def go(fast: bool) -> DivergenceError:
        with pytest.raises(DivergenceError) as info:
            _run(fast, loss="mse", x=x, y=y, epochs=1, batch_size=8, shuffle=False,
                 max_loss_ratio=50.0)
        return info.value

    ref, got = go(False), go(True)
    assert fast_calls[-1] is None
    assert str(got) == str(ref) and "diverged" in str(got) and got.step == 4


def test_ignored_targets_take_the_general_step(fast_calls: list[Any]) -> None:
    # a batch with ignored targets is declined by the plan: it runs eagerly, the same way
    x = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    y = np.arange(40) % 3
    y[26] = -100
    model_args: dict[str, Any] = dict(x=x, y=y, epochs=2, batch_size=8, shuffle=False)
    ref_p, ref_h = _run(False, **model_args)
    p, h = _run(True, **model_args)
    assert all(np.array_equal(u, v) for u, v in zip(p, ref_p))
    _same_history(h, ref_h)
    assert False in fast_calls and True in fast_calls


def test_dataset_gather_equals_fancy_indexing() -> None:
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    y = np.arange(20)
    ds = ArrayDataset(x, y)
    for idx in (np.array([3, 0, 19, 3]), np.array([-1, 2], dtype=np.int32),
                np.array([], dtype=np.int64), np.array([5], dtype=np.uint8)):
        gx, gy = ds.gather(idx)
        np.testing.assert_array_equal(gx, x[idx])
        np.testing.assert_array_equal(gy, y[idx])
        assert gx.flags.c_contiguous and not np.shares_memory(gx, x)
    with pytest.raises(IndexError):
        ds.gather(np.array([20]))
    mask = np.zeros(20, bool)
    mask[[1, 4]] = True
    np.testing.assert_array_equal(ds.gather(mask)[0], x[mask])  # a mask, not indices 0/1
    tds = TensorDataset(gs.tensor(x), gs.tensor(y))
    np.testing.assert_array_equal(tds.gather(np.array([2, 7]))[0], x[[2, 7]])


def test_on_batch_end_and_a_step_scheduler_in_fast_steps(fast_calls: list[Any]) -> None:
    def go(fast: bool) -> Any:
        g = np.random.default_rng(0)
        model = nn.Sequential(nn.Linear(6, 8, generator=g), nn.Tanh(), nn.Linear(8, 3, generator=g))
        ps = list(model.parameters())
        o = optim.SGD(ps, lr=0.1, momentum=0.9, flat=True)
        sched = optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)
        logs = Logs()
        r = np.random.default_rng(1)
        x = r.standard_normal((45, 6)).astype(np.float32)
        x[30, 0] = np.nan  # one skipped step
        y = r.integers(0, 3, 45)
        with np.errstate(over="warn", invalid="raise", divide="print", under="ignore"):
            h = gs.fit(model, (x, y), optimizer=o, epochs=3, batch_size=8, verbose=0,
                       scheduler=sched, scheduler_interval="step", on_nonfinite="skip",
                       callbacks=[logs, *([] if fast else [StepHook()])])
        return [p._data.copy() for p in ps], h, logs.seen

    (pa, ha, la), (pb, hb, lb) = go(False), go(True)
    assert fast_calls.count(True) > 5
    assert all(np.array_equal(u, v) for u, v in zip(pa, pb))
    _same_history(ha, hb)
    assert len(la) == len(lb) == 18
    for (sa, da, ea), (sb, db, eb) in zip(la, lb):
        assert sa == sb and da.keys() == db.keys()
        assert all(np.array_equal(da[k], db[k], equal_nan=True) for k in da)
        # callbacks run under the caller's settings, not the step's silenced ones
        assert ea == eb == {"over": "warn", "invalid": "raise", "divide": "print",
                            "under": "ignore"}
    assert sum(d["skipped"] for _, d, _ in lb) == 3.0
